package wxcrypt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrStale means a callback's signed timestamp is outside the replay
// window: a captured callback replayed later, or a badly wrong clock.
var ErrStale = errors.New("wxcrypt: timestamp outside the replay window")

// CheckTimestamp checks a callback's signed timestamp against now. It
// returns how old the callback is, ErrMalformed if the timestamp is not a
// number, or ErrStale if it is further than window from now either way.
// Timestamps are parsed as 64-bit, so they keep working after 2038.
func CheckTimestamp(timestamp string, now time.Time, window time.Duration) (time.Duration, error) {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: timestamp %q", ErrMalformed, timestamp)
	}
	age := now.Sub(time.Unix(ts, 0))
	if age > window || age < -window {
		return age, ErrStale
	}
	return age, nil
}

// IsJSON reports whether a callback body is JSON rather than XML: both
// platforms send either, the envelope and the message alike.
func IsJSON(body []byte) bool {
	body = bytes.TrimLeft(body, " \t\r\n")
	return len(body) > 0 && body[0] == '{'
}

// maxCandidates bounds how many <Encrypt> elements of one body are tried:
// a real envelope has one; a plaintext field beside it (compatibility
// mode) could quote one more in CDATA.
const maxCandidates = 4

// Open authenticates a safe-mode (or compatibility-mode) callback body
// and returns the decrypted message. Only the encrypted part is believed:
// plaintext fields beside it are never read.
//
// It verifies before it parses: the body is only searched for its
// <Encrypt> element (or, for JSON, decoded into that one field), with no
// XML tokenizer, so an unauthenticated body costs a byte scan. Every
// element found is tried against msgSignature, and the one that verifies
// is the one decrypted, so text in another field that looks like an
// <Encrypt> element cannot stand in for it. Errors: ErrSignature when
// none verifies; ErrMalformed when there is no Encrypt at all or the
// ciphertext does not open.
func (c *Crypto) Open(msgSignature, timestamp, nonce string, body []byte) ([]byte, error) {
	var found [maxCandidates]string
	candidates := found[:0]
	if IsJSON(body) {
		var env struct {
			// encoding/json matches keys case-insensitively: WeCom's JSON
			// callbacks spell it "encrypt".
			Encrypt string `json:"Encrypt"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, fmt.Errorf("%w: envelope: %w", ErrMalformed, err)
		}
		if env.Encrypt != "" {
			candidates = append(candidates, env.Encrypt)
		}
	} else {
		candidates = xmlEncrypts(body, candidates)
	}
	if len(candidates) == 0 {
		return nil, fmt.Errorf("%w: envelope has no Encrypt", ErrMalformed)
	}
	for _, enc := range candidates {
		if c.VerifyMsg(msgSignature, timestamp, nonce, enc) == nil {
			msg, _, err := c.Decrypt(enc)
			return msg, err
		}
	}
	return nil, ErrSignature
}

// xmlEncrypts appends the text of the body's <Encrypt> elements (CDATA or
// plain text, surrounding space trimmed), up to cap(out).
func xmlEncrypts(body []byte, out []string) []string {
	const open, closing = "<Encrypt>", "</Encrypt>"
	for len(out) < cap(out) {
		i := bytes.Index(body, []byte(open))
		if i < 0 {
			break
		}
		body = body[i+len(open):]
		j := bytes.Index(body, []byte(closing))
		if j < 0 {
			break
		}
		v := bytes.TrimSpace(body[:j])
		body = body[j+len(closing):]
		if inner, ok := bytes.CutPrefix(v, []byte("<![CDATA[")); ok {
			if inner, ok = bytes.CutSuffix(inner, []byte("]]>")); !ok {
				continue
			}
			v = inner
		}
		if len(v) > 0 {
			out = append(out, string(v))
		}
	}
	return out
}
