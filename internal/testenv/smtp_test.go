package testenv

import (
	"crypto/tls"
	"io"
	"net/smtp"
	"strings"
	"testing"
)

func TestSMTP(t *testing.T) {
	tests := []struct {
		name     string
		cfg      SMTPConfig
		auth     bool
		wantTLS  bool
		wantAuth bool
	}{
		{name: "plain", cfg: SMTPConfig{}},
		{name: "STARTTLS and AUTH", cfg: SMTPConfig{Username: "mailer", Password: "pw", RequireStartTLS: true},
			auth: true, wantTLS: true, wantAuth: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StartSMTP(t, tt.cfg)
			c, err := smtp.Dial(s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tt.wantTLS {
				if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: s.RootCAs()}); err != nil {
					t.Fatalf("STARTTLS: %v", err)
				}
			}
			if tt.auth {
				if err := c.Auth(smtp.PlainAuth("", "mailer", "pw", "127.0.0.1")); err != nil {
					t.Fatalf("AUTH: %v", err)
				}
			}
			if err := c.Mail("organizer@example.org"); err != nil {
				t.Fatalf("MAIL: %v", err)
			}
			if err := c.Rcpt("a@example.org"); err != nil {
				t.Fatalf("RCPT: %v", err)
			}
			for _, rejected := range []string{"x@" + SMTPRejectDomain, "y@" + SMTPTempFailDomain} {
				if err := c.Rcpt(rejected); err == nil {
					t.Errorf("RCPT %s accepted, want it refused", rejected)
				}
			}
			w, err := c.Data()
			if err != nil {
				t.Fatalf("DATA: %v", err)
			}
			body := "Subject: hi\r\n\r\nline one\r\n.dot line\r\n"
			if _, err := io.WriteString(w, body); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("end of DATA: %v", err)
			}
			_ = c.Quit()

			msgs := s.Messages()
			if len(msgs) != 1 {
				t.Fatalf("got %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.MailFrom != "organizer@example.org" || strings.Join(m.RcptTo, ",") != "a@example.org" {
				t.Errorf("envelope = %q -> %q, want organizer@example.org -> [a@example.org]", m.MailFrom, m.RcptTo)
			}
			if string(m.Data) != body {
				t.Errorf("data = %q, want %q", m.Data, body)
			}
			if m.TLS != tt.wantTLS || m.Authenticated != tt.wantAuth {
				t.Errorf("TLS, Authenticated = %v, %v, want %v, %v", m.TLS, m.Authenticated, tt.wantTLS, tt.wantAuth)
			}
		})
	}

	t.Run("required STARTTLS refuses mail in the clear", func(t *testing.T) {
		s := StartSMTP(t, SMTPConfig{RequireStartTLS: true})
		c, err := smtp.Dial(s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Mail("organizer@example.org"); err == nil {
			t.Fatal("MAIL accepted before STARTTLS")
		}
	})
}
