// Package lint is postmortemd's blameless guardrail: it flags wording that blames or judges people
// (English and Japanese), and replaces known people's names and any e-mail address with roles
// before a note is stored.
//
// Flagging never changes or rejects text: a finding says where, what and what to write instead, and
// people decide. The default rules are embedded (default.yaml); a user's word list adds rules,
// overrides them by id or disables them. It imports timeline and a YAML parser only: no storage,
// no HTTP.
package lint

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"gopkg.in/yaml.v3"
)

// Severity says how strongly a finding asks for a rewrite.
type Severity string

// The severities. A hint is wording that may be about a system (hindsight such as "the alert should
// have fired at 2s") and still reads better as what happened and what was expected.
const (
	SeverityWarning Severity = "warning"
	SeverityHint    Severity = "hint"
)

// Finding is one flagged phrase.
type Finding struct {
	// Line and Column are 1-based; Column counts characters (Unicode code points), not bytes, so
	// Japanese text points at the right character.
	Line   int `json:"line"`
	Column int `json:"column"`
	// Offset is the byte offset of the match in the input.
	Offset int `json:"offset"`
	// Match is the text matched, as written.
	Match      string   `json:"match"`
	Rule       string   `json:"rule"`
	Severity   Severity `json:"severity"`
	Message    string   `json:"message"`
	Suggestion string   `json:"suggestion"`
}

// Rule is one guardrail as a words file writes it.
type Rule struct {
	// ID names the rule in findings, and in a words file's disable list.
	ID string `yaml:"id" json:"id"`
	// Lang is "en", "ja" or "any"; it is informational (every rule applies to every text).
	Lang     string   `yaml:"lang" json:"lang"`
	Severity Severity `yaml:"severity" json:"severity"`
	// Terms are literal phrases matched case-insensitively; a term that starts or ends with a
	// Latin letter or digit matches only as a whole word.
	Terms []string `yaml:"terms" json:"terms,omitempty"`
	// Regex is an RE2 expression matched case-insensitively, used instead of Terms.
	Regex string `yaml:"regex" json:"regex,omitempty"`
	// Except are RE2 expressions: a finding inside one of their matches is withdrawn.
	Except     []string `yaml:"except" json:"except,omitempty"`
	Message    string   `yaml:"message" json:"message"`
	Suggestion string   `yaml:"suggestion" json:"suggestion"`
}

// Words is a words file: rules to add (a rule with a default's id replaces it) and default rules
// to disable.
type Words struct {
	Rules   []Rule   `yaml:"rules"`
	Disable []string `yaml:"disable"`
}

//go:embed default.yaml
var defaultYAML []byte

// Default messages for user rules that give none.
const (
	defaultMessage    = "this wording may blame or judge a person"
	defaultSuggestion = "describe what happened and what the system allowed; name people only by role"
)

// Linter checks text against a set of rules. It is safe for concurrent use.
type Linter struct {
	rules []compiled
}

type compiled struct {
	Rule
	re     *regexp.Regexp
	except []*regexp.Regexp
}

// ParseWords reads a words file (YAML: rules and disable). Unknown fields are errors, so a typo
// does not silently disable a guardrail.
func ParseWords(b []byte) (Words, error) {
	var w Words
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&w); err != nil && !errors.Is(err, io.EOF) {
		return Words{}, err
	}
	return w, nil
}

// LoadWords reads a words file from path.
func LoadWords(path string) (Words, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Words{}, err
	}
	w, err := ParseWords(b)
	if err != nil {
		return Words{}, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// DefaultRules returns the embedded rules.
func DefaultRules() []Rule {
	w, err := ParseWords(defaultYAML)
	if err != nil {
		panic("lint: embedded default.yaml: " + err.Error()) // a build defect; TestDefaultRules catches it
	}
	return w.Rules
}

// New returns a Linter with the default rules changed by user (adds, overrides by id, disables).
// It fails on a rule that cannot be compiled or a disable naming no rule, naming the rule.
func New(user Words) (*Linter, error) {
	rules := DefaultRules()
	for _, u := range user.Rules {
		if u.ID == "" {
			return nil, fmt.Errorf("rule with terms %q: id is required", u.Terms)
		}
		if i := slices.IndexFunc(rules, func(r Rule) bool { return r.ID == u.ID }); i >= 0 {
			rules[i] = u
		} else {
			rules = append(rules, u)
		}
	}
	for _, id := range user.Disable {
		i := slices.IndexFunc(rules, func(r Rule) bool { return r.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("disable: no rule %q", id)
		}
		rules = slices.Delete(rules, i, i+1)
	}
	l := &Linter{}
	for _, r := range rules {
		c, err := compile(r)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.ID, err)
		}
		l.rules = append(l.rules, c)
	}
	return l, nil
}

// Default returns a Linter with the embedded rules only.
func Default() *Linter {
	l, err := New(Words{})
	if err != nil {
		panic("lint: embedded default.yaml: " + err.Error())
	}
	return l
}

// Rules lists the rules in effect.
func (l *Linter) Rules() []Rule {
	out := make([]Rule, len(l.rules))
	for i, c := range l.rules {
		out[i] = c.Rule
	}
	return out
}

func compile(r Rule) (compiled, error) {
	if r.Severity == "" {
		r.Severity = SeverityWarning
	}
	if r.Severity != SeverityWarning && r.Severity != SeverityHint {
		return compiled{}, fmt.Errorf("severity %q: want %q or %q", r.Severity, SeverityWarning, SeverityHint)
	}
	if r.Lang == "" {
		r.Lang = "any"
	}
	if r.Message == "" {
		r.Message = defaultMessage
	}
	if r.Suggestion == "" {
		r.Suggestion = defaultSuggestion
	}
	expr := r.Regex
	switch {
	case expr != "" && len(r.Terms) > 0:
		return compiled{}, errors.New("give terms or regex, not both")
	case expr == "" && len(r.Terms) == 0:
		return compiled{}, errors.New("give terms or regex")
	case expr == "":
		alts := make([]string, 0, len(r.Terms))
		terms := slices.Clone(r.Terms)
		sort.SliceStable(terms, func(i, j int) bool { return len(terms[i]) > len(terms[j]) })
		for _, t := range terms {
			t = strings.TrimSpace(t)
			if t == "" {
				return compiled{}, errors.New("empty term")
			}
			q := strings.Join(strings.Fields(regexp.QuoteMeta(t)), `\s+`)
			if first, _ := utf8.DecodeRuneInString(t); isASCIIWord(first) {
				q = `\b` + q
			}
			if last, _ := utf8.DecodeLastRuneInString(t); isASCIIWord(last) {
				q += `\b`
			}
			alts = append(alts, q)
		}
		expr = strings.Join(alts, "|")
	}
	re, err := regexp.Compile(`(?i)(?:` + expr + `)`)
	if err != nil {
		return compiled{}, err
	}
	c := compiled{Rule: r, re: re}
	for _, x := range r.Except {
		xre, err := regexp.Compile(`(?i)(?:` + x + `)`)
		if err != nil {
			return compiled{}, fmt.Errorf("except %q: %w", x, err)
		}
		c.except = append(c.except, xre)
	}
	return c, nil
}

func isASCIIWord(r rune) bool {
	return r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}

// MaxFindings is the most findings Text, Markdown and Names return for one text: the first ones in
// reading order. A text with more is not a draft people will rewrite finding by finding, and the
// cap keeps an answer's size bounded whatever the input. TextResult and MarkdownResult also say
// whether findings were left out.
const MaxFindings = 1000

// Result is a lint's findings and whether any were left out.
type Result struct {
	// Findings are at most MaxFindings findings, in reading order.
	Findings []Finding `json:"findings"`
	// Truncated says the text had more than MaxFindings findings; the first MaxFindings are in
	// Findings and the rest were not reported.
	Truncated bool `json:"truncated"`
}

// Text flags every rule's matches in plain text, in reading order: at most MaxFindings of them
// (TextResult also says whether more were left out).
func (l *Linter) Text(text string) []Finding {
	return l.TextResult(text).Findings
}

// TextResult is Text, and whether findings beyond MaxFindings were left out.
func (l *Linter) TextResult(text string) Result {
	return l.lines(text, nil)
}

// Markdown flags a Markdown document's prose: the YAML front matter's comments and machine-owned
// blocks, fenced code blocks, inline code spans and HTML comments are skipped, because they hold
// code, logs and postmortemd's markers rather than what people wrote about each other. Line and
// column refer to the document as given; the document is never changed. At most MaxFindings
// findings are returned (MarkdownResult also says whether more were left out).
func (l *Linter) Markdown(doc string) []Finding {
	return l.MarkdownResult(doc).Findings
}

// MarkdownResult is Markdown, and whether findings beyond MaxFindings were left out.
func (l *Linter) MarkdownResult(doc string) Result {
	return l.lines(doc, markdownSkips(doc))
}

// lines runs the rules over each line whose 1-based number skip does not hold, until MaxFindings
// findings are found. Lines come in order and each line's findings are in order, so the findings
// are in reading order without sorting.
func (l *Linter) lines(text string, skip map[int]bool) Result {
	res := Result{Findings: []Finding{}}
	off, n := 0, 0
	for rest := text; rest != ""; {
		n++
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if !skip[n] {
			var more bool
			res.Findings, more = l.line(res.Findings, n, off, maskLine(line))
			if more {
				res.Truncated = true
				break
			}
		}
		off += len(line)
	}
	return res
}

// hit is a rule's match in a line, as byte offsets [a, b) of the line as written; idx orders hits
// by rule, then by position within a rule.
type hit struct{ a, b, idx, rule int }

// A long line is matched in growing prefixes while a prefix holds more findings than are left to
// report: the first window bytes, then twice as many, and so on up to the whole line. A finding
// is reported from a prefix only if it ends windowSlack bytes or more before the prefix's end, so
// a match the prefix cut short is not reported; the findings are those of the whole line as long
// as no rule's match (or exception's match) is longer than windowSlack. Without prefixes, a line of
// a megabyte of blame costs every rule a pass over the megabyte to report its first 1000 findings.
const (
	window      = 16 << 10
	windowSlack = 2 << 10
)

// line appends one line's findings to out, up to MaxFindings in all, and reports whether the line
// had more. Masked parts (inline code, HTML comments) are spaces of the same length. Rules match
// the line's NFKC form (half-width katakana, full-width letters); findings point at the text as
// written. A finding inside another one ("ミス" in "人為的ミス") is left out.
//
// Each step is linear in the line's length and its matches, or n log n: a rule's exceptions are
// matched once per line, not once per match; the nesting filter sorts the hits once; columns are
// counted from the previous finding, not from the start of the line.
func (l *Linter) line(out []Finding, n, off int, line string) ([]Finding, bool) {
	budget := MaxFindings - len(out)
	for w := window; ; {
		if w >= len(line) {
			fs, more, _ := l.prefix(out, n, off, line, len(line), budget)
			return fs, more
		}
		for w > 0 && !utf8.RuneStart(line[w]) {
			w--
		}
		// The prefix settles the line's findings if it holds more than budget before its slack.
		fs, more, found := l.prefix(out, n, off, line[:w], w-windowSlack, budget)
		if more {
			return fs, true
		}
		// Grow at least twice, and enough for as many findings as are needed at this prefix's
		// rate: a line with few findings is matched whole next, not in ever longer prefixes.
		w = max(2*w, w/max(found, 1)*(budget+1)*2)
	}
}

// prefix appends the findings of line that end at or before upTo, at most budget of them, and
// reports whether there were more, and how many it found.
func (l *Linter) prefix(out []Finding, n, off int, line string, upTo, budget int) ([]Finding, bool, int) {
	hits := l.hits(line)
	// A hit is nested when another one contains it and is longer, or is the same span found
	// earlier (by an earlier rule). Sorted by start, longest first, earliest first, every hit that
	// could contain a hit comes before it: it is nested exactly when an earlier hit ends at or
	// after its end.
	slices.SortFunc(hits, func(x, y hit) int {
		if x.a != y.a {
			return x.a - y.a
		}
		if x.b != y.b {
			return y.b - x.b
		}
		return x.idx - y.idx
	})
	reach, found := -1, 0
	pos, col := 0, 1
	mark := len(out)
	for _, h := range hits {
		if h.b <= reach {
			continue
		}
		reach = h.b
		if h.b > upTo {
			break
		}
		if found == budget {
			return out, true, found
		}
		found++
		col += utf8.RuneCountInString(line[pos:h.a])
		pos = h.a
		r := &l.rules[h.rule]
		out = append(out, Finding{
			Line:       n,
			Column:     col,
			Offset:     off + h.a,
			Match:      line[h.a:h.b],
			Rule:       r.ID,
			Severity:   r.Severity,
			Message:    r.Message,
			Suggestion: r.Suggestion,
		})
	}
	if upTo < len(line) {
		return out[:mark], false, found // not settled: the caller tries a longer prefix
	}
	return out, false, found
}

// hits returns every rule's matches in line that no exception of the rule covers, in line's
// written byte offsets.
func (l *Linter) hits(line string) []hit {
	nl, start, end := normalize(line)
	var hits []hit
	var xs [][]int
	for ri, r := range l.rules {
		ms := r.re.FindAllStringIndex(nl, -1)
		if len(ms) == 0 {
			continue
		}
		xs = exceptSpans(xs[:0], r.except, nl)
		xi, xEnd := 0, -1 // xEnd: the furthest end of the exception spans starting at or before a match
		for _, m := range ms {
			if m[0] == m[1] {
				continue
			}
			for ; xi < len(xs) && xs[xi][0] <= m[0]; xi++ {
				xEnd = max(xEnd, xs[xi][1])
			}
			if xEnd >= m[1] {
				continue // inside an exception's match
			}
			a, b := m[0], m[1]
			if start != nil {
				a, b = start[m[0]], end[m[1]-1]
			}
			hits = append(hits, hit{a: a, b: b, idx: len(hits), rule: ri})
		}
	}
	return hits
}

// exceptSpans appends to xs every match of the exception expressions in line, sorted by start.
func exceptSpans(xs [][]int, except []*regexp.Regexp, line string) [][]int {
	for _, x := range except {
		xs = append(xs, x.FindAllStringIndex(line, -1)...)
	}
	if len(except) > 1 {
		slices.SortFunc(xs, func(p, q []int) int { return p[0] - q[0] })
	}
	return xs
}

// normalize returns line's NFKC form, and for each byte of it the start and end byte offsets in
// line of the segment it came from, so a match maps back to the text as written. An ASCII line is
// its own NFKC form: start and end are nil, and offsets are the same in both.
func normalize(line string) (nl string, start, end []int) {
	if isASCII(line) {
		return line, nil, nil
	}
	var sb strings.Builder
	sb.Grow(len(line))
	start, end = make([]int, 0, len(line)), make([]int, 0, len(line))
	for i := 0; i < len(line); {
		k := norm.NFKC.NextBoundaryInString(line[i:], true)
		if k <= 0 {
			k = len(line) - i
		}
		seg := line[i : i+k]
		if !isASCII(seg) {
			seg = norm.NFKC.String(seg)
		}
		sb.WriteString(seg)
		for range len(seg) {
			start, end = append(start, i), append(end, i+k)
		}
		i += k
	}
	return sb.String(), start, end
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

var (
	inlineCode  = regexp.MustCompile("`[^`\n]*`")
	htmlComment = regexp.MustCompile(`<!--.*?-->`)
)

// maskLine blanks inline code spans and one-line HTML comments, keeping byte positions.
func maskLine(line string) string {
	if !strings.ContainsAny(line, "`<") {
		return line
	}
	b := []byte(line)
	for _, re := range []*regexp.Regexp{inlineCode, htmlComment} {
		for _, m := range re.FindAllIndex(b, -1) {
			for i := m[0]; i < m[1]; i++ {
				b[i] = ' '
			}
		}
	}
	return string(b)
}

// markdownSkips returns the 1-based numbers of the lines Markdown does not lint: front matter
// comments and the machine-owned front matter blocks (ids, labels, sources: postmortemd wrote
// them from senders' data), fenced code blocks and multi-line HTML comments. Front matter lines
// people write (title, tags) are linted.
func markdownSkips(doc string) map[int]bool {
	skip := map[int]bool{}
	lines := strings.Split(doc, "\n")
	i := 0
	if len(lines) > 0 && strings.TrimRight(lines[0], "\r") == "---" {
		skip[1] = true
		inBlock := false
		for i = 1; i < len(lines); i++ {
			t := strings.TrimRight(lines[i], "\r")
			if t == "---" || t == "..." {
				skip[i+1] = true
				i++
				break
			}
			switch {
			case strings.HasPrefix(t, "# postmortemd:begin "):
				inBlock = true
				skip[i+1] = true
			case strings.HasPrefix(t, "# postmortemd:end "):
				inBlock = false
				skip[i+1] = true
			case inBlock || strings.HasPrefix(strings.TrimSpace(t), "#"):
				skip[i+1] = true
			}
		}
	}
	fence := ""
	inComment, inMachine := false, false
	for ; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		switch {
		// A machine-owned block is what postmortemd wrote from the timeline: the systems' facts
		// and people's notes, which were checked when they were posted (their flags are on the
		// incident page). Nobody may edit inside it, so it is not what a draft's lint is about.
		case strings.HasPrefix(t, "<!-- postmortemd:begin "):
			skip[i+1], inMachine = true, true
		case strings.HasPrefix(t, "<!-- postmortemd:end "):
			skip[i+1], inMachine = true, false
		case inMachine:
			skip[i+1] = true
		case fence != "":
			skip[i+1] = true
			if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
				fence = ""
			}
		case inComment:
			skip[i+1] = true
			if strings.Contains(t, "-->") {
				inComment = false
			}
		case strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~"):
			skip[i+1] = true
			fence = t[:3]
		case strings.HasPrefix(t, "<!--") && !strings.Contains(t, "-->"):
			skip[i+1] = true
			inComment = true
		}
	}
	return skip
}
