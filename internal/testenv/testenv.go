// Package testenv starts the real external servers that postmortemd's
// integration tests run against: a redis-server, one or more Prometheus
// Alertmanager processes, a Radicale CalDAV server, an SMTP server (aiosmtpd)
// and a headless Chromium.
//
// Every server is started on a free port on 127.0.0.1, keeps its data in a
// directory from tb.TempDir, and is stopped by a tb.Cleanup function, which
// also writes the server's output to the test log when the test has failed.
// Nothing here ever talks to a host other than 127.0.0.1 or to a server it
// did not start, except for a Redis URL the caller explicitly provides in
// POSTMORTEMD_TEST_REDIS_URL.
//
// When a required binary is missing, the helpers skip the test, or fail it
// when the environment variable CI is "true", so that a CI machine with a
// broken setup cannot pass silently.
//
// The helpers call tb.Fatal and tb.Skip, so, like those methods, they must be
// called from the goroutine running the test.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logTailBytes is how much of a server's output is written to the test log
// when a test fails.
const logTailBytes = 64 << 10

// reservedPort is a port that must never be handed out: a developer's own
// redis-server usually listens there.
const reservedPort = 6379

var (
	portsMu sync.Mutex
	// portsUsed holds every port FreePort has returned in this process, so
	// that a port kept by a stopped server (see Redis.Stop) is not given to
	// another server of the same test binary.
	portsUsed = map[int]bool{}
)

// FreePort returns a TCP port on 127.0.0.1 that was free when it was picked
// and that FreePort has not returned before in this process. It never returns
// 6379. The port is not held open, so another process may still take it
// before the caller binds it.
func FreePort(tb testing.TB) int {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatalf("testenv: find a free port: %v", err)
	}
	return port
}

func freePort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if err := l.Close(); err != nil {
			return 0, err
		}
		portsMu.Lock()
		used := portsUsed[port]
		if !used && port != reservedPort {
			portsUsed[port] = true
		}
		portsMu.Unlock()
		if !used && port != reservedPort {
			return port, nil
		}
	}
	return 0, errors.New("no unused port found after 100 attempts")
}

// findBinary returns the first of names found on PATH, then in dirs.
func findBinary(names []string, dirs []string) (string, bool) {
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	for _, name := range names {
		for _, dir := range dirs {
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return p, true
			}
		}
	}
	return "", false
}

// binary returns the path named by the environment variable env, which must
// be a file, or else the first of names found on PATH or in dirs (env ""
// means no override). When none is found it calls missingBinary with what
// and hint.
func binary(tb testing.TB, env string, names, dirs []string, what, hint string) string {
	tb.Helper()
	if p := os.Getenv(env); env != "" && p != "" {
		fi, err := os.Stat(p)
		if err == nil && fi.IsDir() {
			err = errors.New("is a directory")
		}
		if err != nil {
			tb.Fatalf("testenv: %s=%q: %v", env, p, err)
		}
		return p
	}
	p, ok := findBinary(names, dirs)
	if !ok {
		missingBinary(tb, what, hint)
	}
	return p
}

// missingBinary fails the test under CI=true and skips it otherwise, recording the skip for the
// report (skips.go).
func missingBinary(tb testing.TB, what, hint string) {
	tb.Helper()
	skipMissing(tb, what, hint)
}

// process is one external server process that can be stopped and started
// again with the same arguments. Its stdout and stderr are appended to
// logPath.
type process struct {
	name    string
	path    string
	args    []string
	logPath string

	mu  sync.Mutex
	cur *run // nil while stopped
}

// run is one execution of a process.
type run struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // the result of cmd.Wait, valid after done is closed
}

// exited reports whether the run has ended, and how.
func (r *run) exited() (bool, error) {
	select {
	case <-r.done:
		return true, r.err
	default:
		return false, nil
	}
}

// childEnv is the environment of started servers: the test's own, with the
// loopback address excluded from any proxy.
func childEnv() []string {
	return append(os.Environ(),
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	)
}

// start starts the process; it must not be running.
func (p *process) start() (*run, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil {
		if done, _ := p.cur.exited(); !done {
			return nil, fmt.Errorf("%s is already running (pid %d)", p.name, p.cur.cmd.Process.Pid)
		}
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "--- testenv: %s %q\n", p.path, p.args)
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = childEnv()
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	r := &run{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		f.Close()
		r.err = err
		close(r.done)
	}()
	p.cur = r
	return r, nil
}

// stop sends SIGTERM, waits up to grace for the process to exit, and then
// kills it. It does nothing if the process is not running.
func (p *process) stop(grace time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.cur
	if r == nil {
		return
	}
	p.cur = nil
	if done, _ := r.exited(); done {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// kill sends SIGKILL at once (no chance to shut down cleanly) and waits for the exit. It does
// nothing if the process is not running.
func (p *process) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.cur
	if r == nil {
		return
	}
	p.cur = nil
	_ = r.cmd.Process.Kill()
	<-r.done
}

// running returns the current run, or nil.
func (p *process) running() *run {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// logTail returns the end of the process's output.
func (p *process) logTail() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > logTailBytes {
		if _, err := f.Seek(-logTailBytes, io.SeekEnd); err == nil {
			b, _ := io.ReadAll(f)
			return "(...)" + string(b)
		}
	}
	b, _ := io.ReadAll(f)
	if len(bytes.TrimSpace(b)) == 0 {
		return "(no output)"
	}
	return string(b)
}

// startOnFreePort starts the process newProc returns for a free port and
// waits until its check succeeds. A cleanup function stops the process and,
// if the test failed, writes its output to the test log. A process that does
// not get ready (most likely another process took the port between FreePort
// and the server's bind) is stopped and replaced by one on another port, up
// to attempts times; then the test fails.
func startOnFreePort(tb testing.TB, attempts int, timeout, grace time.Duration, newProc func(port int) (*process, func() error)) {
	tb.Helper()
	var lastErr error
	var name string
	for attempt := 1; attempt <= attempts; attempt++ {
		port := FreePort(tb)
		p, check := newProc(port)
		name = p.name
		run, err := p.start()
		if err != nil {
			tb.Fatalf("testenv: %v", err)
		}
		tb.Cleanup(func() {
			p.stop(grace)
			if tb.Failed() {
				tb.Logf("testenv: %s on 127.0.0.1:%d output:\n%s", p.name, port, p.logTail())
			}
		})
		lastErr = waitReady(run, p.name, timeout, check)
		if lastErr == nil {
			return
		}
		p.stop(grace)
		tb.Logf("testenv: attempt %d to start %s failed: %v\n%s", attempt, p.name, lastErr, p.logTail())
	}
	tb.Fatalf("testenv: could not start %s: %v", name, lastErr)
}

// restart starts the process again after stop (or after it died) and waits
// until check succeeds. It does nothing while the process runs.
func (p *process) restart(timeout time.Duration, check func() error) error {
	if cur := p.running(); cur != nil {
		if done, _ := cur.exited(); !done {
			return nil
		}
		p.stop(0) // forget the dead run
	}
	run, err := p.start()
	if err != nil {
		return err
	}
	if err := waitReady(run, p.name, timeout, check); err != nil {
		return fmt.Errorf("%w\n%s", err, p.logTail())
	}
	return nil
}

// waitReady polls check until it succeeds, the run exits or timeout passes.
func waitReady(r *run, name string, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		if done, err := r.exited(); done {
			return fmt.Errorf("%s exited before it was ready: %v", name, err)
		}
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v", name, timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
