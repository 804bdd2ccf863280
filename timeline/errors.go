package timeline

import "errors"

// The domain's error kinds. Stores and edges wrap them with context (fmt.Errorf("...: %w", err)); the
// HTTP layer maps each to one status in one place.
var (
	// ErrNotFound means the incident or postmortem asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means the input is malformed and retrying it unchanged cannot succeed.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict means the change collides with the current state.
	ErrConflict = errors.New("conflict")
	// ErrPrecondition means the caller's precondition (an If-Match ETag) no longer holds: someone
	// else changed the thing first. Read it again, then retry.
	ErrPrecondition = errors.New("precondition failed")
	// ErrUnavailable means the store could not be reached or could not answer now; the caller may
	// retry later and nothing was stored.
	ErrUnavailable = errors.New("store unavailable")
)
