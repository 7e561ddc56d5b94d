package wxapi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/silenceper/wechat/v2/util"
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

func TestWithFreshToken(t *testing.T) {
	rejected := &util.CommonError{ErrCode: 40001, ErrMsg: "invalid credential"}
	other := &util.CommonError{ErrCode: 45015, ErrMsg: "response out of time limit"}
	dropFailed := errors.New("cache down")
	tests := []struct {
		name      string
		answers   []error // what each post returns, in turn
		dropErr   error
		wantPosts int
		wantDrops int
		want      error
	}{
		{"accepted", []error{nil}, nil, 1, 0, nil},
		{"token rejected, fresh one accepted", []error{rejected, nil}, nil, 2, 1, nil},
		{"token rejected twice: only one retry", []error{rejected, rejected}, nil, 2, 1, rejected},
		{"another errcode: no retry", []error{other}, nil, 1, 0, other},
		{"drop fails: no retry", []error{rejected}, dropFailed, 1, 1, dropFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			posts, drops := 0, 0
			err := WithFreshToken(func() error {
				posts++
				if err := tt.answers[posts-1]; err != nil {
					return fmt.Errorf("send: %w", err)
				}
				return nil
			}, func() error {
				drops++
				return tt.dropErr
			})
			if posts != tt.wantPosts || drops != tt.wantDrops {
				t.Errorf("posts, drops = %d, %d, want %d, %d", posts, drops, tt.wantPosts, tt.wantDrops)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
