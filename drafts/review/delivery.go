package review

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-ical"
)

// Message is one invitation or cancellation to deliver.
type Message struct {
	UID        string   // the event's stable UID
	Sequence   int      // the event's SEQUENCE; a newer revision has a higher one
	Method     string   // "REQUEST" or "CANCEL"
	Calendar   []byte   // a complete VCALENDAR (with METHOD) built with github.com/emersion/go-ical
	Summary    string   // e-mail subject
	Text       string   // plain-text body (links to the draft and the live timeline)
	Organizer  string   // mailto address
	Recipients []string // e-mail addresses of attendees
	Lang       string   // language of Summary and Text ("en", "ja"); "" is English
}

// The iTIP methods (RFC 5546) a Message may carry.
const (
	itipRequest = "REQUEST"
	itipCancel  = "CANCEL"
)

// Transport delivers messages; Deliver is idempotent for the same UID and Sequence.
type Transport interface {
	// Name names the transport in logs, metrics and the review's status,
	// such as "caldav" or "email".
	Name() string
	// Deliver delivers m. An error that wraps ErrPermanent means a retry
	// of the same message cannot succeed (a rejected request, bad
	// credentials, a malformed message or a wrong setting); any other
	// error is worth retrying with backoff (the server was unreachable,
	// timed out or failed temporarily).
	Deliver(ctx context.Context, m Message) error
}

// ErrPermanent is wrapped by delivery errors that retrying cannot fix.
var ErrPermanent = errors.New("permanent delivery failure")

// ErrPartial means the message reached some recipients and others were refused for good (a 5xx
// for their addresses). The meeting is delivered: retrying would send it again to everyone who
// already has it, so it is not retried; the refusal is recorded for people to fix.
var ErrPartial = errors.New("delivered to some recipients, others refused")

// permanentError wraps err so that errors.Is(err, ErrPermanent) holds, keeping
// err itself reachable through errors.Is and errors.As.
func permanentError(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// permanentErrorf formats a permanent error.
func permanentErrorf(format string, args ...any) error {
	return permanentError(fmt.Errorf(format, args...))
}

// checkDeliverable rejects a message no transport can deliver.
func checkDeliverable(m Message) error {
	switch {
	case m.UID == "":
		return permanentErrorf("message has no UID")
	case m.Method != itipRequest && m.Method != itipCancel:
		return permanentErrorf("message %s: method %q is neither %s nor %s", m.UID, m.Method, itipRequest, itipCancel)
	case len(m.Calendar) == 0:
		return permanentErrorf("message %s: no calendar", m.UID)
	}
	return nil
}

// parseInvitation parses m.Calendar and checks that it fits m: a METHOD,
// when present (always, with requireMethod), equal to m.Method, and at
// least one VEVENT, every one with m.UID.
func parseInvitation(m Message, requireMethod bool) (*ical.Calendar, error) {
	cal, err := ical.NewDecoder(bytes.NewReader(m.Calendar)).Decode()
	if err != nil {
		return nil, permanentErrorf("message %s: parse calendar: %w", m.UID, err)
	}
	method, _ := cal.Props.Text(ical.PropMethod)
	switch {
	case method == "" && requireMethod:
		return nil, permanentErrorf("message %s: calendar has no METHOD", m.UID)
	case method != "" && !strings.EqualFold(method, m.Method):
		return nil, permanentErrorf("message %s: calendar METHOD %s does not match the message's %s", m.UID, method, m.Method)
	}
	events := cal.Events()
	if len(events) == 0 {
		return nil, permanentErrorf("message %s: calendar has no VEVENT", m.UID)
	}
	for _, ev := range events {
		if uid, _ := ev.Props.Text(ical.PropUID); uid != m.UID {
			return nil, permanentErrorf("message %s: calendar has a VEVENT with UID %q", m.UID, uid)
		}
	}
	return cal, nil
}
