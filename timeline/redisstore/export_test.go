package redisstore

// Internals the external tests and benchmarks measure.
var (
	CompressEvent    = compressEvent
	DecodeEventValue = decodeEventValue
	EncodeEvent      = encodeEvent
)
const EventDict = eventDict
