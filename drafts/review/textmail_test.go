package review

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/postmortemd/postmortemd/internal/testenv"
)

// A plain-text notice reaches the recipients, parsed back by a real mail reader; a retry carries
// the same Message-ID.
func TestMailerSendText(t *testing.T) {
	srv := testenv.StartSMTP(t, testenv.SMTPConfig{})
	ml := newTestMailer(t, MailOptions{Addr: srv.Addr(), StartTLS: StartTLSNone,
		Now: func() time.Time { return time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC) }})
	text := "期限を過ぎたアクションアイテム: キュー滞留のアラートを追加する\nhttps://pm.example.org/postmortems/x\n"
	for range 2 {
		if err := ml.SendText(context.Background(), "reminder-1", "期限切れ: キュー滞留のアラート", text, []string{"db-oncall@example.org"}); err != nil {
			t.Fatal(err)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 2 || !slices.Equal(msgs[0].RcptTo, []string{"db-oncall@example.org"}) {
		t.Fatalf("received %+v", msgs)
	}
	var ids []string
	for _, m := range msgs {
		r, err := gomail.CreateReader(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		subject, _ := r.Header.Subject()
		id, _ := r.Header.MessageID()
		ids = append(ids, id)
		p, err := r.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p.Body)
		if subject != "期限切れ: キュー滞留のアラート" || strings.ReplaceAll(string(body), "\r\n", "\n") != text {
			t.Errorf("subject %q, body %q", subject, body)
		}
		if raw := r.Header.Get("Subject"); raw == subject {
			t.Errorf("raw Subject %q is not RFC 2047 encoded", raw)
		}
	}
	if ids[0] != ids[1] || ids[0] == "" {
		t.Errorf("Message-IDs %q", ids)
	}
	if err := ml.SendText(context.Background(), "x", "s", "t", []string{"someone@" + testenv.SMTPRejectDomain}); !errors.Is(err, ErrPermanent) {
		t.Errorf("refused recipient: %v, want ErrPermanent", err)
	}
	if err := ml.SendText(context.Background(), "x", "s", "t", nil); !errors.Is(err, ErrPermanent) {
		t.Errorf("no recipients: %v, want ErrPermanent", err)
	}
}
