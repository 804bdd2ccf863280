package drafts_test

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/postmortemd/postmortemd/drafts"
)

// senderStrings are the strings senders and people wrote into the incident: titles, labels,
// annotations, names of services and policies, links, notes. A draft quotes them as written, in
// any language.
func senderStrings(in drafts.Input) []string {
	out := []string{in.Incident.Title, in.Incident.ID}
	for k, v := range in.Incident.Labels {
		out = append(out, k+"="+v, k, v)
	}
	out = append(out, in.Incident.Services...)
	for _, v := range in.Incident.Sources {
		out = append(out, v)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok {
					out = append(out, k+"="+s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, e := range in.Events {
		if e.Kind == "context" {
			out = append(out, e.Fact)
		}
		var a any
		if json.Unmarshal(e.Attributes, &a) == nil {
			walk(a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

var (
	englishWord = regexp.MustCompile(`[A-Za-z]{3,}`)
	// The attributes block is YAML for tools: its keys and enumerated values are the format, not prose.
	yamlKey  = regexp.MustCompile(`(?m)^\s*(- )?[a-z_]+:`)
	yamlEnum = regexp.MustCompile(`(?m)^(incident_status|\s*- kind): .*$`)
	// Links are the senders' (their text is a shortened URL); seals are digests.
	link = regexp.MustCompile(`\[[^\]]*\]\([^)]*\)|https?://\S+|sha256:[0-9a-f]+`)
)

// machineText is the text of draft's machine-owned blocks with what senders wrote taken out.
func machineText(draft []byte, sender []string) string {
	_, machine := split(draft)
	machine = link.ReplaceAllString(machine, " ")
	machine = markerLine.ReplaceAllString(machine, "")
	machine = yamlEnum.ReplaceAllString(machine, "")
	machine = yamlKey.ReplaceAllString(machine, "")
	machine = strings.ToLower(machine)
	for _, s := range sender {
		if len(s) >= 3 {
			machine = strings.ReplaceAll(machine, strings.ToLower(s), " ")
		}
	}
	return machine
}

// The Japanese draft of the captured incident has no English sentence postmortemd wrote: every
// English word the English draft's machine-owned blocks use, other than what senders and people
// wrote and the names of products, is absent from the Japanese draft's blocks.
func TestJapaneseDraftHasNoEnglishOfPostmortemd(t *testing.T) {
	in := storyInput(t, 14)
	sender := senderStrings(in)
	words := map[string]bool{}
	for _, w := range englishWord.FindAllString(machineText(mustRender(t, "en", in), sender), -1) {
		words[w] = true
	}
	// Product names, and the one term Japanese on-call teams use as is (written 確認（Acknowledge）).
	for _, keep := range []string{"alertmanager", "pagerduty", "postmortemd", "webhook", "utc", "acknowledge"} {
		delete(words, keep)
	}
	if len(words) < 50 {
		t.Fatalf("only %d English words in the English draft's blocks: the scan would prove nothing", len(words))
	}
	ja := machineText(mustRender(t, "ja", in), sender)
	left := map[string]bool{}
	for _, w := range englishWord.FindAllString(ja, -1) {
		if words[w] {
			left[w] = true
		}
	}
	if len(left) > 0 {
		var ws []string
		for w := range left {
			ws = append(ws, w)
		}
		sort.Strings(ws)
		t.Errorf("the Japanese draft's machine-owned blocks keep postmortemd's English %v:\n%s", ws, ja)
	}
}
