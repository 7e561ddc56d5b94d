package bot

import "errors"

// Error kinds. Every layer wraps one of these with %w and an operation
// prefix; callers test with errors.Is, and the HTTP layer maps them to
// status codes in one place.
var (
	ErrInvalid      = errors.New("invalid")      // bad input; retrying will not help
	ErrNotFound     = errors.New("not found")    // no such thing
	ErrConflict     = errors.New("conflict")     // already exists or already done
	ErrUnauthorized = errors.New("unauthorized") // bad signature or credentials
	ErrUnavailable  = errors.New("unavailable")  // a dependency failed; retry later
)
