package review

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// mailPart is one decoded MIME entity of a received message.
type mailPart struct {
	mediaType string
	params    map[string]string
	header    textproto.MIMEHeader
	body      []byte     // decoded from its transfer encoding; nil for multipart
	parts     []mailPart // for multipart
}

// parseEntity decodes an entity and its parts recursively.
func parseEntity(tb testing.TB, header textproto.MIMEHeader, body io.Reader) mailPart {
	tb.Helper()
	mt, params, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		tb.Fatalf("Content-Type %q: %v", header.Get("Content-Type"), err)
	}
	p := mailPart{mediaType: mt, params: params, header: header}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				tb.Fatalf("read %s part: %v", mt, err)
			}
			p.parts = append(p.parts, parseEntity(tb, part.Header, part))
		}
		return p
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		tb.Fatal(err)
	}
	switch cte := strings.ToLower(header.Get("Content-Transfer-Encoding")); cte {
	case "base64":
		dec, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(raw)))
		if err != nil {
			tb.Fatalf("base64 body: %v", err)
		}
		p.body = dec
	case "quoted-printable":
		dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
		if err != nil {
			tb.Fatalf("quoted-printable body: %v", err)
		}
		p.body = dec
	case "", "7bit", "8bit":
		p.body = raw
	default:
		tb.Fatalf("unexpected Content-Transfer-Encoding %q", cte)
	}
	return p
}

// received is a delivered message as a mail client reads it.
type received struct {
	env    testenv.ReceivedMail
	msg    *mail.Message
	root   mailPart
	text   mailPart // text/plain
	cal    mailPart // text/calendar
	attach mailPart // the .ics attachment
}

// readMail parses a received message and finds its three leaves, failing
// when the structure is not multipart/mixed{multipart/alternative{text/plain,
// text/calendar}, attachment}.
func readMail(tb testing.TB, env testenv.ReceivedMail) received {
	tb.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(env.Data))
	if err != nil {
		tb.Fatalf("parse received message: %v\n%s", err, env.Data)
	}
	r := received{env: env, msg: msg}
	r.root = parseEntity(tb, textproto.MIMEHeader(msg.Header), msg.Body)
	if r.root.mediaType != "multipart/mixed" || len(r.root.parts) != 2 {
		tb.Fatalf("message is %s with %d parts, want multipart/mixed with 2\n%s", r.root.mediaType, len(r.root.parts), env.Data)
	}
	alt := r.root.parts[0]
	if alt.mediaType != "multipart/alternative" || len(alt.parts) != 2 {
		tb.Fatalf("first part is %s with %d parts, want multipart/alternative with 2", alt.mediaType, len(alt.parts))
	}
	r.text, r.cal, r.attach = alt.parts[0], alt.parts[1], r.root.parts[1]
	return r
}

func decodeICS(tb testing.TB, b []byte) *ical.Calendar {
	tb.Helper()
	cal, err := ical.NewDecoder(bytes.NewReader(b)).Decode()
	if err != nil {
		tb.Fatalf("parse calendar: %v\n%s", err, b)
	}
	return cal
}

func newTestMailer(tb testing.TB, o MailOptions) *Mailer {
	tb.Helper()
	if o.From == "" {
		o.From = "postmortemd <postmortemd@example.org>"
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	ml, err := NewMailer(o)
	if err != nil {
		tb.Fatalf("NewMailer: %v", err)
	}
	return ml
}

func TestMailerDeliversAnInvitation(t *testing.T) {
	srv := testenv.StartSMTP(t, testenv.SMTPConfig{})
	now := time.Date(2026, 11, 23, 18, 4, 5, 0, time.UTC)
	ml := newTestMailer(t, MailOptions{Addr: srv.Addr(), StartTLS: StartTLSNone, Hello: "pm.example.org",
		Now: func() time.Time { return now }})
	ctx := context.Background()
	in := deliveryInvite{uid: "a1b2c3@postmortemd", seq: 1, method: "REQUEST",
		start:     time.Date(2026, 11, 24, 10, 0, 0, 0, deliveryLocation(t, "Asia/Tokyo")),
		attendees: []string{"oncall-primary@example.org", "sre-lead@example.org"}}
	m := deliveryMessage(t, in)
	m.Summary = "ポストモーテム レビュー: 決済の遅延 (checkout latency)"
	m.Text = "ドラフト: https://pm.example.org/drafts/x\nタイムライン: https://pm.example.org/incidents/x\n"

	if err := ml.Deliver(ctx, m); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	r := readMail(t, msgs[0])

	t.Run("envelope", func(t *testing.T) {
		if r.env.MailFrom != "postmortemd@example.org" {
			t.Errorf("MAIL FROM = %q, want postmortemd@example.org", r.env.MailFrom)
		}
		if !slices.Equal(r.env.RcptTo, in.attendees) {
			t.Errorf("RCPT TO = %q, want %q", r.env.RcptTo, in.attendees)
		}
	})
	t.Run("headers", func(t *testing.T) {
		raw := r.msg.Header.Get("Subject")
		if strings.ContainsFunc(raw, func(r rune) bool { return r > 127 }) || !strings.Contains(raw, "=?") {
			t.Errorf("raw Subject %q is not an RFC 2047 encoded ASCII header", raw)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(raw)
		if err != nil || subject != m.Summary {
			t.Errorf("Subject decodes to %q (%v), want %q", subject, err, m.Summary)
		}
		from, err := r.msg.Header.AddressList("From")
		if err != nil || len(from) != 1 || from[0].Address != "postmortemd@example.org" {
			t.Errorf("From = %v (%v), want postmortemd@example.org", from, err)
		}
		to, err := r.msg.Header.AddressList("To")
		var addrs []string
		for _, a := range to {
			addrs = append(addrs, a.Address)
		}
		if err != nil || !slices.Equal(addrs, in.attendees) {
			t.Errorf("To = %v (%v), want %v", addrs, err, in.attendees)
		}
		if date, err := r.msg.Header.Date(); err != nil || !date.Equal(now) {
			t.Errorf("Date = %v (%v), want %v", date, err, now)
		}
		if id := r.msg.Header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.org>") {
			t.Errorf("Message-ID = %q, want <...@example.org>", id)
		}
		if got := r.msg.Header.Get("Mime-Version"); got != "1.0" {
			t.Errorf("MIME-Version = %q, want 1.0", got)
		}
	})
	t.Run("plain text part", func(t *testing.T) {
		if r.text.mediaType != "text/plain" || !strings.EqualFold(r.text.params["charset"], "utf-8") {
			t.Errorf("first alternative is %s %v, want text/plain; charset=UTF-8", r.text.mediaType, r.text.params)
		}
		if got := strings.ReplaceAll(string(r.text.body), "\r\n", "\n"); got != m.Text {
			t.Errorf("text = %q, want %q", got, m.Text)
		}
	})
	t.Run("calendar part", func(t *testing.T) {
		if r.cal.mediaType != "text/calendar" || r.cal.params["method"] != "REQUEST" || !strings.EqualFold(r.cal.params["charset"], "utf-8") {
			t.Errorf("second alternative is %s %v, want text/calendar; method=REQUEST; charset=UTF-8", r.cal.mediaType, r.cal.params)
		}
		cal := decodeICS(t, r.cal.body)
		if method, _ := cal.Props.Text(ical.PropMethod); method != "REQUEST" {
			t.Errorf("METHOD = %q, want REQUEST", method)
		}
		evs := cal.Events()
		if len(evs) != 1 {
			t.Fatalf("%d VEVENTs, want 1", len(evs))
		}
		if uid, _ := evs[0].Props.Text(ical.PropUID); uid != in.uid {
			t.Errorf("UID = %q, want %q", uid, in.uid)
		}
		if start, err := evs[0].DateTimeStart(nil); err != nil || !start.Equal(in.start) {
			t.Errorf("DTSTART = %v (%v), want %v", start, err, in.start)
		}
		if got := icalAttendees(evs[0]); !slices.Equal(got, in.attendees) {
			t.Errorf("ATTENDEEs = %v, want %v", got, in.attendees)
		}
	})
	t.Run("ics attachment", func(t *testing.T) {
		disp, params, err := mime.ParseMediaType(r.attach.header.Get("Content-Disposition"))
		if err != nil || disp != "attachment" || params["filename"] != "invite.ics" {
			t.Errorf("attachment disposition = %q %v (%v), want attachment; filename=invite.ics", disp, params, err)
		}
		if r.attach.mediaType != "application/ics" {
			t.Errorf("attachment type = %s, want application/ics", r.attach.mediaType)
		}
		if !bytes.Equal(r.attach.body, m.Calendar) {
			t.Errorf("attachment differs from the calendar:\n%s", r.attach.body)
		}
	})

	t.Run("a retry of the same revision has the same Message-ID; the next revision another", func(t *testing.T) {
		if err := ml.Deliver(ctx, m); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		next := in
		next.seq = 2
		if err := ml.Deliver(ctx, deliveryMessage(t, next)); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		msgs := srv.Messages()
		if len(msgs) != 3 {
			t.Fatalf("server received %d messages, want 3", len(msgs))
		}
		ids := make([]string, 3)
		for i, env := range msgs {
			ids[i] = readMail(t, env).msg.Header.Get("Message-Id")
		}
		if ids[0] != ids[1] || ids[1] == ids[2] {
			t.Errorf("Message-IDs = %q, want the first two equal and the third different", ids)
		}
	})
}

func TestMailerDeliversACancellation(t *testing.T) {
	srv := testenv.StartSMTP(t, testenv.SMTPConfig{})
	ml := newTestMailer(t, MailOptions{Addr: srv.Addr()})
	in := deliveryInvite{uid: "cancel@postmortemd", seq: 3, method: "CANCEL",
		start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), attendees: []string{"sre-lead@example.org"}}
	if err := ml.Deliver(context.Background(), deliveryMessage(t, in)); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	r := readMail(t, msgs[0])
	if r.cal.params["method"] != "CANCEL" {
		t.Errorf("calendar part method = %q, want CANCEL", r.cal.params["method"])
	}
	if method, _ := decodeICS(t, r.cal.body).Props.Text(ical.PropMethod); method != "CANCEL" {
		t.Errorf("METHOD = %q, want CANCEL", method)
	}
	if _, params, _ := mime.ParseMediaType(r.attach.header.Get("Content-Disposition")); params["filename"] != "cancel.ics" {
		t.Errorf("attachment file name = %q, want cancel.ics", params["filename"])
	}
}

func TestMailerTLSAndAuth(t *testing.T) {
	in := deliveryInvite{uid: "tls@postmortemd", method: "REQUEST",
		start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), attendees: []string{"sre-lead@example.org"}}
	tests := []struct {
		name      string
		server    testenv.SMTPConfig
		opts      MailOptions
		trust     bool // trust the server's certificate
		permanent bool // want a permanent error; false with wantTLS/no error
		fails     bool
		wantTLS   bool
	}{
		{name: "required STARTTLS with AUTH", server: testenv.SMTPConfig{RequireStartTLS: true, Username: "mailer", Password: "s3cret"},
			opts: MailOptions{StartTLS: StartTLSRequired, Username: "mailer", Password: "s3cret"}, trust: true, wantTLS: true},
		{name: "opportunistic uses offered STARTTLS", server: testenv.SMTPConfig{StartTLS: true},
			opts: MailOptions{StartTLS: StartTLSOpportunistic}, trust: true, wantTLS: true},
		{name: "opportunistic sends in the clear when not offered", server: testenv.SMTPConfig{},
			opts: MailOptions{StartTLS: StartTLSOpportunistic}},
		{name: "none does not use offered STARTTLS", server: testenv.SMTPConfig{StartTLS: true},
			opts: MailOptions{StartTLS: StartTLSNone}},
		{name: "required but not offered", server: testenv.SMTPConfig{},
			opts: MailOptions{StartTLS: StartTLSRequired}, fails: true, permanent: true},
		{name: "untrusted certificate", server: testenv.SMTPConfig{StartTLS: true},
			opts: MailOptions{StartTLS: StartTLSRequired}, fails: true, permanent: true},
		{name: "wrong password", server: testenv.SMTPConfig{RequireStartTLS: true, Username: "mailer", Password: "s3cret"},
			opts: MailOptions{StartTLS: StartTLSRequired, Username: "mailer", Password: "wrong"}, trust: true, fails: true, permanent: true},
		{name: "server wants AUTH, none configured", server: testenv.SMTPConfig{Username: "mailer", Password: "s3cret"},
			opts: MailOptions{StartTLS: StartTLSNone}, fails: true, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testenv.StartSMTP(t, tt.server)
			o := tt.opts
			o.Addr = srv.Addr()
			if tt.trust {
				o.TLSConfig = &tls.Config{RootCAs: srv.RootCAs()}
			}
			err := newTestMailer(t, o).Deliver(context.Background(), deliveryMessage(t, in))
			t.Logf("Deliver: %v", err)
			msgs := srv.Messages()
			if tt.fails {
				if err == nil {
					t.Fatal("Deliver succeeded, want an error")
				}
				if got := errors.Is(err, ErrPermanent); got != tt.permanent {
					t.Errorf("permanent = %v, want %v", got, tt.permanent)
				}
				if len(msgs) != 0 {
					t.Errorf("server received %d messages, want none", len(msgs))
				}
				return
			}
			if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			if len(msgs) != 1 {
				t.Fatalf("server received %d messages, want 1", len(msgs))
			}
			if msgs[0].TLS != tt.wantTLS {
				t.Errorf("sent over TLS = %v, want %v", msgs[0].TLS, tt.wantTLS)
			}
			if msgs[0].Authenticated != (tt.opts.Username != "") {
				t.Errorf("authenticated = %v, want %v", msgs[0].Authenticated, tt.opts.Username != "")
			}
		})
	}
}

func TestMailerRecipientsAndOutages(t *testing.T) {
	srv := testenv.StartSMTP(t, testenv.SMTPConfig{})
	ml := newTestMailer(t, MailOptions{Addr: srv.Addr()})
	ok1, ok2 := "sre-lead@example.org", "oncall@example.org"
	rejected := "gone@" + testenv.SMTPRejectDomain
	busy := "busy@" + testenv.SMTPTempFailDomain

	tests := []struct {
		name       string
		recipients []string
		permanent  bool
		partial    bool     // delivered to the others: recorded, not retried
		wantRcpts  []string // the accepted envelope of the one delivered message; nil: nothing sent
	}{
		{name: "every recipient refused", recipients: []string{rejected}, permanent: true},
		{name: "one of three refused: the others get it, the error names the refused one",
			recipients: []string{ok1, rejected, ok2}, partial: true, wantRcpts: []string{ok1, ok2}},
		{name: "one recipient deferred: nobody gets it yet, retry later",
			recipients: []string{ok1, busy}, permanent: false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Messages())
			in := deliveryInvite{uid: "rcpt@postmortemd", seq: i, method: "REQUEST",
				start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), attendees: tt.recipients}
			err := ml.Deliver(context.Background(), deliveryMessage(t, in))
			t.Logf("Deliver: %v", err)
			if err == nil {
				t.Fatal("Deliver succeeded, want an error")
			}
			if got := errors.Is(err, ErrPermanent); got != tt.permanent {
				t.Errorf("permanent = %v, want %v", got, tt.permanent)
			}
			if got := errors.Is(err, ErrPartial); got != tt.partial {
				t.Errorf("partial = %v, want %v", got, tt.partial)
			}
			msgs := srv.Messages()[before:]
			if tt.wantRcpts == nil {
				if len(msgs) != 0 {
					t.Errorf("server received %d messages, want none", len(msgs))
				}
				return
			}
			if len(msgs) != 1 || !slices.Equal(msgs[0].RcptTo, tt.wantRcpts) {
				t.Fatalf("received %d messages (%v), want 1 to %v", len(msgs), msgs, tt.wantRcpts)
			}
			if !strings.Contains(err.Error(), rejected) {
				t.Errorf("error %q does not name the refused recipient %s", err, rejected)
			}
		})
	}

	t.Run("malformed messages are permanent failures and send nothing", func(t *testing.T) {
		before := len(srv.Messages())
		base := deliveryMessage(t, deliveryInvite{uid: "bad@postmortemd", method: "REQUEST",
			start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), attendees: []string{ok1}})
		noMethod := base
		noMethod.Calendar = bytes.Replace(base.Calendar, []byte("METHOD:REQUEST\r\n"), nil, 1)
		badRcpt := base
		badRcpt.Recipients = []string{"not an address"}
		noRcpt := base
		noRcpt.Recipients = nil
		for name, m := range map[string]Message{"no METHOD": noMethod, "bad recipient": badRcpt, "no recipients": noRcpt} {
			if err := ml.Deliver(context.Background(), m); !errors.Is(err, ErrPermanent) {
				t.Errorf("%s: Deliver = %v, want a permanent error", name, err)
			}
		}
		if n := len(srv.Messages()) - before; n != 0 {
			t.Errorf("server received %d messages, want none", n)
		}
	})

	t.Run("server down is retryable", func(t *testing.T) {
		srv.Stop()
		in := deliveryInvite{uid: "down@postmortemd", method: "REQUEST",
			start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), attendees: []string{ok1}}
		err := ml.Deliver(context.Background(), deliveryMessage(t, in))
		t.Logf("Deliver: %v", err)
		if err == nil || errors.Is(err, ErrPermanent) {
			t.Fatalf("Deliver = %v, want a retryable error", err)
		}
	})
}

func TestNewMailerRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name string
		opts MailOptions
	}{
		{"no address", MailOptions{From: "pm@example.org"}},
		{"no port", MailOptions{Addr: "smtp.example.org", From: "pm@example.org"}},
		{"bad from", MailOptions{Addr: "smtp.example.org:587", From: "postmortemd"}},
		{"unknown STARTTLS mode", MailOptions{Addr: "smtp.example.org:587", From: "pm@example.org", StartTLS: "always"}},
		{"password in the clear over the network", MailOptions{Addr: "smtp.example.org:25", From: "pm@example.org",
			Username: "u", Password: "p", StartTLS: StartTLSNone}},
		{"negative timeout", MailOptions{Addr: "smtp.example.org:587", From: "pm@example.org", Timeout: -1}},
		{"hello with spaces", MailOptions{Addr: "smtp.example.org:587", From: "pm@example.org", Hello: "a b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewMailer(tt.opts); err == nil {
				t.Fatalf("NewMailer(%+v) succeeded, want an error", tt.opts)
			}
		})
	}
	if _, err := NewMailer(MailOptions{Addr: "127.0.0.1:25", From: "pm@example.org", Username: "u", StartTLS: StartTLSNone}); err != nil {
		t.Errorf("AUTH without TLS to loopback refused: %v", err)
	}
}

func TestMailerKeepsUntrustedTextOutOfTheHeaders(t *testing.T) {
	srv := testenv.StartSMTP(t, testenv.SMTPConfig{})
	ml := newTestMailer(t, MailOptions{Addr: srv.Addr()})
	m := deliveryMessage(t, deliveryInvite{uid: "inject@postmortemd", method: "REQUEST",
		start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), attendees: []string{"sre-lead@example.org"}})
	// An alert's title ends up in the subject; alerts are not trusted.
	m.Summary = "Review: disk full\r\nBcc: attacker@example.net\r\n\r\nforged body"
	if err := ml.Deliver(context.Background(), m); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	r := readMail(t, msgs[0])
	if bcc := r.msg.Header.Get("Bcc"); bcc != "" {
		t.Errorf("the subject injected a Bcc header: %q", bcc)
	}
	if !slices.Equal(r.env.RcptTo, []string{"sre-lead@example.org"}) {
		t.Errorf("RCPT TO = %q, want only sre-lead@example.org", r.env.RcptTo)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(r.msg.Header.Get("Subject"))
	if err != nil || subject != m.Summary {
		t.Errorf("Subject decodes to %q (%v), want %q", subject, err, m.Summary)
	}
}

func TestMailerGivesUpOnASilentServerWithinTimeout(t *testing.T) {
	// A server that accepts the connection and never greets, like a
	// black-holing firewall or a wedged relay.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	ml := newTestMailer(t, MailOptions{Addr: l.Addr().String(), Timeout: 300 * time.Millisecond})
	m := deliveryMessage(t, deliveryInvite{uid: "silent@postmortemd", method: "REQUEST",
		start: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), attendees: []string{"sre-lead@example.org"}})
	// The server never greets: only the timeout can end Deliver, so its return is the proof.
	err = ml.Deliver(context.Background(), m)
	if err == nil || errors.Is(err, ErrPermanent) {
		t.Fatalf("Deliver = %v, want a retryable error", err)
	}
}
