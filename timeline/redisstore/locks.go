package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// unlockScript deletes a lock only if it is still the caller's: a lock that expired and was taken
// by another replica is not released by the first one.
var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// lockPoll is how often Lock asks again while another replica holds the lock.
const lockPoll = 25 * time.Millisecond

// Lock takes the lock called name, shared by every replica on this Redis, waiting while another
// holder has it until ctx is done. The lock lapses after ttl if its holder dies; unlock releases it
// early (and does nothing once it has lapsed). It returns an error wrapping timeline.ErrUnavailable
// when Redis cannot be reached, and ctx's error when it ends first.
func (s *Store) Lock(ctx context.Context, name string, ttl time.Duration) (unlock func(), err error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	k := s.lockKey(name)
	for {
		ok, err := s.rdb.SetNX(ctx, k, token, ttl).Result()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, s.wrap("lock "+name, err)
		}
		if ok {
			return func() {
				// A fresh context: releasing must not fail because the caller's ended.
				c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = unlockScript.Run(c, s.rdb, []string{k}, token).Err()
			}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock %s: %w", name, errors.Join(ctx.Err(), errLockBusy))
		case <-time.After(lockPoll):
		}
	}
}

var errLockBusy = errors.New("held by another replica")
