package accounts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
)

const good = `accounts:
  - {name: oa-main, platform: wechat, brand: shancha, appid: wx1, token: t1, aes_key: k1, appsecret_file: /run/secrets/oa-main}
  - {name: oa-news, platform: wechat, brand: shancha, appid: wx2, token: t2, aes_key: k2}
  - name: wecom-hq
    platform: wecom
    brand: shancha
    corpid: ww1
    agentid: "1000002"
    secret_file: secrets/wecom
    token: t3
    aes_key: k3
  - {name: dy-sh, platform: douyin, brand: shancha, client_key: ck1, client_secret: cs1}
`

func files(m map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if v, ok := m[p]; ok {
			return []byte(v), nil
		}
		return nil, fmt.Errorf("open %s: %w", p, fs.ErrNotExist)
	}
}

func TestParse(t *testing.T) {
	read := files(map[string]string{"/run/secrets/oa-main": "s3cret\n", "/etc/siyu/secrets/wecom": "wecom-secret"})
	accts, err := Parse("/etc/siyu/accounts.yaml", []byte(good), read)
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) != 4 {
		t.Fatalf("%d accounts, want 4", len(accts))
	}
	tests := []struct {
		got, want string
	}{
		{accts[0].AppSecret, "s3cret"}, // trailing newline trimmed
		{accts[0].CallbackPath(), "/wechat/oa-main/callback"},
		{accts[1].AppSecret, ""},
		{accts[2].Secret, "wecom-secret"}, // relative to the accounts file
		{accts[2].CallbackPath(), "/wecom/wecom-hq/callback"},
		{accts[2].AgentID, "1000002"},
		{accts[3].CallbackPath(), "/douyin/dy-sh/webhook"},
		{accts[3].Route().String(), "shancha/dy-sh"},
		{fmt.Sprint(accts[2].Line), "4"},
	}
	for i, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%d: got %q, want %q", i, tc.got, tc.want)
		}
	}
}

// TestParseAlertTo: a WeCom account's alert_to names the staff who get
// its brand's alerts, as a list or one string separated by commas or |.
func TestParseAlertTo(t *testing.T) {
	const app = "name: w, platform: wecom, brand: b, corpid: ww1, agentid: \"1000002\", secret: s, token: t, aes_key: k"
	tests := []struct {
		name, entry string
		want        []string
	}{
		{"a list", "{" + app + ", alert_to: [zhangsan, li.si]}", []string{"zhangsan", "li.si"}},
		{"a block list", "\n    " + strings.ReplaceAll(app, ", ", "\n    ") + "\n    alert_to:\n      - zhangsan\n      - wangwu@corp", []string{"zhangsan", "wangwu@corp"}},
		{"commas", "{" + app + ", alert_to: \"zhangsan, lisi\"}", []string{"zhangsan", "lisi"}},
		{"bars, a repeat dropped", "{" + app + ", alert_to: \"zhangsan|lisi|zhangsan\"}", []string{"zhangsan", "lisi"}},
		{"one", "{" + app + ", alert_to: Zhang_San-1}", []string{"Zhang_San-1"}},
		{"none", "{" + app + "}", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			accts, err := Parse("/a/a.yaml", []byte("accounts:\n  - "+tc.entry+"\n"), files(nil))
			if err != nil {
				t.Fatal(err)
			}
			if got := accts[0].AlertTo; !slices.Equal(got, tc.want) {
				t.Errorf("AlertTo = %q, want %q", got, tc.want)
			}
		})
	}
	// Who gets alerts is part of the account: changing it rebuilds the
	// account's adapter on a reload.
	a, b := Account{Name: "w", AlertTo: []string{"zhangsan"}}, Account{Name: "w", AlertTo: []string{"lisi"}}
	if a.fingerprint() == b.fingerprint() {
		t.Error("accounts differing in alert_to have one fingerprint")
	}
}

func TestParseErrors(t *testing.T) {
	read := files(map[string]string{"/a/empty": "\n"})
	tests := []struct {
		name, file string
		want       []string // each an error, with its line
	}{
		{"not YAML", "accounts: [\n", []string{"a.yaml:1: not valid YAML"}},
		{"no accounts key", "accounts_: []\n", []string{"a.yaml:1: unknown key \"accounts_\"", "a.yaml:1: no accounts: key"}},
		{"unknown platform", "accounts:\n  - {name: x, platform: line, brand: b}\n", []string{`a.yaml:2: account "x": platform "line"`}},
		{"missing required", "accounts:\n  - {name: x, platform: wechat, brand: b, appid: wx}\n", []string{`a.yaml:2: account "x": token is required`}},
		{"key of another platform", "accounts:\n  - {name: x, platform: douyin, brand: b, client_key: k, client_secret: s, appid: wx}\n", []string{`a.yaml:2: account "x": "appid" is not a key of a douyin account`}},
		{"unknown key", "accounts:\n  - {name: x, platform: douyin, brand: b, client_key: k, client_secret: s, secrett: 1}\n", []string{`unknown key "secrett"`}},
		{"file of a non-secret", "accounts:\n  - {name: x, platform: douyin, brand: b, client_key_file: k, client_secret: s}\n", []string{`unknown key "client_key_file"`}},
		{"both value and file", "accounts:\n  - {name: x, platform: douyin, brand: b, client_key: k, client_secret: s, client_secret_file: f}\n", []string{"both client_secret and client_secret_file"}},
		{"secret file missing", "accounts:\n  - {name: x, platform: douyin, brand: b, client_key: k, client_secret_file: nope}\n", []string{`a.yaml:2: account "x": client_secret_file: open /a/nope`}},
		{"secret file empty", "accounts:\n  - {name: x, platform: douyin, brand: b, client_key: k, client_secret_file: empty}\n", []string{"/a/empty is empty"}},
		{"no brand", "accounts:\n  - {name: x, platform: douyin, client_key: k, client_secret: s}\n", []string{"no brand"}},
		{"bad name", "accounts:\n  - {name: X/1, platform: douyin, brand: b, client_key: k, client_secret: s}\n", []string{"a name is at most 32 lower-case letters"}},
		{"duplicate name", "accounts:\n  - {name: x, platform: douyin, brand: b, client_key: k, client_secret: s}\n  - {name: x, platform: douyin, brand: b, client_key: k2, client_secret: s}\n", []string{`a.yaml:3: account "x": the name is used at line 2 too`}},
		{"shared token", "accounts:\n  - {name: x, platform: wechat, brand: b, appid: wx1, token: t}\n  - {name: y, platform: wechat, brand: b, appid: wx2, token: t}\n", []string{`a.yaml:3: account "y": shares its token`}},
		{"shared appid", "accounts:\n  - {name: x, platform: wechat, brand: b, appid: wx1, token: t1}\n  - {name: y, platform: wechat, brand: b, appid: wx1, token: t2}\n", []string{`a.yaml:3: account "y": shares its token, client_key, appid`}},
		{"one corp app twice", "accounts:\n  - {name: x, platform: wecom, brand: b, corpid: ww, agentid: '1', token: t1, aes_key: k}\n  - {name: y, platform: wecom, brand: b, corpid: ww, agentid: '1', token: t2, aes_key: k}\n", []string{`a.yaml:3: account "y": shares`}},
		{"alert_to on an Official Account", "accounts:\n  - {name: x, platform: wechat, brand: b, appid: wx, token: t, alert_to: [zhangsan]}\n", []string{`a.yaml:2: account "x": "alert_to" is not a key of a wechat account`}},
		{"alert_to without an agentid", "accounts:\n  - {name: x, platform: wecom, brand: b, corpid: ww, secret: s, token: t, aes_key: k, alert_to: [zhangsan]}\n", []string{`a.yaml:2: account "x": alert_to needs the app's numeric agentid and its secret`}},
		{"alert_to without a secret", "accounts:\n  - name: x\n    platform: wecom\n    brand: b\n    corpid: ww\n    agentid: \"1000002\"\n    token: t\n    aes_key: k\n    alert_to: zhangsan\n", []string{`a.yaml:9: account "x": alert_to needs`}},
		{"alert_to with a word for agentid", "accounts:\n  - {name: x, platform: wecom, brand: b, corpid: ww, agentid: app, secret: s, token: t, aes_key: k, alert_to: [zhangsan]}\n", []string{"numeric agentid"}},
		{"alert_to empty", "accounts:\n  - {name: x, platform: wecom, brand: b, corpid: ww, agentid: \"1\", secret: s, token: t, aes_key: k, alert_to: []}\n", []string{"alert_to is empty"}},
		{"alert_to blank", "accounts:\n  - {name: x, platform: wecom, brand: b, corpid: ww, agentid: \"1\", secret: s, token: t, aes_key: k, alert_to: \" , \"}\n", []string{"alert_to is empty"}},
		{"alert_to not a userid", "accounts:\n  - {name: x, platform: wecom, brand: b, corpid: ww, agentid: \"1\", secret: s, token: t, aes_key: k, alert_to: [zhangsan, 张三]}\n", []string{`alert_to: "张三" is not a WeCom userid`}},
		{"alert_to a mapping", "accounts:\n  - {name: x, platform: wecom, brand: b, corpid: ww, agentid: \"1\", secret: s, token: t, aes_key: k, alert_to: {a: b}}\n", []string{"alert_to: want a list"}},
		{"alert_to a list of lists", "accounts:\n  - {name: x, platform: wecom, brand: b, corpid: ww, agentid: \"1\", secret: s, token: t, aes_key: k, alert_to: [[a]]}\n", []string{"alert_to: want one value per list item"}},
		{"alert_to from a file", "accounts:\n  - {name: x, platform: wecom, brand: b, corpid: ww, agentid: \"1\", secret: s, token: t, aes_key: k, alert_to_file: f}\n", []string{`unknown key "alert_to_file"`}},
		{"two mistakes, both reported", "accounts:\n  - {name: x, platform: wechat, brand: b}\n  - {name: y, platform: douyin, brand: b}\n", []string{"a.yaml:2:", "a.yaml:3:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("/a/a.yaml", []byte(tc.file), read)
			if err == nil {
				t.Fatalf("accepted, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), strings.Replace(w, "a.yaml", "/a/a.yaml", 1)) {
					t.Errorf("error %q, want it to say %q", err, w)
				}
			}
			if len(Errors(err)) == 0 {
				t.Errorf("Errors(%v) is empty, want the mistakes with their lines", err)
			}
			if strings.Contains(err.Error(), " s,") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q holds a secret", err)
			}
		})
	}
}

func TestLoadBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.yaml")
	if err := os.WriteFile(p, []byte("accounts:\n#"+strings.Repeat("x", maxFileSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load of a file over the limit = %v, want refused for its size", err)
	}
}

// TestApply: a reload rebuilds exactly the accounts that changed, keeps
// the others' adapters and background work, stops removed accounts'
// work, and when a build fails changes nothing.
func TestApply(t *testing.T) {
	builds := map[string]int{}
	done := make(chan string, 16)
	fail := ""
	s := NewSet(func(ctx context.Context, a Account) (*Mounted, error) {
		if a.Name == fail {
			return nil, errors.New("no such app")
		}
		builds[a.Name]++
		token := a.Token
		return &Mounted{
			Callback: func(c echo.Context) error { return c.String(http.StatusOK, a.Name+":"+token) },
			Run: func(ctx context.Context) {
				<-ctx.Done()
				done <- a.Name
			},
		}, nil
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	go func() { close(started); s.Start(ctx) }()
	<-started
	defer cancel()

	e := echo.New()
	s.Register(e.Group(""))
	call := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
		return rec.Code, rec.Body.String()
	}
	acct := func(name, token string) Account {
		return Account{Name: name, Platform: bot.WeChat, Brand: "b", AppID: "wx" + name, Token: token, File: "a.yaml", Line: 2}
	}
	if _, err := s.Apply(t.Context(), []Account{acct("a", "1"), acct("b", "1")}); err != nil {
		t.Fatal(err)
	}
	if code, body := call("/wechat/a/callback"); code != http.StatusOK || body != "a:1" {
		t.Errorf("a = %d %q", code, body)
	}
	// b changes, a does not, c is new.
	if _, err := s.Apply(t.Context(), []Account{acct("a", "1"), acct("b", "2"), acct("c", "1")}); err != nil {
		t.Fatal(err)
	}
	if builds["a"] != 1 || builds["b"] != 2 || builds["c"] != 1 {
		t.Errorf("builds = %v, want a once, b twice, c once", builds)
	}
	if got := <-done; got != "b" {
		t.Errorf("stopped %q, want the old b's work", got)
	}
	if _, body := call("/wechat/b/callback"); body != "b:2" {
		t.Errorf("b = %q, want the new b", body)
	}
	// A build that fails changes nothing.
	fail = "d"
	_, err := s.Apply(t.Context(), []Account{acct("a", "1"), acct("d", "1")})
	if err == nil || !strings.Contains(err.Error(), `a.yaml:2: account "d": no such app`) {
		t.Errorf("Apply with a failing build = %v, want its file, line and reason", err)
	}
	if code, _ := call("/wechat/b/callback"); code != http.StatusOK {
		t.Errorf("b after a failed apply = %d, want still served", code)
	}
	// Removing stops its work; its path is gone.
	if _, err := s.Apply(t.Context(), []Account{acct("a", "1"), acct("b", "2")}); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != "c" {
		t.Errorf("stopped %q, want c's work", got)
	}
	if code, _ := call("/wechat/c/callback"); code != http.StatusNotFound {
		t.Errorf("removed account = %d, want 404", code)
	}
	if code, _ := call("/wecom/a/callback"); code != http.StatusNotFound {
		t.Errorf("a WeChat account at the WeCom path = %d, want 404", code)
	}
}

// TestSenderRoutes: an action goes out through the sender of the
// account its Target.Route names, the environment's account's through
// the fallback, and one of an account no longer served is refused for
// good.
func TestSenderRoutes(t *testing.T) {
	var got []string
	sender := func(name string) bot.Sender {
		return bot.SenderFunc(func(context.Context, bot.Action) error { got = append(got, name); return nil })
	}
	s := NewSet(func(_ context.Context, a Account) (*Mounted, error) {
		return &Mounted{Sender: sender(a.Name)}, nil
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := s.Apply(t.Context(), []Account{
		{Name: "a", Platform: bot.Douyin, Brand: "b", ClientKey: "1"},
		{Name: "c", Platform: bot.Douyin, Brand: "b", ClientKey: "2"},
	}); err != nil {
		t.Fatal(err)
	}
	send := s.Sender(bot.Douyin, sender("env"))
	reply := func(r bot.Route) bot.Action {
		return bot.Reply{To: bot.Target{Platform: bot.Douyin, Route: r, User: "u"}, Text: "x"}
	}
	for _, r := range []bot.Route{{Brand: "b", Name: "c"}, {}, {Brand: "b", Name: "a"}} {
		if err := send.Send(t.Context(), reply(r)); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(got, ",") != "c,env,a" {
		t.Errorf("sent through %v, want c, env, a", got)
	}
	err := send.Send(t.Context(), reply(bot.Route{Brand: "b", Name: "gone"}))
	if !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("send of a removed account = %v, want refused for good", err)
	}
	if err := s.Sender(bot.WeChat, nil).Send(t.Context(), reply(bot.Route{})); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("send with no environment account = %v, want refused for good", err)
	}
}

// TestStaffSenderRoutes: a staff alert goes to its brand's staff, through
// the account its conversation came through when that account names
// staff (alert_to), else through the brand's first account that does;
// the environment's account's alerts, and those of a brand that names no
// staff, go to the environment's staff, and without those they are
// refused for good. A reload that takes alert_to away moves the brand's
// alerts to its next account with staff.
func TestStaffSenderRoutes(t *testing.T) {
	var got []string
	sender := func(name string) bot.Sender {
		return bot.SenderFunc(func(context.Context, bot.Action) error { got = append(got, name); return nil })
	}
	s := NewSet(func(_ context.Context, a Account) (*Mounted, error) {
		m := &Mounted{Sender: sender(a.Name)}
		if len(a.AlertTo) > 0 {
			m.Staff = sender("staff:" + a.Name)
		}
		return m, nil
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	accts := []Account{
		{Name: "oa-a", Platform: bot.WeChat, Brand: "a", Token: "1"},
		{Name: "wa1", Platform: bot.WeCom, Brand: "a", Token: "2", AlertTo: []string{"zhangsan"}},
		{Name: "wa2", Platform: bot.WeCom, Brand: "a", Token: "3", AlertTo: []string{"lisi"}},
		{Name: "wb", Platform: bot.WeCom, Brand: "b", Token: "4"},
		{Name: "wc", Platform: bot.WeCom, Brand: "c", Token: "5", AlertTo: []string{"wangwu"}},
	}
	if _, err := s.Apply(t.Context(), accts); err != nil {
		t.Fatal(err)
	}
	alert := func(r bot.Route) bot.Action {
		return bot.StaffAlert{To: bot.Target{Platform: bot.WeCom, Route: r, User: "wm1"}, Title: "客户请求人工", Text: "人工"}
	}
	tests := []struct {
		name   string
		action bot.Action
		want   string
	}{
		{"the brand's first account with staff", alert(bot.Route{Brand: "a", Name: "oa-a"}), "staff:wa1"},
		{"the account's own staff", alert(bot.Route{Brand: "a", Name: "wa2"}), "staff:wa2"},
		{"an account no longer served: its brand's", alert(bot.Route{Brand: "a", Name: "gone"}), "staff:wa1"},
		{"another brand's own", alert(bot.Route{Brand: "c", Name: "wc"}), "staff:wc"},
		{"a brand without staff: the environment's", alert(bot.Route{Brand: "b", Name: "wb"}), "env"},
		{"an account now of another brand: that brand's", alert(bot.Route{Brand: "b", Name: "wa2"}), "env"},
		{"the environment's account", alert(bot.Route{}), "env"},
		{"a grouped risk alert, by its render's route", bot.Render{To: bot.Target{Platform: bot.Staff, Route: bot.Route{Brand: "c", Name: "wc"}}, Renderer: "risk_alert"}, "staff:wc"},
	}
	send := s.StaffSender(sender("env"))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			if err := send.Send(t.Context(), tc.action); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("sent through %q, want %s", got, tc.want)
			}
		})
	}

	noEnv := s.StaffSender(nil)
	if err := noEnv.Send(t.Context(), alert(bot.Route{Brand: "b", Name: "wb"})); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("a brand without staff and no environment's staff = %v, want refused for good", err)
	}
	got = nil
	if err := noEnv.Send(t.Context(), alert(bot.Route{Brand: "a", Name: "oa-a"})); err != nil || len(got) != 1 || got[0] != "staff:wa1" {
		t.Errorf("without the environment's staff, brand a's alert = %v through %q, want staff:wa1", err, got)
	}

	accts[1].AlertTo = nil
	if _, err := s.Apply(t.Context(), accts); err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := send.Send(t.Context(), alert(bot.Route{Brand: "a", Name: "oa-a"})); err != nil || len(got) != 1 || got[0] != "staff:wa2" {
		t.Errorf("after wa1's alert_to was removed, brand a's alert = %v through %q, want staff:wa2", err, got)
	}
}
