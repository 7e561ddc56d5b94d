package douyin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/labstack/echo/v4/middleware"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/window"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/internal/handlertest"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// The project's own test application. Douyin publishes no credentials
// to test with.
const (
	testClientKey = "awsiyutestkey"
	testSecret    = "siyu-test-secret"
	testAccount   = "acct-open-id" // the enterprise account's open_id
)

// Replies of testScripts.
const (
	hoursReply   = "我们每天 9:00-21:00 营业"
	welcomeGroup = "欢迎新朋友入群🎉"
	fallback     = "抱歉没听懂，回复「人工」联系客服"
)

func testScripts() fstest.MapFS {
	return fstest.MapFS{
		"welcome.yaml": {Data: []byte(`
welcome:
  group: "` + welcomeGroup + `"
fallback: "` + fallback + `"
`)},
		"faq.yaml": {Data: []byte(`
rules:
  - name: opening-hours
    match: {contains: ["营业时间", "几点开门"]}
    reply: "` + hoursReply + `"
`)},
	}
}

func testEngine(t *testing.T) *bot.Engine { return handlertest.Engine(t, testScripts()) }

// newClock returns a settable time shared by replicas, senders and
// outboxes.
func newClock() *bottest.Clock {
	return bottest.NewClock(time.Now().Truncate(time.Millisecond))
}

// backends are the database and Redis that replicas share.
type backends struct {
	db  *sqlstore.DB
	rdb *redisstore.Client
}

func newBackends(t *testing.T) backends {
	return backends{db: storetest.SQL(t), rdb: storetest.Redis(t)}
}

func newTestSender(t *testing.T, rdb *redisstore.Client, api *fakeAPI, clk *bottest.Clock) (*Sender, *redisstore.DouyinState) {
	t.Helper()
	client, err := NewClient(ClientConfig{BaseURL: api.URL, ClientKey: testClientKey, ClientSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	state := redisstore.NewDouyinState(rdb, window.DefaultLimits())
	return NewSender(SenderConfig{
		API: client, Tokens: NewClientTokens(client, redisstore.NewTokenCache(rdb), rdb.Lock),
		Windows: state, Now: clk.Now, Logger: bottest.Logger(t),
	}), state
}

// replica is one siyu process's Douyin path: Echo, the webhook handler
// behind Dedupe, the sender and the outbox, on storage replicas share.
type replica struct {
	srv    *httptest.Server
	outbox *bot.Outbox
	store  *sqlstore.Outbox
}

func newReplica(t *testing.T, b backends, h bot.Handler, api *fakeAPI, clk *bottest.Clock) *replica {
	t.Helper()
	logger := bottest.Logger(t)
	chain := bot.Chain(h, bot.Recover(logger), bot.Validate(),
		bot.Dedupe(redisstore.NewDeduper(b.rdb), bot.DedupeConfig{TTL: time.Hour}, logger))
	sender, state := newTestSender(t, b.rdb, api, clk)
	store := sqlstore.NewOutbox(b.db)
	ob := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.Douyin: sender},
		bot.OutboxConfig{Now: clk.Now, Logger: logger, Backoff: time.Second, MaxBackoff: time.Second})
	wh, err := New(Config{ClientKey: testClientKey, ClientSecret: testSecret, Now: clk.Now}, chain, ob, state, logger)
	if err != nil {
		t.Fatal(err)
	}
	e := handlers.NewEcho(logger)
	g := e.Group("")
	g.Use(middleware.BodyLimit("1M"))
	wh.Register(g)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &replica{srv: srv, outbox: ob, store: store}
}

// post signs body as Douyin does and posts it with Msg-Id msgID (none
// when empty). It returns the status.
func (r *replica) post(t *testing.T, body []byte, msgID string) int {
	t.Helper()
	return r.postSigned(t, body, msgID, Sign(testSecret, body))
}

func (r *replica) postSigned(t *testing.T, body []byte, msgID, signature string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+WebhookPath, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set(SignatureHeader, signature)
	}
	if msgID != "" {
		req.Header.Set(MsgIDHeader, msgID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// mustPost posts and fails the test unless Douyin would get a 200.
func (r *replica) mustPost(t *testing.T, body []byte, msgID string) {
	t.Helper()
	if code := r.post(t, body, msgID); code != http.StatusOK {
		t.Fatalf("webhook answered %d, want 200", code)
	}
}

// deliver runs the outbox until nothing is due.
func (r *replica) deliver(t *testing.T) {
	t.Helper()
	for range 5 {
		n, err := r.outbox.RunOnce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func (r *replica) rows(t *testing.T, status bot.OutboxStatus) []bot.OutboxItem {
	t.Helper()
	items, err := r.store.List(t.Context(), status, 100)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// Webhook bodies, in the documented common shape. Message contents go as
// objects and event contents as strings, as in Douyin's own examples.

func webhook(t *testing.T, event, from, to string, content any, asString bool) []byte {
	t.Helper()
	c := content
	if asString {
		b, err := json.Marshal(content)
		if err != nil {
			t.Fatal(err)
		}
		c = string(b)
	}
	b, err := json.Marshal(map[string]any{"event": event, "client_key": testClientKey, "from_user_id": from, "to_user_id": to, "content": c, "log_id": "log-" + event})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func conversationOf(user string) string { return "@conv-" + user }

func textMessage(t *testing.T, user, msgID, text string, at time.Time) []byte {
	return webhook(t, eventReceive, user, testAccount, map[string]any{
		"conversation_short_id": conversationOf(user), "server_message_id": msgID, "conversation_type": 1,
		"message_type": "text", "text": text, "source": "", "create_time": at.UnixMilli(),
		"user_infos": []map[string]string{{"open_id": user, "nick_name": "NICK", "avatar": "AVATAR"}},
	}, false)
}

func imageMessage(t *testing.T, user, msgID string, at time.Time) []byte {
	return webhook(t, eventReceive, user, testAccount, map[string]any{
		"conversation_short_id": conversationOf(user), "server_message_id": msgID, "conversation_type": 1,
		"message_type": "image", "create_time": at.UnixMilli(),
	}, false)
}

func enterChat(t *testing.T, user, msgID string, at time.Time) []byte {
	return webhook(t, eventEnter, user, testAccount, map[string]any{
		"conversation_short_id": conversationOf(user), "server_message_id": msgID, "conversation_type": 1, "create_time": at.UnixMilli(),
	}, true)
}

func recall(t *testing.T, user, msgID string) []byte {
	return webhook(t, eventRecall, user, testAccount, map[string]any{"server_message_id": msgID}, true)
}

func ownSend(t *testing.T, user, msgID, text string) []byte {
	return webhook(t, eventSend, testAccount, user, map[string]any{
		"conversation_short_id": conversationOf(user), "server_message_id": msgID, "message_type": "text", "text": text, "source": testClientKey,
	}, false)
}

func groupMessage(t *testing.T, group, user, msgID, text string, at time.Time) []byte {
	return webhook(t, eventGroupReceive, user, testAccount, map[string]any{
		"conversation_short_id": group, "server_message_id": msgID, "conversation_type": 2, "owner_id": testAccount,
		"message_type": "text", "text": text, "create_time": at.UnixMilli(),
	}, true)
}

func groupJoin(t *testing.T, group, user string, at time.Time) []byte {
	return webhook(t, eventGroupJoin, user, testAccount, map[string]any{
		"im_group_id": group, "open_id": testAccount, "group_type": 1, "create_time": at.UnixMilli(),
	}, true)
}
