package wechat

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/labstack/echo/v4/middleware"
	"github.com/silenceper/wechat/v2/officialaccount"
	offConfig "github.com/silenceper/wechat/v2/officialaccount/config"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/internal/handlertest"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// The account of Tencent's published OA Java sample (vectors.json
// wechat-oa-sample-java-aes-*), so callbacks use a real key.
const (
	testToken  = "pamtest"
	testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	testAppID  = "wxb11529c136998cb6"
	testOrigID = "gh_7f083739789a"
	testSecret = "test-app-secret"
)

var testScripts = fstest.MapFS{
	"welcome.yaml": {Data: []byte(`
welcome:
  follow: "欢迎关注！回复「签到」每天领积分"
channels:
  - state: store-01
    name: 一号店
    welcome: "欢迎来到一号店！"
fallback: "抱歉没听懂，回复「人工」联系客服"
`)},
	"faq.yaml": {Data: []byte(`
rules:
  - name: opening-hours
    match: {contains: ["营业时间", "几点开门"]}
    reply: "我们每天 9:00-21:00 营业"
  - name: contact
    match: {menu: [MENU_CONTACT]}
    reply: "客服电话 400-000-0000"
`)},
}

func testEngine(t *testing.T) *bot.Engine { return handlertest.Engine(t, testScripts) }

// replica is one siyu process's WeChat path: Echo, handler, dedupe and
// outbox, on storage that replicas share.
type replica struct {
	srv    *httptest.Server
	outbox *bot.Outbox
}

type backends struct {
	db  *sqlstore.DB
	rdb *redisstore.Client
}

func newBackends(t *testing.T) backends {
	return backends{db: storetest.SQL(t), rdb: storetest.Redis(t)}
}

func newReplica(t *testing.T, b backends, h bot.Handler, cfg Config, senders map[bot.Platform]bot.Sender) *replica {
	t.Helper()
	logger := bottest.Logger(t)
	chain := bot.Chain(h, bot.Recover(logger), bot.Validate(),
		bot.Dedupe(redisstore.NewDeduper(b.rdb), bot.DedupeConfig{TTL: time.Hour}, logger))
	ob := bot.NewOutbox(sqlstore.NewOutbox(b.db), senders, bot.OutboxConfig{Logger: logger, Backoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if cfg.Token == "" {
		cfg.Token, cfg.EncodingAESKey, cfg.AppID = testToken, testAESKey, testAppID
	}
	wh, err := New(cfg, chain, ob, logger)
	if err != nil {
		t.Fatal(err)
	}
	e := handlers.NewEcho(logger)
	g := e.Group("")
	g.Use(middleware.BodyLimit("1M"))
	wh.Register(g)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &replica{srv: srv, outbox: ob}
}

func (r *replica) sim(plain bool) *Simulator {
	s := &Simulator{URL: r.srv.URL + "/wechat/callback", Token: testToken, EncodingAESKey: testAESKey, AppID: testAppID, OriginalID: testOrigID}
	if plain {
		s.EncodingAESKey = ""
	}
	return s
}

func sharedSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("published sample: %v", err) // never skip: see testdata/README.md
	}
	return b
}

func TestToEventPublishedSamples(t *testing.T) {
	tests := []struct {
		file string
		want bot.Event
	}{
		{"wechat-oa-text.xml", bot.Event{Kind: bot.KindMessage, Sender: "fromUser", Text: "this is a test", MessageID: "1234567890123456", DedupeKey: "msg:1234567890123456", Time: time.Unix(1348831860, 0)}},
		{"wechat-oa-subscribe.xml", bot.Event{Kind: bot.KindFollow, Sender: "FromUser", DedupeKey: "ev:FromUser:123456789:subscribe:", Time: time.Unix(123456789, 0)}},
		{"wechat-oa-subscribe-qrscene.xml", bot.Event{Kind: bot.KindFollow, Sender: "FromUser", Channel: "123123", DedupeKey: "ev:FromUser:123456789:subscribe:qrscene_123123", Time: time.Unix(123456789, 0)}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			m, err := parseInbound(sharedSample(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := toEvent("acct", m)
			if !ok {
				t.Fatal("toEvent reported the sample as not handled")
			}
			tc.want.Platform, tc.want.Account = bot.WeChat, "acct"
			if !eventsEqual(got, tc.want) {
				t.Fatalf("toEvent = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func eventsEqual(a, b bot.Event) bool {
	return a.Platform == b.Platform && a.Account == b.Account && a.Kind == b.Kind && a.Sender == b.Sender &&
		a.Text == b.Text && a.Channel == b.Channel && a.Key == b.Key && a.MessageID == b.MessageID &&
		a.DedupeKey == b.DedupeKey && a.Time.Equal(b.Time) && a.Conversation == b.Conversation
}

func TestToEvent(t *testing.T) {
	ev := func(event, key string) inbound {
		return inbound{FromUserName: "o1", CreateTime: 1700000000, MsgType: "event", Event: event, EventKey: key}
	}
	tests := []struct {
		name        string
		in          inbound
		wantOK      bool
		wantKind    bot.EventKind
		wantChannel string
		wantKey     string
	}{
		{"unsubscribe", ev("unsubscribe", ""), true, bot.KindUnfollow, "", ""},
		{"scan carries the scene", ev("SCAN", "store-01"), true, bot.KindScan, "store-01", ""},
		{"menu click", ev("CLICK", "MENU_CONTACT"), true, bot.KindMenuClick, "", "MENU_CONTACT"},
		{"客服 closed the session", ev("kf_close_session", ""), true, bot.KindSessionClosed, "", ""},
		{"location report is dropped", ev("LOCATION", ""), false, "", "", ""},
		{"an image is media, named", inbound{FromUserName: "o1", MsgType: "image", MsgID: 1}, true, bot.KindMedia, "", "image"},
		{"a template-send receipt is dropped", ev("TEMPLATESENDJOBFINISH", ""), false, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := toEvent("a", tc.in)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if got.Kind != tc.wantKind || got.Channel != tc.wantChannel || got.Key != tc.wantKey {
				t.Fatalf("event = %+v, want kind %s channel %q key %q", got, tc.wantKind, tc.wantChannel, tc.wantKey)
			}
			if got.DedupeKey == "" {
				t.Fatal("no dedupe key")
			}
		})
	}
}

func TestCallbackReplies(t *testing.T) {
	b := newBackends(t)
	r := newReplica(t, b, testEngine(t), Config{}, nil)
	now := time.Now().Unix()
	tests := []struct {
		name        string
		plain       bool
		msg         func(s *Simulator) []byte
		wantType    string
		wantContent string
	}{
		{"keyword reply", false, func(s *Simulator) []byte { return s.TextXML("o-user-1", "请问营业时间？", NewMsgID()) }, "text", "我们每天 9:00-21:00 营业"},
		{"keyword reply, full-width and case", false, func(s *Simulator) []byte { return s.TextXML("o-user-1", "  几点开门！！", NewMsgID()) }, "text", "我们每天 9:00-21:00 营业"},
		{"fallback", false, func(s *Simulator) []byte { return s.TextXML("o-user-1", "今天天气怎么样", NewMsgID()) }, "text", "抱歉没听懂，回复「人工」联系客服"},
		{"follow welcome", false, func(s *Simulator) []byte { return s.EventXML("o-user-2", "subscribe", "", now) }, "text", "欢迎关注！回复「签到」每天领积分"},
		{"follow through a channel QR code", false, func(s *Simulator) []byte { return s.EventXML("o-user-3", "subscribe", "qrscene_store-01", now) }, "text", "欢迎来到一号店！"},
		{"menu click", false, func(s *Simulator) []byte { return s.EventXML("o-user-4", "CLICK", "MENU_CONTACT", now) }, "text", "客服电话 400-000-0000"},
		{"unfollow answers nothing", false, func(s *Simulator) []byte { return s.EventXML("o-user-5", "unsubscribe", "", now) }, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := r.sim(tc.plain)
			got, err := s.Post(t.Context(), tc.msg(s))
			if err != nil {
				t.Fatal(err)
			}
			if got.MsgType != tc.wantType || got.Content != tc.wantContent {
				t.Fatalf("reply = %q %q, want %q %q (raw %q)", got.MsgType, got.Content, tc.wantType, tc.wantContent, got.Raw)
			}
			if tc.wantType != "" && !strings.HasPrefix(got.ToUser, "o-user-") {
				t.Fatalf("reply addressed to %q", got.ToUser)
			}
			if tc.wantType == "" && strings.TrimSpace(got.Raw) != "success" {
				t.Fatalf("no-reply body = %q, want success", got.Raw)
			}
		})
	}
}

func TestCallbackRejects(t *testing.T) {
	b := newBackends(t)
	var calls atomic.Int32
	r := newReplica(t, b, handlertest.Counting(&calls, testEngine(t)), Config{}, nil)
	s := r.sim(false)
	post := func(t *testing.T, mutate func(q url.Values, body []byte) []byte) int {
		req, err := s.Request(t.Context(), s.TextXML("o-user-1", "营业时间", NewMsgID()))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(req.Body)
		q := req.URL.Query()
		body = mutate(q, body)
		resp, err := http.Post(r.srv.URL+"/wechat/callback?"+q.Encode(), "text/xml", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	signed := func(q url.Values, body []byte) {
		// Re-sign a tampered body so only the body is wrong.
		q.Set("msg_signature", signOver(q, body))
	}
	tests := []struct {
		name   string
		mutate func(q url.Values, body []byte) []byte
		want   int
	}{
		{"bad msg_signature", func(q url.Values, b []byte) []byte { q.Set("msg_signature", strings.Repeat("0", 40)); return b }, http.StatusUnauthorized},
		{"missing msg_signature", func(q url.Values, b []byte) []byte { q.Del("msg_signature"); return b }, http.StatusUnauthorized},
		{"body swapped under the signature", func(q url.Values, b []byte) []byte {
			return []byte(strings.Replace(string(b), "<Encrypt><![CDATA[", "<Encrypt><![CDATA[AAAA", 1))
		}, http.StatusUnauthorized},
		{"stale timestamp", func(q url.Values, b []byte) []byte {
			q.Set("timestamp", "1409304348") // a 2014 sample timestamp, correctly signed
			signed(q, b)
			return b
		}, http.StatusUnauthorized},
		{"malformed XML", func(q url.Values, b []byte) []byte { return []byte("<xml><Encrypt>") }, http.StatusBadRequest},
		{"ciphertext that is not AES", func(q url.Values, b []byte) []byte {
			b = []byte("<xml><Encrypt><![CDATA[bm90IGNpcGhlcnRleHQ=]]></Encrypt></xml>")
			signed(q, b)
			return b
		}, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(t, tc.mutate); got != tc.want {
				t.Fatalf("status = %d, want %d", got, tc.want)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d rejected callbacks reached the engine, want 0", n)
	}
}

// TestLongIDRefused: a signed callback whose FromUserName is longer than
// any store column (a 3,000-character one failed in MySQL as a 503, which
// WeChat retries and which raised the error-rate alert) is a bad request.
func TestLongIDRefused(t *testing.T) {
	b := newBackends(t)
	var calls atomic.Int32
	r := newReplica(t, b, handlertest.Counting(&calls, testEngine(t)), Config{}, nil)
	for _, tc := range []struct {
		name   string
		openid string
		want   int
	}{
		{"3,000 characters", strings.Repeat("o", 3000), http.StatusBadRequest},
		{"one over bot.MaxIDLen", strings.Repeat("o", bot.MaxIDLen+1), http.StatusBadRequest},
		{"bot.MaxIDLen", strings.Repeat("o", bot.MaxIDLen), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := r.sim(false)
			got, _ := s.Post(t.Context(), s.TextXML(tc.openid, "营业时间", NewMsgID()))
			if got.Status != tc.want {
				t.Fatalf("status = %d, want %d", got.Status, tc.want)
			}
		})
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the engine ran %d times, want once (for the id of bot.MaxIDLen bytes)", n)
	}
}

// signOver signs body's Encrypt with the query's timestamp and nonce.
func signOver(q url.Values, body []byte) string {
	_, rest, ok := strings.Cut(string(body), "<Encrypt><![CDATA[")
	enc, _, ok2 := strings.Cut(rest, "]]>")
	if !ok || !ok2 {
		return ""
	}
	return signWith(testToken, q.Get("timestamp"), q.Get("nonce"), enc)
}

func TestURLVerification(t *testing.T) {
	b := newBackends(t)
	r := newReplica(t, b, testEngine(t), Config{}, nil)
	ts := "1714036504"
	tests := []struct {
		name, signature string
		wantStatus      int
		wantBody        string
	}{
		{"good", signWith(testToken, ts, "1514711492"), http.StatusOK, "4375120948345356249"},
		{"bad", strings.Repeat("a", 40), http.StatusUnauthorized, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(r.srv.URL + "/wechat/callback?signature=" + tc.signature + "&timestamp=" + ts + "&nonce=1514711492&echostr=4375120948345356249")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || (tc.wantBody != "" && string(body) != tc.wantBody) {
				t.Fatalf("GET = %d %q, want %d %q", resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
			// The echo is the caller's own text: a browser must not sniff it as HTML.
			if got := resp.Header.Get("X-Content-Type-Options"); tc.wantStatus == http.StatusOK && got != "nosniff" {
				t.Fatalf("X-Content-Type-Options = %q on the echo, want nosniff", got)
			}
		})
	}
}

// TestRetriesHandledOnce posts one message as WeChat retries it: the same
// plaintext (MsgId, CreateTime) re-encrypted with a fresh nonce and
// timestamp, three times. The engine runs once and every copy gets the
// same reply.
func TestRetriesHandledOnce(t *testing.T) {
	b := newBackends(t)
	var calls atomic.Int32
	r := newReplica(t, b, handlertest.Counting(&calls, testEngine(t)), Config{}, nil)
	s := r.sim(false)
	msg := s.TextXML("o-retry", "营业时间", NewMsgID())
	var first string
	for i := range 4 {
		got, err := s.Post(t.Context(), msg)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = got.Content
		}
		if got.Content != first || got.Content == "" {
			t.Fatalf("copy %d got %q, want %q", i, got.Content, first)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("engine ran %d times for one message, want 1", n)
	}
}

// TestTwoReplicas sends the same callback to two replicas sharing Redis
// and the database at once: one handles it, both answer the same reply.
func TestTwoReplicas(t *testing.T) {
	b := newBackends(t)
	var calls atomic.Int32
	// The engine holds the first copy until both have been sent, so the
	// second arrives while the first is working.
	var sent atomic.Pointer[sync.WaitGroup]
	slow := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		sent.Load().Wait()
		return testEngine(t).HandleEvent(ctx, ev)
	})
	r1 := newReplica(t, b, handlertest.Counting(&calls, slow), Config{}, nil)
	r2 := newReplica(t, b, handlertest.Counting(&calls, slow), Config{}, nil)
	for i := range 5 {
		msg := r1.sim(false).TextXML("o-two", "营业时间", NewMsgID()+int64(i))
		var wg, copies sync.WaitGroup
		copies.Add(2)
		sent.Store(&copies)
		replies := make([]SimReply, 2)
		errs := make([]error, 2)
		for j, r := range []*replica{r1, r2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				copies.Done()
				replies[j], errs[j] = r.sim(false).Post(t.Context(), msg)
			}()
		}
		wg.Wait()
		for j := range 2 {
			if errs[j] != nil {
				t.Fatal(errs[j])
			}
			if replies[j].Content != "我们每天 9:00-21:00 营业" {
				t.Fatalf("replica %d answered %q", j+1, replies[j].Content)
			}
		}
	}
	if n := calls.Load(); n != 5 {
		t.Fatalf("engine ran %d times for 5 messages sent to two replicas, want 5", n)
	}
}

// TestLateReplyGoesThroughOutbox: an engine slower than the reply budget
// gets "success" at once and its reply is sent as a customer-service
// message through the outbox.
func TestLateReplyGoesThroughOutbox(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	sender := newTestSender(t, b)
	// The engine answers only once the callback has been answered
	// "success", so it is late whatever the machine's speed.
	answered := make(chan struct{})
	slow := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		<-answered
		return testEngine(t).HandleEvent(ctx, ev)
	})
	r := newReplica(t, b, slow, Config{ReplyBudget: 20 * time.Millisecond}, map[bot.Platform]bot.Sender{bot.WeChat: sender})
	req, err := r.sim(false).Request(t.Context(), r.sim(false).TextXML("o-late", "营业时间", NewMsgID()))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req) // returns once the answer's header is flushed
	close(answered)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(raw)) != "success" {
		t.Fatalf("late reply answered %d %q, want success", resp.StatusCode, raw)
	}
	// Close waits for the callback's handler, which queues the late reply
	// before it returns.
	r.srv.Close()
	if _, err := r.outbox.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []sentMessage{{ToUser: "o-late", MsgType: "text", Text: "我们每天 9:00-21:00 营业"}}
	if got := api.messages(); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("API received %+v, want %+v", got, want)
	}
}

func newTestSender(t *testing.T, b backends) *Sender {
	t.Helper()
	tokens := redisstore.NewTokenCache(b.rdb)
	oa := officialaccount.NewOfficialAccount(&offConfig.Config{AppID: testAppID, AppSecret: testSecret, Token: testToken, EncodingAESKey: testAESKey, Cache: tokens, UseStableAK: true})
	return NewSender(oa, tokens, testAppID)
}

// TestParseCallbackQuery: the hand-rolled query reader agrees with
// url.ParseQuery on what WeChat sends and on odd input.
func TestParseCallbackQuery(t *testing.T) {
	for _, raw := range []string{
		"signature=abc&timestamp=1700000000&nonce=42&openid=o1&encrypt_type=aes&msg_signature=def",
		"signature=f464b24fc39322e44b38aa78f5edd27bd1441696&echostr=4375120948345356249&timestamp=1714036504&nonce=1514711492",
		"nonce=a%20b&timestamp=1+2&signature=%2Fx",
		"timestamp=1&timestamp=2&nonce",
		"",
		"&&=x&nonce=%zz",
	} {
		got := parseCallbackQuery(raw)
		v, _ := url.ParseQuery(raw)
		want := callbackQuery{v.Get("timestamp"), v.Get("nonce"), v.Get("signature"), v.Get("msg_signature"), v.Get("encrypt_type"), v.Get("echostr")}
		if raw == "&&=x&nonce=%zz" {
			want.nonce = "%zz" // url.ParseQuery drops a bad escape; siyu keeps the raw value, which then fails the signature
		}
		if got != want {
			t.Errorf("parseCallbackQuery(%q) = %+v, want %+v", raw, got, want)
		}
	}
}
