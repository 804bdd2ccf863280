package timeline_test

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/postmortemd/postmortemd/timeline"
)

// Annotations are free text of any size (a webhook body may be 16 MiB): replacing names must walk
// the text in place and copy it at most once, when there is something to replace.

var scanPeople = []timeline.Participant{
	{ID: "P1", Name: "Dana Okafor", Email: "dana.okafor@example.com", Role: "primary on-call"},
	{ID: "P2", Name: "渡辺 健二", Role: "secondary on-call"},
}

func longText(words ...string) string {
	var sb strings.Builder
	for i := 0; sb.Len() < 1<<20; i++ {
		sb.WriteString(words[i%len(words)])
		sb.WriteByte(' ')
	}
	return sb.String()
}

// allocated is the bytes f allocates (the test runs nothing else meanwhile).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestReplaceNamesCopiesAtMostOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's own allocations would be counted")
	}
	clean := longText("latency", "above", "threshold", "for", "checkout", "データベース")
	t.Run("no people and no address: the text itself, nothing allocated", func(t *testing.T) {
		var out string
		if n := testing.AllocsPerRun(3, func() { out, _ = timeline.ReplaceNames(clean, nil) }); n != 0 {
			t.Errorf("%v allocations", n)
		}
		if unsafe.StringData(out) != unsafe.StringData(clean) {
			t.Error("the text was copied")
		}
	})
	t.Run("people, nothing to replace: no copy", func(t *testing.T) {
		var out string
		if b := allocated(func() { out, _ = timeline.ReplaceNames(clean, scanPeople) }); b > uint64(len(clean))/16 {
			t.Errorf("%d bytes allocated for a %d-byte text", b, len(clean))
		}
		if out != clean {
			t.Error("text changed")
		}
	})
	t.Run("people and addresses to replace: one copy", func(t *testing.T) {
		text := longText("latency", "Dana", "okafor", "on", "渡辺さん", "mailed", "ops@example.org", "about", "checkout", "and", "more", "words", "to", "keep", "the", "names", "sparse")
		var out string
		var n int
		b := allocated(func() { out, n = timeline.ReplaceNames(text, scanPeople) })
		if n == 0 || strings.Contains(out, "Dana") || strings.Contains(out, "渡辺") || strings.Contains(out, "ops@") {
			t.Fatalf("%d replacements, names left in the output", n)
		}
		// The output, and the list of places found: a span and a match index per replacement, in
		// slices that grow by doubling (no more than 256 bytes each).
		if limit := uint64(len(out)) + uint64(n)*256; b > limit {
			t.Errorf("%d bytes allocated for a %d-byte text with %d replacements (limit %d)", b, len(text), n, limit)
		}
	})
}

// BenchmarkReplaceNames shows the cost per byte of text, which stays flat as the text grows.
func BenchmarkReplaceNames(b *testing.B) {
	for _, size := range []int{1 << 16, 1 << 20, 4 << 20} {
		text := strings.Repeat("latency above threshold for checkout on db-1, page Dana Okafor ", size/64)
		b.Run(byteSize(size), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				timeline.ReplaceNames(text, scanPeople)
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1<<20 {
		return itoa(n>>20) + "MiB"
	}
	return itoa(n>>10) + "KiB"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestReplaceNamesWritesNameSpans checks that ReplaceNames replaces exactly what NameSpans finds.
func TestReplaceNamesWritesNameSpans(t *testing.T) {
	for _, text := range []string{
		"",
		"nobody here",
		"Dana Okafor paged ops@example.org and DANA.OKAFOR@example.com; 渡辺さん and 渡辺健二 replied, Okafors too",
		longText("latency", "Dana", "okafor", "on", "渡辺さん", "mailed", "ops@example.org", "dana.okafor@example.com", "x@y"),
	} {
		for _, people := range [][]timeline.Participant{nil, scanPeople} {
			var sb strings.Builder
			last := 0
			spans := timeline.NameSpans(text, people)
			for _, sp := range spans {
				sb.WriteString(text[last:sp.Start])
				sb.WriteString(sp.Replacement)
				last = sp.End
			}
			sb.WriteString(text[last:])
			got, n := timeline.ReplaceNames(text, people)
			if got != sb.String() || n != len(spans) {
				t.Errorf("ReplaceNames made %d replacements, NameSpans found %d; outputs equal: %v", n, len(spans), got == sb.String())
			}
		}
	}
}
