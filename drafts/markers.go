package drafts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/postmortemd/postmortemd/internal/i18n"
)

// A draft marks what postmortemd owns with marker lines, each a whole line at column 0:
//
//	in the front matter:  # postmortemd:begin NAME sha256:SEAL   ...   # postmortemd:end NAME
//	in the Markdown body: <!-- postmortemd:begin NAME sha256:SEAL -->   ...   <!-- postmortemd:end NAME -->
//
// NAME is [a-z0-9-], unique in the draft. SEAL is the first 16 hex digits of the SHA-256 of the
// block's content as postmortemd wrote it (line endings normalized to \n and trailing blanks of each
// line ignored), so a later merge can tell whether a person edited inside the block.
var (
	fmMarker   = regexp.MustCompile(`^# postmortemd:(begin|end) ([a-z0-9][a-z0-9-]{0,63})(?: sha256:([0-9a-f]{16}))?$`)
	bodyMarker = regexp.MustCompile(`^<!-- postmortemd:(begin|end) ([a-z0-9][a-z0-9-]{0,63})(?: sha256:([0-9a-f]{16}))? -->$`)
)

const (
	fmCandidate   = "# postmortemd:"
	bodyCandidate = "<!-- postmortemd:"
)

// block is one machine-owned block: [start, end) spans its marker lines, [cstart, cend) its content.
type block struct {
	name                     string
	start, cstart, cend, end int
	seal                     string
	crlf, frontMatter        bool
}

// document is a parsed draft.
type document struct {
	frontMatter []byte // the YAML between the --- lines, nil without front matter
	blocks      []block
}

// parse finds the front matter and the machine-owned blocks. It fails on a malformed, unpaired,
// nested or duplicated marker.
func parse(b []byte) (*document, error) {
	d := &document{}
	inFM, fmStart := false, 0
	var open *block
	seen := map[string]bool{}
	lineNo := 0
	for off := 0; off < len(b); {
		lineNo++
		next := bytes.IndexByte(b[off:], '\n')
		if next < 0 {
			next = len(b)
		} else {
			next += off + 1
		}
		raw := b[off:next]
		line := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
		crlf := bytes.HasSuffix(raw, []byte("\r\n"))
		switch {
		case lineNo == 1 && line == "---":
			inFM, fmStart = true, next
		case inFM && (line == "---" || line == "..."):
			if open != nil {
				return nil, atLine(lineNo, i18n.Refuse("reason.front_matter_ends_in_block", "Name", strconv.Quote(open.name)))
			}
			inFM = false
			d.frontMatter = b[fmStart:off]
		default:
			var m []string
			if inFM && strings.HasPrefix(line, fmCandidate) {
				if m = fmMarker.FindStringSubmatch(line); m == nil {
					return nil, atLine(lineNo, i18n.Refuse("reason.malformed_marker", "Marker", strconv.Quote(truncate(line, 80))))
				}
			} else if !inFM && strings.HasPrefix(line, bodyCandidate) {
				if m = bodyMarker.FindStringSubmatch(line); m == nil {
					return nil, atLine(lineNo, i18n.Refuse("reason.malformed_marker", "Marker", strconv.Quote(truncate(line, 80))))
				}
			}
			if m == nil {
				break
			}
			verb, name, seal := m[1], m[2], m[3]
			switch {
			case verb == "begin" && open != nil:
				return nil, atLine(lineNo, i18n.Refuse("reason.block_in_block", "Name", strconv.Quote(name), "Open", strconv.Quote(open.name)))
			case verb == "begin" && seen[name]:
				return nil, atLine(lineNo, i18n.Refuse("reason.block_twice", "Name", strconv.Quote(name)))
			case verb == "begin":
				seen[name] = true
				open = &block{name: name, start: off, cstart: next, seal: seal, crlf: crlf, frontMatter: inFM}
			case open == nil || open.name != name:
				return nil, atLine(lineNo, i18n.Refuse("reason.end_not_open", "Name", strconv.Quote(name)))
			case seal != "":
				return nil, atLine(lineNo, i18n.Refuse("reason.end_sealed", "Name", strconv.Quote(name)))
			default:
				open.cend, open.end = off, next
				d.blocks = append(d.blocks, *open)
				open = nil
			}
		}
		off = next
	}
	if inFM {
		return nil, i18n.Refuse("reason.front_matter_open")
	}
	if open != nil {
		return nil, i18n.Refuse("reason.block_open", "Name", strconv.Quote(open.name))
	}
	return d, nil
}

// parseChecked parses a draft that must be well formed as a whole: its markers (parse) and its
// front matter, one YAML mapping (checkFrontMatter).
func parseChecked(b []byte) (*document, error) {
	d, err := parse(b)
	if err != nil {
		return nil, err
	}
	if err := d.checkFrontMatter(); err != nil {
		return nil, err
	}
	return d, nil
}

// checkFrontMatter reports whether the front matter is one YAML mapping.
func (d *document) checkFrontMatter() error {
	if d.frontMatter == nil {
		return i18n.Refuse("reason.no_front_matter")
	}
	var m map[string]any
	if err := yaml.Unmarshal(d.frontMatter, &m); err != nil {
		return &i18n.Reason{Message: i18n.Msg("reason.front_matter_yaml", "Err", err.Error()), Err: err}
	}
	if m == nil {
		return i18n.Refuse("reason.front_matter_not_mapping")
	}
	return nil
}

func (d *document) names() []string {
	n := make([]string, len(d.blocks))
	for i, b := range d.blocks {
		n[i] = b.name
	}
	return n
}

// sealOf fingerprints a block's content, ignoring line-ending style and trailing blanks (editors
// change both on save; neither is a word anyone wrote).
func sealOf(content []byte) string {
	h := sha256.New()
	for _, l := range strings.Split(strings.ReplaceAll(string(content), "\r\n", "\n"), "\n") {
		h.Write([]byte(strings.TrimRight(l, " \t")))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func beginLine(name, seal string, frontMatter bool) string {
	if frontMatter {
		return "# postmortemd:begin " + name + " sha256:" + seal
	}
	return "<!-- postmortemd:begin " + name + " sha256:" + seal + " -->"
}

// seal checks a freshly rendered draft (front matter is YAML, markers are well formed) and writes
// each block's seal into its begin marker.
func seal(out []byte) ([]byte, error) {
	d, err := parseChecked(out)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(len(out) + 32*len(d.blocks))
	last := 0
	for _, b := range d.blocks {
		buf.Write(out[last:b.start])
		buf.WriteString(beginLine(b.name, sealOf(out[b.cstart:b.cend]), b.frontMatter))
		buf.WriteString("\n")
		last = b.cstart
	}
	buf.Write(out[last:])
	return buf.Bytes(), nil
}

// Merge brings a draft on disk up to date with a freshly rendered one. Every machine-owned block of
// existing (see the marker syntax above) is replaced by the same block of regenerated, marker lines
// included; every other byte of existing (the human text, the human-owned front-matter keys such as
// title, status, tags and recommended) is kept as it is.
//
// ok is false, and merged nil, when that cannot be done safely: existing has a malformed marker,
// its blocks are not regenerated's blocks in the same order (a person removed, duplicated or
// reordered a marker), a block's content no longer matches its seal (a person wrote inside it), or
// the merged front matter would not parse. The caller then keeps existing untouched and writes the
// new version beside it. err reports a regenerated draft that is itself malformed.
func Merge(existing, regenerated []byte) (merged []byte, ok bool, err error) {
	merged, conflict, err := merge(existing, regenerated)
	return merged, err == nil && conflict == "", err
}

// merge is Merge with the reason for a conflict.
func merge(existing, regenerated []byte) (merged []byte, conflict string, err error) {
	rd, err := parseChecked(regenerated)
	if err != nil {
		return nil, "", fmt.Errorf("regenerated draft: %w", err)
	}
	ed, err := parse(existing)
	if err != nil {
		return nil, "existing draft: " + err.Error(), nil
	}
	if en, rn := ed.names(), rd.names(); !slices.Equal(en, rn) {
		return nil, fmt.Sprintf("machine-owned blocks were removed, duplicated or reordered: found [%s], want [%s]",
			strings.Join(en, " "), strings.Join(rn, " ")), nil
	}
	for _, b := range ed.blocks {
		if b.seal == "" {
			return nil, fmt.Sprintf("block %q has lost its seal", b.name), nil
		}
		if sealOf(existing[b.cstart:b.cend]) != b.seal {
			return nil, fmt.Sprintf("someone edited inside the machine-owned block %q", b.name), nil
		}
	}
	var buf bytes.Buffer
	buf.Grow(len(existing) + len(regenerated))
	last := 0
	for i, eb := range ed.blocks {
		rb := rd.blocks[i]
		repl := regenerated[rb.start:rb.end]
		if eb.crlf {
			repl = bytes.ReplaceAll(bytes.ReplaceAll(repl, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		}
		buf.Write(existing[last:eb.start])
		buf.Write(repl)
		last = eb.end
	}
	buf.Write(existing[last:])
	if _, err := parseChecked(buf.Bytes()); err != nil {
		return nil, "the merged draft would be malformed: " + err.Error(), nil
	}
	return buf.Bytes(), "", nil
}

// frontMatterID returns the id key of a draft's front matter, "" if it has none.
func frontMatterID(b []byte) string {
	d, err := parse(b)
	if err != nil || d.frontMatter == nil {
		return ""
	}
	var m struct {
		ID string `yaml:"id"`
	}
	if yaml.Unmarshal(d.frontMatter, &m) != nil {
		return ""
	}
	return m.ID
}

// atLine is reason r found on line n of a draft: "line 3: block \"x\" appears twice", said in each
// reader's language (EditProblems finds the line again in it).
func atLine(n int, r *i18n.Reason) *i18n.Reason {
	inner := r.Message
	return &i18n.Reason{Message: i18n.Message{Code: "reason.at_line", Args: map[string]string{"Line": strconv.Itoa(n)}, Detail: &inner}}
}
