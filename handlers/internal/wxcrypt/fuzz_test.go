package wxcrypt

import (
	"errors"
	"testing"
)

// FuzzOpen feeds arbitrary bodies and signatures to Open, the one door of
// every safe-mode callback: it must never panic, and what it opens must be
// exactly what a body sealed with the right key holds. `go test -fuzz
// FuzzOpen -fuzztime 60s ./handlers/internal/wxcrypt/` explores (README:
// Fuzzing).
func FuzzOpen(f *testing.F) {
	c, err := New("fuzz-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxfuzz")
	if err != nil {
		f.Fatal(err)
	}
	const msg = "<xml><MsgType>text</MsgType></xml>"
	enc, sig, err := c.Seal([]byte(msg), "1700000000", "n1")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("<xml><Encrypt><![CDATA["+enc+"]]></Encrypt></xml>", sig, "1700000000", "n1")
	f.Add(`{"Encrypt":"`+enc+`"}`, sig, "1700000000", "n1")
	f.Add("<xml><Content><![CDATA[<Encrypt>x</Encrypt>]]></Content><Encrypt>"+enc+"</Encrypt></xml>", sig, "1700000000", "n1")
	f.Add("<xml><Encrypt></Encrypt></xml>", "", "", "")
	f.Add("", "x", "1", "2")
	f.Fuzz(func(t *testing.T, body, sig, ts, nonce string) {
		plain, err := c.Open(sig, ts, nonce, []byte(body))
		if err != nil {
			if !errors.Is(err, ErrSignature) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Open error %v is neither ErrSignature nor ErrMalformed", err)
			}
			return
		}
		// Only a ciphertext sealed with the key and signed with the token
		// opens, and the fuzzer can forge neither: whatever opens is the
		// message sealed above.
		if string(plain) != msg {
			t.Fatalf("Open(%q) = %q, want the sealed message or an error", body, plain)
		}
	})
}
