package redisstore

import (
	"testing"

	"github.com/postmortemd/postmortemd/timeline"
)

// A cold read fills the cache in the background with what it read; a read that cached a view
// meanwhile (newer: it started later) keeps it, and concurrent cold reads fill it once.
func TestEntryCacheFillKeepsNewerView(t *testing.T) {
	view := func(n int) entriesView {
		es := make([]timeline.Entry, n)
		for i := range es {
			es[i] = timeline.Entry{Cursor: "c", JSON: []byte(`{"id":"x"}`)}
		}
		return entriesView{arrival: es, sorted: es}
	}
	c := newEntryCache(1 << 20)
	if !c.startFill("a") {
		t.Fatal("startFill on an empty cache: false")
	}
	if c.startFill("a") {
		t.Fatal("a second fill of the same incident started while the first runs")
	}
	c.put("a", view(5)) // a warm read cached a newer view meanwhile
	c.endFill("a", view(3), true)
	if got := len(c.get("a").arrival); got != 5 {
		t.Fatalf("cached view has %d entries, want the newer view's 5", got)
	}
	if c.startFill("a") {
		t.Fatal("a fill started although the incident is cached")
	}
	if !c.startFill("b") {
		t.Fatal("startFill b: false")
	}
	c.endFill("b", view(2), true)
	if got := len(c.get("b").arrival); got != 2 {
		t.Fatalf("filled view has %d entries, want 2", got)
	}
	if !c.startFill("c") {
		t.Fatal("startFill c: false")
	}
	c.endFill("c", entriesView{}, false) // a failed fill caches nothing and lets the next one start
	if len(c.get("c").arrival) != 0 || !c.startFill("c") {
		t.Fatal("a failed fill left something behind")
	}
	c.endFill("c", entriesView{}, false)
	c.fills.Wait()
	var off *entryCache // the cache turned off
	if off.startFill("a") {
		t.Fatal("startFill on a disabled cache: true")
	}
}
