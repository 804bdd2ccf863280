package main

// postmortemd demo: the whole loop on one machine in about a minute. It starts the service on the
// embedded store and plays a real captured incident through the service's own webhook endpoints:
// Alertmanager's first notification of HighLatency (receiver/testdata/alertmanager/v0.34.2), then
// the PagerDuty incident it paged, told in 14 deliveries (receiver/testdata/pagerduty/story):
// acknowledged, escalated, reassigned, a responder added, priority raised, notes and a status
// update, an incident commander, resolved, reopened, resolved again. The incident's 78 minutes
// are played in --duration with today's times (every timestamp moved and scaled together, so
// the timeline and the wall clock agree), and PagerDuty's deliveries are signed as PagerDuty
// signs them. demodata/ holds byte-for-byte copies of those captures (a test keeps them equal).

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/postmortemd/postmortemd/drafts"
	"github.com/postmortemd/postmortemd/internal/i18n"
)

//go:embed demodata/*.json
var demoData embed.FS

// demoDelivery is one webhook the demo sends.
type demoDelivery struct {
	path string // /webhook/alertmanager or /webhook/pagerduty
	name string
	body []byte
}

// demoOptions are the demo's own flags.
type demoOptions struct {
	listen    string
	draftsDir string
	duration  time.Duration
	lang      string // --draft-lang of the service: the draft's, the invitation's and the feeds' language
	// ready is called with the service's base URL once it answers (tests).
	ready func(base string)
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("postmortemd demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o demoOptions
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9095", "address to serve the demo on")
	fs.StringVar(&o.draftsDir, "drafts-dir", "", "directory for the demo's draft postmortems (default: a new temporary directory)")
	fs.DurationVar(&o.duration, "duration", time.Minute, "how long the incident's 78 minutes take to play")
	fs.StringVar(&o.lang, "draft-lang", "en", "language of the draft postmortem, the review invitation and the feeds: "+
		strings.Join(drafts.Languages, " or ")+" (pages follow the browser's language)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: postmortemd demo [flags]\n\nStarts postmortemd on an in-memory store and plays a captured incident (Alertmanager and\nPagerDuty webhooks) through it, with today's times. Ctrl-C stops it.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected argument %q", fs.Arg(0))
	}
	if o.duration < time.Second {
		return fmt.Errorf("demo: --duration must be at least 1s, got %s", o.duration)
	}
	if !slices.Contains(drafts.Languages, o.lang) {
		return fmt.Errorf("demo: --draft-lang: want one of %s, got %q", strings.Join(drafts.Languages, ", "), o.lang)
	}
	return demo(ctx, o, stdout, stderr)
}

func demo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	deliveries, err := demoDeliveries()
	if err != nil {
		return err
	}
	if o.draftsDir == "" {
		if o.draftsDir, err = os.MkdirTemp("", "postmortemd-demo-"); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	secret := randomHex(16)
	// The user's environment is left out: the demo always runs on the embedded store, with open
	// writes on a loopback address, a short resolve grace so the draft follows quickly, and the
	// service's warnings only.
	lang := cmp.Or(o.lang, "en")
	room := i18n.For(i18n.Lang(lang)).T("demo.meeting_room")
	argv := []string{"--listen", o.listen, "--drafts-dir", o.draftsDir, "--pagerduty-secret", secret,
		"--resolve-grace", "5s", "--log-level", "error", "--review-location", room, "--draft-lang", lang}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var runErr error
	done := make(chan struct{}) // closed when run returns, with runErr set
	go func() {
		defer close(done)
		runErr = run(ctx, argv, func(string) string { return "" }, io.Discard, stderr)
	}()
	base := "http://" + o.listen
	if err := waitReady(ctx, base, done, &runErr); err != nil {
		cancel()
		<-done
		return err
	}
	if o.ready != nil {
		o.ready(base)
	}
	fmt.Fprintf(stdout, "postmortemd demo is running at %s (in-memory store; drafts in %s)\n", base, o.draftsDir)
	fmt.Fprintf(stdout, "Playing a captured incident over %s. Open the incident list now:\n  %s/incidents\n\n", o.duration, base)
	id, err := playDemo(ctx, base, secret, deliveries, o.duration, stdout)
	if err != nil {
		cancel()
		<-done
		return err
	}
	// From here on the service runs until Ctrl-C; a failure to show the draft is reported, not fatal.
	fmt.Fprintf(stdout, "\nThe incident resolved. Waiting for its draft postmortem and review meeting…\n")
	esc := id // incident ids are URL-safe ([a-z0-9-])
	if err := waitFor(ctx, base+"/api/v1/postmortems/"+esc, 60*time.Second, done); err != nil {
		cancel()
		<-done
		return fmt.Errorf("demo: the draft did not appear: %w", err)
	}
	fmt.Fprintf(stdout, "  Draft postmortem:  %s/postmortems/%s\n  Edit it:           %s/postmortems/%s/edit\n", base, esc, base, esc)
	if err := waitFor(ctx, base+"/api/v1/incidents/"+esc+"/review", 60*time.Second, done); err == nil {
		fmt.Fprintf(stdout, "  Review meeting:    %s/incidents/%s/review\n", base, esc)
	} else if ctx.Err() == nil {
		fmt.Fprintf(stdout, "  (no review meeting was booked: %v)\n", err)
	}
	fmt.Fprintf(stdout, "\nThe demo keeps serving until Ctrl-C; the store is in memory and goes with it.\n")
	<-done
	if ctx.Err() != nil && errors.Is(runErr, context.Canceled) {
		return nil
	}
	return runErr
}

// demoDeliveries reads the embedded captures in the order they were sent.
func demoDeliveries() ([]demoDelivery, error) {
	entries, err := demoData.ReadDir("demodata")
	if err != nil {
		return nil, err
	}
	var out []demoDelivery
	for _, e := range entries {
		b, err := demoData.ReadFile(path.Join("demodata", e.Name()))
		if err != nil {
			return nil, err
		}
		d := demoDelivery{name: e.Name(), body: b, path: "/webhook/pagerduty"}
		if strings.HasPrefix(e.Name(), "am-") {
			d.path = "/webhook/alertmanager"
		}
		out = append(out, d)
	}
	// am-* before pd-*, then by number: Alertmanager's notification came first and paged PagerDuty.
	slices.SortFunc(out, func(a, b demoDelivery) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// playDemo sends the deliveries with their times mapped onto [now, now+duration], each when its
// time comes, and returns the incident's id.
func playDemo(ctx context.Context, base, secret string, ds []demoDelivery, duration time.Duration, stdout io.Writer) (string, error) {
	var first, last time.Time
	times := make([]time.Time, len(ds))
	for i, d := range ds {
		t, err := deliveryTime(d.body)
		if err != nil {
			return "", fmt.Errorf("demo data %s: %w", d.name, err)
		}
		times[i] = t
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	start := time.Now().UTC()
	scale := float64(duration) / float64(last.Sub(first))
	at := func(t time.Time) time.Time { return start.Add(time.Duration(float64(t.Sub(first)) * scale)) }
	id := ""
	for i, d := range ds {
		when := at(times[i])
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Until(when)):
		}
		body, err := retime(d.body, at)
		if err != nil {
			return "", fmt.Errorf("demo data %s: %w", d.name, err)
		}
		got, err := deliver(ctx, base, d, body, secret, i)
		if err != nil {
			return "", err
		}
		if id == "" && got != "" {
			id = got
			fmt.Fprintf(stdout, "  Incident timeline (live): %s/incidents/%s\n\n", base, id)
		}
		fmt.Fprintf(stdout, "  %s  %s\n", when.Local().Format("15:04:05"), describeDelivery(d.name))
	}
	if id == "" {
		return "", errors.New("demo: no delivery named an incident")
	}
	return id, nil
}

func describeDelivery(name string) string {
	n := strings.TrimSuffix(name, ".json")
	if src, rest, ok := strings.Cut(n, "-"); ok {
		if _, what, ok := strings.Cut(rest, "-"); ok {
			sender := map[string]string{"am": "Alertmanager", "pd": "PagerDuty"}[src]
			return sender + ": " + strings.ReplaceAll(what, "-", " ")
		}
	}
	return n
}

// deliver posts one webhook as its sender would and returns the incident it went to.
func deliver(ctx context.Context, base string, d demoDelivery, body []byte, secret string, n int) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+d.path, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if d.path == "/webhook/pagerduty" {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		req.Header.Set("X-PagerDuty-Signature", "v1="+hex.EncodeToString(m.Sum(nil)))
		req.Header.Set("X-Webhook-Id", fmt.Sprintf("demo-%02d", n))
		req.Header.Set("User-Agent", "PagerDuty-Webhook/V3.0")
	} else {
		req.Header.Set("User-Agent", "Alertmanager/0.34.2")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("demo: deliver %s: %w", d.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("demo: deliver %s: %s: %s", d.name, resp.Status, bytes.TrimSpace(b))
	}
	var out struct {
		IncidentID string `json:"incident_id"`
	}
	_ = json.Unmarshal(b, &out)
	return out.IncidentID, nil
}

// deliveryTime is when a captured delivery happened: a PagerDuty event's occurred_at, or the
// earliest startsAt of an Alertmanager notification's alerts.
func deliveryTime(body []byte) (time.Time, error) {
	var v struct {
		Event *struct {
			OccurredAt time.Time `json:"occurred_at"`
		} `json:"event"`
		Alerts []struct {
			StartsAt time.Time `json:"startsAt"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return time.Time{}, err
	}
	if v.Event != nil {
		return v.Event.OccurredAt, nil
	}
	var t time.Time
	for _, a := range v.Alerts {
		if t.IsZero() || a.StartsAt.Before(t) {
			t = a.StartsAt
		}
	}
	if t.IsZero() {
		return t, errors.New("no time in the delivery")
	}
	return t, nil
}

// retime maps every timestamp in a JSON body through at; Go's zero time (Alertmanager's endsAt
// of a firing alert) stays as it is.
func retime(body []byte, at func(time.Time) time.Time) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		case string:
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil && t.Year() > 1 {
				return at(t).Format(time.RFC3339Nano)
			}
		}
		return v
	}
	return json.Marshal(walk(v))
}

// waitReady waits until the service answers /-/ready, or run ends (a taken port).
func waitReady(ctx context.Context, base string, done <-chan struct{}, runErr *error) error {
	err := waitFor(ctx, base+"/-/ready", 15*time.Second, done)
	if errors.Is(err, errStopped) && *runErr != nil {
		return *runErr
	}
	return err
}

// errStopped is waitFor's error when the service stopped while it waited.
var errStopped = errors.New("the service stopped")

// waitFor polls url until it answers 200, run ends, ctx ends or the timeout passes.
func waitFor(ctx context.Context, url string, timeout time.Duration, done <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return errStopped
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s", url, timeout)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
