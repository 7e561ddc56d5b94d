package sqlstore

import (
	"crypto/sha256"
	"encoding/hex"
)

// hashKey digests parts into a fixed-length key column: the parts hold
// customer ids and free text of any length, a unique index needs a
// bounded one, and no two part lists hash alike (each part ends in NUL).
func hashKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
