package wxapi

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

var errBase = errors.New("base")

func TestRedact(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		secrets []string
		hidden  []string
		same    bool
	}{
		{"token in a URL", &url.Error{Op: "Post", URL: "https://api/x?access_token=T0K+EN", Err: errBase}, []string{"T0K+EN"}, []string{"T0K+EN", url.QueryEscape("T0K+EN")}, false},
		{"secret and token", errors.Join(errBase, errors.New("corpsecret=S3C access_token=TOK")), []string{"S3C", "TOK"}, []string{"S3C", "TOK"}, false},
		{"nothing to hide", errBase, []string{"TOK", ""}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Redact(tc.err, tc.secrets...)
			for _, h := range tc.hidden {
				if strings.Contains(got.Error(), h) {
					t.Fatalf("Redact = %q, still shows %q", got, h)
				}
			}
			if !errors.Is(got, errBase) {
				t.Fatalf("Redact(%v) lost the wrapped error", tc.err)
			}
			if tc.same && got != tc.err {
				t.Fatalf("Redact wrapped an error with nothing to hide")
			}
		})
	}
}

func TestTokenRejected(t *testing.T) {
	for code, want := range map[int64]bool{40001: true, 40014: true, 42001: true, 0: false, 45015: false, 41051: false} {
		if got := TokenRejected(code); got != want {
			t.Errorf("TokenRejected(%d) = %v, want %v", code, got, want)
		}
	}
}
