package testenv

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisURLEnv names the environment variable that, when set, makes
// StartRedis use an existing Redis server instead of starting one.
const RedisURLEnv = "POSTMORTEMD_TEST_REDIS_URL"

const (
	redisReadyTimeout = 15 * time.Second
	redisStopGrace    = 10 * time.Second
	redisStartRetries = 3
)

// Redis is a Redis server for one test: either a redis-server process that
// StartRedis started, or the external server named by
// POSTMORTEMD_TEST_REDIS_URL.
type Redis struct {
	// Started reports whether StartRedis started the server. When it is
	// false the server belongs to someone else, and the test must not flush
	// it or otherwise destroy data it did not write.
	Started bool

	tb   testing.TB
	url  string
	addr string
	port int
	proc *process // nil for an external server
}

// StartRedis returns a Redis server for the test.
//
// If POSTMORTEMD_TEST_REDIS_URL is set, StartRedis returns that server with
// Started false and does not contact it. Otherwise it looks for redis-server
// on PATH, in /usr/bin and in /usr/sbin, starts it on a free port on
// 127.0.0.1 without persistence and with its working directory in
// tb.TempDir, and waits until it answers PING. A cleanup function stops the
// server and, if the test failed, writes the server's output to the test
// log. When redis-server is missing the test is skipped, or failed if CI is
// "true".
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	if raw := os.Getenv(RedisURLEnv); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			tb.Fatalf("testenv: %s=%q is not a redis:// or rediss:// URL", RedisURLEnv, raw)
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "6379")
		}
		port, _ := strconv.Atoi(u.Port())
		return &Redis{tb: tb, url: raw, addr: host, port: port}
	}

	return startRedis(tb, nil, nil)
}

// StartRedisWith always starts a redis-server process (it ignores POSTMORTEMD_TEST_REDIS_URL) with
// extra command-line arguments, e.g. "--cluster-enabled", "yes" for a Cluster node.
func StartRedisWith(tb testing.TB, args ...string) *Redis {
	tb.Helper()
	return startRedis(tb, args, nil)
}

// StartSentinel starts a Redis Sentinel (redis-server --sentinel) on a free port that monitors master
// under the name masterName, and waits until the Sentinel knows the master's address.
func StartSentinel(tb testing.TB, master *Redis, masterName string) *Redis {
	tb.Helper()
	return startSentinel(tb, master, masterName, 5*time.Second, []string{"redis-server"})
}

// StartRedisSentinel starts the redis-sentinel program (Debian's redis-sentinel package; under
// CI=true it must be installed) on a free port, monitoring master as masterName with quorum 1, so
// that it alone declares the master down after downAfter without an answer and fails over to a
// replica.
func StartRedisSentinel(tb testing.TB, master *Redis, masterName string, downAfter time.Duration) *Redis {
	tb.Helper()
	return startSentinel(tb, master, masterName, downAfter, []string{"redis-sentinel"})
}

func startSentinel(tb testing.TB, master *Redis, masterName string, downAfter time.Duration, bins []string) *Redis {
	tb.Helper()
	host, port, _ := net.SplitHostPort(master.Addr())
	conf := func(dir string, p int) []string {
		path := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", p))
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor %s %s %s 1\n"+
			"sentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s 10000\n",
			p, masterName, host, port, masterName, downAfter.Milliseconds(), masterName)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
		if bins[0] == "redis-sentinel" {
			return []string{path}
		}
		return []string{path, "--sentinel"}
	}
	hint := "apt-get install redis-server"
	if bins[0] == "redis-sentinel" {
		hint = "apt-get install redis-sentinel"
	}
	return startRedisBin(tb, bins, hint, nil, conf)
}

// startRedis starts redis-server with extra arguments, or, when leading is set, with the arguments it
// returns for the chosen directory and port in front of the usual ones.
func startRedis(tb testing.TB, extra []string, leading func(dir string, port int) []string) *Redis {
	tb.Helper()
	return startRedisBin(tb, []string{"redis-server"}, "apt-get install redis-server", extra, leading)
}

func startRedisBin(tb testing.TB, names []string, hint string, extra []string, leading func(dir string, port int) []string) *Redis {
	tb.Helper()
	bin := binary(tb, "", names, []string{"/usr/bin", "/usr/sbin"}, names[0], hint)
	dir := tb.TempDir()
	var r *Redis
	startOnFreePort(tb, redisStartRetries, redisReadyTimeout, redisStopGrace, func(port int) (*process, func() error) {
		r = &Redis{
			Started: true,
			tb:      tb,
			url:     fmt.Sprintf("redis://127.0.0.1:%d/0", port),
			addr:    fmt.Sprintf("127.0.0.1:%d", port),
			port:    port,
			proc: &process{
				name: names[0],
				path: bin,
				args: append(append(lead(leading, dir, port), []string{
					"--port", strconv.Itoa(port),
					"--bind", "127.0.0.1",
					"--save", "",
					"--appendonly", "no",
					"--daemonize", "no",
					"--dir", dir,
				}...), extra...),
				logPath: filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)),
			},
		}
		addr := r.addr
		return r.proc, func() error { return redisPing(addr) }
	})
	return r
}

func lead(f func(string, int) []string, dir string, port int) []string {
	if f == nil {
		return nil
	}
	return f(dir, port)
}

// URL returns the server's URL, such as redis://127.0.0.1:PORT/0.
func (r *Redis) URL() string { return r.url }

// Addr returns the server's host:port address.
func (r *Redis) Addr() string { return r.addr }

// Port returns the server's TCP port, or 0 for an external server whose URL
// names no port.
func (r *Redis) Port() int { return r.port }

// RequireOwn skips the test (or fails it under CI=true, where nothing may be skipped silently)
// when r is the external server of POSTMORTEMD_TEST_REDIS_URL, which a test must not stop, kill or
// hang: call it first in a test of a Redis outage.
func (r *Redis) RequireOwn() {
	r.tb.Helper()
	if !r.Started {
		skipOrFail(r.tb, "a redis-server of its own", "redis-server",
			fmt.Sprintf("this test stops or hangs Redis, which it may not do to the external server of %s", RedisURLEnv),
			"unset "+RedisURLEnv+" to run it on a redis-server it starts")
	}
}

// Stop stops the server process (SIGTERM, then SIGKILL after a grace
// period) for tests of a Redis outage. The port stays reserved for this
// server, so Start can bring it back at the same address. Calling Stop on a
// stopped server does nothing. For an external server, Stop skips the test.
func (r *Redis) Stop() {
	r.tb.Helper()
	if !r.Started {
		r.RequireOwn()
	}
	r.proc.stop(redisStopGrace)
}

// Kill kills the server process with SIGKILL (kill -9: no shutdown, no final write of its data),
// as a crash would, and waits for it to exit. The port stays reserved, so Start brings it back at
// the same address; a server started with --appendonly yes then replays its append-only file.
// For an external server, Kill skips the test.
func (r *Redis) Kill() {
	r.tb.Helper()
	if !r.Started {
		r.tb.Skipf("testenv: cannot kill the external Redis server at %s (%s is set)", r.addr, RedisURLEnv)
	}
	r.proc.kill()
}

// Start starts a stopped server again on the same port and waits until it
// answers PING. The data written before Stop is gone, because the server
// runs without persistence. Calling Start on a running server does nothing.
// For an external server, Start skips the test.
func (r *Redis) Start() {
	r.tb.Helper()
	if !r.Started {
		r.RequireOwn()
	}
	if err := r.proc.restart(redisReadyTimeout, func() error { return redisPing(r.addr) }); err != nil {
		r.tb.Fatalf("testenv: restart redis-server on %s: %v", r.addr, err)
	}
}

// redisPing sends an inline PING command and expects +PONG.
func redisPing(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
