package douyin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/window"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/internal/handlertest"
	"github.com/siyu-bot/siyu/store/redisstore"
)

// TestPrivateReplyOnce: one customer message posted as Douyin retries it
// (same Msg-Id, 3 more times) to two replicas sharing the database and
// Redis gets its keyword reply exactly once, and the fake OpenAPI checks
// it is a proper reply to that message.
func TestPrivateReplyOnce(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	clk := newClock()
	var calls atomic.Int32
	// The engine holds the first copy until all three have been sent, so
	// the others arrive while it is working.
	var sent sync.WaitGroup
	sent.Add(3)
	slow := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		sent.Wait()
		return testEngine(t).HandleEvent(ctx, ev)
	})
	r1 := newReplica(t, b, handlertest.Counting(&calls, slow), api, clk)
	r2 := newReplica(t, b, handlertest.Counting(&calls, slow), api, clk)

	body := textMessage(t, "u-1", "@srv-1", "请问营业时间？", clk.Now())
	var wg sync.WaitGroup
	for _, r := range []*replica{r1, r2, r1} {
		wg.Go(func() { sent.Done(); r.mustPost(t, body, "msgid-1") })
	}
	wg.Wait()
	r2.mustPost(t, body, "msgid-1") // a late retry
	if n := calls.Load(); n != 1 {
		t.Fatalf("engine ran %d times for one message, want 1", n)
	}
	r1.deliver(t)
	r2.deliver(t)

	want := sentMessage{Account: testAccount, To: "u-1", ReplyTo: "@srv-1", ConversationID: conversationOf("u-1"), Scene: SceneReply, Text: hoursReply}
	if got := api.messages(); len(got) != 1 || got[0] != want {
		t.Fatalf("API received %+v, want exactly %+v", got, want)
	}
	if tokens, _ := api.counts(); tokens != 1 {
		t.Fatalf("client token fetched %d times, want 1 (shared through Redis)", tokens)
	}
}

// TestUnmatchedTextGetsFallback: 1:1 chats get the fallback reply, as on
// WeChat.
func TestUnmatchedTextGetsFallback(t *testing.T) {
	api := newFakeAPI(t)
	clk := newClock()
	r := newReplica(t, newBackends(t), testEngine(t), api, clk)
	r.mustPost(t, textMessage(t, "u-2", "@srv-2", "今天天气怎么样", clk.Now()), "msgid-2")
	r.deliver(t)
	if got := api.messages(); len(got) != 1 || got[0].Text != fallback {
		t.Fatalf("API received %+v, want the fallback reply", got)
	}
}

// TestGroupJoinBatchGetsOneWelcome: several members joining a fan group
// within the engine's window get one welcome, sent when the window ends.
func TestGroupJoinBatchGetsOneWelcome(t *testing.T) {
	api := newFakeAPI(t)
	clk := newClock()
	var calls atomic.Int32
	r := newReplica(t, newBackends(t), handlertest.Counting(&calls, testEngine(t)), api, clk)
	at := clk.Now()
	for i := range 4 {
		user := fmt.Sprintf("fan-%d", i)
		r.mustPost(t, groupJoin(t, "g-1", user, at), "join-"+user)
		r.mustPost(t, groupJoin(t, "g-1", user, at), "join-"+user) // retried
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("engine ran %d times for 4 joins, want 4", n)
	}
	r.deliver(t)
	if got := api.messages(); len(got) != 0 {
		t.Fatalf("welcome sent before the window ended: %+v", got)
	}
	clk.Add(2 * time.Minute) // past the engine's 1-minute window
	r.deliver(t)
	want := sentMessage{Account: testAccount, Group: "g-1", Text: welcomeGroup}
	if got := api.messages(); len(got) != 1 || got[0] != want {
		t.Fatalf("API received %+v, want one %+v", got, want)
	}
}

// TestGroupKeywordReply: a keyword in a fan group is answered in the
// group; other group chatter is not (no fallback in groups).
func TestGroupKeywordReply(t *testing.T) {
	api := newFakeAPI(t)
	clk := newClock()
	r := newReplica(t, newBackends(t), testEngine(t), api, clk)
	r.mustPost(t, groupMessage(t, "g-2", "fan-1", "@g-1", "几点开门呀", clk.Now()), "gmsg-1")
	r.mustPost(t, groupMessage(t, "g-2", "fan-2", "@g-2", "大家好", clk.Now()), "gmsg-2")
	r.deliver(t)
	want := sentMessage{Account: testAccount, Group: "g-2", Text: hoursReply}
	if got := api.messages(); len(got) != 1 || got[0] != want {
		t.Fatalf("API received %+v, want one %+v", got, want)
	}
}

// TestWebhookRejects: what fails verification or parsing is refused and
// reaches neither the engine nor the outbox.
func TestWebhookRejects(t *testing.T) {
	api := newFakeAPI(t)
	clk := newClock()
	var calls atomic.Int32
	r := newReplica(t, newBackends(t), handlertest.Counting(&calls, testEngine(t)), api, clk)
	good := textMessage(t, "u-3", "@srv-3", "营业时间", clk.Now())
	tests := []struct {
		name string
		body []byte
		sig  string
		want int
	}{
		{"bad signature", good, strings.Repeat("0", 40), http.StatusUnauthorized},
		{"no signature", good, "", http.StatusUnauthorized},
		{"signed with another secret", good, Sign("other-secret", good), http.StatusUnauthorized},
		{"body changed after signing", []byte(strings.Replace(string(good), "营业时间", "优惠券", 1)), Sign(testSecret, good), http.StatusUnauthorized},
		{"malformed JSON, signed", []byte(`{"event":"im_receive_msg",`), "", http.StatusBadRequest},
		{"content of the wrong type, signed", []byte(`{"event":"im_receive_msg","from_user_id":"u-3","content":42}`), "", http.StatusBadRequest},
		{"message without its id, signed", []byte(`{"event":"im_receive_msg","from_user_id":"u-3","content":{"text":"营业时间"}}`), "", http.StatusBadRequest},
		{"message without create_time, signed", []byte(`{"event":"im_receive_msg","from_user_id":"u-3","to_user_id":"acct","content":{"server_message_id":"@srv-no-time","message_type":"text","text":"营业时间"}}`), "", http.StatusBadRequest},
		{"group message without create_time, signed", []byte(`{"event":"im_group_receive_msg","from_user_id":"u-3","to_user_id":"acct","content":{"group_id":"g-1","server_message_id":"@gsrv-no-time","text":"营业时间"}}`), "", http.StatusBadRequest},
		{"sender id over bot.MaxIDLen, signed", textMessage(t, strings.Repeat("u", bot.MaxIDLen+1), "@srv-long", "营业时间", clk.Now()), "", http.StatusBadRequest},
		{"message id over bot.MaxIDLen, signed", textMessage(t, "u-3", strings.Repeat("@", bot.MaxIDLen+1), "营业时间", clk.Now()), "", http.StatusBadRequest},
		{"member id over bot.MaxIDLen, signed", groupJoin(t, "g-long", strings.Repeat("m", bot.MaxIDLen+1), clk.Now()), "", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sig := tc.sig
			if sig == "" && tc.want == http.StatusBadRequest {
				sig = Sign(testSecret, tc.body)
			}
			if got := r.postSigned(t, tc.body, "reject-"+tc.name, sig); got != tc.want {
				t.Fatalf("status = %d, want %d", got, tc.want)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d refused webhooks reached the engine, want 0", n)
	}
	if rows := r.rows(t, ""); len(rows) != 0 {
		t.Fatalf("refused webhooks queued %d actions", len(rows))
	}
}

// TestIgnoredEvents: echoes of the account's own sends and events siyu
// does not act on are acknowledged without running the engine.
func TestIgnoredEvents(t *testing.T) {
	api := newFakeAPI(t)
	clk := newClock()
	var calls atomic.Int32
	r := newReplica(t, newBackends(t), handlertest.Counting(&calls, testEngine(t)), api, clk)
	tests := []struct {
		name string
		body []byte
	}{
		{"own private send", ownSend(t, "u-4", "@own-1", hoursReply)},
		{"own group send", webhook(t, eventGroupSend, testAccount, "", map[string]any{"group_id": "g-1", "text": "hi"}, true)},
		{"authorization", webhook(t, "authorize", "u-4", "", map[string]any{"scopes": []string{"im.direct_message"}}, false)},
		{"private image", imageMessage(t, "u-4", "@img-1", clk.Now())},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { r.mustPost(t, tc.body, "ignored-"+tc.name) })
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("engine ran %d times, want 0", n)
	}
}

// TestFailedSendIsRetried: a send Douyin fails for a transient reason is
// retried by the outbox and delivered once.
func TestFailedSendIsRetried(t *testing.T) {
	tests := []struct {
		name    string
		failure int64
	}{
		{"system busy", 28001005},
		{"rate limited", 28003018},
		{"HTTP 500", httpFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			clk := newClock()
			r := newReplica(t, newBackends(t), testEngine(t), api, clk)
			api.failNext(tc.failure)
			r.mustPost(t, textMessage(t, "u-5", "@srv-5", "营业时间", clk.Now()), "msgid-5")
			r.deliver(t)
			if got := api.messages(); len(got) != 0 {
				t.Fatalf("delivered %+v despite the failure", got)
			}
			if pending := r.rows(t, bot.OutboxPending); len(pending) != 1 || pending[0].LastError == "" {
				t.Fatalf("pending rows %+v, want the failed one with its error", pending)
			}
			clk.Add(time.Minute) // past the backoff
			r.deliver(t)
			if got := api.messages(); len(got) != 1 || got[0].Text != hoursReply {
				t.Fatalf("API received %+v, want the reply once", got)
			}
			if _, attempts := api.counts(); attempts != 2 {
				t.Fatalf("send attempts = %d, want 2", attempts)
			}
		})
	}
}

// TestRecalledReplyNotSent: a reply still queued when the customer
// recalls the message is not sent, and staff see why.
func TestRecalledReplyNotSent(t *testing.T) {
	api := newFakeAPI(t)
	clk := newClock()
	r := newReplica(t, newBackends(t), testEngine(t), api, clk)
	r.mustPost(t, textMessage(t, "u-6", "@srv-6", "营业时间", clk.Now()), "msgid-6")
	r.mustPost(t, recall(t, "u-6", "@srv-6"), "recall-6")
	r.deliver(t)
	if got := api.messages(); len(got) != 0 {
		t.Fatalf("API received %+v for a recalled message", got)
	}
	dead := r.rows(t, bot.OutboxDead)
	if len(dead) != 1 || !strings.Contains(dead[0].LastError, "recalled") {
		t.Fatalf("dead rows %+v, want the reply with a 'recalled' error", dead)
	}
	if _, attempts := api.counts(); attempts != 0 {
		t.Fatalf("%d send attempts for a recalled message, want 0", attempts)
	}
	// The customer writes again: the conversation is answerable again.
	r.mustPost(t, textMessage(t, "u-6", "@srv-6b", "营业时间", clk.Now()), "msgid-6b")
	r.deliver(t)
	if got := api.messages(); len(got) != 1 || got[0].ReplyTo != "@srv-6b" {
		t.Fatalf("API received %+v, want the reply to the new message", got)
	}
}

// TestQueuedRepliesAnswerTheirOwnMessages: two messages from one
// customer are each answered with their own msg_id, and recalling the
// first stops only the first's queued reply.
func TestQueuedRepliesAnswerTheirOwnMessages(t *testing.T) {
	tests := []struct {
		name    string
		recall  bool
		want    []string // msg_id of each reply sent
		wantErr string   // LastError of the one dead-lettered reply, if any
	}{
		{"both answered, each naming its message", false, []string{"@m1", "@m2"}, ""},
		{"the first recalled while its reply is queued", true, []string{"@m2"}, "recalled"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			clk := newClock()
			r := newReplica(t, newBackends(t), testEngine(t), api, clk)
			user := fmt.Sprintf("u-13-%d", i)
			r.mustPost(t, textMessage(t, user, "@m1", "营业时间", clk.Now()), user+"-1")
			clk.Add(time.Second)
			r.mustPost(t, textMessage(t, user, "@m2", "几点开门", clk.Now()), user+"-2")
			if tc.recall {
				r.mustPost(t, recall(t, user, "@m1"), user+"-recall")
			}
			if pending := r.rows(t, bot.OutboxPending); len(pending) != 2 {
				t.Fatalf("pending rows %+v, want both replies queued", pending)
			}
			r.deliver(t)
			var got []string
			for _, m := range api.messages() {
				if m.To != user || m.Scene != SceneReply || m.Text != hoursReply {
					t.Fatalf("API received %+v, want a reply to %s", m, user)
				}
				got = append(got, m.ReplyTo)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("replies sent with msg_id %v, want %v", got, tc.want)
			}
			dead := r.rows(t, bot.OutboxDead)
			if tc.wantErr == "" {
				if len(dead) != 0 {
					t.Fatalf("dead rows %+v, want none", dead)
				}
				return
			}
			if len(dead) != 1 || !strings.Contains(dead[0].LastError, tc.wantErr) {
				t.Fatalf("dead rows %+v, want one with %q", dead, tc.wantErr)
			}
			a, err := bot.UnmarshalAction(dead[0].Payload)
			if err != nil {
				t.Fatal(err)
			}
			if r, ok := a.(bot.Reply); !ok || r.InReplyTo != "@m1" {
				t.Fatalf("dead-lettered %+v, want the reply to @m1", a)
			}
		})
	}
}

// TestRecallBeforeAnswer: a message whose recall arrived first (webhooks
// are unordered), or arrives while the engine runs, is not answered.
func TestRecallBeforeAnswer(t *testing.T) {
	t.Run("recall first", func(t *testing.T) {
		api := newFakeAPI(t)
		clk := newClock()
		var calls atomic.Int32
		r := newReplica(t, newBackends(t), handlertest.Counting(&calls, testEngine(t)), api, clk)
		r.mustPost(t, recall(t, "u-7", "@srv-7"), "recall-7")
		r.mustPost(t, textMessage(t, "u-7", "@srv-7", "营业时间", clk.Now()), "msgid-7")
		if n := calls.Load(); n != 1 { // the recall event itself
			t.Fatalf("engine ran %d times, want 1 (the recall only)", n)
		}
		if rows := r.rows(t, ""); len(rows) != 0 {
			t.Fatalf("queued %+v for a recalled message", rows)
		}
	})
	t.Run("recall while the engine runs", func(t *testing.T) {
		api := newFakeAPI(t)
		clk := newClock()
		var r *replica
		var once sync.Once
		engine := testEngine(t)
		h := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
			if ev.Kind == bot.KindMessage {
				once.Do(func() { r.mustPost(t, recall(t, "u-8", "@srv-8"), "recall-8") })
			}
			return engine.HandleEvent(ctx, ev)
		})
		r = newReplica(t, newBackends(t), h, api, clk)
		r.mustPost(t, textMessage(t, "u-8", "@srv-8", "营业时间", clk.Now()), "msgid-8")
		if rows := r.rows(t, ""); len(rows) != 0 {
			t.Fatalf("queued %+v for a message recalled while it was answered", rows)
		}
	})
}

// TestOutsideReplyWindow: a reply that would go out more than 24 h after
// the customer's message is refused before any call, and dead-lettered
// with the reason.
func TestOutsideReplyWindow(t *testing.T) {
	api := newFakeAPI(t)
	clk := newClock()
	r := newReplica(t, newBackends(t), testEngine(t), api, clk)
	r.mustPost(t, textMessage(t, "u-9", "@srv-9", "营业时间", clk.Now()), "msgid-9")
	clk.Add(25 * time.Hour) // the outbox was down for a day
	r.deliver(t)
	dead := r.rows(t, bot.OutboxDead)
	if len(dead) != 1 || !strings.Contains(dead[0].LastError, "outside the reply window") {
		t.Fatalf("dead rows %+v, want the reply refused as outside the reply window", dead)
	}
	if _, attempts := api.counts(); attempts != 0 {
		t.Fatalf("%d send attempts outside the window, want 0", attempts)
	}
}

// TestImageOpensWindow: a private image is not answered but counts as
// the customer's last message, so a later reply answers it.
func TestImageOpensWindow(t *testing.T) {
	api := newFakeAPI(t)
	clk := newClock()
	b := newBackends(t)
	r := newReplica(t, b, testEngine(t), api, clk)
	r.mustPost(t, imageMessage(t, "u-10", "@img-10", clk.Now()), "img-10")
	s, _ := newTestSender(t, b.rdb, api, clk)
	if err := s.Send(t.Context(), reply("u-10", "收到图片")); err != nil {
		t.Fatal(err)
	}
	if got := api.messages(); len(got) != 1 || got[0].ReplyTo != "@img-10" || got[0].Scene != SceneReply {
		t.Fatalf("API received %+v, want a reply to the image", got)
	}
}

// TestEnterChatThenGreeting: opening the chat is recorded, so a message
// within 30 s goes out in the enter scene, answering the event.
func TestEnterChatThenGreeting(t *testing.T) {
	api := newFakeAPI(t)
	clk := newClock()
	b := newBackends(t)
	var calls atomic.Int32
	r := newReplica(t, b, handlertest.Counting(&calls, testEngine(t)), api, clk)
	r.mustPost(t, enterChat(t, "u-11", "@enter-11", clk.Now()), "enter-11")
	if n := calls.Load(); n != 1 {
		t.Fatalf("engine ran %d times, want 1", n)
	}
	if rows := r.rows(t, ""); len(rows) != 0 {
		t.Fatalf("the engine answers nothing to an opened chat yet, but %d actions were queued", len(rows))
	}
	s, _ := newTestSender(t, b.rdb, api, clk)
	clk.Add(10 * time.Second)
	if err := s.Send(t.Context(), reply("u-11", "你好")); err != nil {
		t.Fatal(err)
	}
	want := sentMessage{Account: testAccount, To: "u-11", ReplyTo: "@enter-11", ConversationID: conversationOf("u-11"), Scene: SceneEnter, Text: "你好"}
	if got := api.messages(); len(got) != 1 || got[0] != want {
		t.Fatalf("API received %+v, want %+v", got, want)
	}
}

// flakyOutbox fails its first Enqueue, as a database outage would.
type flakyOutbox struct {
	mu     sync.Mutex
	failed bool
	got    [][]bot.Action
}

func (o *flakyOutbox) Enqueue(_ context.Context, _ string, actions []bot.Action) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.failed {
		o.failed = true
		return fmt.Errorf("database down: %w", bot.ErrUnavailable)
	}
	o.got = append(o.got, actions)
	return nil
}

// TestUnstoredActionsAskForRetry: when the actions cannot be stored the
// webhook answers 5xx, so Douyin retries; the retry stores the answer the
// engine gave the first time, without running it again.
func TestUnstoredActionsAskForRetry(t *testing.T) {
	b := newBackends(t)
	clk := newClock()
	logger := bottest.Logger(t)
	var calls atomic.Int32
	chain := bot.Chain(handlertest.Counting(&calls, testEngine(t)), bot.Validate(),
		bot.Dedupe(redisstore.NewDeduper(b.rdb), bot.DedupeConfig{TTL: time.Hour}, logger))
	ob := &flakyOutbox{}
	wh, err := New(Config{ClientKey: testClientKey, ClientSecret: testSecret, Now: clk.Now}, chain, ob, redisstore.NewDouyinState(b.rdb, window.DefaultLimits()), logger)
	if err != nil {
		t.Fatal(err)
	}
	e := handlers.NewEcho(logger)
	wh.Register(e.Group(""))
	r := &replica{srv: httptest.NewServer(e)}
	t.Cleanup(r.srv.Close)

	body := textMessage(t, "u-12", "@srv-12", "营业时间", clk.Now())
	if code := r.post(t, body, "msgid-12"); code < 500 {
		t.Fatalf("first delivery answered %d, want 5xx so Douyin retries", code)
	}
	r.mustPost(t, body, "msgid-12")
	if n := calls.Load(); n != 1 {
		t.Fatalf("engine ran %d times, want 1", n)
	}
	if len(ob.got) != 1 || len(ob.got[0]) != 1 {
		t.Fatalf("stored %+v, want the one reply", ob.got)
	}
	if text, _ := bot.TextOf(ob.got[0][0]); text != hoursReply {
		t.Fatalf("stored %q, want %q", text, hoursReply)
	}
}
