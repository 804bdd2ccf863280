package review

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"strings"

	gomail "github.com/emersion/go-message/mail"
)

// SendText e-mails a plain-text message (a reminder, a digest) to recipients through the same relay,
// session rules and error classification as Deliver. id identifies the message: every retry of the
// same id carries the same Message-ID, so a receiver can drop a duplicate.
//
// Errors wrap ErrPermanent when a recipient address is malformed, there is none, or the server
// refused with 5xx; ErrPartial when some recipients were refused; others are worth retrying.
func (ml *Mailer) SendText(ctx context.Context, id, subject, text string, recipients []string) error {
	if len(recipients) == 0 {
		return permanentErrorf("message %s: no recipients", id)
	}
	rcpts := make([]string, 0, len(recipients))
	for _, r := range recipients {
		a, err := mail.ParseAddress(r)
		if err != nil {
			return permanentErrorf("message %s: recipient %q: %w", id, r, err)
		}
		rcpts = append(rcpts, a.Address)
	}
	var h gomail.Header
	h.SetDate(ml.o.Now())
	h.SetAddressList("From", []*gomail.Address{{Name: ml.from.Name, Address: ml.from.Address}})
	to := make([]*gomail.Address, len(rcpts))
	for i, r := range rcpts {
		to[i] = &gomail.Address{Address: r}
	}
	h.SetAddressList("To", to)
	h.SetSubject(subject)
	sum := sha256.Sum256([]byte(id))
	domain := "postmortemd.invalid"
	if i := strings.LastIndexByte(ml.from.Address, '@'); i >= 0 && i < len(ml.from.Address)-1 {
		domain = ml.from.Address[i+1:]
	}
	h.SetMessageID("notice." + hex.EncodeToString(sum[:16]) + "@" + domain)
	h.Set("Auto-Submitted", "auto-generated") // RFC 3834: no vacation replies to a robot
	h.SetContentType("text/plain", map[string]string{"charset": "UTF-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable") // 7-bit safe for any relay, readable as source
	var buf bytes.Buffer
	w, err := gomail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return fmt.Errorf("compose mail: %w", err)
	}
	if _, err := io.WriteString(w, text); err != nil {
		return fmt.Errorf("compose mail: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("compose mail: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, ml.o.Timeout)
	defer cancel()
	return ml.send(ctx, rcpts, buf.Bytes())
}
