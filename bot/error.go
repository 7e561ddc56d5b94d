package bot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

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

// Fingerprint returns a short, stable digest of a key for error messages:
// dedupe and outbox keys are built from customers' ids (an openid, an
// external user id), which must not reach logs, yet two lines about the
// same key should still be matchable.
func Fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "#" + hex.EncodeToString(sum[:6])
}
