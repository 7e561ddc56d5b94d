package wecom

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/labstack/echo/v4/middleware"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/internal/handlertest"
	"github.com/siyu-bot/siyu/handlers/internal/wxcrypt"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// The corp of Tencent's published WeCom samples (vectors.json
// wecom-sample-*), so callbacks use a real key and corp id.
const (
	testCorp          = "wx5823bf96d3bd56c7"
	testToken         = "QDG6eK"
	testAESKey        = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	testAgent         = "1000002"
	testSecret        = "test-app-secret"
	testContactSecret = "test-contact-secret"
)

var testScripts = fstest.MapFS{
	"welcome.yaml": {Data: []byte(`
welcome:
  contact: "你好，我是店长助理"
  group: "欢迎 %NICKNAME% 入群🎉"
channels:
  - state: store-shanghai-01
    name: 上海门店
    welcome: "欢迎来到上海门店！回复「签到」每天领积分"
    tags: [门店, 上海]
  - state: store-beijing-01
    name: 北京门店
    welcome: "欢迎来到北京门店"
fallback: "抱歉没听懂，回复「人工」联系客服"
`)},
	"faq.yaml": {Data: []byte(`
rules:
  - name: opening-hours
    match: {contains: ["营业时间"]}
    reply: "我们每天 9:00-21:00 营业"
`)},
}

func testLibrary(t *testing.T) *bot.Library { return handlertest.Library(t, testScripts) }

// recorder is the engine as tests see it: it counts the events that reach
// it (the side effects, past Dedupe) and keeps them.
type recorder struct {
	h  bot.Handler
	mu sync.Mutex
	ev []bot.Event
}

func (r *recorder) HandleEvent(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
	r.mu.Lock()
	r.ev = append(r.ev, ev)
	r.mu.Unlock()
	return r.h.HandleEvent(ctx, ev)
}

func (r *recorder) events() []bot.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bot.Event(nil), r.ev...)
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{h: bot.NewEngine(bot.EngineConfig{Scripts: testLibrary(t), Pick: func(int) int { return 0 }})}
}

// testStore adapts sqlstore.WeCom to this package's interfaces, as main
// does (platforms.go).
type testStore struct{ *sqlstore.WeCom }

func (s testStore) ClaimContact(ctx context.Context, c ContactRecord) (bool, error) {
	return s.WeCom.ClaimContact(ctx, sqlstore.WeComContact(c))
}

func (s testStore) ApplyGroupChange(ctx context.Context, ch GroupChange) error {
	return s.WeCom.ApplyGroupChange(ctx, sqlstore.WeComGroupChange(ch))
}

func (s testStore) Templates(ctx context.Context, corpID string) ([]Template, error) {
	ts, err := s.WeCom.Templates(ctx, corpID)
	out := make([]Template, len(ts))
	for i, t := range ts {
		out[i] = Template(t)
	}
	return out, err
}

// Interface guards: the store serves every interface of the package.
var (
	_ ContactStore  = testStore{}
	_ GroupStore    = testStore{}
	_ KFStore       = testStore{}
	_ KFLimits      = testStore{}
	_ TemplateStore = testStore{}
	_ Locker        = (*redisstore.Client)(nil)
)

// backends are what replicas share: the database and Redis.
type backends struct {
	db    *sqlstore.DB
	rdb   *redisstore.Client
	store testStore
}

func newBackends(t *testing.T) backends {
	t.Helper()
	db := storetest.SQL(t)
	s, err := sqlstore.NewWeCom(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return backends{db: db, rdb: storetest.Redis(t), store: testStore{s}}
}

// replica is one siyu process's WeCom path: Echo, handler, dedupe, the
// outbox with the WeCom and staff senders, and the 微信客服 puller, on
// storage that replicas share.
type replica struct {
	srv    *httptest.Server
	h      *Handler
	kf     *KFPuller
	outbox *bot.Outbox
	clock  *bottest.Clock // the outbox's, to reach batched rows
}

type replicaOpts struct {
	cfg      Config
	alertTo  []string
	identity func(contact *Client) IdentityLearner // given the 客户联系 client
}

func newReplica(t *testing.T, b backends, engine bot.Handler, o replicaOpts) *replica {
	t.Helper()
	logger := bottest.Logger(t)
	chain := bot.Chain(engine, bot.Recover(logger), bot.Validate(),
		bot.Dedupe(redisstore.NewDeduper(b.rdb), bot.DedupeConfig{TTL: time.Hour}, logger))
	tokens := redisstore.NewTokenCache(b.rdb)
	app := NewClient(testCorp, testSecret, testAgent, tokens)
	contact := NewClient(testCorp, testContactSecret, "contact", tokens)
	clk := bottest.NewClock(time.Now())
	ob := bot.NewOutbox(sqlstore.NewOutbox(b.db), map[bot.Platform]bot.Sender{
		bot.WeCom: NewSender(app, b.store, SenderConfig{Logger: logger}),
		bot.Staff: NewStaffSender(app, 1000002, o.alertTo, logger),
	}, bot.OutboxConfig{Logger: logger, Now: clk.Now, Backoff: time.Millisecond, MaxBackoff: time.Millisecond})
	kf := NewKFPuller(KFConfig{CorpID: testCorp, RetryBackoff: 10 * time.Millisecond}, app, b.store, b.rdb, chain, ob, logger)
	cfg := o.cfg
	cfg.CorpID, cfg.AgentID, cfg.Token, cfg.EncodingAESKey = testCorp, testAgent, testToken, testAESKey
	if cfg.WelcomeBackoff == 0 {
		cfg.WelcomeBackoff = 20 * time.Millisecond
	}
	h, err := New(cfg, Deps{
		Handler: chain, Outbox: ob, Contacts: b.store, Groups: b.store, Scripts: testLibrary(t),
		Welcomes: contact, KF: kf, Logger: logger, Identity: identityOf(o, contact),
	})
	if err != nil {
		t.Fatal(err)
	}
	ob.SetRenderer(LateRendererName, h.LateRenderer())
	e := handlers.NewEcho(logger)
	g := e.Group("")
	g.Use(middleware.BodyLimit("1M"))
	h.Register(g)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { h.Wait(); kf.Wait() })
	return &replica{srv: srv, h: h, kf: kf, outbox: ob, clock: clk}
}

func identityOf(o replicaOpts, contact *Client) IdentityLearner {
	if o.identity == nil {
		return nil
	}
	return o.identity(contact)
}

// wait lets the replica's background work (welcomes, pulls) finish.
func (r *replica) wait() { r.h.Wait(); r.kf.Wait() }

// drain runs the outbox until nothing is due, with its clock moved past
// every batch window.
func (r *replica) drain(t *testing.T) {
	t.Helper()
	r.clock.Add(time.Hour)
	for range 10 {
		n, err := r.outbox.RunOnce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// post plays WeCom: it encrypts and signs plaintext with the corp's key as
// WeCom does, each copy with a fresh nonce (a retry too), and posts it.
func (r *replica) post(t *testing.T, plaintext string) int {
	t.Helper()
	q, body := seal(t, plaintext)
	return postRaw(t, r.srv.URL, q, body)
}

func seal(t *testing.T, plaintext string) (url.Values, string) {
	t.Helper()
	c, err := wxcrypt.New(testToken, testAESKey, testCorp)
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	enc, sig, err := c.Seal([]byte(plaintext), ts, nonce)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}
	body := "<xml><ToUserName><![CDATA[" + testCorp + "]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt><AgentID><![CDATA[" + testAgent + "]]></AgentID></xml>"
	return q, body
}

func postRaw(t *testing.T, base string, q url.Values, body string) int {
	t.Helper()
	resp, err := http.Post(base+"/wecom/callback?"+q.Encode(), "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Plaintexts of the callbacks WeCom posts, as in its documentation.

func contactXML(created int64, staff, external, state, code string) string {
	return fmt.Sprintf(`<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[%s]]></UserID><ExternalUserID><![CDATA[%s]]></ExternalUserID><State><![CDATA[%s]]></State><WelcomeCode><![CDATA[%s]]></WelcomeCode></xml>`,
		testCorp, created, staff, external, state, code)
}

func chatXML(created int64, chat, changeType, detail string, members ...string) string {
	var items strings.Builder
	for _, m := range members {
		items.WriteString("<Item><![CDATA[" + m + "]]></Item>")
	}
	return fmt.Sprintf(`<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[%s]]></ChatId><ChangeType><![CDATA[%s]]></ChangeType><UpdateDetail><![CDATA[%s]]></UpdateDetail><JoinScene>3</JoinScene><QuitScene>0</QuitScene><MemChangeCnt>%d</MemChangeCnt><MemChangeList>%s</MemChangeList><CurMemVer>v%d</CurMemVer></xml>`,
		testCorp, created, chat, changeType, detail, len(members), items.String(), created)
}

func kfXML(created int64, token, openKfID string) string {
	return fmt.Sprintf(`<xml><ToUserName><![CDATA[%s]]></ToUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[%s]]></Token><OpenKfId><![CDATA[%s]]></OpenKfId></xml>`,
		testCorp, created, token, openKfID)
}

// sharedFile reads the platforms' published material kept in testdata.
func sharedFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("published sample: %v", err) // never skip: see testdata/README.md
	}
	return b
}

// vector is one of the published WeCom crypto samples in vectors.json.
type vector struct {
	ID             string `json:"id"`
	Platform       string `json:"platform"`
	Kind           string `json:"kind"`
	Format         string `json:"format"`
	Token          string `json:"token"`
	EncodingAESKey string `json:"encoding_aes_key"`
	ReceiveID      string `json:"receive_id"`
	Timestamp      string `json:"timestamp"`
	Nonce          string `json:"nonce"`
	MsgSignature   string `json:"msg_signature"`
	Echostr        string `json:"echostr"`
	Encrypt        string `json:"encrypt"`
	PostBody       string `json:"post_body"`
	Plaintext      string `json:"plaintext"`
}

func weComVectors(t *testing.T) map[string]vector {
	t.Helper()
	var f struct{ Vectors []vector }
	if err := json.Unmarshal(sharedFile(t, "vectors.json"), &f); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]vector)
	for _, v := range f.Vectors {
		if v.Platform == "wecom" {
			out[v.ID] = v
		}
	}
	if len(out) == 0 {
		t.Fatal("no WeCom vectors")
	}
	return out
}

func newTestTokens(b backends) *redisstore.TokenCache { return redisstore.NewTokenCache(b.rdb) }
