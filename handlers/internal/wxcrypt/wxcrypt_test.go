package wxcrypt

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vector is one entry of the platforms' published crypto samples in
// testdata/vectors.json (see testdata/README.md for provenance).
type vector struct {
	ID             string `json:"id"`
	Platform       string `json:"platform"`
	Kind           string `json:"kind"`
	Token          string `json:"token"`
	EncodingAESKey string `json:"encoding_aes_key"`
	ReceiveID      string `json:"receive_id"`
	Timestamp      string `json:"timestamp"`
	Nonce          string `json:"nonce"`
	Signature      string `json:"signature"`
	MsgSignature   string `json:"msg_signature"`
	Echostr        string `json:"echostr"`
	Encrypt        string `json:"encrypt"`
	PostBody       string `json:"post_body"`
	ReplyBody      string `json:"reply_body"`
	Random         string `json:"random"`
	MsgLen         int    `json:"msg_len"`
	Plaintext      string `json:"plaintext"`
}

// loadVectors reads the published vectors kept in testdata. A missing
// file fails the test: skipping would leave only the code checked against
// itself.
func loadVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatalf("published vectors: %v", err)
	}
	var f struct{ Vectors []vector }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return f.Vectors
}

// envelopeEncrypt pulls the ciphertext out of a published body, XML or JSON
// in either of the spellings Tencent's samples use.
func envelopeEncrypt(t *testing.T, body string) string {
	t.Helper()
	if strings.HasPrefix(strings.TrimSpace(body), "{") {
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"Encrypt", "encrypt"} {
			if s, ok := m[k].(string); ok {
				return s
			}
		}
		t.Fatal("no encrypt key in JSON body")
	}
	var x struct {
		Encrypt string `xml:"Encrypt"`
	}
	if err := xml.Unmarshal([]byte(body), &x); err != nil {
		t.Fatal(err)
	}
	return x.Encrypt
}

// decodeRandom accepts the published random as 16 raw characters or as
// hex of 16 bytes (the docs print it both ways).
func decodeRandom(t *testing.T, s string) []byte {
	t.Helper()
	if len(s) == 16 {
		return []byte(s)
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		t.Fatalf("random %q is neither 16 characters nor 16 hex bytes", s)
	}
	return b
}

func TestPublishedVectors(t *testing.T) {
	vectors := loadVectors(t)
	kinds := map[string]int{}
	for _, v := range vectors {
		t.Run(v.ID, func(t *testing.T) {
			kinds[v.Kind]++
			switch v.Kind {
			case "plain_signature":
				c := &Crypto{token: v.Token}
				if err := c.VerifyURL(v.Signature, v.Timestamp, v.Nonce); err != nil {
					t.Fatalf("VerifyURL = %v, want nil", err)
				}
				if err := c.VerifyURL(v.Signature, v.Timestamp, v.Nonce+"1"); !errors.Is(err, ErrSignature) {
					t.Fatalf("VerifyURL(tampered nonce) = %v, want ErrSignature", err)
				}
				return
			}
			c, err := New(v.Token, v.EncodingAESKey, v.ReceiveID)
			if err != nil {
				t.Fatal(err)
			}
			ciphertext := v.Encrypt
			switch v.Kind {
			case "url_verify":
				ciphertext = v.Echostr
			case "message_decrypt":
				if got := envelopeEncrypt(t, v.PostBody); got != v.Encrypt {
					t.Fatalf("Encrypt in body = %q, want %q", got, v.Encrypt)
				}
			}
			if v.MsgSignature != "" {
				if err := c.VerifyMsg(v.MsgSignature, v.Timestamp, v.Nonce, ciphertext); err != nil {
					t.Fatalf("VerifyMsg = %v, want nil", err)
				}
				if err := c.VerifyMsg(v.MsgSignature, v.Timestamp, v.Nonce, ciphertext[1:]); !errors.Is(err, ErrSignature) {
					t.Fatalf("VerifyMsg(tampered) = %v, want ErrSignature", err)
				}
			}
			msg, random, err := c.Decrypt(ciphertext)
			if err != nil {
				t.Fatalf("Decrypt = %v", err)
			}
			if string(msg) != v.Plaintext {
				t.Fatalf("plaintext = %q, want %q", msg, v.Plaintext)
			}
			if v.MsgLen != 0 && len(msg) != v.MsgLen {
				t.Fatalf("msg_len = %d, want %d", len(msg), v.MsgLen)
			}
			if v.Random != "" {
				want := decodeRandom(t, v.Random)
				if !bytes.Equal(random, want) {
					t.Fatalf("random = %x, want %x", random, want)
				}
				// Re-encrypting with the published random must reproduce
				// the published ciphertext byte for byte.
				got, err := c.Encrypt(want, msg)
				if err != nil {
					t.Fatal(err)
				}
				if got != ciphertext {
					t.Fatalf("Encrypt = %q, want %q", got, ciphertext)
				}
			}
			wrong, err := New(v.Token, v.EncodingAESKey, v.ReceiveID+"x")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := wrong.Decrypt(ciphertext); !errors.Is(err, ErrReceiver) {
				t.Fatalf("Decrypt with another receive id = %v, want ErrReceiver", err)
			}
		})
	}
	for _, k := range []string{"plain_signature", "url_verify", "message_decrypt", "reply_encrypt", "aes_encrypt"} {
		if kinds[k] == 0 {
			t.Errorf("no %s vector was checked", k)
		}
	}
}

func TestSealRoundTrip(t *testing.T) {
	c, err := New("pamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxb11529c136998cb6")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  string
	}{
		{"empty", ""},
		{"ascii", "hello"},
		{"multibyte", "我是中文abcd123"},
		{"exact block", strings.Repeat("a", 32-20-len("wxb11529c136998cb6")+64)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, sig, err := c.Seal([]byte(tc.msg), "1700000000", "nonce")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.VerifyMsg(sig, "1700000000", "nonce", enc); err != nil {
				t.Fatalf("VerifyMsg = %v", err)
			}
			msg, _, err := c.Decrypt(enc)
			if err != nil {
				t.Fatal(err)
			}
			if string(msg) != tc.msg {
				t.Fatalf("msg = %q, want %q", msg, tc.msg)
			}
		})
	}
}

func TestDecryptMalformed(t *testing.T) {
	c, err := New("t", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "")
	if err != nil {
		t.Fatal(err)
	}
	good, err := c.Encrypt(nil, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
	}{
		{"not base64", "!!!"},
		{"empty", ""},
		{"not block multiple", "YWJj"},
		{"truncated", good[:len(good)-24]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := c.Decrypt(tc.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decrypt = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestNewRejectsBadKey(t *testing.T) {
	for _, key := range []string{"short", strings.Repeat("!", 43)} {
		if _, err := New("t", key, ""); err == nil {
			t.Errorf("New(%q) = nil error, want one", key)
		}
	}
}

func TestCheckTimestamp(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name      string
		timestamp string
		wantErr   error
	}{
		{"now", "1800000000", nil},
		{"an hour ago, at the edge", "1799996400", nil},
		{"an hour and a second ago", "1799996399", ErrStale},
		{"an hour and a second ahead", "1800003601", ErrStale},
		{"after 2038", "4102444800", ErrStale},
		{"not a number", "12ab", ErrMalformed},
		{"empty", "", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CheckTimestamp(tc.timestamp, now, time.Hour); !errors.Is(err, tc.wantErr) {
				t.Fatalf("CheckTimestamp(%q) = %v, want %v", tc.timestamp, err, tc.wantErr)
			}
		})
	}
	if _, err := CheckTimestamp("4102444800", time.Unix(4102444800, 0), time.Hour); err != nil {
		t.Fatalf("a 2100 timestamp at its own time = %v, want nil", err)
	}
}

func TestIsJSON(t *testing.T) {
	for body, want := range map[string]bool{`{"a":1}`: true, " \n\t{": true, "<xml/>": false, "": false, "  ": false} {
		if got := IsJSON([]byte(body)); got != want {
			t.Errorf("IsJSON(%q) = %v, want %v", body, got, want)
		}
	}
}
