package review

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"
)

// StartTLSMode says whether the mailer encrypts the SMTP session with
// STARTTLS (RFC 3207).
type StartTLSMode string

// The STARTTLS modes.
const (
	// StartTLSNone never uses STARTTLS; only for a relay on loopback or
	// inside a trusted network.
	StartTLSNone StartTLSMode = "none"
	// StartTLSOpportunistic uses STARTTLS when the server offers it (and
	// then its certificate must verify, as credentials may follow) and
	// sends in the clear otherwise. Credentials are never sent in the
	// clear, except to a server on loopback.
	StartTLSOpportunistic StartTLSMode = "opportunistic"
	// StartTLSRequired refuses to send unless the session is encrypted.
	StartTLSRequired StartTLSMode = "required"
)

// MailOptions configures a Mailer.
type MailOptions struct {
	// Addr is the SMTP relay's host:port, such as smtp.example.org:587.
	Addr string
	// From is the sender, as an address or "Name <address>". It is the
	// envelope sender (MAIL FROM) and the From header.
	From string
	// Username and Password authenticate with AUTH PLAIN when Username
	// is set, only over TLS or to a server on loopback.
	Username string
	Password string
	// StartTLS is the STARTTLS mode; empty means StartTLSOpportunistic.
	StartTLS StartTLSMode
	// TLSConfig verifies the server's certificate; nil means the system's
	// roots and the host name of Addr.
	TLSConfig *tls.Config
	// Timeout bounds one Deliver call (connecting, the whole SMTP
	// session); zero means 30 seconds.
	Timeout time.Duration
	// Hello is the name sent with EHLO; empty means "localhost".
	Hello string
	// Now is the clock for the Date header; nil means time.Now.
	Now func() time.Time
}

// Mailer sends invitations and cancellations as iMIP e-mail (RFC 6047)
// through an SMTP relay.
//
// It uses net/smtp for the session, not github.com/emersion/go-smtp:
// net/smtp can upgrade a session to TLS after reading the server's EHLO
// answer (Client.StartTLS), which the opportunistic mode needs and which
// go-smtp's client only offers as "always STARTTLS right after connecting",
// its replies carry the status code that tells a temporary failure (4xx)
// from a permanent one (5xx), and its PLAIN auth refuses to send a password
// over an unencrypted connection to another host. The MIME message is
// written with github.com/emersion/go-message, which encodes non-ASCII
// headers (RFC 2047), multipart bodies and transfer encodings correctly;
// the standard library has no MIME writer for headers and parts together.
type Mailer struct {
	o    MailOptions
	from *mail.Address
	host string
}

// NewMailer returns a Mailer, or an error that names the bad option.
func NewMailer(o MailOptions) (*Mailer, error) {
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("smtp address %q: want host:port", o.Addr)
	}
	from, err := mail.ParseAddress(o.From)
	if err != nil {
		return nil, fmt.Errorf("smtp from %q: %w", o.From, err)
	}
	switch o.StartTLS {
	case "":
		o.StartTLS = StartTLSOpportunistic
	case StartTLSNone, StartTLSOpportunistic, StartTLSRequired:
	default:
		return nil, fmt.Errorf("smtp starttls %q: want %s, %s or %s", o.StartTLS, StartTLSNone, StartTLSOpportunistic, StartTLSRequired)
	}
	if o.Username != "" && o.StartTLS == StartTLSNone && !isLoopback(host) {
		return nil, fmt.Errorf("smtp username set with starttls %s: the password would cross the network in the clear; use %s", StartTLSNone, StartTLSRequired)
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("smtp timeout %v: must not be negative", o.Timeout)
	}
	if o.Timeout == 0 {
		o.Timeout = defaultDeliveryTimeout
	}
	if o.Hello == "" {
		o.Hello = "localhost"
	}
	if strings.ContainsAny(o.Hello, "\r\n ") {
		return nil, fmt.Errorf("smtp hello %q: must be one host name", o.Hello)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Mailer{o: o, from: from, host: host}, nil
}

// Name returns "email".
func (ml *Mailer) Name() string { return "email" }

// Deliver sends m to m.Recipients as one e-mail: multipart/mixed with a
// multipart/alternative of the plain text and the calendar
// (text/calendar; method=REQUEST or CANCEL), and the calendar again as an
// .ics attachment, which Outlook and some web mailers need. The Message-ID
// is derived from the UID, SEQUENCE and method, so a retry of the same
// revision carries the same Message-ID and receivers can drop the
// duplicate; calendar clients update the one event by UID either way.
//
// Errors wrap ErrPermanent when m is malformed, the server refused with a
// 5xx reply (a rejected sender or recipient, failed authentication, a
// message too large), it does not offer STARTTLS in the required mode, or
// its certificate does not verify. When some recipients were refused with
// 5xx and the others accepted, the message is sent to those and the
// returned permanent error names the refused ones. A 4xx reply to any
// recipient sends to nobody and returns a retryable error, so a retry
// reaches everyone at once. Network failures and other 4xx replies are
// retryable.
func (ml *Mailer) Deliver(ctx context.Context, m Message) error {
	if err := checkDeliverable(m); err != nil {
		return err
	}
	if _, err := parseInvitation(m, true); err != nil {
		return err
	}
	if len(m.Recipients) == 0 {
		return permanentErrorf("message %s: no recipients", m.UID)
	}
	rcpts := make([]string, 0, len(m.Recipients))
	for _, r := range m.Recipients {
		a, err := mail.ParseAddress(r)
		if err != nil {
			return permanentErrorf("message %s: recipient %q: %w", m.UID, r, err)
		}
		rcpts = append(rcpts, a.Address)
	}
	body, err := ml.compose(m, rcpts)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, ml.o.Timeout)
	defer cancel()
	return ml.send(ctx, rcpts, body)
}

// send runs one SMTP session.
func (ml *Mailer) send(ctx context.Context, rcpts []string, body []byte) (err error) {
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", ml.o.Addr)
	if err != nil {
		return fmt.Errorf("smtp: connect %s: %w", ml.o.Addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer func() {
		if ctx.Err() != nil && err != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
	}()

	c, err := smtp.NewClient(conn, ml.host)
	if err != nil {
		conn.Close()
		return classifySMTP("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(ml.o.Hello); err != nil {
		return classifySMTP("EHLO", err)
	}
	if ml.o.StartTLS != StartTLSNone {
		if ok, _ := c.Extension("STARTTLS"); ok {
			cfg := &tls.Config{ServerName: ml.host, MinVersion: tls.VersionTLS12}
			if ml.o.TLSConfig != nil {
				cfg = ml.o.TLSConfig.Clone()
				if cfg.ServerName == "" {
					cfg.ServerName = ml.host
				}
			}
			if err := c.StartTLS(cfg); err != nil {
				return classifySMTP("STARTTLS", err)
			}
		} else if ml.o.StartTLS == StartTLSRequired {
			return permanentErrorf("smtp: %s does not offer STARTTLS, and the STARTTLS mode is %s", ml.o.Addr, StartTLSRequired)
		}
	}
	if ml.o.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", ml.o.Username, ml.o.Password, ml.host)); err != nil {
			return classifySMTP("AUTH", err)
		}
	}
	if err := c.Mail(ml.from.Address); err != nil {
		return classifySMTP("MAIL FROM", err)
	}
	var refused, deferred []string
	var refusedErr, deferredErr error
	for _, r := range rcpts {
		err := c.Rcpt(r)
		var te *textproto.Error
		switch {
		case err == nil:
		case errors.As(err, &te) && te.Code >= 500:
			refused, refusedErr = append(refused, r), err
		case errors.As(err, &te):
			deferred, deferredErr = append(deferred, r), err
		default:
			return classifySMTP("RCPT TO", err)
		}
	}
	if len(deferred) > 0 {
		_ = c.Reset()
		_ = c.Quit()
		return fmt.Errorf("smtp: recipients %s deferred, sent to nobody: %w", strings.Join(deferred, ", "), deferredErr)
	}
	if len(refused) == len(rcpts) {
		_ = c.Quit()
		return permanentErrorf("smtp: every recipient refused: %w", refusedErr)
	}
	w, err := c.Data()
	if err != nil {
		return classifySMTP("DATA", err)
	}
	if _, err := w.Write(body); err != nil {
		return classifySMTP("DATA", err)
	}
	if err := w.Close(); err != nil {
		return classifySMTP("end of DATA", err)
	}
	_ = c.Quit()
	if len(refused) > 0 {
		return fmt.Errorf("smtp: sent, but recipients %s refused: %w: %w", strings.Join(refused, ", "), ErrPartial, refusedErr)
	}
	return nil
}

// classifySMTP wraps err from an SMTP step, marking it permanent when a
// retry cannot help: a 5xx reply, a certificate that does not verify, or
// credentials net/smtp refuses to send in the clear.
func classifySMTP(step string, err error) error {
	err = fmt.Errorf("smtp: %s: %w", step, err)
	var te *textproto.Error
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &te):
		if te.Code >= 500 {
			return permanentError(err)
		}
		return err
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return permanentError(err)
	case strings.Contains(err.Error(), "unencrypted connection"):
		return permanentErrorf("%w (use STARTTLS to authenticate)", err)
	}
	return err
}

// compose writes the e-mail.
func (ml *Mailer) compose(m Message, rcpts []string) ([]byte, error) {
	var h gomail.Header
	h.SetDate(ml.o.Now())
	h.SetAddressList("From", []*gomail.Address{{Name: ml.from.Name, Address: ml.from.Address}})
	to := make([]*gomail.Address, len(rcpts))
	for i, r := range rcpts {
		to[i] = &gomail.Address{Address: r}
	}
	h.SetAddressList("To", to)
	h.SetSubject(m.Summary)
	h.SetMessageID(messageID(m, ml.from.Address))
	// Outlook files the message as a meeting request with this.
	h.Set("Content-Class", "urn:content-classes:calendarmessage")
	// RFC 3834: keep vacation responders from answering a robot.
	h.Set("Auto-Submitted", "auto-generated")
	if m.Lang != "" {
		h.Set("Content-Language", m.Lang) // RFC 3282
	}

	method := strings.ToUpper(m.Method)
	var buf bytes.Buffer
	mw, err := gomail.CreateWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("compose mail: %w", err)
	}
	alt, err := mw.CreateInline()
	if err != nil {
		return nil, fmt.Errorf("compose mail: %w", err)
	}
	var text gomail.InlineHeader
	text.SetContentType("text/plain", map[string]string{"charset": "UTF-8"})
	if err := writePart(func() (io.WriteCloser, error) { return alt.CreatePart(text) }, []byte(m.Text)); err != nil {
		return nil, err
	}
	var cal gomail.InlineHeader
	cal.SetContentType("text/calendar", map[string]string{"charset": "UTF-8", "method": method})
	cal.Set("Content-Transfer-Encoding", "base64")
	if err := writePart(func() (io.WriteCloser, error) { return alt.CreatePart(cal) }, m.Calendar); err != nil {
		return nil, err
	}
	if err := alt.Close(); err != nil {
		return nil, fmt.Errorf("compose mail: %w", err)
	}
	name := "invite.ics"
	if method == itipCancel {
		name = "cancel.ics"
	}
	var att gomail.AttachmentHeader
	att.SetContentType("application/ics", map[string]string{"name": name})
	att.SetFilename(name)
	if err := writePart(func() (io.WriteCloser, error) { return mw.CreateAttachment(att) }, m.Calendar); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("compose mail: %w", err)
	}
	return buf.Bytes(), nil
}

// writePart creates a part and writes b into it.
func writePart(create func() (io.WriteCloser, error), b []byte) error {
	w, err := create()
	if err != nil {
		return fmt.Errorf("compose mail: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("compose mail: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("compose mail: %w", err)
	}
	return nil
}

// messageID is the same for every delivery of one revision of one event.
func messageID(m Message, from string) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s", m.UID, m.Sequence, strings.ToUpper(m.Method)))
	domain := "postmortemd.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i < len(from)-1 {
		domain = from[i+1:]
	}
	return "review." + hex.EncodeToString(sum[:16]) + "@" + domain
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
