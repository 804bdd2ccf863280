package drafts

import (
	"bytes"
	"regexp"
	"strings"
)

// synopsisHeading matches the "In a few sentences" heading of section 2 in the shipped templates
// (en, ja), at any heading level and in any case, as people may have retyped it.
var synopsisHeading = regexp.MustCompile(`(?i)^#{2,6}[ \t]+(?:in a few sentences|数文でまとめると)[ \t]*#*[ \t]*$`)

// synopsisPlaceholders start the templates' hint lines under the heading: they are not a summary.
var synopsisPlaceholders = []string{
	"_What happened, what was done, and what we learnt",
	"_何が起き、何をして、何を学んだか",
}

// maxSynopsis bounds the summary a reading list or a feed shows, so one long answer cannot swamp them.
const maxSynopsis = 4000

// Synopsis returns what people wrote under section 2's "In a few sentences" heading ("数文でまとめ
// ると" in Japanese drafts), as Markdown, without the template's hint and HTML comments; "" when
// the postmortem has no such heading or people have not written it yet. It stops at the next
// heading, and ignores heading-like lines inside fenced code.
func Synopsis(content []byte) string {
	_, body, ok := SplitFrontMatter(content)
	if !ok {
		body = content
	}
	lines := strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n")
	start := -1
	fence := ""
	for i, l := range lines {
		if fence = fenceState(fence, l); fence != "" {
			continue
		}
		if synopsisHeading.MatchString(strings.TrimSpace(l)) {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return ""
	}
	var out []string
	fence = ""
	for _, l := range lines[start:] {
		wasFenced := fence != ""
		fence = fenceState(fence, l)
		if !wasFenced && fence == "" && isHeading(l) {
			break
		}
		if !wasFenced && isPlaceholder(l) {
			continue
		}
		out = append(out, l)
	}
	text := stripComments(strings.Join(out, "\n"))
	text = strings.TrimSpace(text)
	if len(text) > maxSynopsis {
		cut := maxSynopsis
		for cut > 0 && !isRuneStart(text[cut]) {
			cut--
		}
		text = strings.TrimSpace(text[:cut]) + " …"
	}
	return text
}

// fenceState follows fenced code blocks: it returns the open fence ("```" or "~~~") after line l,
// "" outside a block.
func fenceState(open, l string) string {
	t := strings.TrimSpace(l)
	switch {
	case open != "" && strings.HasPrefix(t, open) && strings.Trim(t, open[:1]) == "":
		return ""
	case open == "" && strings.HasPrefix(t, "```"):
		return "```"
	case open == "" && strings.HasPrefix(t, "~~~"):
		return "~~~"
	}
	return open
}

// isHeading reports an ATX heading line ("## Title"), not "#hashtag".
func isHeading(l string) bool {
	t := strings.TrimLeft(l, " ")
	if len(l)-len(t) > 3 {
		return false // indented code
	}
	n := len(t) - len(strings.TrimLeft(t, "#"))
	return n >= 1 && n <= 6 && (len(t) == n || t[n] == ' ' || t[n] == '\t')
}

func isPlaceholder(l string) bool {
	t := strings.TrimSpace(l)
	for _, p := range synopsisPlaceholders {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// stripComments removes HTML comments (the templates' markers, people's notes to themselves).
func stripComments(s string) string {
	b := []byte(s)
	for {
		i := bytes.Index(b, []byte("<!--"))
		if i < 0 {
			return string(b)
		}
		j := bytes.Index(b[i+4:], []byte("-->"))
		if j < 0 {
			return string(b[:i])
		}
		b = append(b[:i:i], b[i+4+j+3:]...)
	}
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
