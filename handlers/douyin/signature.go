package douyin

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// SignatureHeader carries Douyin's webhook signature: the lowercase hex
// SHA-1 of the client secret's bytes immediately followed by the raw body
// (…/dop/develop/webhooks/summarize; the local-life docs call the same
// secret AppSecret).
const SignatureHeader = "X-Douyin-Signature"

// MsgIDHeader identifies one webhook across Douyin's retries; the
// platform's documentation says to deduplicate by it. siyu does not: the
// signature does not cover it, so a replay could carry any value (see
// dedupeKey).
const MsgIDHeader = "Msg-Id"

// Sign returns the signature Douyin sends for body: lowercase hex
// SHA-1(secret || body).
func Sign(secret string, body []byte) string {
	h := sha1.New()
	h.Write([]byte(secret))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Verify reports whether signature is Douyin's signature of body under
// secret. It compares in constant time, so the answer time says nothing
// about how much of a forged signature was right. Hex case carries no
// meaning and is ignored. An empty secret verifies nothing.
func Verify(secret string, body []byte, signature string) bool {
	if secret == "" || signature == "" {
		return false
	}
	want := Sign(secret, body)
	got := strings.ToLower(strings.TrimSpace(signature))
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}
