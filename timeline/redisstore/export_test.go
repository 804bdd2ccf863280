package redisstore

import "github.com/postmortemd/postmortemd/timeline"

// Internals the external tests and benchmarks measure.
var (
	CompressEvent    = compressEvent
	DecodeEventValue = decodeEventValue
)

// EventDict is the dictionary stored events are compressed with.
const EventDict = eventDict

// StoredEvent is the value the store writes for e (see eventWriter).
func StoredEvent(e timeline.Event) ([]byte, error) {
	var w eventWriter
	return w.stored(e)
}
