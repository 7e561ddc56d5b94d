package wecom

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/siyu-bot/siyu/bot"
)

// robotKey is the fake robot's key: it must never show in an error.
const robotKey = "robot-key-6f1c9e"

// robotPost is what the fake robot received.
type robotPost struct {
	method, path, key, contentType string
	body                           map[string]any
}

func (p robotPost) content() string {
	text, _ := p.body["text"].(map[string]any)
	s, _ := text["content"].(string)
	return s
}

// fakeRobot is a group robot webhook that records what it receives and
// answers with status and body.
type fakeRobot struct {
	srv   *httptest.Server
	mu    sync.Mutex
	posts []robotPost
	// status and answer are the next answers; set before Send.
	status int
	answer string
}

func newFakeRobot(t *testing.T) *fakeRobot {
	t.Helper()
	f := &fakeRobot{status: http.StatusOK, answer: `{"errcode":0,"errmsg":"ok"}`}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		p := robotPost{method: r.Method, path: r.URL.Path, key: r.URL.Query().Get("key"), contentType: r.Header.Get("Content-Type")}
		if err := json.Unmarshal(raw, &p.body); err != nil {
			t.Errorf("robot received %q, not JSON: %v", raw, err)
		}
		f.mu.Lock()
		f.posts = append(f.posts, p)
		status, answer := f.status, f.answer
		f.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRobot) url() string { return f.srv.URL + "/cgi-bin/webhook/send?key=" + robotKey }

func (f *fakeRobot) received() []robotPost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]robotPost(nil), f.posts...)
}

// checkNoKey fails t if err quotes the robot's key.
func checkNoKey(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), robotKey) {
		t.Errorf("error %q names the robot's key", err)
	}
}

// TestRobotSender: an alert is posted as the robot's text message; the
// robot's refusals that retrying cannot fix are bot.ErrInvalid, its
// "later" answers bot.ErrUnavailable, and no error names the key.
func TestRobotSender(t *testing.T) {
	alert := bot.StaffAlert{Title: "风险提醒：诈骗（高）", Text: "群 wr1 · 共 3 条"}
	tests := []struct {
		name        string
		action      bot.Action
		status      int
		answer      string
		wantErr     error // nil: sent
		wantPosts   int
		wantContent string
	}{
		{name: "sent", action: alert, status: 200, answer: `{"errcode":0,"errmsg":"ok"}`,
			wantPosts: 1, wantContent: "【风险提醒：诈骗（高）】\n群 wr1 · 共 3 条"},
		{name: "no title", action: bot.StaffAlert{Text: "有新成员"}, status: 200, answer: `{"errcode":0}`,
			wantPosts: 1, wantContent: "有新成员"},
		{name: "any endpoint answering 200", action: alert, status: 200, answer: "", wantPosts: 1},
		{name: "refused", action: alert, status: 200, answer: `{"errcode":93000,"errmsg":"invalid webhook url"}`,
			wantErr: bot.ErrInvalid, wantPosts: 1},
		{name: "refusal quoting the key", action: alert, status: 200, answer: `{"errcode":93000,"errmsg":"invalid key ` + robotKey + `"}`,
			wantErr: bot.ErrInvalid, wantPosts: 1},
		{name: "rate limited", action: alert, status: 200, answer: `{"errcode":45009,"errmsg":"api freq out of limit"}`,
			wantErr: bot.ErrUnavailable, wantPosts: 1},
		{name: "busy", action: alert, status: 200, answer: `{"errcode":-1,"errmsg":"system busy"}`,
			wantErr: bot.ErrUnavailable, wantPosts: 1},
		{name: "server error", action: alert, status: 502, wantErr: bot.ErrUnavailable, wantPosts: 1},
		{name: "too many requests", action: alert, status: 429, wantErr: bot.ErrUnavailable, wantPosts: 1},
		{name: "not found", action: alert, status: 404, wantErr: bot.ErrInvalid, wantPosts: 1},
		{name: "not an alert", action: bot.Reply{Text: "x"}, wantErr: bot.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			robot := newFakeRobot(t)
			robot.status, robot.answer = tc.status, tc.answer
			s, err := NewRobotSender(robot.url(), robot.srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(t.Context(), tc.action)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Send = %v, want %v", err, tc.wantErr)
			}
			checkNoKey(t, err)
			got := robot.received()
			if len(got) != tc.wantPosts {
				t.Fatalf("robot received %d posts, want %d", len(got), tc.wantPosts)
			}
			if tc.wantPosts == 0 {
				return
			}
			p := got[0]
			if p.method != http.MethodPost || p.path != "/cgi-bin/webhook/send" || p.key != robotKey || p.contentType != "application/json" {
				t.Errorf("robot received %s %s key=%q (%s), want POST /cgi-bin/webhook/send with the key, as JSON", p.method, p.path, p.key, p.contentType)
			}
			if p.body["msgtype"] != "text" {
				t.Errorf("msgtype = %v, want text", p.body["msgtype"])
			}
			if tc.wantContent != "" && p.content() != tc.wantContent {
				t.Errorf("content = %q, want %q", p.content(), tc.wantContent)
			}
		})
	}
}

// TestRobotSenderTruncates: a long alert is cut to the robot's 2048
// bytes on a character boundary, not refused.
func TestRobotSenderTruncates(t *testing.T) {
	robot := newFakeRobot(t)
	s, err := NewRobotSender(robot.url(), robot.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("风", 1000) // 3000 bytes
	if err := s.Send(t.Context(), bot.StaffAlert{Text: text}); err != nil {
		t.Fatal(err)
	}
	got := robot.received()
	if len(got) != 1 {
		t.Fatalf("robot received %d posts, want 1", len(got))
	}
	c := got[0].content()
	if len(c) > maxRobotText || len(c) < maxRobotText-utf8.UTFMax || !utf8.ValidString(c) || !strings.HasPrefix(text, c) {
		t.Errorf("content is %d bytes (valid UTF-8 %v), want the text's start within %d bytes", len(c), utf8.ValidString(c), maxRobotText)
	}
}

// TestRobotSenderUnreachable: a robot that cannot be reached is
// bot.ErrUnavailable, and neither the error's text nor anything it wraps
// holds the webhook URL.
func TestRobotSenderUnreachable(t *testing.T) {
	robot := newFakeRobot(t)
	s, err := NewRobotSender(robot.url(), robot.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	robot.srv.Close()
	err = s.Send(t.Context(), bot.StaffAlert{Text: "x"})
	if !errors.Is(err, bot.ErrUnavailable) {
		t.Errorf("Send = %v, want ErrUnavailable", err)
	}
	checkNoKey(t, err)
	var ue *url.Error
	if errors.As(err, &ue) {
		t.Errorf("Send's error wraps %q, which holds the webhook URL", ue.URL)
	}
}

// TestNewRobotSender: only an http(s) URL with a host is taken, and the
// refusal does not quote the URL.
func TestNewRobotSender(t *testing.T) {
	tests := []struct {
		name, url string
		ok        bool
	}{
		{name: "https", url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + robotKey, ok: true},
		{name: "http", url: "http://127.0.0.1:8080/hook?key=" + robotKey, ok: true},
		{name: "other scheme", url: "ftp://qyapi.weixin.qq.com/?key=" + robotKey},
		{name: "no host", url: "https:///cgi-bin/webhook/send?key=" + robotKey},
		{name: "not a URL", url: "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + robotKey},
		{name: "unparsable", url: "https://[::1:bad/?key=" + robotKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewRobotSender(tc.url, nil)
			if tc.ok != (err == nil) || tc.ok != (s != nil) {
				t.Fatalf("NewRobotSender = %v, %v; want ok %v", s, err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, bot.ErrInvalid) {
				t.Errorf("NewRobotSender err = %v, want ErrInvalid", err)
			}
			checkNoKey(t, err)
		})
	}
}
