package redisstore

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Writes that reach the replicas before they are acknowledged.
//
// Redis replicates asynchronously: a primary answers a write before any replica has it, so a write
// acknowledged in the last instant before the primary dies is gone once Sentinel promotes a
// replica. With Options.WaitReplicas set, every write the store sends is followed, on the same
// connection, by WAIT numreplicas timeout, and counts as done only when that many replicas
// acknowledged it. Otherwise the write reports an error that wraps timeline.ErrUnavailable (the
// webhook answers a retryable 503): the write may still be on the primary, and every write here is
// idempotent or checked, so the sender's retry stores it once.
//
// WAIT covers the writes of the connection it is sent on, so it must follow them on that
// connection: a write sent alone becomes a two-command pipeline [write, WAIT], and a pipeline of
// writes gets one WAIT at its end (replicaHook). A MULTI/EXEC transaction cannot carry it (WAIT is
// refused inside MULTI, and go-redis reads a transaction's replies up to EXEC), so the two
// WATCH/MULTI updates call waitTx on their transaction's connection after EXEC, and the one
// MULTI/EXEC without WATCH runs inside a Watch without keys for the same reason.

// errNotReplicated starts the error of a write fewer replicas acknowledged than asked. Its words
// begin with Redis's own NOREPLICAS (what min-replicas-to-write answers), which unavailable treats
// as retryable.
const errNotReplicated = "NOREPLICAS"

type waitMark struct{}

// replicaHook is the go-redis hook that adds WAIT after writes (see above).
type replicaHook struct {
	rdb     redis.UniversalClient
	n       int
	timeout time.Duration
	// failed, if set, is told about each write fewer than n replicas acknowledged.
	failed func(acked int, err error)
}

func (h *replicaHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *replicaHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ctx.Value(waitMark{}) != nil || !isWrite(cmd) {
			return next(ctx, cmd)
		}
		// Sent again as a pipeline, so that WAIT goes on the write's connection; the pipeline hook
		// adds it.
		_, _ = h.rdb.Pipelined(ctx, func(p redis.Pipeliner) error { return p.Process(ctx, cmd) })
		return cmd.Err()
	}
}

func (h *replicaHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if ctx.Value(waitMark{}) != nil || len(cmds) == 0 || strings.EqualFold(cmds[0].Name(), "multi") || !slices.ContainsFunc(cmds, isWrite) {
			return next(ctx, cmds)
		}
		wait := redis.NewIntCmd(ctx, "wait", h.n, h.waitMillis(ctx))
		err := next(ctx, append(cmds, wait))
		h.check(cmds, wait)
		if err == nil {
			for _, c := range cmds {
				if err = c.Err(); err != nil {
					break
				}
			}
		}
		return err
	}
}

// check marks the writes among cmds that succeeded as failed when wait did not see n replicas, and
// tells h.failed once per batch of them.
func (h *replicaHook) check(cmds []redis.Cmder, wait *redis.IntCmd) {
	acked, err := wait.Result()
	if err == nil && int(acked) >= h.n {
		return
	}
	if err != nil {
		err = fmt.Errorf("%s: could not learn whether %d replicas have the write: %w", errNotReplicated, h.n, err)
	} else {
		err = fmt.Errorf("%s: %d of %d replicas acknowledged the write within %s", errNotReplicated, acked, h.n, h.timeout)
	}
	marked := false
	for _, c := range cmds {
		if c.Err() == nil && isWrite(c) {
			c.SetErr(err)
			marked = true
		}
	}
	// Writes that failed on their own (Redis unreachable) are not replication's failures.
	if marked && h.failed != nil {
		h.failed(int(acked), err)
	}
}

// waitMillis is WAIT's timeout: the configured one, cut to what ctx leaves (WAIT 0 would block
// forever, so at least 1 ms).
func (h *replicaHook) waitMillis(ctx context.Context) int64 {
	d := h.timeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	return max(d.Milliseconds(), 1)
}

// waitTx waits, on tx's connection, for the writes tx's transaction made to reach the replicas.
func (s *Store) waitTx(ctx context.Context, tx *redis.Tx) error {
	h := s.replicas
	if h == nil {
		return nil
	}
	wait := redis.NewIntCmd(ctx, "wait", h.n, h.waitMillis(ctx))
	_ = tx.Process(context.WithValue(ctx, waitMark{}, true), wait)
	marker := redis.NewStatusCmd(ctx, "exec") // stands for the transaction's writes
	h.check([]redis.Cmder{marker}, wait)
	return marker.Err()
}

// readOnly names the commands that write nothing; anything else counts as a write.
var readOnly = map[string]bool{
	"get": true, "mget": true, "hget": true, "hmget": true, "hgetall": true, "hlen": true, "hexists": true,
	"smembers": true, "sismember": true, "scard": true, "exists": true, "type": true, "ttl": true, "pttl": true,
	"xlen": true, "xrange": true, "xrevrange": true, "zrange": true, "zrevrange": true, "zrangebyscore": true,
	"zrevrangebyscore": true, "zcard": true, "zscore": true, "scan": true, "hscan": true, "sscan": true,
	"zscan": true, "ping": true, "info": true, "watch": true, "unwatch": true, "wait": true, "hello": true,
	"auth": true, "select": true, "client": true, "readonly": true, "role": true, "evalsha_ro": true,
	"eval_ro": true, "dbsize": true, "time": true, "command": true, "discard": true,
}

func isWrite(cmd redis.Cmder) bool {
	name := strings.ToLower(cmd.Name())
	if name == "script" { // SCRIPT LOAD is not replicated
		return false
	}
	return !readOnly[name]
}
