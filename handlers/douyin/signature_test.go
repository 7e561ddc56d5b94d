package douyin

import (
	"strings"
	"testing"
)

// Douyin publishes the algorithm (…/webhooks/summarize) and a snippet
// with the secret masked, but no secret/body/signature triple. These
// values are the project's own: each want was computed outside Go with
// `printf '%s%s' SECRET BODY | sha1sum`, so Sign is checked against an
// independent implementation, not against itself.
func TestSign(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		body   string
		want   string
	}{
		{"published verify_webhook body", "siyu-test-secret", `{"event":"verify_webhook","client_key":"","content":{"challenge":12345}}`, "e315b7b0ad7d41aa72b48d3954136f5ba0b6d07d"},
		{"short body", "siyu-test-secret", `{"event":"im_receive_msg"}`, "d9a6fa682b31f738fb54977e3e9fca615a312fda"},
		{"empty body", "siyu-test-secret", "", "973b2ea1693331eae6791ca53597cb9c8fe5d482"},
		{"UTF-8 secret and body are hashed as bytes", "密钥", `{"t":"中文"}`, "cbe297ddf6adfdb5e67a7278740cee915ba639cb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sign(tc.secret, []byte(tc.body)); got != tc.want {
				t.Fatalf("Sign = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	const secret = "siyu-test-secret"
	body := []byte(`{"event":"im_receive_msg"}`)
	good := "d9a6fa682b31f738fb54977e3e9fca615a312fda" // computed with sha1sum, see TestSign
	tests := []struct {
		name   string
		secret string
		body   []byte
		sig    string
		want   bool
	}{
		{"good", secret, body, good, true},
		{"upper-case hex", secret, body, strings.ToUpper(good), true},
		{"surrounding space", secret, body, " " + good + " ", true},
		{"missing", secret, body, "", false},
		{"wrong secret", "other-secret", body, good, false},
		{"body changed by one byte", secret, []byte(`{"event":"im_receive_msh"}`), good, false},
		{"body re-encoded with a space", secret, []byte(`{"event": "im_receive_msg"}`), good, false},
		{"secret after the body", secret, body, "35f1ae318c96e3c7f7dddca0b7a2ccf439045fdb", false},
		{"truncated", secret, body, good[:39], false},
		{"no secret configured", "", body, Sign("", body), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verify(tc.secret, tc.body, tc.sig); got != tc.want {
				t.Fatalf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}
