// Package notify delivers postmortemd's announcements to the places people watch, one file per
// technology (webhook.go: a chat's incoming webhook or any HTTP endpoint that takes JSON). It knows
// the receivers' wire formats and how to tell a failure worth retrying from one that is not; what to
// announce, when and how often is decided by its callers. It imports no storage and no HTTP server.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Format is how a webhook's body is written.
type Format string

// The formats.
const (
	// FormatSlack is Slack's incoming-webhook JSON: "text" (the notification fallback) and Block Kit
	// "blocks". Mattermost and Rocket.Chat accept it too.
	FormatSlack Format = "slack"
	// FormatJSON is the Message's Data as JSON, for any receiver that wants the record itself.
	FormatJSON Format = "json"
)

// Formats are the valid formats.
var Formats = []Format{FormatSlack, FormatJSON}

// ErrPermanent is wrapped by delivery errors that retrying cannot fix (the receiver refused the
// request as malformed or unauthorized, or the URL is wrong).
var ErrPermanent = errors.New("permanent delivery failure")

// Field is a labelled value shown with a message.
type Field struct {
	Title, Value string
}

// Message is one announcement.
type Message struct {
	// Key identifies the announcement: a retry of the same one carries the same key, sent as the
	// Idempotency-Key header so a receiver can drop a duplicate.
	Key string
	// Text is the one-line summary (Slack's notification text, in mrkdwn).
	Text string
	// Fields are shown under the text.
	Fields []Field
	// Link, when set, is where to act on the announcement; LinkText labels it.
	Link, LinkText string
	// Data is the JSON body in FormatJSON.
	Data any
}

// WebhookOptions configures a Webhook.
type WebhookOptions struct {
	URL    string
	Format Format // default FormatSlack
	// Client sends the requests; nil means a client with Timeout.
	Client *http.Client
	// Timeout bounds one delivery. Default 10s.
	Timeout time.Duration
	// UserAgent names the sender. Default "postmortemd".
	UserAgent string
}

// Webhook posts messages to one URL.
type Webhook struct {
	o WebhookOptions
}

// NewWebhook returns a Webhook, or an error naming the bad option.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook URL %q: want an http or https URL", o.URL)
	}
	switch o.Format {
	case "":
		o.Format = FormatSlack
	case FormatSlack, FormatJSON:
	default:
		return nil, fmt.Errorf("webhook format %q: want slack or json", o.Format)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.UserAgent == "" {
		o.UserAgent = "postmortemd"
	}
	return &Webhook{o: o}, nil
}

// Name returns "webhook".
func (w *Webhook) Name() string { return "webhook" }

// slackBody is Slack's incoming-webhook payload.
type slackBody struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Body returns the request body m is sent as.
func (w *Webhook) Body(m Message) ([]byte, error) {
	if w.o.Format == FormatJSON {
		return json.Marshal(m.Data)
	}
	b := slackBody{Text: m.Text, Blocks: []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: m.Text}}}}
	if len(m.Fields) > 0 {
		fs := slackBlock{Type: "section"}
		for _, f := range m.Fields {
			if len(fs.Fields) == 10 { // Block Kit's limit per section
				b.Blocks = append(b.Blocks, fs)
				fs = slackBlock{Type: "section"}
			}
			fs.Fields = append(fs.Fields, slackText{Type: "mrkdwn", Text: "*" + SlackEscape(f.Title) + "*\n" + SlackEscape(f.Value)})
		}
		b.Blocks = append(b.Blocks, fs)
	}
	if m.Link != "" {
		text := m.LinkText
		if text == "" {
			text = m.Link
		}
		b.Blocks = append(b.Blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: "<" + m.Link + "|" + SlackEscape(text) + ">"}}})
	}
	return json.Marshal(b)
}

// SlackEscape escapes the three characters Slack's mrkdwn gives a meaning to (&, <, >).
func SlackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Send posts m. A 2xx answer is success. Errors wrap ErrPermanent for a 4xx answer other than 408
// and 429 (the request itself is wrong) and for a message that cannot be encoded; network failures,
// timeouts, 408, 429 and 5xx are worth retrying.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := w.Body(m)
	if err != nil {
		return fmt.Errorf("%w: encode webhook message: %w", ErrPermanent, err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: webhook request: %w", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.o.UserAgent)
	if m.Key != "" {
		req.Header.Set("Idempotency-Key", m.Key)
	}
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", redactURL(err))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook: %s: %s", resp.Status, strings.TrimSpace(string(answer)))
	}
	return fmt.Errorf("%w: webhook: %s: %s", ErrPermanent, resp.Status, strings.TrimSpace(string(answer)))
}

// redactURL keeps a webhook's URL (its path is often the secret) out of error messages.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
