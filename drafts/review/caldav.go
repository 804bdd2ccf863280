package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"
)

// defaultDeliveryTimeout bounds one delivery when the options set none.
const defaultDeliveryTimeout = 30 * time.Second

// CalDAVOptions configures a CalDAV transport.
type CalDAVOptions struct {
	// URL is the calendar collection the events go into, such as
	// https://dav.example.org/calendars/sre/postmortem-reviews/. It must
	// exist; the transport does not create it.
	URL string
	// Username and Password authenticate with HTTP Basic auth when
	// Username is set. Use HTTPS for any server that is not on loopback.
	Username string
	Password string
	// HTTPClient sends the requests; nil means a new http.Client with
	// default settings.
	HTTPClient *http.Client
	// Timeout bounds one Deliver call (all of its requests); zero means
	// 30 seconds.
	Timeout time.Duration
}

// CalDAV puts review meetings into a shared calendar collection with
// CalDAV (RFC 4791). Each event is one calendar object resource named after
// its UID, so delivering a new revision replaces the old one instead of
// adding a duplicate, and delivering the same revision again changes
// nothing.
//
// A cancellation keeps the event in the calendar with STATUS:CANCELLED
// rather than deleting it: people who already copied or subscribed to it
// see it struck through instead of silently vanishing, the calendar keeps
// the record that a review was planned, and a delayed retry of an older
// invitation cannot resurrect a deleted event, because the resource with
// the higher SEQUENCE is still there to compare against.
//
// The transport does not do CalDAV scheduling (RFC 6638): it puts the
// event into the collection and leaves invitations to the e-mail transport.
type CalDAV struct {
	collection *url.URL
	username   string
	password   string
	client     *http.Client
	timeout    time.Duration
}

// NewCalDAV returns a CalDAV transport, or an error that names the bad
// option.
func NewCalDAV(o CalDAVOptions) (*CalDAV, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("caldav URL %q: %w", o.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("caldav URL %q: want an absolute http or https URL of a calendar collection", o.URL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("caldav URL %q: put the credentials in the username and password settings, not in the URL", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("caldav URL %q: a collection URL has no query or fragment", o.URL)
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("caldav timeout %v: must not be negative", o.Timeout)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	c := &CalDAV{
		collection: u,
		username:   o.Username,
		password:   o.Password,
		client:     o.HTTPClient,
		timeout:    o.Timeout,
	}
	if c.client == nil {
		c.client = &http.Client{}
	}
	if c.timeout == 0 {
		c.timeout = defaultDeliveryTimeout
	}
	return c, nil
}

// Name returns "caldav".
func (c *CalDAV) Name() string { return "caldav" }

// Deliver puts m's event into the collection as <collection>/<UID>.ics
// (the UID reduced to characters that are safe in a path segment, with a
// hash of the full UID when that changed it). METHOD is removed, because a
// calendar object resource must not carry one (RFC 4791 section 4.1); a
// CANCEL is stored with STATUS:CANCELLED.
//
// If the collection already holds the event with a higher SEQUENCE than
// m.Sequence, m is outdated and Deliver does nothing, so a late retry
// cannot undo a newer revision or a cancellation.
//
// Errors wrap ErrPermanent when m is malformed, its VEVENTs do not carry
// m.UID, or the server answered with a 4xx status other than 408, 423, 425
// and 429 (wrong credentials, no such collection, a rejected event). Network
// failures, timeouts and 5xx answers are retryable.
func (c *CalDAV) Deliver(ctx context.Context, m Message) error {
	if err := checkDeliverable(m); err != nil {
		return err
	}
	cal, err := calendarObject(m)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rec := &statusRecorder{client: c.client, username: c.username, password: c.password}
	client, err := caldav.NewClient(rec, c.collection.String())
	if err != nil {
		return permanentErrorf("caldav: %w", err)
	}
	name := c.collection.JoinPath(objectName(m.UID)).Path

	current, err := client.GetCalendarObject(ctx, name)
	switch {
	case err != nil && rec.last() == http.StatusNotFound:
		// A new event.
	case err != nil:
		return c.classify(rec, fmt.Errorf("caldav: get %s: %w", name, err))
	default:
		if seq, ok := eventSequence(current.Data, m.UID); ok && seq > m.Sequence {
			return nil // the collection already holds a newer revision
		}
	}
	if _, err := client.PutCalendarObject(ctx, name, cal); err != nil {
		return c.classify(rec, fmt.Errorf("caldav: put %s: %w", name, err))
	}
	return nil
}

// classify marks err permanent when the last HTTP answer says that a retry
// cannot succeed.
func (c *CalDAV) classify(rec *statusRecorder, err error) error {
	code := rec.last()
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusLocked,
		code == http.StatusTooEarly, code == http.StatusTooManyRequests:
		return err
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return permanentErrorf("%w (check the CalDAV username and password)", err)
	case code == http.StatusConflict:
		// RFC 4791 section 5.3.2: 409 when the collection to put into
		// does not exist.
		return permanentErrorf("%w (does the calendar collection %s exist?)", err, c.collection.Redacted())
	case code >= 400 && code < 500:
		return permanentError(err)
	}
	return err
}

// calendarObject turns m's iTIP message into a calendar object resource:
// without METHOD, and with STATUS:CANCELLED for a CANCEL.
func calendarObject(m Message) (*ical.Calendar, error) {
	cal, err := parseInvitation(m, false)
	if err != nil {
		return nil, err
	}
	cal.Props.Del(ical.PropMethod)
	if m.Method == itipCancel {
		for _, ev := range cal.Events() {
			ev.Props.SetText(ical.PropStatus, string(ical.EventCancelled))
		}
	}
	return cal, nil
}

// eventSequence returns the highest SEQUENCE of cal's VEVENTs with the UID.
func eventSequence(cal *ical.Calendar, uid string) (int, bool) {
	if cal == nil {
		return 0, false
	}
	seq, found := 0, false
	for _, ev := range cal.Events() {
		if u, _ := ev.Props.Text(ical.PropUID); u != uid {
			continue
		}
		n := 0 // RFC 5545: SEQUENCE defaults to 0
		if p := ev.Props.Get(ical.PropSequence); p != nil {
			// Not p.Int: that refuses a SEQUENCE written with VALUE=TEXT.
			var err error
			if n, err = strconv.Atoi(strings.TrimSpace(p.Value)); err != nil {
				continue
			}
		}
		if !found || n > seq {
			seq, found = n, true
		}
	}
	return seq, found
}

// maxObjectStem bounds the UID part of an object's name.
const maxObjectStem = 100

// objectName returns the resource name of the event with the UID. Letters,
// digits, '-', '_' and '.' are kept; when anything else had to be replaced,
// or the UID is long, a hash of the whole UID keeps distinct UIDs apart.
func objectName(uid string) string {
	var b strings.Builder
	for i, r := range uid {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == '.' && i > 0:
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	stem := b.String()
	if stem != uid || len(stem) > maxObjectStem {
		sum := sha256.Sum256([]byte(uid))
		stem = stem[:min(len(stem), maxObjectStem)] + "-" + hex.EncodeToString(sum[:6])
	}
	return stem + ".ics"
}

// statusRecorder is the HTTP client of one delivery: it adds Basic auth
// and remembers the status of the last answer, which go-webdav does not
// expose in a type outside its internal package.
type statusRecorder struct {
	client             *http.Client
	username, password string

	mu     sync.Mutex
	status int
}

var _ webdav.HTTPClient = (*statusRecorder)(nil)

// Do sends req with the credentials and records the answer's status.
func (s *statusRecorder) Do(req *http.Request) (*http.Response, error) {
	if s.username != "" {
		req.SetBasicAuth(s.username, s.password)
	}
	resp, err := s.client.Do(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = 0
	if err == nil {
		s.status = resp.StatusCode
	}
	return resp, err
}

// last returns the status of the last answer, or 0 when the last request
// got none.
func (s *statusRecorder) last() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}
