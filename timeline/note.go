package timeline

import "context"

// Annotator appends what people know to an incident's timeline: context, kept apart from the
// facts systems reported. It is what the notes endpoint needs from a store.
type Annotator interface {
	// AddContext appends ev.Event to the incident's timeline once per ev.DedupeKey (and AltKeys),
	// following an incident merged into another to the one it was folded into. It returns the event
	// as stored and true when it was appended; a repeat of a key already seen appends nothing and
	// returns the event stored the first time, and false.
	//
	// Only context is accepted: an event whose Kind is not KindContext, or without a DedupeKey,
	// gives an error wrapping ErrInvalid. An unknown incident gives ErrNotFound, an unreachable
	// store ErrUnavailable (nothing was stored; retrying with the same key is safe).
	AddContext(ctx context.Context, incidentID string, ev KeyedEvent) (Event, bool, error)
}
