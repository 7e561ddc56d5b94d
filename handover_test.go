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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers/wechat"
	"github.com/siyu-bot/siyu/store/storetest"
)

// replicaOf runs one siyu replica in-process on env, with Redis keys
// under prefix (replicas of one test share it, as production replicas
// share siyu's). It returns the base URL, the log, and a stop that shuts
// the replica down as SIGTERM would (a restart is stop, then replicaOf
// again).
func replicaOf(t *testing.T, env map[string]string, prefix string) (string, *bottest.Logs, func()) {
	t.Helper()
	logs := &bottest.Logs{}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, runEnv{
			getenv: func(k string) string { return env[k] },
			stdout: io.Discard, stderr: logs,
			ready:       func(a string) { addr <- a },
			redisPrefix: prefix,
		})
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("siyu did not shut down")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case a := <-addr:
		return "http://" + a, logs, stop
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("siyu did not start\n%s", logs)
	}
	return "", nil, nil
}

// sharedPrefix is the Redis key prefix replicas of one test share: a
// fresh one on a real Redis (deleted afterwards), siyu's own on the
// test's miniredis.
func sharedPrefix(t *testing.T) string {
	if os.Getenv("REDIS_URL") == "" {
		return ""
	}
	return storetest.RedisPrefix(t)
}

// fakeOA is the Official Account API: tokens, customer-service messages
// and 客服 sessions, recording what it receives and checking each body.
type fakeOA struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	sent []string // "custom o-1 text", "create kf@x o-1", "close kf@x o-1"
	got  chan string
}

func newFakeOA(t *testing.T) *fakeOA {
	f := &fakeOA{t: t, got: make(chan string, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cgi-bin/stable_token", func(w http.ResponseWriter, r *http.Request) {
		answerJSON(w, map[string]any{"access_token": "OA-TOKEN", "expires_in": 7200})
	})
	record := func(s string) {
		f.mu.Lock()
		f.sent = append(f.sent, s)
		f.mu.Unlock()
		f.got <- s
	}
	mux.HandleFunc("POST /cgi-bin/message/custom/send", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			ToUser  string `json:"touser"`
			MsgType string `json:"msgtype"`
			Text    struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.URL.Query().Get("access_token") != "OA-TOKEN" || m.MsgType != "text" || m.ToUser == "" {
			t.Errorf("custom/send: %+v (%v), token %q", m, err, r.URL.Query().Get("access_token"))
		}
		record("custom " + m.ToUser + " " + m.Text.Content)
		answerJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
	})
	for _, op := range []string{"create", "close"} {
		mux.HandleFunc("POST /customservice/kfsession/"+op, func(w http.ResponseWriter, r *http.Request) {
			var m struct {
				KfAccount string `json:"kf_account"`
				OpenID    string `json:"openid"`
			}
			if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.KfAccount == "" || m.OpenID == "" {
				t.Errorf("kfsession/%s: %+v (%v)", op, m, err)
			}
			record(op + " " + m.KfAccount + " " + m.OpenID)
			answerJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
		})
	}
	mux.HandleFunc("GET /cgi-bin/user/info", func(w http.ResponseWriter, r *http.Request) {
		// identity asks in the background; no unionid: not linked.
		answerJSON(w, map[string]any{"subscribe": 1, "openid": r.URL.Query().Get("openid")})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake OA API: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// await waits for the API to receive want.
func (f *fakeOA) await(want string) {
	f.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		f.mu.Lock()
		for _, s := range f.sent {
			if s == want {
				f.mu.Unlock()
				return
			}
		}
		f.mu.Unlock()
		select {
		case <-f.got:
		case <-deadline:
			f.mu.Lock()
			defer f.mu.Unlock()
			f.t.Fatalf("the API did not receive %q; it got %q", want, f.sent)
		}
	}
}

func (f *fakeOA) received(want string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sent {
		if s == want {
			return true
		}
	}
	return false
}

const handoverScripts = `fallback: 嗯？
rules:
  - name: hours
    match: {contains: [营业时间]}
    reply: 每天 9:00-21:00
handover:
  exact: [人工]
  reply: 已为你转接人工客服
  quiet: 30m
  agents:
    wechat: [kf2001@gh_siyudemo]
    wecom: [zhangsan]
`

// handoverEnv is the environment of replicas sharing one database and one
// Redis, with the demo Official Account on the fake API and the console.
func handoverEnv(t *testing.T, oaAPI string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(handoverScripts), 0o600); err != nil {
		t.Fatal(err)
	}
	env, _ := sharedBackends(t)
	for k, v := range map[string]string{
		"SIYU_ADDR": "127.0.0.1:0", "SIYU_SHUTDOWN_DELAY": "0",
		// Debug: the tests wait for a replica to have heard of a
		// hand-over another made (pub/sub is asynchronous).
		"SIYU_LOG_LEVEL": "debug",
		"SIYU_SCRIPTS":   dir, "SIYU_ADMIN_TOKEN": "handover-admin-token",
		"WECHAT_APPID": demoAppID, "WECHAT_TOKEN": demoToken, "WECHAT_AES_KEY": demoAESKey,
		"WECHAT_APPSECRET": "oa-secret", "WECHAT_API_BASE": oaAPI,
	} {
		env[k] = v
	}
	return env
}

// TestHandoverEndToEnd, on two replicas sharing their stores, with
// signed, encrypted callbacks and the Official Account's API faked:
//
//   - 人工 is answered with transfer_customer_service (to the scripts'
//     客服), and the customer's next question, on the other replica, gets
//     no bot answer but is passed on too, while another customer's does;
//   - the pause holds across a replica's restart;
//   - a reply from the console reaches the API, and ending the
//     conversation lets the bot answer again;
//   - counts reach /metrics, and no conversation text reaches the logs.
func TestHandoverEndToEnd(t *testing.T) {
	api := newFakeOA(t)
	env := handoverEnv(t, api.srv.URL)
	prefix := sharedPrefix(t)
	a, logsA, stopA := replicaOf(t, env, prefix)
	b, logsB, _ := replicaOf(t, env, prefix)

	say := func(base, openid, text string) wechat.SimReply {
		t.Helper()
		return oa(t, base, func(s *wechat.Simulator) []byte { return s.TextXML(openid, text, wechat.NewMsgID()) })
	}
	held := func(r wechat.SimReply, what string) {
		t.Helper()
		if r.MsgType != "transfer_customer_service" || r.KfAccount != "kf2001@gh_siyudemo" || r.Content != "" {
			t.Fatalf("%s: answered %q %q (KfAccount %q), want transfer_customer_service to kf2001@gh_siyudemo and no bot text", what, r.MsgType, r.Content, r.KfAccount)
		}
	}

	// B hears of A's hand-over only once it listens: one announced
	// before that is found by B's load of the index instead.
	waitFor(t, logsB, "handover: listening for other replicas' hand-overs", 0)
	markB := logsB.Len()
	held(say(a, "o-ho-customer", "人工"), "人工 on replica A")
	waitFor(t, logsB, "handover: heard of a hand-over", markB)
	// The hand-over's "please wait" goes as a customer-service message.
	api.await("custom o-ho-customer 已为你转接人工客服")
	held(say(b, "o-ho-customer", "营业时间是几点"), "the next question, on replica B")
	if r := say(b, "o-ho-other", "营业时间是几点"); r.MsgType != "text" || r.Content != "每天 9:00-21:00" {
		t.Fatalf("another customer got %q %q, want the bot's answer", r.MsgType, r.Content)
	}

	// A restart of replica A: the pause lives in the shared stores.
	stopA()
	a, logsA2, _ := replicaOf(t, env, prefix)
	held(say(a, "o-ho-customer", "还在吗"), "after replica A restarted")
	// A photo is passed on too; nobody's photo gets a bot answer.
	photo := func(openid string) func(s *wechat.Simulator) []byte {
		return func(s *wechat.Simulator) []byte {
			return fmt.Appendf(nil, "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://mmbiz.qpic.cn/x]]></PicUrl><MediaId><![CDATA[MEDIA]]></MediaId><MsgId>%d</MsgId></xml>",
				demoOrigID, openid, time.Now().Unix(), wechat.NewMsgID())
		}
	}
	held(oa(t, b, photo("o-ho-customer")), "a photo in the held conversation")
	if r := oa(t, b, photo("o-ho-other")); r.MsgType != "" {
		t.Errorf("another customer's photo answered %q %q, want nothing", r.MsgType, r.Content)
	}

	// Staff's inbox, on either replica.
	var inbox struct {
		Conversations []struct {
			ID, Platform, Customer, Reason string
			WaitingSince                   *time.Time `json:"waiting_since"`
			WindowOpen                     bool       `json:"window_open"`
		}
	}
	adminJSON(t, http.MethodGet, b+"/admin/api/inbox/conversations", "handover-admin-token", "", http.StatusOK, &inbox)
	if len(inbox.Conversations) != 1 {
		t.Fatalf("inbox = %+v, want the one conversation", inbox)
	}
	c := inbox.Conversations[0]
	if c.Platform != "wechat" || c.Reason != "keyword" || c.WaitingSince == nil || !c.WindowOpen || strings.Contains(c.Customer, "o-ho-customer") {
		t.Errorf("conversation = %+v, want a waiting WeChat keyword hand-over, the customer masked", c)
	}
	var thread struct {
		Held     bool
		Messages []struct{ From, Text string }
	}
	adminJSON(t, http.MethodGet, a+"/admin/api/inbox/conversations/"+c.ID, "handover-admin-token", "", http.StatusOK, &thread)
	var lines []string
	for _, m := range thread.Messages {
		lines = append(lines, m.From+":"+m.Text)
	}
	if want := "customer:人工 bot:已为你转接人工客服 customer:营业时间是几点 customer:还在吗 customer:（图片）"; !thread.Held || strings.Join(lines, " ") != want {
		t.Errorf("thread held=%v %q, want held with %q", thread.Held, lines, want)
	}

	// A reply from the console goes out at once through the
	// customer-service API.
	adminJSON(t, http.MethodPost, a+"/admin/api/inbox/conversations/"+c.ID+"/reply", "handover-admin-token",
		`{"text":"您好，我是客服小王，请问有什么可以帮您？","staff":"小王"}`, http.StatusOK, nil)
	if !api.received("custom o-ho-customer 您好，我是客服小王，请问有什么可以帮您？") {
		t.Fatalf("the console's reply did not reach the API by the time it answered: %q", api.sent)
	}
	adminJSON(t, http.MethodGet, b+"/admin/api/inbox/conversations", "handover-admin-token", "", http.StatusOK, &inbox)
	if len(inbox.Conversations) != 1 || inbox.Conversations[0].WaitingSince != nil {
		t.Errorf("after staff's reply: %+v, want the conversation no longer waiting", inbox.Conversations)
	}

	// Ending it: the bot answers again, and the 客服 session closes.
	adminJSON(t, http.MethodPost, b+"/admin/api/inbox/conversations/"+c.ID+"/end", "handover-admin-token", "", http.StatusOK, nil)
	if r := say(a, "o-ho-customer", "营业时间是几点"); r.MsgType != "text" || r.Content != "每天 9:00-21:00" {
		t.Fatalf("after the end: %q %q, want the bot's answer again", r.MsgType, r.Content)
	}
	api.await("close kf2001@gh_siyudemo o-ho-customer")
	adminJSON(t, http.MethodGet, a+"/admin/api/inbox/conversations", "handover-admin-token", "", http.StatusOK, &inbox)
	if len(inbox.Conversations) != 0 {
		t.Errorf("inbox after the end = %+v, want empty", inbox.Conversations)
	}

	// Counted where it happened.
	for _, m := range []struct{ base, want string }{
		{b, ""}, // nothing started on B
		{a, `siyu_handover_first_reply_seconds_count 1`},
	} {
		body := getBody(t, m.base+"/metrics")
		if m.want != "" && !strings.Contains(body, m.want) {
			t.Errorf("%s/metrics lacks %q", m.base, m.want)
		}
	}
	// (Replica A's first life counted the hand-over; its counters went
	// with it. The database keeps the count for the console.)
	var stats struct {
		Days []struct {
			ByReason map[string]int `json:"by_reason"`
			Replied  int
		}
	}
	adminJSON(t, http.MethodGet, b+"/admin/api/inbox/stats?days=1", "handover-admin-token", "", http.StatusOK, &stats)
	if len(stats.Days) != 1 || stats.Days[0].ByReason["keyword"] != 1 || stats.Days[0].Replied != 1 {
		t.Errorf("stats = %+v, want today's one keyword hand-over, answered", stats)
	}

	for name, logs := range map[string]*bottest.Logs{"A": logsA, "A restarted": logsA2, "B": logsB} {
		out := logs.String()
		for _, secret := range []string{"o-ho-customer", "营业时间是几点", "还在吗", "客服小王", "handover-admin-token"} {
			if strings.Contains(out, secret) {
				t.Errorf("replica %s logged %q", name, secret)
			}
		}
	}
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// fakeKF is WeCom's 微信客服 API: tokens, sync_msg pages the test sets,
// send_msg (answering 95018 for customers a person holds) and
// service_state/trans, recording what it receives.
type fakeKF struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	msgs   []map[string]any // every message so far; the cursor is an index
	held   map[string]bool  // external_userid → a servicer holds the session
	sends  []string         // "wm-1 text" for every send_msg call, refused ones too
	trans  []string         // "wm-1 3 zhangsan"
	notify chan struct{}
}

func newFakeKF(t *testing.T) *fakeKF {
	f := &fakeKF{t: t, held: map[string]bool{}, notify: make(chan struct{}, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cgi-bin/gettoken", func(w http.ResponseWriter, r *http.Request) {
		answerJSON(w, map[string]any{"errcode": 0, "access_token": "KF-TOKEN", "expires_in": 7200})
	})
	body := func(r *http.Request, v any) {
		if r.URL.Query().Get("access_token") != "KF-TOKEN" {
			t.Errorf("%s without the token", r.URL.Path)
		}
		if err := json.NewDecoder(r.Body).Decode(v); err != nil {
			t.Errorf("%s: %v", r.URL.Path, err)
		}
	}
	mux.HandleFunc("POST /cgi-bin/kf/sync_msg", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Cursor   string `json:"cursor"`
			OpenKfID string `json:"open_kfid"`
		}
		body(r, &req)
		f.mu.Lock()
		defer f.mu.Unlock()
		from := 0
		fmt.Sscan(req.Cursor, &from)
		answerJSON(w, map[string]any{"errcode": 0, "next_cursor": fmt.Sprint(len(f.msgs)), "has_more": 0, "msg_list": f.msgs[min(from, len(f.msgs)):]})
	})
	mux.HandleFunc("POST /cgi-bin/kf/send_msg", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ToUser   string `json:"touser"`
			OpenKfID string `json:"open_kfid"`
			Text     struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		body(r, &req)
		f.mu.Lock()
		f.sends = append(f.sends, req.ToUser+" "+req.Text.Content)
		held := f.held[req.ToUser]
		f.mu.Unlock()
		f.notify <- struct{}{}
		if held {
			answerJSON(w, map[string]any{"errcode": 95018, "errmsg": "send msg session status invalid"})
			return
		}
		answerJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "msgid": "sent-1"})
	})
	mux.HandleFunc("POST /cgi-bin/kf/service_state/trans", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			OpenKfID       string `json:"open_kfid"`
			ExternalUserID string `json:"external_userid"`
			ServiceState   int    `json:"service_state"`
			ServicerUserID string `json:"servicer_userid"`
		}
		body(r, &req)
		if req.OpenKfID != "wk-handover" || req.ExternalUserID == "" {
			t.Errorf("service_state/trans: %+v", req)
		}
		f.mu.Lock()
		f.trans = append(f.trans, fmt.Sprint(req.ExternalUserID, " ", req.ServiceState, " ", req.ServicerUserID))
		if req.ServiceState == 3 {
			f.held[req.ExternalUserID] = true
		}
		f.mu.Unlock()
		f.notify <- struct{}{}
		answerJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
	})
	mux.HandleFunc("GET /cgi-bin/externalcontact/get", func(w http.ResponseWriter, r *http.Request) {
		// identity asks in the background; no unionid: not linked.
		answerJSON(w, map[string]any{"errcode": 0, "external_contact": map[string]any{"external_userid": r.URL.Query().Get("external_userid"), "type": 1}})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake WeCom API: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// customer adds a customer's text to the next pull.
func (f *fakeKF) customer(user, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, map[string]any{
		"msgid": fmt.Sprint("kf-msg-", len(f.msgs)), "open_kfid": "wk-handover", "external_userid": user,
		"send_time": time.Now().Unix(), "origin": 3, "msgtype": "text", "text": map[string]any{"content": text},
	})
}

// wait blocks until cond holds on the fake's records.
func (f *fakeKF) wait(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		f.mu.Lock()
		ok := cond()
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-f.notify:
		case <-time.After(100 * time.Millisecond): // pulls and sends run in the background
		case <-deadline:
			f.t.Fatalf("%s: sends %q, trans %q", what, f.sends, f.trans)
		}
	}
}

const (
	kfCorp  = "ww-handover-e2e"
	kfToken = "kftoken"
)

// kfNotify posts WeCom's signed, encrypted kf_msg_or_event callback.
func kfNotify(t *testing.T, base string) {
	t.Helper()
	sim := &wechat.Simulator{URL: base + "/wecom/callback", Token: kfToken, EncodingAESKey: demoAESKey, AppID: kfCorp,
		OriginalID: kfCorp, Client: &http.Client{Timeout: 20 * time.Second}}
	plain := fmt.Appendf(nil, `<xml><ToUserName><![CDATA[%s]]></ToUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[CB-TOKEN]]></Token><OpenKfId><![CDATA[wk-handover]]></OpenKfId></xml>`,
		kfCorp, time.Now().Unix())
	if r, err := sim.Post(context.Background(), plain); err != nil || r.Status != http.StatusOK {
		t.Fatalf("kf callback: %+v, %v", r, err)
	}
}

// TestKFHandoverEndToEnd: on 微信客服, 人工 moves the session to the
// scripts' servicer with the session-state API and the bot says nothing
// more to that customer; a bot reply WeCom refuses with 95018 (a person
// took the session in the WeCom client) is recorded, not retried, and
// the bot then keeps quiet there too.
func TestKFHandoverEndToEnd(t *testing.T) {
	api := newFakeKF(t)
	env := handoverEnv(t, "http://127.0.0.1:1") // no Official Account calls here
	for k, v := range map[string]string{
		"WECOM_CORPID": kfCorp, "WECOM_TOKEN": kfToken, "WECOM_AES_KEY": demoAESKey,
		"WECOM_AGENTID": "1000002", "WECOM_SECRET": "kf-secret", "WECOM_API_BASE": api.srv.URL,
	} {
		env[k] = v
	}
	prefix := sharedPrefix(t)
	a, logs, _ := replicaOf(t, env, prefix)
	b, logsB, _ := replicaOf(t, env, prefix)

	for _, l := range []*bottest.Logs{logs, logsB} { // see TestHandoverEndToEnd
		waitFor(t, l, "handover: listening for other replicas' hand-overs", 0)
	}
	markA, markB := logs.Len(), logsB.Len()
	api.customer("wm-kf-1", "人工")
	kfNotify(t, a)
	waitFor(t, logs, "handover: heard of a hand-over", markA)
	waitFor(t, logsB, "handover: heard of a hand-over", markB)
	api.wait("the hand-over's session move and its reply", func() bool {
		return len(api.trans) == 1 && len(api.sends) >= 1
	})
	if got := api.trans[0]; got != "wm-kf-1 3 zhangsan" {
		t.Errorf("service_state/trans = %q, want wm-kf-1 to state 3 (人工接待) with zhangsan", got)
	}

	// A person holds wm-kf-1's session now: the bot stays quiet.
	api.customer("wm-kf-1", "营业时间是几点")
	// Meanwhile a person took wm-kf-2's session in the WeCom client,
	// which siyu does not know: its bot answer is refused with 95018.
	api.mu.Lock()
	api.held["wm-kf-2"] = true
	api.mu.Unlock()
	api.customer("wm-kf-2", "营业时间是几点")
	markA = logs.Len()
	kfNotify(t, b)
	api.wait("the bot's answer to wm-kf-2", func() bool {
		for _, s := range api.sends {
			if s == "wm-kf-2 每天 9:00-21:00" {
				return true
			}
		}
		return false
	})
	// The refusal is recorded, not retried, and wm-kf-2's next message
	// gets no bot answer either, on the other replica too.
	waitFor(t, logs, "handover: heard of a hand-over", markA)
	api.customer("wm-kf-2", "在吗")
	api.customer("wm-kf-3", "营业时间是几点") // someone else still gets the bot
	kfNotify(t, a)
	api.wait("the answer to wm-kf-3", func() bool {
		for _, s := range api.sends {
			if s == "wm-kf-3 每天 9:00-21:00" {
				return true
			}
		}
		return false
	})
	var toHeld []string
	api.mu.Lock()
	for _, s := range api.sends {
		if strings.HasPrefix(s, "wm-kf-1 ") || strings.HasPrefix(s, "wm-kf-2 ") {
			toHeld = append(toHeld, s)
		}
	}
	api.mu.Unlock()
	if want := "wm-kf-1 已为你转接人工客服|wm-kf-2 每天 9:00-21:00"; strings.Join(toHeld, "|") != want {
		t.Errorf("send_msg to the held customers = %q, want only %q (the 95018 once, never retried)", toHeld, want)
	}
	var dead struct {
		Items []struct {
			Platform  string
			LastError string `json:"last_error"`
		}
	}
	adminJSON(t, http.MethodGet, a+"/admin/api/outbox?status=dead", "handover-admin-token", "", http.StatusOK, &dead)
	found := false
	for _, it := range dead.Items {
		found = found || (it.Platform == "wecom" && strings.Contains(it.LastError, "95018"))
	}
	if !found {
		t.Errorf("dead letters = %+v, want the refused reply recorded with 95018", dead.Items)
	}
	var inbox struct {
		Conversations []struct{ Platform, Reason string }
	}
	adminJSON(t, http.MethodGet, b+"/admin/api/inbox/conversations", "handover-admin-token", "", http.StatusOK, &inbox)
	reasons := map[string]int{}
	for _, c := range inbox.Conversations {
		reasons[c.Reason]++
	}
	if len(inbox.Conversations) != 2 || reasons["keyword"] != 1 || reasons["platform"] != 1 {
		t.Errorf("inbox = %+v, want wm-kf-1 (keyword) and wm-kf-2 (platform)", inbox.Conversations)
	}
	if strings.Contains(logs.String(), "wm-kf-") {
		t.Error("a customer's id reached the log")
	}
}

func answerJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
