package redisstore

import (
	"container/list"
	"sync"

	"github.com/postmortemd/postmortemd/timeline"
)

// entryCache keeps the stored events of recently read incidents, so a read fetches only the entries
// appended since the last one (a live incident's page is read over and over while it grows). It is
// bounded by the bytes of event JSON it holds, least recently read first out.
type entryCache struct {
	mu       sync.Mutex
	maxBytes int
	bytes    int
	lru      *list.List // of *cachedEntries, front = most recent
	byID     map[string]*list.Element
	// filling names the incidents whose view is being built in the background after a cold read
	// (see coldEvents.Close), so that concurrent cold reads build it once.
	filling map[string]bool
	fills   sync.WaitGroup // the fills started and not ended (tests wait for them)
}

type cachedEntries struct {
	id    string
	view  entriesView // never modified once cached, only replaced
	bytes int
}

// entriesView is one read of a timeline: its entries in arrival order (what the next read resumes
// after) and the same entries in the order SortEntries gives, so that a warm read of a long
// timeline neither copies nor sorts it.
type entriesView struct {
	arrival []timeline.Entry
	sorted  []timeline.Entry
}

func newEntryCache(maxBytes int) *entryCache {
	return &entryCache{maxBytes: maxBytes, lru: list.New(), byID: map[string]*list.Element{}, filling: map[string]bool{}}
}

// get returns the cached view of an incident (shared: callers must not modify it).
func (c *entryCache) get(id string) entriesView {
	if c == nil {
		return entriesView{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[id]
	if !ok {
		return entriesView{}
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cachedEntries).view
}

// startFill reports whether the caller should build id's view in the background: nothing is
// cached for id and nobody else is building it. A true answer must be followed by endFill.
func (c *entryCache) startFill(id string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[id]; ok || c.filling[id] {
		return false
	}
	c.filling[id] = true
	c.fills.Add(1)
	return true
}

// endFill ends a startFill, caching v (when ok) unless a read cached a view of id meanwhile: that
// one is at least as new as v, which was read before the fill started.
func (c *entryCache) endFill(id string, v entriesView, ok bool) {
	c.mu.Lock()
	delete(c.filling, id)
	c.mu.Unlock()
	if ok {
		c.putIfAbsent(id, v)
	}
	c.fills.Done()
}

func (c *entryCache) put(id string, v entriesView) {
	c.store(id, v, true)
}

// putIfAbsent is put, except that it leaves a view already cached for id as it is.
func (c *entryCache) putIfAbsent(id string, v entriesView) {
	c.store(id, v, false)
}

func (c *entryCache) store(id string, v entriesView, replace bool) {
	if c == nil {
		return
	}
	size := 0
	for _, e := range v.arrival {
		size += len(e.JSON) + len(e.Cursor) + 2*32 // two slices of Entry headers
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[id]; ok {
		if !replace {
			return
		}
		c.bytes -= el.Value.(*cachedEntries).bytes
		c.lru.Remove(el)
		delete(c.byID, id)
	}
	if size > c.maxBytes {
		return
	}
	c.byID[id] = c.lru.PushFront(&cachedEntries{id: id, view: v, bytes: size})
	c.bytes += size
	for c.bytes > c.maxBytes {
		last := c.lru.Back()
		ce := last.Value.(*cachedEntries)
		c.bytes -= ce.bytes
		c.lru.Remove(last)
		delete(c.byID, ce.id)
	}
}
