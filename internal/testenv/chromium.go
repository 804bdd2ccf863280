package testenv

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumEnv names the environment variable that, when set, is the path of
// the Chromium (or Chrome) binary the browser tests drive.
const ChromiumEnv = "POSTMORTEMD_TEST_CHROMIUM"

const chromiumStartTimeout = 30 * time.Second

// StartChromium starts a headless Chromium for the test and returns a
// chromedp context of its first tab; derive more tabs from it with
// chromedp.NewContext.
//
// The binary is $POSTMORTEMD_TEST_CHROMIUM, or the first of chromium,
// chromium-browser, google-chrome and google-chrome-stable on PATH or in
// /usr/bin. It runs with a profile in tb.TempDir, and with --no-sandbox when
// the test runs as root (Chromium's sandbox refuses root). A cleanup
// function stops the browser and, if the test failed, writes its output to
// the test log. When no binary is found the test is skipped, or failed if CI
// is "true".
func StartChromium(tb testing.TB) context.Context {
	tb.Helper()
	path := binary(tb, ChromiumEnv, []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"},
		[]string{"/usr/bin", "/usr/local/bin", "/snap/bin"}, "chromium", "apt-get install chromium, or set "+ChromiumEnv)
	out := &lockedBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("no-proxy-server", true),
		chromedp.CombinedOutput(out),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	tb.Cleanup(func() {
		cancel()
		cancelAlloc()
		if tb.Failed() {
			tb.Logf("testenv: chromium output:\n%s", out.String())
		}
	})
	// The first Run starts the browser, which lives as long as the context of that Run: it cannot
	// carry a timeout, so a hung start is bounded by a timer instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			tb.Fatalf("testenv: start %s: %v\n%s", path, err, out.String())
		}
	case <-time.After(chromiumStartTimeout):
		tb.Fatalf("testenv: %s did not start within %v\n%s", path, chromiumStartTimeout, out.String())
	}
	return ctx
}

// lockedBuffer collects a process's output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > logTailBytes {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() == 0 {
		return "(no output)"
	}
	return l.b.String()
}
