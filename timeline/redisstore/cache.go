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
	return &entryCache{maxBytes: maxBytes, lru: list.New(), byID: map[string]*list.Element{}}
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

func (c *entryCache) put(id string, v entriesView) {
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
