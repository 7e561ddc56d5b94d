package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/handlers/admin"
	"github.com/siyu-bot/siyu/handlers/wechat"
	"github.com/siyu-bot/siyu/scripts"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

type staticSource struct{ s *bot.Scripts }

func (s staticSource) Scripts() *bot.Scripts { return s.s }

// checkinReplica is one replica's check-in stack on shared stores: the
// service, and the engine behind dedupe as serve builds it.
type checkinReplica struct {
	svc     *checkin.Service
	handler bot.Handler
}

type checkinRig struct {
	db       *sqlstore.DB
	rdb      *redisstore.Client
	store    *sqlstore.Checkins
	boards   *redisstore.CheckinBoards
	clock    *bottest.Clock
	scripts  *bot.Scripts
	replicas []checkinReplica
}

// newCheckinRig builds n replicas sharing one database and one Redis (the
// real servers when MYSQL_DSN and REDIS_URL are set).
func newCheckinRig(tb testing.TB, n int) *checkinRig {
	tb.Helper()
	sections, err := scriptSections(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	s, err := bot.LoadScripts(scripts.FS, sections...)
	if err != nil {
		tb.Fatal(err)
	}
	r := &checkinRig{db: storetest.SQL(tb), rdb: storetest.Redis(tb), clock: bottest.NewClock(time.Unix(0, 0)), scripts: s}
	// The shared MariaDB allows 151 connections for everyone testing on
	// it; sqlstore.Open sets no pool bound, so a burst would open one per
	// goroutine.
	if sqlDB, err := r.db.Gorm().DB(); err == nil {
		sqlDB.SetMaxOpenConns(24)
	}
	r.boards = redisstore.NewCheckinBoards(r.rdb)
	logger := bottest.Logger(tb)
	for range n {
		store, err := sqlstore.NewCheckins(tb.Context(), r.db)
		if err != nil {
			tb.Fatal(err)
		}
		svc := checkin.New(checkin.Options{Store: store, Records: store, Boards: r.boards, Now: r.clock.Now, Logger: logger})
		r.store = store
		engine := bot.NewEngine(bot.EngineConfig{Scripts: staticSource{s}, Commands: []bot.Stage{svc}, Now: r.clock.Now})
		// A copy waits for the first handling however long a loaded
		// machine takes to clear the burst: the production bound (3 s,
		// then the platform retries) is bot.Dedupe's own test's subject,
		// not this one's, and a lease outliving the burst keeps a slow
		// renewal from starting a second handling.
		dcfg := bot.DedupeConfig{TTL: time.Hour, Lease: 5 * time.Minute, Wait: 5 * time.Minute}
		h := bot.Chain(engine, bot.Validate(), bot.Dedupe(redisstore.NewDeduper(r.rdb), dcfg, logger))
		r.replicas = append(r.replicas, checkinReplica{svc: svc, handler: h})
	}
	return r
}

func groupCheckin(user, text, key string, at time.Time) bot.Event {
	return bot.Event{
		Platform: bot.Douyin, Account: "dy-brand", Kind: bot.KindMessage, Conversation: bot.Conversation{Group: "fans-1"},
		Sender: bot.UserID(user), Text: text, DedupeKey: key, MessageID: key, Time: at,
	}
}

// flushPrefix empties this test's share of Redis (its own key prefix, never
// the whole shared server).
func flushPrefix(tb testing.TB, rdb *redisstore.Client) {
	tb.Helper()
	ctx := context.Background()
	for _, k := range storetest.Keys(tb, rdb) { // on every cluster master
		if err := rdb.Redis().Del(ctx, k).Err(); err != nil {
			tb.Fatal(err)
		}
	}
}

// assertBoardsMatchDB checks every period's Redis boards, whole, against
// the ranking computed from the database.
func (r *checkinRig) assertBoardsMatchDB(t *testing.T, scope string, day checkin.Day, persons []string) {
	t.Helper()
	ctx := context.Background()
	st, err := r.store.Standings(ctx, scope, day)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkin.Periods() {
		for _, person := range persons {
			got, built, err := r.boards.Top(ctx, scope, p, day, 1000, person)
			if err != nil || !built {
				t.Fatalf("Top(%s) = built %v, %v; want built boards", p, built, err)
			}
			wantPts, meP := checkin.Rank(st[p], "points", 1000, person)
			wantSt, meS := checkin.Rank(st[p], "streak", 1000, person)
			if !sameEntries(got.ByPoints, wantPts) || !sameEntries(got.ByStreak, wantSt) {
				t.Fatalf("%s boards differ from the database:\nredis points %v\ndb    points %v\nredis streak %v\ndb    streak %v", p, got.ByPoints, wantPts, got.ByStreak, wantSt)
			}
			if got.MeByPoints.Rank != meP.Rank || got.MeByStreak.Rank != meS.Rank {
				t.Fatalf("%s: own ranks %d/%d, database %d/%d", p, got.MeByPoints.Rank, got.MeByStreak.Rank, meP.Rank, meS.Rank)
			}
		}
	}
}

func sameEntries(a, b []checkin.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Rank != b[i].Rank || a[i].Person != b[i].Person || a[i].Points != b[i].Points || a[i].Streak != b[i].Streak {
			return false
		}
	}
	return true
}

// TestCheckinConcurrentReplicas: two engines on shared stores take 500
// concurrent check-ins from 100 people (platform retries of one message,
// and several messages per person, landing on either replica): exactly
// 100 count, with the right streaks and points, and the Redis boards equal
// the database, also after Redis is emptied and rebuilt.
func TestCheckinConcurrentReplicas(t *testing.T) {
	r := newCheckinRig(t, 2)
	ctx := context.Background()
	day1 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.FixedZone("CST", 8*3600)) // a Tuesday
	day2 := day1.AddDate(0, 0, 1)
	const people = 100
	user := func(i int) string { return fmt.Sprintf("dy-user-%03d", i) }
	scope := checkin.ScopeOf(groupCheckin(user(0), "", "", day1))
	persons := make([]string, people)
	for i := range persons {
		ev := groupCheckin(user(i), "", "", day1)
		persons[i] = checkin.PersonKey(ev.Person())
	}

	// Day 1: every other person checks in, so day 2 has streaks of 2 and 1.
	r.clock.Set(day1)
	for i := 0; i < people; i += 2 {
		if _, err := r.replicas[i%2].handler.HandleEvent(ctx, groupCheckin(user(i), "签到", fmt.Sprintf("d1-%d", i), day1)); err != nil {
			t.Fatal(err)
		}
	}
	// Load the boards once, so day 2's check-ins are read back from what
	// Add wrote rather than from a rebuild.
	r.clock.Set(day2)
	if _, err := r.replicas[0].svc.Board(ctx, scope, checkin.Today, ""); err != nil {
		t.Fatal(err)
	}

	// Day 2: 5 events per person, 500 in all: one message retried on both
	// replicas, a second message (打卡) and a third retried.
	var wg sync.WaitGroup
	errs := make(chan error, 5*people)
	digestKeys := sync.Map{}
	for i := range people {
		for j, ev := range []bot.Event{
			groupCheckin(user(i), "签到", fmt.Sprintf("d2-%d-a", i), day2),
			groupCheckin(user(i), "签到", fmt.Sprintf("d2-%d-a", i), day2),
			groupCheckin(user(i), "打卡", fmt.Sprintf("d2-%d-b", i), day2),
			groupCheckin(user(i), "签到", fmt.Sprintf("d2-%d-c", i), day2),
			groupCheckin(user(i), "签到", fmt.Sprintf("d2-%d-c", i), day2),
		} {
			wg.Go(func() {
				actions, err := r.replicas[(i+j)%2].handler.HandleEvent(ctx, ev)
				if err != nil {
					errs <- err
					return
				}
				for _, a := range actions {
					if b, ok := a.(bot.Batched); ok {
						if p, ok := b.Action.(bot.Push); ok && p.Topic == "checkin_digest" {
							digestKeys.Store(b.Key, true)
						}
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("HandleEvent: %v", err)
	}
	d2 := checkin.DayOf(day2, r.replicas[0].svc.Location())
	n, err := r.store.CountDay(ctx, scope, d2)
	if err != nil || n != people {
		t.Fatalf("check-ins on day 2 = %d (%v), want exactly %d", n, err, people)
	}
	keys := 0
	digestKeys.Range(func(any, any) bool { keys++; return true })
	if keys != 1 {
		t.Errorf("digest batch keys = %d, want 1: one digest for the window", keys)
	}
	for i, p := range persons {
		c, err := r.store.Latest(ctx, scope, p, d2)
		if err != nil {
			t.Fatal(err)
		}
		wantStreak, wantTotal := 1, 10
		if i%2 == 0 {
			wantStreak, wantTotal = 2, 20
		}
		if c.Day != d2 || c.Streak != wantStreak || c.Points != 10 || c.Total != wantTotal {
			t.Errorf("person %d: day %v streak %d points %d total %d, want %v %d 10 %d", i, c.Day, c.Streak, c.Points, c.Total, d2, wantStreak, wantTotal)
		}
	}
	r.assertBoardsMatchDB(t, scope, d2, persons[:5])

	// Redis emptied: the boards are rebuilt from the database with the
	// same ranks.
	before, err := r.replicas[1].svc.Board(ctx, scope, checkin.All, persons[7])
	if err != nil {
		t.Fatal(err)
	}
	flushPrefix(t, r.rdb)
	if _, built, err := r.boards.Top(ctx, scope, checkin.All, d2, 10, ""); err != nil || built {
		t.Fatalf("after the flush Top = built %v, %v; want unbuilt", built, err)
	}
	after, err := r.replicas[1].svc.Board(ctx, scope, checkin.All, persons[7])
	if err != nil {
		t.Fatal(err)
	}
	if !sameEntries(before.ByPoints, after.ByPoints) || !sameEntries(before.ByStreak, after.ByStreak) || before.MeByPoints.Rank != after.MeByPoints.Rank {
		t.Errorf("rebuilt boards differ:\nbefore %+v\nafter  %+v", before, after)
	}
	r.assertBoardsMatchDB(t, scope, d2, persons[:5])
}

// TestCheckScriptsCheckin: the checkin: section's mistakes come out of
// siyu check-scripts with their file and line.
func TestCheckScriptsCheckin(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown placeholder", "checkin:\n  keywords: [签到]\n  reply: \"{{days}} 天\"\n", "checkin.yaml:3: checkin.reply: unknown placeholder {{days}}"},
		{"bad time zone", "checkin:\n  keywords: [签到]\n  timezone: Asia/Nowhere\n", "checkin.yaml:3: checkin.timezone: unknown time zone"},
		{"reward without a message", "checkin:\n  keywords: [签到]\n  rewards:\n    - streak: 7\n", "checkin.yaml:4: checkin.rewards: the reward at streak 7 has no message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "checkin.yaml"), []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			err := run(t.Context(), runEnv{args: []string{"check-scripts", dir}, getenv: func(string) string { return "" }, stdout: &out, stderr: &errOut})
			if err == nil || !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("check-scripts = %v, output %q; want an error with %q", err, errOut.String(), tc.want)
			}
		})
	}
}

// recordingSender records what the outbox sends.
type recordingSender struct {
	mu   sync.Mutex
	sent []bot.Action
}

func (s *recordingSender) Send(_ context.Context, a bot.Action) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, a)
	return nil
}

// TestCheckinGroupBurstOneDigest: 200 check-ins in one group within the
// window go out as one message, rendered when sent, naming the first and
// counting all 200.
func TestCheckinGroupBurstOneDigest(t *testing.T) {
	r := newCheckinRig(t, 1)
	ctx := context.Background()
	start := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	r.clock.Set(start)
	sender := &recordingSender{}
	outbox := bot.NewOutbox(sqlstore.NewOutbox(r.db), map[bot.Platform]bot.Sender{bot.Douyin: sender}, bot.OutboxConfig{
		Now: r.clock.Now, Renderers: map[string]bot.Renderer{checkin.DigestRenderer: r.replicas[0].svc},
	})
	for i := range 200 {
		ev := groupCheckin(fmt.Sprintf("burst-%03d", i), "签到", fmt.Sprintf("burst-%d", i), r.clock.Now())
		actions, err := r.replicas[0].handler.HandleEvent(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := outbox.Enqueue(ctx, ev.DedupeKey, actions); err != nil {
			t.Fatal(err)
		}
		r.clock.Add(100 * time.Millisecond)
	}
	if n, err := outbox.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("before the window ends RunOnce = %d, %v; want nothing due", n, err)
	}
	r.clock.Set(start.Add(31 * time.Second))
	for {
		n, err := outbox.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if len(sender.sent) != 1 {
		t.Fatalf("messages sent = %d, want 1 digest", len(sender.sent))
	}
	text, _ := bot.TextOf(sender.sent[0])
	if !strings.HasPrefix(text, "今日签到：") || !strings.Contains(text, "共 200 人") {
		t.Errorf("digest = %q, want 今日签到 … 共 200 人", text)
	}
	if to := sender.sent[0].Dest(); to.Conversation.Group != "fans-1" {
		t.Errorf("digest went to %+v, want the group", to)
	}
}

// TestCheckinThroughWeChat: 签到 in a signed, encrypted callback → streak 1
// and +10; the same MsgId again → the same reply; 打卡 the same day →
// already, and the admin history shows one day of 10 points.
func TestCheckinThroughWeChat(t *testing.T) {
	base, _ := startSiyu(t, map[string]string{"SIYU_ADMIN_TOKEN": "adm1n"})
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	sim := &wechat.Simulator{URL: base + "/wechat/callback", Token: cfg.WeChatToken, EncodingAESKey: cfg.WeChatAESKey, AppID: cfg.WeChatAppID, OriginalID: demoOrigID}
	const openid = "o-checkin-e2e"
	post := func(text string, msgID int64) string {
		t.Helper()
		r, err := sim.Post(t.Context(), sim.TextXML(openid, text, msgID))
		if err != nil {
			t.Fatal(err)
		}
		return r.Content
	}
	id := wechat.NewMsgID()
	first := post("签到", id)
	if !strings.Contains(first, "连续 1 天") || !strings.Contains(first, "积分 +10") {
		t.Fatalf("签到 = %q, want streak 1 and +10", first)
	}
	if again := post("签到", id); again != first {
		t.Errorf("the same MsgId again = %q, want the same reply %q", again, first)
	}
	if already := post("打卡", id+1); !strings.Contains(already, "已签到") || !strings.Contains(already, "总积分 10") {
		t.Errorf("打卡 the same day = %q, want the already reply with total 10", already)
	}

	scope, person := "wechat:"+cfg.WeChatAppID, "wechat:"+cfg.WeChatAppID+":"+openid
	get := func(path string, v any) {
		t.Helper()
		adminJSON(t, http.MethodGet, base+"/admin/api/checkin/"+path, "adm1n", "", http.StatusOK, v)
	}
	var h struct {
		Total  int `json:"total"`
		Streak int `json:"streak"`
		Days   []struct {
			Points int `json:"points"`
		} `json:"days"`
	}
	get("history?"+url.Values{"scope": {scope}, "person": {person}}.Encode(), &h)
	if h.Total != 10 || h.Streak != 1 || len(h.Days) != 1 {
		t.Errorf("history = %+v, want total 10, streak 1, one day", h)
	}
	var b struct {
		ByPoints []struct {
			Rank   int    `json:"rank"`
			Person string `json:"person"`
			Points int    `json:"points"`
		} `json:"by_points"`
	}
	get("boards?"+url.Values{"scope": {scope}, "period": {"all"}}.Encode(), &b)
	// People are shown masked, as everywhere in the admin API.
	if len(b.ByPoints) != 1 || b.ByPoints[0].Person != admin.MaskPerson(person) || b.ByPoints[0].Points != 10 || b.ByPoints[0].Rank != 1 {
		t.Errorf("boards = %+v, want the one person with 10 points", b)
	}
	var sc struct {
		Scopes []struct {
			Scope         string `json:"scope"`
			CheckinsToday int    `json:"checkins_today"`
		} `json:"scopes"`
	}
	get("scopes", &sc)
	if len(sc.Scopes) != 1 || sc.Scopes[0].Scope != scope || sc.Scopes[0].CheckinsToday != 1 {
		t.Errorf("scopes = %+v, want %s with 1 today", sc, scope)
	}
}

// BenchmarkCheckin measures new check-ins on the configured backends
// (MariaDB and Redis when MYSQL_DSN and REDIS_URL are set), each a
// different person's first of the day: "callback" through dedupe and the
// engine as a platform callback runs, "service" the check-in alone (the
// database's latest row and insert, the boards' script).
func BenchmarkCheckin(b *testing.B) {
	r := newCheckinRig(b, 1)
	r.clock.Set(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	cfg := checkin.FromScripts(r.scripts)
	var seq atomic.Int64
	event := func() bot.Event {
		n := strconv.FormatInt(seq.Add(1), 10)
		return bot.Event{Platform: bot.WeChat, Account: "wx-bench", Kind: bot.KindMessage, Sender: bot.UserID("o-bench-" + n),
			Text: "签到", DedupeKey: "bench-" + n, Time: r.clock.Now()}
	}
	run := func(b *testing.B, one func() error) {
		b.ReportAllocs()
		b.SetParallelism(16) // callbacks arrive concurrently; the database round trips overlap
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := one(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checkins/s")
	}
	b.Run("callback", func(b *testing.B) {
		h := r.replicas[0].handler
		run(b, func() error {
			actions, err := h.HandleEvent(context.Background(), event())
			if err == nil && len(actions) != 1 {
				err = fmt.Errorf("actions = %v, want one reply", actions)
			}
			return err
		})
	})
	b.Run("service", func(b *testing.B) {
		svc := r.replicas[0].svc
		run(b, func() error {
			out, err := svc.CheckIn(context.Background(), cfg, event())
			if err == nil && (out.Already || out.Checkin.Rank == 0) {
				err = fmt.Errorf("outcome = %+v, want a new, ranked check-in", out)
			}
			return err
		})
	})
}
