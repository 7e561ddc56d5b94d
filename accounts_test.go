package main

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/handlers/wechat"
)

// fakeDouyin is one Douyin application's OpenAPI: it hands out a client
// token for its own key and secret only, and records the private
// messages sent with that token. With hang set, every call hangs until
// the test ends, as a platform that stopped answering.
type fakeDouyin struct {
	*httptest.Server
	key, secret string
	hang        chan struct{}

	mu   sync.Mutex
	sent []douyinSent
	// gaveUp counts the calls siyu gave up on while they hung.
	gaveUp int
}

type douyinSent struct{ Account, To, Text string }

func newFakeDouyin(t *testing.T, key, secret string, hang bool) *fakeDouyin {
	f := &fakeDouyin{key: key, secret: secret}
	if hang {
		f.hang = make(chan struct{})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/client_token/", func(w http.ResponseWriter, r *http.Request) {
		f.wait(r)
		var req struct{ ClientKey, ClientSecret string }
		if err := json.NewDecoder(r.Body).Decode(&struct {
			ClientKey    *string `json:"client_key"`
			ClientSecret *string `json:"client_secret"`
		}{&req.ClientKey, &req.ClientSecret}); err != nil || req.ClientKey != key || req.ClientSecret != secret {
			t.Errorf("%s: client_token asked with key %q: want this application's own key and secret", key, req.ClientKey)
			json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"error_code": 10003, "description": "bad key"}})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"access_token": "clt." + key, "expires_in": 7200, "error_code": 0}})
	})
	mux.HandleFunc("POST /im/send/msg/", func(w http.ResponseWriter, r *http.Request) {
		f.wait(r)
		var req struct {
			ToUserID string `json:"to_user_id"`
			Content  struct {
				Text struct {
					Text string `json:"text"`
				} `json:"text"`
			} `json:"content"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Header.Get("access-token") != "clt."+key {
			t.Errorf("%s: im/send/msg with token %q (err %v): want this application's own token", key, r.Header.Get("access-token"), err)
			json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"error_code": 2190008, "description": "bad token"}})
			return
		}
		f.mu.Lock()
		f.sent = append(f.sent, douyinSent{Account: r.URL.Query().Get("open_id"), To: req.ToUserID, Text: req.Content.Text.Text})
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"error_code": 0}})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeDouyin) wait(r *http.Request) {
	if f.hang != nil {
		select {
		case <-f.hang:
		case <-r.Context().Done():
			f.mu.Lock()
			f.gaveUp++
			f.mu.Unlock()
		}
	}
}

func (f *fakeDouyin) givenUp() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gaveUp
}

func (f *fakeDouyin) messages() []douyinSent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]douyinSent(nil), f.sent...)
}

// newAESKey is a random EncodingAESKey: 43 characters of base64.
func newAESKey(testing.TB) string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)[:43]
}

// douyinMessageTo is a signed Douyin private message to account at path.
func douyinMessageTo(t *testing.T, url, key, secret, account, user, text string) *http.Request {
	t.Helper()
	now := time.Now()
	body, _ := json.Marshal(map[string]any{
		"event": "im_receive_msg", "client_key": key, "from_user_id": user, "to_user_id": account,
		"content": map[string]any{"conversation_short_id": "@conv-" + user, "server_message_id": "srv-" + strconv.FormatInt(now.UnixNano(), 10),
			"conversation_type": 1, "message_type": "text", "text": text, "create_time": now.UnixMilli()},
	})
	sum := sha1.Sum(append([]byte(secret), body...))
	req := newRequest(t, http.MethodPost, url, string(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Douyin-Signature", hex.EncodeToString(sum[:]))
	return req
}

// TestAccountsFile: one deployment serves the accounts of an accounts
// file, each at its own path with its own credentials: two Official
// Accounts and two Douyin applications of one brand. A callback signed
// for one account is refused at another's path; one Douyin account's
// hung API does not hold back the other's replies; the file is reloaded
// without a restart, and a broken file is refused with its line while
// the accounts keep serving.
func TestAccountsFile(t *testing.T) {
	dir := t.TempDir()
	fast := newFakeDouyin(t, "dy-sh-key", "dy-sh-secret", false)
	hung := newFakeDouyin(t, "dy-bj-key", "dy-bj-secret", true)
	aesMain, aesNews, aesNew := newAESKey(t), newAESKey(t), newAESKey(t)
	if err := os.WriteFile(filepath.Join(dir, "dy-sh.secret"), []byte("dy-sh-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	accountsFile := filepath.Join(dir, "accounts.yaml")
	accountsYAML := `accounts:
  - {name: oa-main, platform: wechat, brand: shancha, appid: wxmain00000000001, token: tok-main, aes_key: ` + aesMain + `}
  - {name: oa-news, platform: wechat, brand: shancha, appid: wxnews00000000001, token: tok-news, aes_key: ` + aesNews + `}
  - {name: dy-sh, platform: douyin, brand: shancha, client_key: dy-sh-key, client_secret_file: dy-sh.secret, account_open_id: dy-sh-acct, api_base: "` + fast.URL + `"}
  - {name: dy-bj, platform: douyin, brand: shancha, client_key: dy-bj-key, client_secret: dy-bj-secret, account_open_id: dy-bj-acct, api_base: "` + hung.URL + `"}
`
	write := func(s string) {
		t.Helper()
		// Written whole and renamed, as a mounted ConfigMap is swapped.
		tmp := accountsFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, accountsFile); err != nil {
			t.Fatal(err)
		}
	}
	write(accountsYAML)
	const adminToken = "accounts-test-admin-token-0123456789"
	base, logs := startSiyu(t, map[string]string{"SIYU_ACCOUNTS": accountsFile, "SIYU_ACCOUNTS_RELOAD": "50ms", "SIYU_ADMIN_TOKEN": adminToken})
	consoleAccounts := func(t *testing.T) map[string]string {
		t.Helper()
		var got struct {
			Accounts []struct {
				Name, Brand, Platform string
				CallbackPath          string `json:"callback_path"`
			}
		}
		adminJSON(t, http.MethodGet, base+"/admin/api/accounts", adminToken, "", http.StatusOK, &got)
		out := map[string]string{}
		for _, a := range got.Accounts {
			out[a.Name] = a.Brand + " " + a.Platform + " " + a.CallbackPath
		}
		return out
	}
	t.Cleanup(func() { close(hung.hang) }) // before siyu stops (cleanups run in reverse)

	oa := func(name, token, aesKey, appID string) *wechat.Simulator {
		return &wechat.Simulator{URL: base + "/wechat/" + name + "/callback", Token: token, EncodingAESKey: aesKey, AppID: appID,
			OriginalID: "gh_" + strings.ReplaceAll(name, "-", ""), Client: &http.Client{Timeout: 10 * time.Second}}
	}
	main := oa("oa-main", "tok-main", aesMain, "wxmain00000000001")
	news := oa("oa-news", "tok-news", aesNews, "wxnews00000000001")
	const hours = "山茶咖啡各门店营业时间为每天 9:00-21:00，节假日照常营业。"
	ask := func(t *testing.T, sim *wechat.Simulator) (int, string) {
		t.Helper()
		req, err := sim.Request(t.Context(), sim.TextXML("o-acct-user", "你们营业时间是？", wechat.NewMsgID()))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := sim.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, ""
		}
		r, err := sim.DecodeReply(resp.StatusCode, raw)
		if err != nil {
			t.Fatalf("%s: %v", sim.URL, err)
		}
		return resp.StatusCode, r.Content
	}

	t.Run("the console lists the accounts served", func(t *testing.T) {
		got := consoleAccounts(t)
		if len(got) != 4 || got["oa-news"] != "shancha wechat /wechat/oa-news/callback" || got["dy-bj"] != "shancha douyin /douyin/dy-bj/webhook" {
			t.Errorf("console accounts = %v, want the file's four with their callback paths", got)
		}
	})
	t.Run("each Official Account answers at its own path", func(t *testing.T) {
		for _, sim := range []*wechat.Simulator{main, news} {
			if status, got := ask(t, sim); status != http.StatusOK || got != hours {
				t.Errorf("%s = %d %q, want 200 %q", sim.URL, status, got, hours)
			}
		}
	})
	t.Run("a callback signed for one account is refused at another's path", func(t *testing.T) {
		forged := *main
		forged.URL = news.URL
		if status, _ := ask(t, &forged); status != http.StatusUnauthorized {
			t.Errorf("oa-main's callback at oa-news's path = %d, want 401", status)
		}
		dyForged := douyinMessageTo(t, base+"/douyin/dy-bj/webhook", "dy-sh-key", "dy-sh-secret", "dy-sh-acct", "dy-u0", "你好")
		if resp := do(t, dyForged); resp != http.StatusUnauthorized {
			t.Errorf("dy-sh's webhook at dy-bj's path = %d, want 401", resp)
		}
	})
	t.Run("paths nobody serves", func(t *testing.T) {
		for _, path := range []string{"/wechat/oa-nobody/callback", "/wechat/dy-sh/callback", "/wechat/callback", "/douyin/oa-main/webhook"} {
			req := newRequest(t, http.MethodPost, base+path, "<xml></xml>")
			if got := do(t, req); got != http.StatusNotFound {
				t.Errorf("POST %s = %d, want 404", path, got)
			}
		}
	})
	t.Run("one account's hung API does not hold back another's replies", func(t *testing.T) {
		// More rows than the outbox has send slots (8).
		for i := range 12 {
			req := douyinMessageTo(t, base+"/douyin/dy-bj/webhook", "dy-bj-key", "dy-bj-secret", "dy-bj-acct", fmt.Sprint("dy-bj-u", i), "你们营业时间是？")
			if got := do(t, req); got != http.StatusOK {
				t.Fatalf("dy-bj webhook = %d, want 200", got)
			}
		}
		const n = 3
		for i := range n {
			req := douyinMessageTo(t, base+"/douyin/dy-sh/webhook", "dy-sh-key", "dy-sh-secret", "dy-sh-acct", fmt.Sprint("dy-sh-u", i), "你们营业时间是？")
			if got := do(t, req); got != http.StatusOK {
				t.Fatalf("dy-sh webhook = %d, want 200", got)
			}
		}
		guard := time.Now().Add(20 * time.Second) // a failure guard, not a speed claim
		for len(fast.messages()) < n && time.Now().Before(guard) {
			time.Sleep(20 * time.Millisecond)
		}
		got := fast.messages()
		if len(got) < n {
			t.Fatalf("dy-sh replies sent while dy-bj's API hangs = %d, want %d", len(got), n)
		}
		// A hung send logs its time-out before it gives its send slot
		// back, so a reply that waited for the hung account's slots or
		// circuit comes after such a line.
		if strings.Contains(logs.String(), "outbox send timed out") {
			t.Errorf("dy-sh's replies went out only after dy-bj's hung sends timed out: they waited for the hung account")
		}
		for _, m := range got {
			if m.Account != "dy-sh-acct" || m.Text != hours || !strings.HasPrefix(m.To, "dy-sh-u") {
				t.Errorf("sent %+v, want the hours to a dy-sh customer from dy-sh-acct", m)
			}
		}
		if len(hung.messages()) != 0 {
			t.Errorf("dy-bj's hung API recorded sends: %v", hung.messages())
		}
	})
	t.Run("siyu simulate --account plays one account at its path", func(t *testing.T) {
		var out, errOut strings.Builder
		env := map[string]string{"SIYU_ACCOUNTS": accountsFile, "SIYU_ADDR": strings.TrimPrefix(base, "http://")}
		err := run(t.Context(), runEnv{
			args:   []string{"simulate", "--account", "oa-news", "你们营业时间是？"},
			getenv: func(k string) string { return env[k] },
			stdout: &out, stderr: &errOut,
		})
		if err != nil || strings.TrimSpace(out.String()) != hours {
			t.Errorf("simulate --account oa-news = %q, %v (%s), want %q", out.String(), err, errOut.String(), hours)
		}
		err = run(t.Context(), runEnv{
			args:   []string{"simulate", "--account", "dy-sh", "你好"},
			getenv: func(k string) string { return env[k] },
			stdout: &out, stderr: &errOut,
		})
		if err == nil || !strings.Contains(err.Error(), "douyin account") {
			t.Errorf("simulate --account of a Douyin account = %v, want refused: it plays WeChat", err)
		}
	})
	t.Run("reload adds an account without a restart", func(t *testing.T) {
		mark := len(logs.String())
		write(accountsYAML + "  - {name: oa-new, platform: wechat, brand: other, appid: wxnew000000000001, token: tok-new, aes_key: " + aesNew + "}\n")
		waitFor(t, logs, "accounts reloaded", mark)
		if status, got := ask(t, oa("oa-new", "tok-new", aesNew, "wxnew000000000001")); status != http.StatusOK || got != hours {
			t.Errorf("the new account = %d %q, want 200 %q", status, got, hours)
		}
		if got := consoleAccounts(t)["oa-new"]; got != "other wechat /wechat/oa-new/callback" {
			t.Errorf("console's oa-new after the reload = %q, want it listed", got)
		}
	})
	t.Run("a broken file is refused with its line and the accounts keep serving", func(t *testing.T) {
		mark := len(logs.String())
		write(accountsYAML + "  - {name: oa-bad, platform: wechat, brand: shancha, appid: wxbad000000000001}\n")
		waitFor(t, logs, "accounts file refused", mark)
		waitFor(t, logs, "accounts.yaml:6: account \\\"oa-bad\\\": token is required", mark)
		if status, got := ask(t, main); status != http.StatusOK || got != hours {
			t.Errorf("oa-main after a broken file = %d %q, want 200 %q", status, got, hours)
		}
		if status, _ := ask(t, oa("oa-new", "tok-new", aesNew, "wxnew000000000001")); status != http.StatusOK {
			t.Errorf("oa-new after a broken file = %d, want 200: the accounts served stay as they were", status)
		}
	})
	for _, secret := range []string{"dy-sh-secret", "dy-bj-secret", aesMain, aesNews, "tok-main", "tok-news"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a secret reached the log: %q", secret[:4]+"…")
		}
	}
}

func do(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// BenchmarkAccountsCallback is BenchmarkRunCallback's keyword callback
// posted to one Official Account of an accounts file of twenty (eight
// Official Accounts, six WeCom apps, six Douyin applications), so the
// figures side by side show what serving many accounts costs a callback.
func BenchmarkAccountsCallback(b *testing.B) {
	dir := b.TempDir()
	var file strings.Builder
	file.WriteString("accounts:\n")
	aes := make([]string, 8)
	for i := range 8 {
		aes[i] = newAESKey(nil)
		fmt.Fprintf(&file, "  - {name: oa-%02d, platform: wechat, brand: brand-%d, appid: wxbench%010d, token: tok-oa-%d, aes_key: %s}\n", i, i%3, i, i, aes[i])
	}
	for i := range 6 {
		fmt.Fprintf(&file, "  - {name: wecom-%02d, platform: wecom, brand: brand-%d, corpid: wwbench%010d, token: tok-wc-%d, aes_key: %s}\n", i, i%3, i, i, newAESKey(nil))
		fmt.Fprintf(&file, "  - {name: dy-%02d, platform: douyin, brand: brand-%d, client_key: ck-%d, client_secret: cs-%d}\n", i, i%3, i, i)
	}
	path := filepath.Join(dir, "accounts.yaml")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	base, _ := startSiyu(b, map[string]string{"SIYU_LOG_LEVEL": "error", "SIYU_ACCOUNTS": path})
	sim := &wechat.Simulator{URL: base + "/wechat/oa-03/callback", Token: "tok-oa-3", EncodingAESKey: aes[3], AppID: fmt.Sprintf("wxbench%010d", 3), OriginalID: "gh_bench03",
		Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	benchKeyword(b, sim)
}

// TestAccountsBrandScripts: each account is answered by its own scripts:
// an account folder's file replaces the base file of that name for that
// account only; the brand's other account and another brand's account
// keep the base answer.
func TestAccountsBrandScripts(t *testing.T) {
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	if err := os.CopyFS(scripts, os.DirFS("scripts")); err != nil {
		t.Fatal(err)
	}
	override := filepath.Join(scripts, "brands", "shancha", "oa-news")
	if err := os.MkdirAll(override, 0o755); err != nil {
		t.Fatal(err)
	}
	const newsHours = "山茶咖啡资讯号：门店每天 8:00-22:00 营业。"
	if err := os.WriteFile(filepath.Join(override, "faq.yaml"), []byte(`rules:
  - name: opening-hours
    match:
      contains: ["营业时间"]
    reply: "`+newsHours+`"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{"oa-main": newAESKey(t), "oa-news": newAESKey(t), "oa-other": newAESKey(t)}
	file := "accounts:\n"
	for _, a := range []struct{ name, brand string }{{"oa-main", "shancha"}, {"oa-news", "shancha"}, {"oa-other", "yunshan"}} {
		file += fmt.Sprintf("  - {name: %s, platform: wechat, brand: %s, appid: wx-%s, token: tok-%s, aes_key: %s}\n", a.name, a.brand, a.name, a.name, keys[a.name])
	}
	accountsFile := filepath.Join(dir, "accounts.yaml")
	if err := os.WriteFile(accountsFile, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := startSiyu(t, map[string]string{"SIYU_ACCOUNTS": accountsFile, "SIYU_SCRIPTS": scripts})
	const hours = "山茶咖啡各门店营业时间为每天 9:00-21:00，节假日照常营业。"
	for name, want := range map[string]string{"oa-main": hours, "oa-news": newsHours, "oa-other": hours} {
		sim := &wechat.Simulator{URL: base + "/wechat/" + name + "/callback", Token: "tok-" + name, EncodingAESKey: keys[name], AppID: "wx-" + name,
			OriginalID: "gh_x", Client: &http.Client{Timeout: 10 * time.Second}}
		r, err := sim.Post(t.Context(), sim.TextXML("o-brand-user", "营业时间", wechat.NewMsgID()))
		if err != nil {
			t.Fatal(err)
		}
		if r.Content != want {
			t.Errorf("%s answered %q, want %q", name, r.Content, want)
		}
	}
}
