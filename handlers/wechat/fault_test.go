package wechat

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4/middleware"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/internal/handlertest"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// Fault tests: what a replica does when its budget runs out, its
// handling fails after it answered, or it dies holding a claim. They run
// on the shared MariaDB and Redis when MYSQL_DSN and REDIS_URL are set.

// faultReplica is one siyu process's WeChat path with hooks a fault test
// needs: a Deduper that can be killed and a signal when actions are queued.
type faultReplica struct {
	srv    *httptest.Server
	outbox *bot.Outbox
	dedupe *killableDeduper
	queued chan struct{} // one value per successful, non-empty Enqueue
	dead   *atomic.Bool  // the process is gone: its enqueues fail too (die)
	// noPersist makes storing late events fail (the database is slow).
	noPersist *atomic.Bool
}

// die stands for a SIGKILL: from now on the replica reaches neither Redis
// nor the database. What it already stored stays.
func (r *faultReplica) die() {
	r.dedupe.kill()
	r.dead.Store(true)
}

type faultOptions struct {
	cfg       Config
	dedupe    bot.DedupeConfig
	senders   map[bot.Platform]bot.Sender
	outboxNow func() time.Time // the outbox's clock; nil: time.Now
}

func newFaultReplica(t *testing.T, b backends, h bot.Handler, o faultOptions) *faultReplica {
	t.Helper()
	logger := bottest.Logger(t)
	r := &faultReplica{
		dedupe:    &killableDeduper{Deduper: redisstore.NewDeduper(b.rdb)},
		queued:    make(chan struct{}, 16),
		dead:      new(atomic.Bool),
		noPersist: new(atomic.Bool),
	}
	if o.dedupe.TTL == 0 {
		o.dedupe.TTL = time.Hour
	}
	chain := bot.Chain(h, bot.Recover(logger), bot.Validate(), bot.Dedupe(r.dedupe, o.dedupe, logger))
	r.outbox = bot.NewOutbox(sqlstore.NewOutbox(b.db), o.senders, bot.OutboxConfig{Logger: logger, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, Now: o.outboxNow})
	cfg := o.cfg
	cfg.Token, cfg.EncodingAESKey, cfg.AppID = testToken, testAESKey, testAppID
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = time.Millisecond
	}
	wh, err := New(cfg, chain, signalEnqueuer{r.outbox, r.queued, r.dead, r.noPersist}, logger)
	if err != nil {
		t.Fatal(err)
	}
	e := handlers.NewEcho(logger)
	g := e.Group("")
	g.Use(middleware.BodyLimit("1M"))
	wh.Register(g)
	r.outbox.SetRenderer(LateRendererName, wh.LateRenderer())
	r.srv = httptest.NewServer(e)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *faultReplica) sim() *Simulator {
	return &Simulator{URL: r.srv.URL + "/wechat/callback", Token: testToken, EncodingAESKey: testAESKey, AppID: testAppID, OriginalID: testOrigID}
}

type signalEnqueuer struct {
	o      *bot.Outbox
	queued chan struct{}
	dead   *atomic.Bool
	// noPersist, when set, makes storing late events fail.
	noPersist *atomic.Bool
}

func (s signalEnqueuer) Enqueue(ctx context.Context, key string, actions []bot.Action) error {
	if s.dead != nil && s.dead.Load() || key == "" && s.noPersist != nil && s.noPersist.Load() {
		return bot.ErrUnavailable
	}
	if err := s.o.Enqueue(ctx, key, actions); err != nil {
		return err
	}
	if key == "" {
		return nil // a late event's stored copy (persistLate), not its actions
	}
	for _, a := range actions {
		if a != nil {
			s.queued <- struct{}{}
			break
		}
	}
	return nil
}

// killableDeduper stands for a replica's link to Redis; after kill every
// call fails, as for a process that died: no renewal, no result, no
// release.
//
// With doomed set, the replica instead dies holding the claims of the
// keys doomed names: once it claimed one, every call for that key fails.
type killableDeduper struct {
	bot.Deduper
	dead     atomic.Bool
	doomed   func(key string) bool
	deadKeys sync.Map
	// forgot stands for a Redis restarted without persistence: every
	// claim is first again, and nothing is stored.
	forgot atomic.Bool
	// stall, when set, runs before every Claim: a Redis that does not
	// answer until it returns.
	stall func(ctx context.Context)
	// finished, when set, is told of every result stored, after it is.
	finished func(key string, result []byte)
}

func (k *killableDeduper) kill() { k.dead.Store(true) }

func (k *killableDeduper) forget() { k.forgot.Store(true) }

func (k *killableDeduper) gone(key string) bool {
	_, dead := k.deadKeys.Load(key)
	return k.dead.Load() || dead
}

func (k *killableDeduper) Claim(ctx context.Context, key, token string, lease time.Duration) (bool, []byte, error) {
	if k.stall != nil {
		k.stall(ctx)
	}
	if k.gone(key) {
		return false, nil, bot.ErrUnavailable
	}
	if k.forgot.Load() {
		return true, nil, nil
	}
	first, result, err := k.Deduper.Claim(ctx, key, token, lease)
	if first && k.doomed != nil && k.doomed(key) {
		k.deadKeys.Store(key, true)
	}
	return first, result, err
}

func (k *killableDeduper) Renew(ctx context.Context, key, token string, lease time.Duration) (bool, error) {
	if k.gone(key) {
		return false, bot.ErrUnavailable
	}
	if k.forgot.Load() {
		return true, nil
	}
	return k.Deduper.Renew(ctx, key, token, lease)
}

func (k *killableDeduper) Finish(ctx context.Context, key string, result []byte, ttl time.Duration) error {
	if k.gone(key) || k.forgot.Load() {
		return bot.ErrUnavailable
	}
	if err := k.Deduper.Finish(ctx, key, result, ttl); err != nil {
		return err
	}
	if k.finished != nil {
		k.finished(key, result)
	}
	return nil
}

func (k *killableDeduper) Swap(ctx context.Context, key string, old, result []byte, ttl time.Duration) ([]byte, bool, error) {
	if k.gone(key) || k.forgot.Load() {
		return nil, false, bot.ErrUnavailable
	}
	return k.Deduper.Swap(ctx, key, old, result, ttl)
}

func (k *killableDeduper) Release(ctx context.Context, key, token string) error {
	if k.gone(key) {
		return bot.ErrUnavailable
	}
	if k.forgot.Load() {
		return nil
	}
	return k.Deduper.Release(ctx, key, token)
}

// gate is a channel closed once. Tests also open it in a cleanup
// registered after the servers', so that handlers blocked on it finish
// before the servers close (cleanups run last-registered first).
type gate struct {
	c    chan struct{}
	open func()
}

func newGate() gate {
	c := make(chan struct{})
	return gate{c: c, open: sync.OnceFunc(func() { close(c) })}
}

// guard bounds a wait that the behaviour under test should end, so that
// a regression fails instead of hanging the run. It asserts no timing.
func guard[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("never happened: %s", what)
		panic("unreachable")
	}
}

// postGuarded posts a callback whose answer the engine does not hold up.
func postGuarded(t *testing.T, s *Simulator, plain []byte) (SimReply, error) {
	t.Helper()
	type result struct {
		r   SimReply
		err error
	}
	c := make(chan result, 1)
	go func() {
		r, err := s.Post(t.Context(), plain)
		c <- result{r, err}
	}()
	r := guard(t, c, "the answer to a callback")
	return r.r, r.err
}

// postRaw posts a callback and reads the whole answer.
func postRaw(ctx context.Context, s *Simulator, plain []byte) (*http.Response, []byte, error) {
	req, err := s.Request(ctx, plain)
	if err != nil {
		return nil, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// TestLateSuccessIsCompleteAtOnce (issue 18 item 1): when the reply budget
// runs out, the client gets a whole "success" (a length, the body, the
// end) while the engine is still running; a chunked answer would end only
// when the handler returns, and WeChat would time out and retry.
func TestLateSuccessIsCompleteAtOnce(t *testing.T) {
	b := newBackends(t)
	release := make(chan struct{})
	slow := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		<-release
		return nil, nil
	})
	r := newFaultReplica(t, b, slow, faultOptions{cfg: Config{ReplyBudget: time.Millisecond}})
	t.Cleanup(sync.OnceFunc(func() { close(release) }))
	type answer struct {
		resp *http.Response
		body []byte
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, body, err := postRaw(t.Context(), r.sim(), r.sim().TextXML("o-late", "营业时间", NewMsgID()))
		got <- answer{resp, body, err}
	}()
	// The engine is held until the client has the whole answer: if the
	// answer ended only with the handler, this would never return.
	a := guard(t, got, "the client reading the whole early answer while the engine runs")
	if a.err != nil {
		t.Fatal(a.err)
	}
	if string(a.body) != "success" || a.resp.ContentLength != int64(len("success")) || len(a.resp.TransferEncoding) != 0 {
		t.Fatalf("early answer = %q (length %d, transfer encoding %v), want %q with a Content-Length", a.body, a.resp.ContentLength, a.resp.TransferEncoding, "success")
	}
}

// answeredThen returns a handler that holds the first handling until the
// test opens answered (the client has its early "success"), then answers
// with results[0], the next handling with results[1], and so on.
func answeredThen(answered gate, calls *atomic.Int32, results ...func(ctx context.Context, ev bot.Event) ([]bot.Action, error)) bot.Handler {
	return bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		n := int(calls.Add(1))
		if n == 1 {
			<-answered.c
		}
		return results[min(n, len(results))-1](ctx, ev)
	})
}

func failing(context.Context, bot.Event) ([]bot.Action, error) { return nil, bot.ErrUnavailable }

// TestLateHandlingFailureIsRetried (issue 18 item 2): WeChat got
// "success" and will not retry, so a handling that fails after the budget
// ran out is run again until its actions reach the outbox.
func TestLateHandlingFailureIsRetried(t *testing.T) {
	b := newBackends(t)
	var calls atomic.Int32
	answered := newGate()
	engine := testEngine(t)
	h := answeredThen(answered, &calls, failing, failing, engine.HandleEvent)
	r := newFaultReplica(t, b, h, faultOptions{cfg: Config{ReplyBudget: time.Millisecond}})
	t.Cleanup(answered.open)
	got, err := postGuarded(t, r.sim(), r.sim().TextXML("o-late-fail", "营业时间", NewMsgID()))
	if err != nil || got.MsgType != "" {
		t.Fatalf("answer = %+v, %v; want success", got, err)
	}
	answered.open()
	guard(t, r.queued, "the late reply reaching the outbox")
	if rows := replyRows(t, b); len(rows) != 1 {
		t.Fatalf("outbox holds %d replies, want 1", len(rows))
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("handled %d times, want 3 (two failures, then the reply)", n)
	}
}

// replyRows returns the outbox rows of callbacks' actions, leaving out
// late events' stored copies.
func replyRows(t *testing.T, b backends) []bot.OutboxItem {
	t.Helper()
	return rowsWithPrefix(t, b, "msg:")
}

// rowsWithPrefix returns the outbox rows whose key starts with prefix.
func rowsWithPrefix(t *testing.T, b backends, prefix string) []bot.OutboxItem {
	t.Helper()
	rows, err := sqlstore.NewOutbox(b.db).List(t.Context(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []bot.OutboxItem
	for _, r := range rows {
		if strings.HasPrefix(r.Key, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// TestLateEventSurvivesReplicaDeath (issue 18 item 2): a replica answers
// "success" once its budget runs out and dies before the handling ends;
// WeChat will not retry, but the event stored before that answer is
// handled again by another replica's outbox, once.
func TestLateEventSurvivesReplicaDeath(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	dcfg := bot.DedupeConfig{Lease: 300 * time.Millisecond, Wait: 20 * time.Second, Poll: 5 * time.Millisecond}
	entered := make(chan struct{}, 1)
	death := newGate()
	a := newFaultReplica(t, b, bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		entered <- struct{}{}
		<-death.c
		return nil, bot.ErrUnavailable
	}), faultOptions{dedupe: dcfg, cfg: Config{ReplyBudget: time.Millisecond, ProcessTimeout: time.Second}})
	clk := bottest.NewClock(time.Now())
	var calls atomic.Int32
	replicaB := newFaultReplica(t, b, handlertest.Counting(&calls, testEngine(t)), faultOptions{dedupe: dcfg, outboxNow: clk.Now,
		senders: map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b)}})
	t.Cleanup(death.open)

	got, err := postGuarded(t, a.sim(), a.sim().TextXML("o-late-dead", "营业时间", NewMsgID()))
	if err != nil || got.MsgType != "" {
		t.Fatalf("answer = %+v, %v; want success", got, err)
	}
	guard(t, entered, "replica A handling the callback")
	a.dedupe.kill() // A dies; WeChat got its "success" and will not retry
	if m := b.rdb.Miniredis(); m != nil {
		m.FastForward(dcfg.Lease)
	}
	clk.Add(time.Hour) // past the stored event's due time
	for range 3 {      // the stored event, then the actions it queued
		if _, err := replicaB.outbox.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if sent := api.messages(); len(sent) != 1 || sent[0].Text != "我们每天 9:00-21:00 营业" {
		t.Fatalf("API received %+v, want the reply once", sent)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("replica B handled the event %d times, want 1", n)
	}
}

// TestRetryOfOutboxDeliveredReplyAnswersSuccessOnly (issue 18 item 3): a
// reply that went through the outbox because the budget ran out is not
// also answered passively to WeChat's retry.
func TestRetryOfOutboxDeliveredReplyAnswersSuccessOnly(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	var calls atomic.Int32
	answered := newGate()
	h := answeredThen(answered, &calls, testEngine(t).HandleEvent)
	r := newFaultReplica(t, b, h, faultOptions{
		cfg:     Config{ReplyBudget: time.Millisecond},
		senders: map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b)},
	})
	t.Cleanup(answered.open)
	msg := r.sim().TextXML("o-late-retry", "营业时间", NewMsgID())
	if got, err := postGuarded(t, r.sim(), msg); err != nil || got.MsgType != "" {
		t.Fatalf("first answer = %+v, %v; want success", got, err)
	}
	answered.open()
	guard(t, r.queued, "the late reply reaching the outbox")
	got, err := r.sim().Post(t.Context(), msg) // WeChat's retry
	if err != nil {
		t.Fatal(err)
	}
	if got.MsgType != "" {
		t.Fatalf("retry answered passively %q, which the outbox also sends; want success only", got.Content)
	}
	if _, err := r.outbox.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if sent := api.messages(); len(sent) != 1 || sent[0].Text != "我们每天 9:00-21:00 营业" {
		t.Fatalf("API received %+v, want the reply once", sent)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handled %d times, want 1", n)
	}
}

// TestReplicaKilledAfterClaim (issue 10 item 1, end to end): two replicas
// share the database and Redis. One claims a callback and dies before it
// answers; WeChat's retry reaches the other, which answers with the reply
// once the dead replica's lease runs out, and the callback's side effect
// (a staff alert through the outbox) happens exactly once.
func TestReplicaKilledAfterClaim(t *testing.T) {
	b := newBackends(t)
	// Short, so that on a real Redis the retry waits for it to run out.
	dcfg := bot.DedupeConfig{Lease: 300 * time.Millisecond, Wait: 20 * time.Second, Poll: 5 * time.Millisecond}
	var alerts atomic.Int32
	staff := bot.SenderFunc(func(context.Context, bot.Action) error { alerts.Add(1); return nil })
	handle := func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		return []bot.Action{
			bot.Reply{To: ev.ReplyTarget(), Text: "收到"},
			bot.StaffAlert{To: ev.ReplyTarget(), Title: "新消息", Text: "有客户留言"},
		}, nil
	}
	entered := make(chan struct{}, 1)
	death := newGate()
	var callsA, callsB atomic.Int32
	a := newFaultReplica(t, b, bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		callsA.Add(1)
		entered <- struct{}{}
		<-death.c // the process is gone; nothing it does after counts
		return nil, bot.ErrUnavailable
	}), faultOptions{dedupe: dcfg, senders: map[bot.Platform]bot.Sender{bot.Staff: staff}})
	replicaB := newFaultReplica(t, b, bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		callsB.Add(1)
		return handle(ctx, ev)
	}), faultOptions{dedupe: dcfg, senders: map[bot.Platform]bot.Sender{bot.Staff: staff}})
	t.Cleanup(death.open)

	msg := a.sim().TextXML("o-killed", "你好", NewMsgID())
	ctx, hangUp := context.WithCancel(t.Context())
	posted := make(chan error, 1)
	go func() {
		_, err := a.sim().Post(ctx, msg)
		posted <- err
	}()
	guard(t, entered, "replica A claiming the callback and starting its handling")
	a.dedupe.kill()
	hangUp() // WeChat gives up on A at 5 s
	if err := guard(t, posted, "the first attempt ending"); err == nil {
		t.Fatal("the attempt to the dead replica was answered")
	}
	if m := b.rdb.Miniredis(); m != nil {
		m.FastForward(dcfg.Lease) // a real Redis lets the lease run out while B waits
	}
	got, err := replicaB.sim().Post(t.Context(), msg) // WeChat's retry, to the other replica
	if err != nil {
		t.Fatal(err)
	}
	if got.MsgType != "text" || got.Content != "收到" {
		t.Fatalf("retry answered %+v, want the reply", got)
	}
	guard(t, replicaB.queued, "the staff alert reaching the outbox")
	for _, r := range []*faultReplica{a, replicaB} {
		if _, err := r.outbox.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := alerts.Load(); n != 1 {
		t.Fatalf("staff alerted %d times, want 1", n)
	}
	if na, nb := callsA.Load(), callsB.Load(); na != 1 || nb != 1 {
		t.Fatalf("handled %d times on A and %d on B, want once on each", na, nb)
	}
}
