package drafts

import (
	"bytes"
	"os"
	"testing"
)

// FuzzMarkers feeds any text to the front-matter and marker parser as an existing draft, and merges
// the golden draft into it. Whatever a person (or a broken editor) left in the file, the parser
// must not panic, its blocks must lie in order inside the text, and a merge that succeeds must keep
// every byte outside the machine-owned blocks and be a fixed point (merging again changes nothing).
func FuzzMarkers(f *testing.F) {
	regenerated, err := os.ReadFile("testdata/story.en.md")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(regenerated)
	f.Add(bytes.ReplaceAll(regenerated, []byte("\n"), []byte("\r\n")))
	f.Add(append([]byte("A note of mine.\n"), regenerated...))
	f.Add([]byte("---\nid: x\n---\n<!-- postmortemd:begin a -->\n<!-- postmortemd:end a -->\n"))
	f.Fuzz(func(t *testing.T, existing []byte) {
		d, err := parse(existing)
		if err == nil {
			last := 0
			for _, b := range d.blocks {
				if b.start < last || b.start > b.cstart || b.cstart > b.cend || b.cend > b.end || b.end > len(existing) {
					t.Fatalf("block %+v out of order (previous end %d, len %d)", b, last, len(existing))
				}
				last = b.end
			}
		}
		_ = frontMatterID(existing)
		merged, ok, err := Merge(existing, regenerated)
		if err != nil {
			t.Fatalf("the golden draft is reported malformed: %v", err)
		}
		if !ok {
			return
		}
		md, err := parseChecked(merged)
		if err != nil {
			t.Fatalf("a successful merge is malformed: %v", err)
		}
		ed, _ := parse(existing)
		if outside(existing, ed) != outside(merged, md) {
			t.Fatalf("the merge changed text outside the machine-owned blocks:\nexisting %q\nmerged   %q", existing, merged)
		}
		again, ok, err := Merge(merged, regenerated)
		if err != nil || !ok || !bytes.Equal(again, merged) {
			t.Fatalf("merging again: ok %v, err %v, changed %v", ok, err, !bytes.Equal(again, merged))
		}
	})
}

// outside is b without its blocks: what people own.
func outside(b []byte, d *document) string {
	var out bytes.Buffer
	last := 0
	for _, bl := range d.blocks {
		out.Write(b[last:bl.start])
		out.WriteString("\x00")
		last = bl.end
	}
	out.Write(b[last:])
	return out.String()
}
