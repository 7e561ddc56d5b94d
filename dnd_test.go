package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

var dndShanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err) // bot/dnd links in time/tzdata
	}
	return loc
}()

// dndAt is a wall time in Shanghai on 2026-11-26 (a Thursday) plus days.
func dndAt(days, hour, minute int) time.Time {
	return time.Date(2026, 11, 26+days, hour, minute, 0, 0, dndShanghai)
}

const dndTestScripts = `
rules:
  - name: hours
    match: {contains: [营业时间]}
    reply: 每天 9:00-21:00
dnd:
  quiet_hours: {from: "22:00", to: "08:00", timezone: Asia/Shanghai}
  caps: {per_person_day: 2, per_person_week: 5, per_group_minute: 3}
`

// The person of these tests: an OA follower and a WeCom 微信客服
// customer linked by one unionid.
var (
	dndOA    = bot.Target{Platform: bot.WeChat, Account: "gh_brand", User: "o-follower", UnionID: "un-1"}
	dndWeCom = bot.Target{Platform: bot.WeCom, Account: "corp/kf/wk1", User: "wm-contact", UnionID: "un-1"}
)

// sentLog records what the outbox's senders sent.
type sentLog struct {
	mu   sync.Mutex
	sent []string // "<platform>:<text>"
}

func (s *sentLog) sender(p bot.Platform) bot.Sender {
	return bot.SenderFunc(func(_ context.Context, a bot.Action) error {
		text, _ := bot.TextOf(a)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.sent = append(s.sent, string(p)+":"+text)
		return nil
	})
}

func (s *sentLog) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sent
	s.sent = nil
	return out
}

// dndReplica is one siyu replica of these tests: the engine behind the
// dnd middleware, and an outbox with the dnd gate, over shared stores.
type dndReplica struct {
	svc     *dnd.Service
	handler bot.Handler
	outbox  *bot.Outbox
	sent    *sentLog
	seq     *atomic.Int64 // event keys, unique across the replicas
}

type dndShared struct {
	seq    atomic.Int64
	db     *sqlstore.DB
	rdb    *redisstore.Client
	outbox *sqlstore.Outbox
	clock  *bottest.Clock
	lib    *bot.Library
}

func newDNDShared(t *testing.T) *dndShared {
	t.Helper()
	lib, err := bot.NewLibrary(fstest.MapFS{"s.yaml": {Data: []byte(dndTestScripts)}}, nil, dnd.Section{})
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.SQL(t)
	return &dndShared{db: db, rdb: storetest.Redis(t), outbox: sqlstore.NewOutbox(db), clock: bottest.NewClock(dndAt(0, 12, 0)), lib: lib}
}

// promoStage stands in for a capability that pushes: "来张券" is answered
// with a reply and a coupon pushed to the person's WeCom contact.
func promoStage(to bot.Target) bot.Stage {
	return bot.StageFunc(func(_ context.Context, t *bot.Turn) (bool, error) {
		if t.Text != "来张券" {
			return false, nil
		}
		t.ReplyText("券马上到")
		t.Add(bot.Push{Action: bot.Reply{To: to, Text: "您的券"}, Topic: "coupon"})
		return true, nil
	})
}

func (sh *dndShared) replica(t *testing.T) *dndReplica {
	t.Helper()
	store, err := sqlstore.NewDND(t.Context(), sh.db)
	if err != nil {
		t.Fatal(err)
	}
	svc := dnd.New(dnd.Config{Store: store, Counters: redisstore.NewDNDCounters(sh.rdb), Scripts: sh.lib, Now: sh.clock.Now})
	engine := bot.NewEngine(bot.EngineConfig{
		Scripts:  sh.lib,
		Commands: []bot.Stage{svc.Stage(), promoStage(dndWeCom)},
		Now:      sh.clock.Now,
	})
	sent := &sentLog{}
	ob := bot.NewOutbox(sh.outbox, map[bot.Platform]bot.Sender{
		bot.WeChat: sent.sender(bot.WeChat), bot.WeCom: sent.sender(bot.WeCom), bot.Douyin: sent.sender(bot.Douyin),
	}, bot.OutboxConfig{Gate: svc, Now: sh.clock.Now, Concurrency: 1})
	return &dndReplica{svc: svc, handler: bot.Chain(engine, svc.Middleware()), outbox: ob, sent: sent, seq: &sh.seq}
}

// say sends text from the OA follower through the replica's handler and
// queues the answer, as the WeChat adapter does.
func (r *dndReplica) say(t *testing.T, now time.Time, from bot.Target, text string) []bot.Action {
	t.Helper()
	ev := bot.Event{
		Platform: from.Platform, Account: from.Account, Kind: bot.KindMessage, Sender: from.User, UnionID: from.UnionID,
		Text: text, Time: now, DedupeKey: "ev-" + strconv.FormatInt(r.seq.Add(1), 10),
	}
	actions, err := r.handler.HandleEvent(t.Context(), ev)
	if err != nil {
		t.Fatalf("HandleEvent(%q): %v", text, err)
	}
	if err := r.outbox.Enqueue(t.Context(), ev.DedupeKey, actions); err != nil {
		t.Fatal(err)
	}
	return actions
}

func (r *dndReplica) run(t *testing.T) []string {
	t.Helper()
	for {
		n, err := r.outbox.RunOnce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return r.sent.take()
		}
	}
}

func join(s []string) string { return strings.Join(s, " | ") }

// TestDNDOptOutStopsQueuedPush: a push deferred by the quiet hours waits
// in the outbox; the person opts out meanwhile; at 08:00 the gate drops
// it and the outbox records why. Their question is still answered.
func TestDNDOptOutStopsQueuedPush(t *testing.T) {
	sh := newDNDShared(t)
	r := sh.replica(t)
	sh.clock.Set(dndAt(0, 23, 0))
	r.say(t, sh.clock.Now(), dndOA, "来张券")
	if got, want := join(r.run(t)), "wechat:券马上到"; got != want {
		t.Fatalf("sent at 23:00 = %q, want only the reply %q", got, want)
	}
	sh.clock.Set(dndAt(0, 23, 10))
	r.say(t, sh.clock.Now(), dndOA, "退订")
	r.say(t, sh.clock.Now(), dndOA, "营业时间？")
	if got, want := join(r.run(t)), "wechat:已为您退订，回复「订阅」可恢复 | wechat:每天 9:00-21:00"; got != want {
		t.Fatalf("sent = %q, want %q", got, want)
	}
	sh.clock.Set(dndAt(1, 8, 0))
	if got := r.run(t); len(got) != 0 {
		t.Fatalf("sent at 08:00 = %q, want nothing: the person opted out", got)
	}
	dead, err := sh.outbox.List(t.Context(), bot.OutboxDead, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || !strings.Contains(dead[0].LastError, dnd.ReasonOptedOut) {
		t.Fatalf("dead rows = %+v, want the push with reason %s", dead, dnd.ReasonOptedOut)
	}
	held, err := r.svc.Held(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, h := range held {
		reasons = append(reasons, h.Reason)
	}
	// One push, one record: held at 23:00 for the quiet hours, then
	// dropped at 08:00; staff see what happened last (issue 25, bug 3).
	if got, want := join(reasons), dnd.ReasonOptedOut; got != want {
		t.Errorf("held reasons (newest first) = %q, want %q", got, want)
	}
}

// TestDNDOptOutAcrossPlatforms: 退订 on the Official Account stops pushes
// to the same unionid's WeCom contact, whether produced after the opt-out
// (middleware) or queued before it (gate).
func TestDNDOptOutAcrossPlatforms(t *testing.T) {
	sh := newDNDShared(t)
	r := sh.replica(t)
	now := sh.clock.Now()
	queued := bot.Push{Action: bot.Reply{To: dndWeCom, Text: "早就排好的券"}, Topic: "coupon"}
	if err := r.outbox.Enqueue(t.Context(), "queued-before", []bot.Action{queued}); err != nil {
		t.Fatal(err)
	}
	// The OA's event carries the unionid but the queued push's target
	// is the WeCom contact.
	r.say(t, now, dndOA, "退订")
	actions := r.say(t, now, dndOA, "来张券")
	for _, a := range actions {
		if bot.IsProactive(a) {
			t.Errorf("middleware let %T through for an opted-out person", a)
		}
	}
	if got, want := join(r.run(t)), "wechat:已为您退订，回复「订阅」可恢复 | wechat:券马上到"; got != want {
		t.Fatalf("sent = %q, want the confirmation and the reply only", got)
	}
	// 订阅 on WeCom (same unionid) brings pushes back everywhere.
	r.say(t, now, dndWeCom, "订阅")
	r.say(t, now, dndOA, "来张券")
	if got, want := join(r.run(t)), "wecom:已恢复推送，感谢关注 | wechat:券马上到 | wecom:您的券"; got != want {
		t.Fatalf("sent after 订阅 = %q, want %q", got, want)
	}
}

// TestDNDQuietHoursRelease: a push produced at 23:30 waits; the reply to
// the message does not; at 07:59 it still waits, at 08:00 it goes. A push
// queued by something that skipped the middleware is deferred by the
// gate the same way.
func TestDNDQuietHoursRelease(t *testing.T) {
	sh := newDNDShared(t)
	r := sh.replica(t)
	sh.clock.Set(dndAt(0, 23, 30))
	actions := r.say(t, sh.clock.Now(), dndOA, "来张券")
	var deferred bot.Batched
	for _, a := range actions {
		if b, ok := a.(bot.Batched); ok {
			deferred = b
		}
	}
	if !deferred.SendAt.Equal(dndAt(1, 8, 0)) {
		t.Fatalf("push due at %v, want 08:00 the next morning", deferred.SendAt)
	}
	direct := bot.Push{Action: bot.Reply{To: dndOA, Text: "直接排队的提醒"}, Topic: "reminder"}
	if err := r.outbox.Enqueue(t.Context(), "direct", []bot.Action{direct}); err != nil {
		t.Fatal(err)
	}
	if got, want := join(r.run(t)), "wechat:券马上到"; got != want {
		t.Fatalf("sent at 23:30 = %q, want the reply only", got)
	}
	sh.clock.Set(dndAt(1, 7, 59))
	if got := r.run(t); len(got) != 0 {
		t.Fatalf("sent at 07:59 = %q, want nothing", got)
	}
	sh.clock.Set(dndAt(1, 8, 0))
	got := r.run(t)
	if len(got) != 2 || !strings.Contains(join(got), "wecom:您的券") || !strings.Contains(join(got), "wechat:直接排队的提醒") {
		t.Fatalf("sent at 08:00 = %q, want both pushes", got)
	}
}

// TestDNDCapsAcrossPlatformsAndReplicas: per_person_day is 2 for the
// person whatever the platform and whichever replica sends; the rest wait
// for the next day and go out then.
func TestDNDCapsAcrossPlatformsAndReplicas(t *testing.T) {
	sh := newDNDShared(t)
	a, b := sh.replica(t), sh.replica(t)
	now := sh.clock.Now()
	pushes := []struct {
		r  *dndReplica
		to bot.Target
	}{{a, dndOA}, {b, dndWeCom}, {a, dndWeCom}, {b, dndOA}}
	for i, p := range pushes {
		if err := p.r.outbox.Enqueue(t.Context(), "push-"+string(rune('0'+i)), []bot.Action{
			bot.Push{Action: bot.Reply{To: p.to, Text: "券" + string(rune('0'+i))}, Topic: "coupon"},
		}); err != nil {
			t.Fatal(err)
		}
		// Each replica sends what it claims, turn about.
		p.r.run(t)
	}
	// What each replica sent was taken by run; count the outbox instead.
	sent, err := sh.outbox.List(t.Context(), bot.OutboxSent, 10)
	if err != nil {
		t.Fatal(err)
	}
	if total := len(sent); total != 2 {
		t.Fatalf("sent on day one = %d, want the cap 2", total)
	}
	pending, _ := sh.outbox.List(t.Context(), bot.OutboxPending, 10)
	for _, it := range pending {
		if !it.NextAt.Equal(dndAt(1, 8, 0)) {
			t.Errorf("held push due %v, want 08:00 the next day (midnight is quiet)", it.NextAt.In(dndShanghai))
		}
	}
	// The middleware sees the day is full too: a fifth push is deferred
	// when produced, on either replica.
	actions := b.say(t, now, dndOA, "来张券")
	if d, ok := actions[len(actions)-1].(bot.Batched); !ok || !d.SendAt.Equal(dndAt(1, 8, 0)) {
		t.Errorf("fifth push = %#v, want deferred to 08:00 the next day", actions[len(actions)-1])
	}
	b.run(t)
	sh.clock.Set(dndAt(1, 8, 0))
	a.run(t)
	b.run(t)
	sent, _ = sh.outbox.List(t.Context(), bot.OutboxSent, 20)
	// Day two: two more pushes (plus day one's two and the reply).
	if got := len(sent); got != 5 {
		t.Fatalf("sent by day two = %d rows, want 5 (2 pushes a day and the reply)", got)
	}
}

// TestDNDEndToEnd runs siyu and talks to it through signed, encrypted
// WeChat callbacks.
func TestDNDEndToEnd(t *testing.T) {
	base, logs := startSiyu(t, map[string]string{"SIYU_ADMIN_TOKEN": "dnd-admin"})
	steps := []struct {
		name, from, text, want string
	}{
		{"退订 confirmed", "o-dnd-1", "退订", "已为您退订，回复「订阅」可恢复"},
		{"keyword question still answered", "o-dnd-1", "营业时间", "山茶咖啡各门店营业时间为每天 9:00-21:00，节假日照常营业。"},
		{"订阅 confirmed", "o-dnd-1", "订阅", "已恢复推送，感谢关注"},
		{"TD confirmed like 退订", "o-dnd-2", "TD", "已为您退订，回复「订阅」可恢复"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if got := simulateCmd(t, base, nil, "--from", st.from, st.text); got != st.want {
				t.Fatalf("reply to %q = %q, want %q", st.text, got, st.want)
			}
		})
	}
	if got := simulateCmd(t, base, nil, "--from", "o-dnd-3", "T恤有吗"); got == "已为您退订，回复「订阅」可恢复" {
		t.Errorf("T inside a sentence opted the person out")
	}

	// Staff see and change the opt-out through the admin API.
	admin := func(method, path, body string) map[string]any {
		t.Helper()
		var out map[string]any
		adminJSON(t, method, base+"/admin/api/dnd"+path, "dnd-admin", body, http.StatusOK, &out)
		return out
	}
	person := "/persons/wechat:" + demoAppID + ":o-dnd-2"
	if got := admin(http.MethodGet, person, ""); got["opted_out"] != true || got["since"] == nil {
		t.Errorf("GET person after TD = %v, want opted out with a since", got)
	}
	if got := admin(http.MethodPut, person, `{"opted_out": false}`); got["opted_out"] != false {
		t.Errorf("PUT opted_out false = %v, want opted in", got)
	}
	if got := admin(http.MethodGet, "/held?limit=5", ""); got["held"] == nil {
		t.Errorf("GET held = %v, want a held list", got)
	}
	if strings.Contains(logs.String(), "o-dnd-1") {
		t.Error("a customer id reached the log")
	}
}

// BenchmarkDNDAdmitStores is the gate's cost per push on the stores
// (MariaDB and Redis when MYSQL_DSN and REDIS_URL are set): one opt-out
// read and one counting script. Caps are raised so every push is
// admitted.
func BenchmarkDNDAdmitStores(b *testing.B) {
	lib, err := bot.NewLibrary(fstest.MapFS{"s.yaml": {Data: []byte("dnd:\n  caps: {per_person_day: 1000000000, per_person_week: 1000000000}\n")}}, nil, dnd.Section{})
	if err != nil {
		b.Fatal(err)
	}
	store, err := sqlstore.NewDND(b.Context(), storetest.SQL(b))
	if err != nil {
		b.Fatal(err)
	}
	svc := dnd.New(dnd.Config{Store: store, Counters: redisstore.NewDNDCounters(storetest.Redis(b)), Scripts: lib})
	p := bot.Push{Action: bot.Reply{To: dndOA, Text: "券"}, Topic: "coupon"}
	now := dndAt(0, 12, 0)
	b.ReportAllocs()
	for b.Loop() {
		if until, err := svc.Admit(b.Context(), p, now); err != nil || !until.IsZero() {
			b.Fatal(until, err)
		}
	}
}
