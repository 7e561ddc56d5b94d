package wechat

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/siyu-bot/siyu/handlers/internal/body"
	"github.com/siyu-bot/siyu/handlers/internal/handlertest"
)

// TestModes: an account with an EncodingAESKey accepts only encrypted
// callbacks unless it is configured for plain mode; one without a key
// accepts only plain ones.
func TestModes(t *testing.T) {
	b := newBackends(t)
	tests := []struct {
		name       string
		cfg        Config
		plain      bool // the callback is sent in plain mode
		wantStatus int
	}{
		{"key: encrypted accepted", Config{}, false, http.StatusOK},
		{"key: plain refused", Config{}, true, http.StatusUnauthorized},
		{"key, plain allowed: plain accepted", Config{AllowPlain: true}, true, http.StatusOK},
		{"key, plain allowed: encrypted accepted", Config{AllowPlain: true}, false, http.StatusOK},
		{"no key: plain accepted", Config{Token: testToken, AppID: testAppID}, true, http.StatusOK},
		{"no key: encrypted refused", Config{Token: testToken, AppID: testAppID}, false, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			r := newReplica(t, b, handlertest.Counting(&calls, testEngine(t)), tc.cfg, nil)
			s := r.sim(tc.plain)
			got, err := s.Post(t.Context(), s.TextXML("o-mode", "营业时间", NewMsgID()))
			if tc.wantStatus == http.StatusOK {
				if err != nil || got.Content != "我们每天 9:00-21:00 营业" {
					t.Fatalf("reply = %q, %v, want the keyword reply", got.Content, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", tc.wantStatus)) {
				t.Fatalf("post = %+v, %v, want HTTP %d", got, err, tc.wantStatus)
			}
			if n := calls.Load(); n != 0 {
				t.Fatalf("a refused callback reached the engine %d times", n)
			}
		})
	}
}

// TestNoDowngrade replays a captured safe-mode callback URL, whose plain
// signature is valid, with a forged plaintext body and without
// encrypt_type: siyu must not believe it. Before, it was answered for any
// openid for the whole replay window.
func TestNoDowngrade(t *testing.T) {
	var calls atomic.Int32
	r := newReplica(t, newBackends(t), handlertest.Counting(&calls, testEngine(t)), Config{}, nil)
	s := r.sim(false)
	req, err := s.Request(t.Context(), s.TextXML("o-victim", "营业时间", NewMsgID()))
	if err != nil {
		t.Fatal(err)
	}
	q := req.URL.Query()
	q.Del("encrypt_type")
	q.Del("msg_signature")
	forged := s.TextXML("o-anyone-else", "营业时间", NewMsgID())
	resp, err := http.Post(r.srv.URL+"/wechat/callback?"+q.Encode(), "text/xml", bytes.NewReader(forged))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged plain body under a captured safe-mode URL = %d %q, want 401", resp.StatusCode, raw)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the forged body reached the engine %d times", n)
	}
}

// TestCompatibilityModeBelievesOnlyCiphertext: in compatibility mode the
// body carries plaintext fields beside <Encrypt>; a forger who rewrites
// them changes nothing: the reply follows the encrypted message.
func TestCompatibilityModeBelievesOnlyCiphertext(t *testing.T) {
	r := newReplica(t, newBackends(t), testEngine(t), Config{}, nil)
	s := r.sim(false)
	req, err := s.Request(t.Context(), s.TextXML("o-compat", "营业时间", NewMsgID()))
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := io.ReadAll(req.Body)
	compat := strings.Replace(string(enc), "<Encrypt>",
		"<FromUserName><![CDATA[o-forged]]></FromUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[人工]]></Content><Encrypt>", 1)
	resp, err := http.Post(req.URL.String(), "text/xml", strings.NewReader(compat))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got, err := s.DecodeReply(resp.StatusCode, raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Content != "我们每天 9:00-21:00 营业" || got.ToUser != "o-compat" {
		t.Fatalf("reply = %q to %q, want the encrypted message's answer to o-compat", got.Content, got.ToUser)
	}
}

// TestOversizeBody: a callback body over body.Limit gets 413, whether its
// length is declared or it comes chunked, and is refused before anything
// in it is parsed.
func TestOversizeBody(t *testing.T) {
	var calls atomic.Int32
	r := newReplica(t, newBackends(t), handlertest.Counting(&calls, testEngine(t)), Config{}, nil)
	s := r.sim(false)
	req, err := s.Request(t.Context(), s.TextXML("o-big", "营业时间", NewMsgID()))
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("<a>x</a>"), body.Limit/8+1)
	for _, tc := range []struct {
		name    string
		body    io.Reader
		chunked bool
	}{
		{"declared length", bytes.NewReader(big), false},
		{"chunked", io.MultiReader(bytes.NewReader(big)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			post, err := http.NewRequestWithContext(t.Context(), http.MethodPost, req.URL.String(), tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.chunked && post.ContentLength != 0 {
				t.Fatalf("request declares %d bytes, want chunked", post.ContentLength)
			}
			resp, err := http.DefaultClient.Do(post)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status = %d, want 413", resp.StatusCode)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("an oversize body reached the engine %d times", n)
	}
}
