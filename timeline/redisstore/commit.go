package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Group commit of Record. Under load many deliveries are in flight at once, and one Redis round trip
// each (a write and a read system call on both sides, per delivery) is as costly as the script
// itself. Deliveries that arrive while earlier ones are being sent wait in a queue and go to Redis
// together, as one pipeline of EVALSHAs; each still runs as its own script, atomically, so nothing
// about the rules changes. With nothing else in flight a delivery is sent at once: no added delay.

// maxCommitters bounds the pipelines in flight at once: while one waits for Redis, the next batch
// is being written.
const maxCommitters = 2

// maxBatch bounds one pipeline, so one slow batch does not hold many deliveries.
const maxBatch = 128

type commitQueue struct {
	mu         sync.Mutex
	queue      []*recordCall
	committers int
}

type recordCall struct {
	keys     []string
	args     []any
	deadline time.Time // zero: none
	done     chan *redis.Cmd
}

// runRecord runs recordScript for one delivery, batched with others in flight (see above).
func (s *Store) runRecord(ctx context.Context, keys []string, args []any) ([]any, error) {
	c := &recordCall{keys: keys, args: args, done: make(chan *redis.Cmd, 1)}
	c.deadline, _ = ctx.Deadline()
	q := &s.commits
	q.mu.Lock()
	q.queue = append(q.queue, c)
	start := q.committers < maxCommitters
	if start {
		q.committers++
	}
	q.mu.Unlock()
	if start {
		go s.commit()
	}
	var cmd *redis.Cmd
	select {
	case cmd = <-c.done:
	case <-ctx.Done():
		// The call may still reach Redis; Record is idempotent, so the sender's retry is safe.
		return nil, ctx.Err()
	}
	out, err := cmd.Slice()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis restarted or was flushed of scripts: load it and run this call alone.
		return recordScript.Run(ctx, s.rdb, keys, args...).Slice()
	}
	return out, err
}

// commit sends queued calls until the queue is empty.
func (s *Store) commit() {
	q := &s.commits
	for {
		q.mu.Lock()
		n := min(len(q.queue), maxBatch)
		if n == 0 {
			q.committers--
			q.mu.Unlock()
			return
		}
		batch := make([]*recordCall, n)
		copy(batch, q.queue)
		q.queue = append(q.queue[:0], q.queue[n:]...)
		q.mu.Unlock()
		s.commitBatch(batch)
	}
}

func (s *Store) commitBatch(batch []*recordCall) {
	// The pipeline lives as long as the most patient call in it waits (calls without a deadline:
	// as long as go-redis' own timeouts allow).
	ctx := context.Background()
	var last time.Time
	bounded := true
	for _, c := range batch {
		if c.deadline.IsZero() {
			bounded = false
		} else if c.deadline.After(last) {
			last = c.deadline
		}
	}
	if bounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, last)
		defer cancel()
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, c := range batch {
		cmds[i] = recordScript.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	for i, c := range batch {
		c.done <- cmds[i]
	}
}
