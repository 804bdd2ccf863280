package redisstore

import (
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/postmortemd/postmortemd/timeline"
)

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

// zstdFrame is what the first compact format stored for an event's JSON (compressEvent at commit
// 22333ed): a zstd frame with eventDict. The store no longer writes frames, but reads them.
func zstdFrame(t testing.TB, js []byte) []byte {
	t.Helper()
	zstdEncOnce.Do(func() {
		zstdEnc, zstdEncErr = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderDictRaw(eventDictID, []byte(eventDict)), zstd.WithEncoderCRC(false),
			zstd.WithLowerEncoderMem(true), zstd.WithNoEntropyCompression(true), zstd.WithWindowSize(1<<14))
	})
	if zstdEncErr != nil {
		t.Fatal(zstdEncErr)
	}
	return zstdEnc.EncodeAll(js, make([]byte, 0, len(js)/2+16))
}

var (
	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder
	zstdEncErr  error
)

// ZstdFrame is zstdFrame, for the benchmarks.
var ZstdFrame = zstdFrame
