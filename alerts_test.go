package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/handlers/wechat"
)

// fakeWeComApps is WeCom's server API for several corps' apps: it hands
// each app secret a token of its own (for the corp it belongs to only),
// and records every app message with the token and agentid it came
// with. POST /robot is a group robot's webhook.
type fakeWeComApps struct {
	*httptest.Server
	t      *testing.T
	corpOf map[string]string // secret → corpid

	mu    sync.Mutex
	sent  []appMessage
	robot []string
}

// appMessage is one message/send call: with whose token (the secret it
// was issued for), as which agent, to whom.
type appMessage struct {
	Secret string
	Agent  int
	To     string
	Text   string
}

func newFakeWeComApps(t *testing.T, corpOf map[string]string) *fakeWeComApps {
	f := &fakeWeComApps{t: t, corpOf: corpOf}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cgi-bin/gettoken", func(w http.ResponseWriter, r *http.Request) {
		secret := r.URL.Query().Get("corpsecret")
		if corp, ok := corpOf[secret]; !ok || corp != r.URL.Query().Get("corpid") {
			t.Errorf("gettoken for corp %q with a secret not its own", r.URL.Query().Get("corpid"))
			answerJSON(w, map[string]any{"errcode": 40001, "errmsg": "invalid credential"})
			return
		}
		answerJSON(w, map[string]any{"errcode": 0, "access_token": "token-of-" + secret, "expires_in": 7200})
	})
	mux.HandleFunc("POST /cgi-bin/message/send", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ToUser  string `json:"touser"`
			AgentID int    `json:"agentid"`
			Text    struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		secret, ok := strings.CutPrefix(r.URL.Query().Get("access_token"), "token-of-")
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !ok {
			t.Errorf("message/send: token %q, %v", r.URL.Query().Get("access_token"), err)
			answerJSON(w, map[string]any{"errcode": 40014, "errmsg": "invalid access_token"})
			return
		}
		f.mu.Lock()
		f.sent = append(f.sent, appMessage{Secret: secret, Agent: req.AgentID, To: req.ToUser, Text: req.Text.Content})
		f.mu.Unlock()
		answerJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "invaliduser": ""})
	})
	mux.HandleFunc("POST /robot", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Text struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.URL.Query().Get("key") != "env-robot" {
			t.Errorf("robot webhook: key %q, %v", r.URL.Query().Get("key"), err)
		}
		f.mu.Lock()
		f.robot = append(f.robot, req.Text.Content)
		f.mu.Unlock()
		answerJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Background work (template sync, identity) may ask; nothing of
		// it is under test here.
		answerJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// staffMessages are the app messages sent to anyone but the customers
// (the members who wrote to the apps, whose userids start with "m-").
func (f *fakeWeComApps) staffMessages() []appMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []appMessage
	for _, m := range f.sent {
		if !strings.HasPrefix(m.To, "m-") {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeWeComApps) robotMessages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.robot...)
}

// TestStaffAlertsPerBrand: one deployment serves two brands' WeCom apps,
// each naming its own staff (alert_to), a third brand's app naming none,
// and an Official Account of the first brand. A hand-over alert and a
// risk alert reach the staff of the conversation's brand only, as app
// messages of that brand's app (its token, its agentid); the OA's alert
// goes through its brand's WeCom app; the brand without staff falls back
// to the environment's staff (RISK_ALERT_WEBHOOK).
func TestStaffAlertsPerBrand(t *testing.T) {
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	if err := os.CopyFS(scripts, os.DirFS("scripts")); err != nil {
		t.Fatal(err)
	}
	// Risk alerts are grouped per window and sent at its end: a short
	// window, so the test need not wait two minutes.
	riskFile := filepath.Join(scripts, "risk.yaml")
	risk, err := os.ReadFile(riskFile)
	if err != nil || !strings.Contains(string(risk), "window: 2m") {
		t.Fatalf("scripts/risk.yaml: %v, want its alert window to shorten", err)
	}
	if err := os.WriteFile(riskFile, []byte(strings.Replace(string(risk), "window: 2m", "window: 1s", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	api := newFakeWeComApps(t, map[string]string{"secret-a": "ww-brand-a", "secret-b": "ww-brand-b", "secret-c": "ww-brand-c"})
	keys := map[string]string{"wecom-a": newAESKey(t), "wecom-b": newAESKey(t), "wecom-c": newAESKey(t), "oa-a": newAESKey(t)}
	accountsFile := filepath.Join(dir, "accounts.yaml")
	if err := os.WriteFile(accountsFile, []byte(`accounts:
  - {name: wecom-a, platform: wecom, brand: shancha, corpid: ww-brand-a, agentid: "1000005", secret: secret-a, token: tok-a, aes_key: `+keys["wecom-a"]+`, alert_to: [zhangsan, lisi]}
  - {name: oa-a, platform: wechat, brand: shancha, appid: wx-oa-a, token: tok-oa-a, aes_key: `+keys["oa-a"]+`}
  - name: wecom-b
    platform: wecom
    brand: yunshan
    corpid: ww-brand-b
    agentid: "1000006"
    secret: secret-b
    token: tok-b
    aes_key: `+keys["wecom-b"]+`
    alert_to: "wangwu|zhaoliu"
  - {name: wecom-c, platform: wecom, brand: third, corpid: ww-brand-c, agentid: "1000007", secret: secret-c, token: tok-c, aes_key: `+keys["wecom-c"]+`}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	base, logs := startSiyu(t, map[string]string{
		"SIYU_ACCOUNTS": accountsFile, "SIYU_SCRIPTS": scripts, "WECOM_API_BASE": api.URL,
		"RISK_ALERT_WEBHOOK": api.URL + "/robot?key=env-robot",
	})

	// wecomSay posts a member's text to a WeCom app, signed and
	// encrypted as WeCom does.
	wecomSay := func(name, corp, token, user, text string) {
		t.Helper()
		sim := &wechat.Simulator{URL: base + "/wecom/" + name + "/callback", Token: token, EncodingAESKey: keys[name], AppID: corp,
			OriginalID: corp, Client: &http.Client{Timeout: 10 * time.Second}}
		if r, err := sim.Post(t.Context(), sim.TextXML(user, text, wechat.NewMsgID())); err != nil || r.Status != http.StatusOK {
			t.Fatalf("%s callback: %+v, %v", name, r, err)
		}
	}
	wecomSay("wecom-a", "ww-brand-a", "tok-a", "m-a1", "人工")
	wecomSay("wecom-b", "ww-brand-b", "tok-b", "m-b1", "兼职刷单日结，加我微信")
	wecomSay("wecom-c", "ww-brand-c", "tok-c", "m-c1", "人工")
	oa := &wechat.Simulator{URL: base + "/wechat/oa-a/callback", Token: "tok-oa-a", EncodingAESKey: keys["oa-a"], AppID: "wx-oa-a",
		OriginalID: "gh_oaa", Client: &http.Client{Timeout: 10 * time.Second}}
	if r, err := oa.Post(t.Context(), oa.TextXML("o-fan-a", "人工", wechat.NewMsgID())); err != nil || r.Status != http.StatusOK {
		t.Fatalf("oa-a callback: %+v, %v", r, err)
	}

	type want struct {
		secret string
		agent  int
		to     string
		text   string
	}
	wants := []want{
		{"secret-a", 1000005, "zhangsan|lisi", "客户请求人工客服"}, // wecom-a's hand-over
		{"secret-a", 1000005, "zhangsan|lisi", "客户请求人工客服"}, // oa-a's, through its brand's app
		{"secret-b", 1000006, "wangwu|zhaoliu", "风险提醒：诈骗"}, // wecom-b's risk alert, rendered at the window's end
	}
	deadline := time.Now().Add(20 * time.Second) // a failure guard, not a speed claim
	for len(api.staffMessages()) < len(wants) || len(api.robotMessages()) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("staff got %+v and the robot %q; want %d app messages and 1 robot message\n%s", api.staffMessages(), api.robotMessages(), len(wants), logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // anything sent where it should not be would show by now
	got := api.staffMessages()
	if len(got) != len(wants) {
		t.Fatalf("staff app messages = %+v, want %d", got, len(wants))
	}
	for _, w := range wants {
		found := false
		for i, m := range got {
			if m.Secret == w.secret && m.Agent == w.agent && m.To == w.to && strings.Contains(m.Text, w.text) {
				got = append(got[:i], got[i+1:]...)
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no alert %q to %s from agent %d with %s's token among %+v", w.text, w.to, w.agent, w.secret, api.staffMessages())
		}
	}
	robot := api.robotMessages()
	if len(robot) != 1 || !strings.Contains(robot[0], "客户请求人工客服") {
		t.Errorf("the environment's robot got %q, want brand third's hand-over alert only", robot)
	}
	for _, m := range api.staffMessages() {
		if m.Secret == "secret-c" {
			t.Errorf("brand third's app sent a staff message %+v; it names no staff", m)
		}
	}
}
