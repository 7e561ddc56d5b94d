package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers/wechat"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// identityAPIs fakes the Official Account API (tokens, user/info,
// customer-service messages) and WeCom's (tokens, welcomes,
// externalcontact/get, 微信客服 sends), recording every call.
type identityAPIs struct {
	wx, wc *httptest.Server

	mu       sync.Mutex
	unions   map[string]string // openid or external_userid → unionid
	hang     bool              // user/info never answers
	release  chan struct{}
	calls    []string // "wx user/info o-1", "wc get wm-1", "wc send_welcome_msg", "wc kf/send_msg"
	userInfo chan string
	wxSent   chan wxSent
}

func newIdentityAPIs(t *testing.T, unions map[string]string) *identityAPIs {
	f := &identityAPIs{unions: unions, release: make(chan struct{}), userInfo: make(chan string, 100), wxSent: make(chan wxSent, 100)}
	writeJSON := func(w http.ResponseWriter, v any) { _ = json.NewEncoder(w).Encode(v) }
	record := func(call string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, call)
	}

	wx := http.NewServeMux()
	wx.HandleFunc("POST /cgi-bin/stable_token", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"access_token": "WX-TOKEN", "expires_in": 7200})
	})
	wx.HandleFunc("GET /cgi-bin/user/info", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("access_token") != "WX-TOKEN" {
			t.Errorf("user/info with token %q", q.Get("access_token"))
		}
		openID := q.Get("openid")
		record("wx user/info " + openID)
		f.userInfo <- openID
		f.mu.Lock()
		hang, union := f.hang, f.unions[openID]
		f.mu.Unlock()
		if hang {
			select {
			case <-f.release:
			case <-r.Context().Done():
			}
			return
		}
		writeJSON(w, map[string]any{"subscribe": 1, "openid": openID, "unionid": union})
	})
	wx.HandleFunc("POST /cgi-bin/message/custom/send", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			ToUser string `json:"touser"`
			Text   struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		f.wxSent <- wxSent{to: m.ToUser, text: m.Text.Content}
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
	})
	f.wx = httptest.NewServer(wx)

	wc := http.NewServeMux()
	wc.HandleFunc("GET /cgi-bin/gettoken", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"errcode": 0, "access_token": "WC-" + r.URL.Query().Get("corpsecret"), "expires_in": 7200})
	})
	wc.HandleFunc("GET /cgi-bin/externalcontact/get", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("access_token") != "WC-contact-secret" {
			t.Errorf("externalcontact/get with token %q, want the 客户联系 secret's", q.Get("access_token"))
		}
		id := q.Get("external_userid")
		record("wc get " + id)
		f.mu.Lock()
		union := f.unions[id]
		f.mu.Unlock()
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok",
			"external_contact": map[string]any{"external_userid": id, "type": 1, "unionid": union}})
	})
	wc.HandleFunc("POST /cgi-bin/", func(w http.ResponseWriter, r *http.Request) {
		record("wc " + strings.TrimPrefix(r.URL.Path, "/cgi-bin/"))
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "template_id": "tpl-1", "tag_group": []any{}})
	})
	f.wc = httptest.NewServer(wc)
	// Cleanups run last first: the hanging handler returns, then the
	// servers close.
	t.Cleanup(f.wc.Close)
	t.Cleanup(f.wx.Close)
	t.Cleanup(func() { close(f.release) })
	return f
}

func (f *identityAPIs) called(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

const (
	identityCorp   = "ww-identity-e2e"
	identityWCTok  = "wecomtoken"
	identityScript = `fallback: 嗯
rules:
  - name: hours
    match: {contains: [营业时间]}
    reply: 每天 9:00-21:00
welcome:
  follow: 欢迎关注
  contact: 你好，我是店长助理
dnd:
  unsubscribe: [退订, TD]
  resubscribe: [订阅]
  unsubscribed_reply: "已为您退订，回复「订阅」可恢复"
  resubscribed_reply: "已恢复推送，感谢关注"
campaigns:
  - id: %s
    name: 新人券
    stock: 10
    per_person: 1
    trigger: {follow: true}
    codes: {generate: {prefix: ID, length: 10}}
`
)

// identitySiyu starts siyu with an Official Account and a WeCom corp on
// the fakes, sharing its database with the test.
func identitySiyu(t *testing.T, f *identityAPIs, extra map[string]string) (base string, logs *bottest.Logs, db *sqlstore.DB, campaign string) {
	t.Helper()
	campaign = "idn-" + randomID()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(fmt.Sprintf(identityScript, campaign)), 0o600); err != nil {
		t.Fatal(err)
	}
	env, sqlCfg := sharedBackends(t)
	if u := os.Getenv("REDIS_URL"); u != "" {
		t.Cleanup(func() { deleteCouponKeys(t, u, campaign) })
	}
	for k, v := range map[string]string{
		"SIYU_SCRIPTS": dir, "SIYU_ADMIN_TOKEN": "coupon-admin",
		"WECHAT_APPID": demoAppID, "WECHAT_TOKEN": demoToken, "WECHAT_AES_KEY": demoAESKey,
		"WECHAT_APPSECRET": "wx-secret", "WECHAT_API_BASE": f.wx.URL,
		"WECOM_CORPID": identityCorp, "WECOM_TOKEN": identityWCTok, "WECOM_AES_KEY": demoAESKey,
		"WECOM_AGENTID": "1000002", "WECOM_SECRET": "app-secret", "WECOM_CONTACT_SECRET": "contact-secret",
		"WECOM_API_BASE": f.wc.URL,
	} {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	base, logs = startSiyu(t, env)
	db, err := sqlstore.Open(context.Background(), sqlCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return base, logs, db, campaign
}

// oa posts a signed, encrypted Official Account callback.
func oa(t *testing.T, base string, plain func(s *wechat.Simulator) []byte) wechat.SimReply {
	t.Helper()
	sim := &wechat.Simulator{URL: base + "/wechat/callback", Token: demoToken, EncodingAESKey: demoAESKey, AppID: demoAppID,
		OriginalID: demoOrigID, Client: &http.Client{Timeout: 20 * time.Second}}
	r, err := sim.Post(context.Background(), plain(sim))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newContact posts WeCom's signed, encrypted add_external_contact
// callback (WeCom frames end with the corp id where the OA's have the
// appid, so the simulator serves both).
func newContact(t *testing.T, base, external, welcomeCode string) {
	t.Helper()
	sim := &wechat.Simulator{URL: base + "/wecom/callback", Token: identityWCTok, EncodingAESKey: demoAESKey, AppID: identityCorp,
		OriginalID: identityCorp, Client: &http.Client{Timeout: 20 * time.Second}}
	plain := fmt.Appendf(nil, `<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[%s]]></ExternalUserID><State><![CDATA[]]></State><WelcomeCode><![CDATA[%s]]></WelcomeCode></xml>`,
		identityCorp, time.Now().Unix(), external, welcomeCode)
	if r, err := sim.Post(context.Background(), plain); err != nil || r.Status != http.StatusOK {
		t.Fatalf("WeCom callback: %+v, %v", r, err)
	}
}

// TestIdentityOnePersonEndToEnd: a WeCom external contact and an
// Official Account follower with the same unionid are one person. The
// contact's unionid comes from externalcontact/get after the welcome,
// the follower's from user/info when they follow; the follower's 退订 on
// the OA then holds back a push queued for the WeCom 微信客服 customer
// (same external_userid), while a push to someone else goes out.
func TestIdentityOnePersonEndToEnd(t *testing.T) {
	f := newIdentityAPIs(t, map[string]string{"o-fan": "un-e2e", "wm-fan": "un-e2e", "o-other": ""})
	base, logs, db, _ := identitySiyu(t, f, nil)

	// The WeCom contact: welcome first, then externalcontact/get.
	mark := logs.Len()
	newContact(t, base, "wm-fan", "WELCOME-1")
	waitFor(t, logs, `msg="identity: user checked" platform=wecom linked=true`, mark)
	if got, want := f.called("wc "), []string{"wc externalcontact/send_welcome_msg", "wc get wm-fan"}; !slices.Equal(got, want) {
		t.Errorf("WeCom calls = %q, want %q: the welcome before the unionid", got, want)
	}

	// The follower: user/info when they follow; 退订 opts the person out.
	mark = logs.Len()
	if r := oa(t, base, func(s *wechat.Simulator) []byte { return s.EventXML("o-fan", "subscribe", "", time.Now().Unix()) }); r.Content != "欢迎关注" {
		t.Fatalf("follow answered %q, want the welcome", r.Content)
	}
	waitFor(t, logs, `msg="identity: user checked" platform=wechat linked=true`, mark)
	if got := f.called("wx user/info"); !slices.Equal(got, []string{"wx user/info o-fan"}) {
		t.Errorf("user/info calls = %q, want one for the new follower", got)
	}
	if r := oa(t, base, func(s *wechat.Simulator) []byte { return s.TextXML("o-fan", "退订", wechat.NewMsgID()) }); r.Content != "已为您退订，回复「订阅」可恢复" {
		t.Fatalf("退订 answered %q, want the confirmation", r.Content)
	}
	if r := oa(t, base, func(s *wechat.Simulator) []byte { return s.TextXML("o-fan", "营业时间", wechat.NewMsgID()) }); r.Content != "每天 9:00-21:00" {
		t.Fatalf("question after 退订 answered %q, want the answer", r.Content)
	}

	// Pushes queued without a unionid, as a reminder job would: one to
	// the same person's 微信客服 chat, one to another follower.
	queue := bot.NewOutbox(sqlstore.NewOutbox(db), nil, bot.OutboxConfig{})
	toFan := bot.Target{Platform: bot.WeCom, Account: bot.AccountID(identityCorp + "/kf/wk-1"), User: "wm-fan"}
	toOther := bot.Target{Platform: bot.WeChat, Account: demoAppID, User: "o-other"}
	mark = logs.Len()
	if err := queue.Enqueue(t.Context(), "reminder-"+randomID(), []bot.Action{
		bot.Push{Action: bot.Reply{To: toFan, Text: "新品上市"}, Topic: "reminder"},
		bot.Push{Action: bot.Reply{To: toOther, Text: "新品上市"}, Topic: "reminder"},
	}); err != nil {
		t.Fatal(err)
	}
	// (The follower's own follow coupon may come first: it was sent
	// before 退订.)
	for sent := false; !sent; {
		select {
		case m := <-f.wxSent:
			if m.text != "新品上市" {
				continue
			}
			if m.to != "o-other" {
				t.Errorf("新品上市 sent to %s, want o-other only", m.to)
			}
			sent = true
		case <-time.After(30 * time.Second):
			t.Fatal("the push to the other follower was not sent")
		}
	}
	waitFor(t, logs, `msg="dnd: proactive action held back" when=sending reason=opted_out topic=reminder platform=wecom`, mark)
	var held struct {
		Held []struct{ Reason, Topic string }
	}
	adminGet(t, base, "/admin/api/dnd/held?limit=10", &held)
	// (The new contact's follow coupon, queued before the link was known,
	// may be held back too if it was still waiting when 退订 came.)
	reminders := slices.DeleteFunc(held.Held, func(h struct{ Reason, Topic string }) bool { return h.Topic != "reminder" })
	if len(reminders) != 1 || reminders[0].Reason != "opted_out" {
		t.Errorf("reminders held back = %+v, want the WeCom one, opted out", reminders)
	}
	if got := f.called("wc kf/"); len(got) != 0 {
		t.Errorf("WeCom 微信客服 calls %q, want none: the person opted out on the OA", got)
	}
	var person struct {
		OptedOut bool `json:"opted_out"`
	}
	adminGet(t, base, "/admin/api/dnd/persons/union:un-e2e", &person)
	if !person.OptedOut {
		t.Error("union:un-e2e is not opted out")
	}
	if strings.Contains(logs.String(), "un-e2e") || strings.Contains(logs.String(), "wm-fan") {
		t.Error("a customer id reached the log")
	}
}

// TestIdentityCouponLimitAcrossPlatforms: with SIYU_UNIONID_CONTACT_WAIT
// a new WeCom contact is linked before its first event, so the follow
// coupon it claims and the one its Official Account follow would claim
// are one person's: per_person 1 gives one coupon.
func TestIdentityCouponLimitAcrossPlatforms(t *testing.T) {
	f := newIdentityAPIs(t, map[string]string{"o-fan": "un-cp", "wm-fan": "un-cp", "o-solo": ""})
	// Waits long enough for a loaded test machine: the claims depend on them.
	base, logs, db, campaign := identitySiyu(t, f, map[string]string{"SIYU_UNIONID_CONTACT_WAIT": "3s", "SIYU_UNIONID_FOLLOW_WAIT": "3s"})

	mark := logs.Len()
	newContact(t, base, "wm-fan", "WELCOME-2")
	waitFor(t, logs, "wecom: new contact", mark)
	oa(t, base, func(s *wechat.Simulator) []byte { return s.EventXML("o-fan", "subscribe", "", time.Now().Unix()) })
	oa(t, base, func(s *wechat.Simulator) []byte { return s.EventXML("o-solo", "subscribe", "", time.Now().Unix()) })

	store, err := sqlstore.NewCoupons(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := store.Claims(t.Context(), campaign, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range claims {
		got = append(got, string(c.Person))
	}
	slices.Sort(got)
	if want := []string{"union:un-cp", "wechat:" + demoAppID + ":o-solo"}; !slices.Equal(got, want) {
		t.Errorf("coupons claimed by %q, want %q: one for the linked person, one for the follower who stands alone", got, want)
	}
}

// TestIdentityHangingUserInfo: a user/info API that never answers costs
// a new follower's callback at most the follow wait, and messages
// nothing: every callback is answered with its passive reply, and the
// follower is asked about once while the call hangs.
func TestIdentityHangingUserInfo(t *testing.T) {
	f := newIdentityAPIs(t, nil)
	f.hang = true
	base, _, _, _ := identitySiyu(t, f, nil)
	if r := oa(t, base, func(s *wechat.Simulator) []byte { return s.EventXML("o-hang", "subscribe", "", time.Now().Unix()) }); r.Content != "欢迎关注" {
		t.Fatalf("follow answered %q (%s), want the welcome as the passive reply", r.Content, r.Raw)
	}
	<-f.userInfo // the fetch is in flight and hangs
	for range 3 {
		if r := oa(t, base, func(s *wechat.Simulator) []byte { return s.TextXML("o-hang", "营业时间", wechat.NewMsgID()) }); r.Content != "每天 9:00-21:00" {
			t.Fatalf("message answered %q, want the answer", r.Content)
		}
	}
	if got := f.called("wx user/info"); len(got) != 1 {
		t.Errorf("user/info calls = %q, want one while it hangs", got)
	}
}

func TestWaitEnv(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"unset", "", 0, false},
		{"a second", "1s", time.Second, false},
		{"not a duration", "soon", 0, true},
		{"negative", "-1s", 0, true},
		{"past the platforms' patience", "4s", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := waitEnv(func(string) string { return tc.value }, "SIYU_UNIONID_CONTACT_WAIT")
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("waitEnv(%q) = %v, %v; want %v, error %v", tc.value, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestIdentityScope(t *testing.T) {
	tests := []struct {
		name    string
		p       bot.Platform
		account bot.AccountID
		want    bot.AccountID
	}{
		{"an OA", bot.WeChat, "wx-app", "wx-app"},
		{"WeCom contacts", bot.WeCom, "corp", "corp"},
		{"微信客服 customers are the corp's", bot.WeCom, "corp/kf/wk1", "corp"},
		{"staff in the app's chats are no customers", bot.WeCom, "corp/app/1000002", ""},
		{"an account siyu does not know", bot.WeCom, "corp/what/x", ""},
	}
	for _, tc := range tests {
		if got := identityScope(tc.p, tc.account); got != tc.want {
			t.Errorf("%s: identityScope(%s, %s) = %q, want %q", tc.name, tc.p, tc.account, got, tc.want)
		}
	}
}

// TestIdentityTokenRefreshCounted: the access token identity fetches to
// learn a follower's unionid is counted in siyu_token_refreshes_total.
// Identity once built its own Official Account client and token cache,
// which lacked the metrics hook, so a token it fetched went uncounted.
func TestIdentityTokenRefreshCounted(t *testing.T) {
	f := newIdentityAPIs(t, map[string]string{"o-tok": "un-tok"})
	base, logs, _, _ := identitySiyu(t, f, nil)
	mark := logs.Len()
	oa(t, base, func(s *wechat.Simulator) []byte { return s.EventXML("o-tok", "subscribe", "", time.Now().Unix()) })
	waitFor(t, logs, `msg="identity: user checked" platform=wechat linked=true`, mark)
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `siyu_token_refreshes_total{platform="wechat"} 1`) {
		t.Errorf("metrics do not count identity's token fetch:\n%s", grepLines(string(body), "siyu_token_refreshes_total"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return strings.Join(out, "\n")
}
