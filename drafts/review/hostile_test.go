package review

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// A title with a line break reaches the e-mail as a one-line Subject, not a failed or
// injected header.
func TestMailSubjectOfATitleWithLineBreaks(t *testing.T) {
	ml := newTestMailer(t, MailOptions{Addr: "127.0.0.1:25", StartTLS: StartTLSNone,
		Now: func() time.Time { return time.Date(2026, 11, 23, 18, 4, 5, 0, time.UTC) }})
	m := deliveryMessage(t, deliveryInvite{uid: "a1b2c3@postmortemd", seq: 1, method: "REQUEST",
		start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), attendees: []string{"oncall@example.org"}})
	m.Summary = "Postmortem review: Disk full\r\nBcc: victim@example.org\rX-Evil: 1"
	body, err := ml.compose(m, m.Recipients)
	if err != nil {
		t.Fatalf("compose: %v", err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if want := "Postmortem review: Disk full Bcc: victim@example.org X-Evil: 1"; err != nil || subject != want {
		t.Errorf("Subject = %q (%v), want %q", subject, err, want)
	}
	for _, h := range []string{"Bcc", "X-Evil"} {
		if v := msg.Header.Get(h); v != "" {
			t.Errorf("a %s header was injected: %q", h, v)
		}
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                 "plain",
		"a\r\nb":                "a b",
		"  a \t\x00 b\u2028c  ": "a b c",
		"bad \xff byte":         "bad \ufffd byte",
		"Ｄａｎａ\u0085Okafor\x7f":  "Ｄａｎａ Okafor",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
		if got := OneLine(want); got != want {
			t.Errorf("OneLine(%q) is not idempotent: %q", want, got)
		}
	}
	if s := OneLine(strings.Repeat("x", 10)); s != strings.Repeat("x", 10) {
		t.Error(s)
	}
}
