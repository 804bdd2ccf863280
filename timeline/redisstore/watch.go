package redisstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// watchAttempts bounds the optimistic retries of one WATCH/MULTI update under contention.
const watchAttempts = 20

// watchRetry runs one WATCH/MULTI update (attempt) until it is not beaten by another writer, at
// most watchAttempts times. Between tries it waits a random time that doubles each round (up to
// 64 ms): writers that collided and retried at once would collide again, and on a loaded machine
// one of 25 concurrent writers lost 20 rounds in a row (a "transaction failed" error, not an
// update lost, but an error the caller did not need). Any other error, or the context ending,
// ends the loop with that error.
func watchRetry(ctx context.Context, attempt func() error) error {
	var err error
	for i := 0; i < watchAttempts; i++ {
		if err = attempt(); !errors.Is(err, redis.TxFailedErr) {
			return err
		}
		wait := time.Duration(rand.Int64N(int64(time.Millisecond) << min(i, 6)))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return err
}
