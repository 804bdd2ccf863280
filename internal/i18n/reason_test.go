package i18n_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/postmortemd/postmortemd/internal/i18n"
)

// A reason is one message: English as an error (what logs and the API keep), the reader's
// language on a page, found through any wrapping, and its JSON the machine form.
func TestReason(t *testing.T) {
	sentinel := errors.New("invalid input")
	inner := i18n.Refuse("reason.block_twice", "Name", `"timeline"`)
	at := &i18n.Reason{Message: i18n.Message{Code: "reason.at_line", Args: map[string]string{"Line": "12"}, Detail: &inner.Message}}
	err := fmt.Errorf("postmortem %q: %w: %w", "x", sentinel, at)
	if got := err.Error(); got != `postmortem "x": invalid input: line 12: block "timeline" appears twice` {
		t.Errorf("English %q", got)
	}
	if !errors.Is(err, sentinel) {
		t.Error("the sentinel is lost")
	}
	r, ok := i18n.ReasonOf(err)
	if !ok || i18n.For(i18n.Japanese).Say(r.Message) != `12 行目: ブロック "timeline" が 2 回出てきます` {
		t.Fatalf("Japanese %v %q", ok, i18n.For(i18n.Japanese).Say(r.Message))
	}
	b, _ := json.Marshal(r.Message)
	if string(b) != `{"code":"reason.at_line","args":{"Line":"12"},"detail":{"code":"reason.block_twice","args":{"Name":"\"timeline\""}}}` {
		t.Errorf("JSON %s", b)
	}
	if _, ok := i18n.ReasonOf(sentinel); ok {
		t.Error("a plain error has a reason")
	}
	if i18n.For(i18n.Japanese).Say(i18n.Message{}) != "" {
		t.Error("an empty message is not empty")
	}
}
