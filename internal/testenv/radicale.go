package testenv

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RadicaleEnv names the environment variable that, when set, is the path of
// the radicale binary to use.
const RadicaleEnv = "POSTMORTEMD_TEST_RADICALE"

const (
	radicaleReadyTimeout = 20 * time.Second
	radicaleStopGrace    = 5 * time.Second
	radicaleStartRetries = 3

	// RadicaleUser and RadicalePassword are the credentials of the one
	// user of every Radicale server StartRadicale starts.
	RadicaleUser     = "postmortemd"
	RadicalePassword = "calendar-test-secret"
)

// Radicale is a Radicale CalDAV server process for one test, with one user
// (RadicaleUser, RadicalePassword) who owns one calendar collection.
type Radicale struct {
	tb       testing.TB
	url      string
	calendar string
	proc     *process
}

// StartRadicale starts a Radicale CalDAV server on a free port on 127.0.0.1
// with its storage and configuration in tb.TempDir, htpasswd authentication
// (plain passwords, no delay after a failed login) for one user, and
// owner-only rights, waits until it answers HTTP, and creates a calendar
// collection named "review" for the user with MKCALENDAR.
//
// It runs the binary named by POSTMORTEMD_TEST_RADICALE, or radicale from
// PATH, /usr/bin or /usr/local/bin. When none is found the test is skipped,
// or failed if CI is "true". A cleanup function stops the server and, if the
// test failed, writes the server's output to the test log.
func StartRadicale(tb testing.TB) *Radicale {
	tb.Helper()
	bin := binary(tb, RadicaleEnv, []string{"radicale"}, []string{"/usr/bin", "/usr/local/bin"},
		"radicale", "apt-get install radicale, or set "+RadicaleEnv)

	dir := tb.TempDir()
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte(RadicaleUser+":"+RadicalePassword+"\n"), 0o600); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	var r *Radicale
	startOnFreePort(tb, radicaleStartRetries, radicaleReadyTimeout, radicaleStopGrace, func(port int) (*process, func() error) {
		conf := filepath.Join(dir, fmt.Sprintf("radicale-%d.conf", port))
		body := fmt.Sprintf(`[server]
hosts = 127.0.0.1:%d
[auth]
type = htpasswd
htpasswd_filename = %s
htpasswd_encryption = plain
delay = 0
[rights]
type = owner_only
[storage]
filesystem_folder = %s
[web]
type = none
[logging]
level = warning
mask_passwords = True
`, port, users, filepath.Join(dir, "collections"))
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
		r = &Radicale{
			tb:  tb,
			url: fmt.Sprintf("http://127.0.0.1:%d", port),
			proc: &process{
				name:    "radicale",
				path:    bin,
				args:    []string{"--config", conf},
				logPath: filepath.Join(dir, fmt.Sprintf("radicale-%d.log", port)),
			},
		}
		url := r.url
		return r.proc, func() error { return httpAnswers(url + "/") }
	})
	r.calendar = r.MakeCalendar("review")
	return r
}

// URL returns the server's base URL, such as http://127.0.0.1:PORT.
func (r *Radicale) URL() string { return r.url }

// CalendarURL returns the URL of the user's "review" calendar collection,
// ending in a slash.
func (r *Radicale) CalendarURL() string { return r.calendar }

// MakeCalendar creates another calendar collection of the user with
// MKCALENDAR and returns its URL, ending in a slash. It fails the test if
// the server does not answer 201 Created.
func (r *Radicale) MakeCalendar(name string) string {
	r.tb.Helper()
	u := r.url + "/" + RadicaleUser + "/" + name + "/"
	req, err := http.NewRequest("MKCALENDAR", u, nil)
	if err != nil {
		r.tb.Fatalf("testenv: %v", err)
	}
	req.SetBasicAuth(RadicaleUser, RadicalePassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.tb.Fatalf("testenv: MKCALENDAR %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		r.tb.Fatalf("testenv: MKCALENDAR %s: %s %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	return u
}

// Stop stops the server (SIGTERM, then SIGKILL after a grace period) for
// tests of a CalDAV outage. The port stays reserved, so Start brings the
// server back at the same URL with the same collections. Calling Stop on a
// stopped server does nothing.
func (r *Radicale) Stop() {
	r.tb.Helper()
	r.proc.stop(radicaleStopGrace)
}

// Start starts a stopped server again on the same port and waits until it
// answers. Calling Start on a running server does nothing.
func (r *Radicale) Start() {
	r.tb.Helper()
	if err := r.proc.restart(radicaleReadyTimeout, func() error { return httpAnswers(r.url + "/") }); err != nil {
		r.tb.Fatalf("testenv: restart radicale on %s: %v", r.url, err)
	}
}

// httpAnswers reports whether u answers an HTTP GET at all, with any status.
func httpAnswers(u string) error {
	c := http.Client{
		Timeout: 2 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
