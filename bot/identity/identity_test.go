package identity_test

import (
	"context"

	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/identity"
)

// memStore is identity.Store in memory; block, when set, makes Lookup
// wait for its context, and fail makes it fail.
type memStore struct {
	mu      sync.Mutex
	links   map[string]identity.Link
	lookups int
	// syncLookups are the lookups the middleware waited for.
	syncLookups int
	scans       int
	block       bool
	fail        bool
}

func newMemStore() *memStore { return &memStore{links: map[string]identity.Link{}} }

func k(p bot.Platform, a bot.AccountID, u bot.UserID) string {
	return string(p) + "|" + string(a) + "|" + string(u)
}

func (m *memStore) Lookup(ctx context.Context, p bot.Platform, a bot.AccountID, u bot.UserID) (identity.Link, bool, error) {
	sync := inMiddleware()
	m.mu.Lock()
	m.lookups++
	if sync {
		m.syncLookups++
	}
	block, fail := m.block, m.fail
	l, ok := m.links[k(p, a, u)]
	m.mu.Unlock()
	if block {
		<-ctx.Done()
		return identity.Link{}, false, fmt.Errorf("mem: %w: %w", bot.ErrUnavailable, ctx.Err())
	}
	if fail {
		return identity.Link{}, false, fmt.Errorf("mem: %w", bot.ErrUnavailable)
	}
	return l, ok, nil
}

func (m *memStore) Save(_ context.Context, l identity.Link) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links[k(l.Platform, l.Account, l.User)] = l
	return nil
}

func (m *memStore) Linked(_ context.Context, fn func(bot.Platform, bot.AccountID, bot.UserID)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scans++
	if m.fail {
		return fmt.Errorf("mem: %w", bot.ErrUnavailable)
	}
	for _, l := range m.links {
		if l.UnionID != "" {
			fn(l.Platform, l.Account, l.User)
		}
	}
	return nil
}

// inMiddleware reports whether the caller runs inside the middleware
// (its resolve: the closure's own name changes when inlined),
// on the event's own goroutine, rather than behind it.
func inMiddleware() bool {
	pc := make([]uintptr, 64)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, "identity.(*Service).resolve") {
			return true
		}
		if !more {
			return false
		}
	}
}

func (m *memStore) syncLookupCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncLookups
}

func (m *memStore) lookupCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lookups
}

func (m *memStore) get(p bot.Platform, a bot.AccountID, u bot.UserID) (identity.Link, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.links[k(p, a, u)]
	return l, ok
}

// fakeFetcher answers from unions; a user in hang waits until release
// is closed (or the fetch's context ends); errs answers with an error.
type fakeFetcher struct {
	mu      sync.Mutex
	unions  map[bot.UserID]string
	errs    map[bot.UserID]error
	hang    map[bot.UserID]bool
	release chan struct{}
	calls   []bot.UserID
	started chan bot.UserID // told each call, when not nil
}

func (f *fakeFetcher) UnionID(ctx context.Context, _ bot.AccountID, u bot.UserID) (string, error) {
	f.mu.Lock()
	f.calls = append(f.calls, u)
	hang, err, union := f.hang[u], f.errs[u], f.unions[u]
	f.mu.Unlock()
	if f.started != nil {
		f.started <- u
	}
	if hang {
		select {
		case <-f.release:
		case <-ctx.Done():
			return "", fmt.Errorf("fake: %w: %w", bot.ErrUnavailable, ctx.Err())
		}
	}
	return union, err
}

func (f *fakeFetcher) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// seen records the unionid of each event that reached the engine.
type seen struct {
	mu     sync.Mutex
	unions []string
}

func (s *seen) handler() bot.Handler {
	return bot.HandlerFunc(func(_ context.Context, ev bot.Event) ([]bot.Action, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.unions = append(s.unions, ev.UnionID)
		return nil, nil
	})
}

func (s *seen) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unions[len(s.unions)-1]
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func ev(p bot.Platform, account bot.AccountID, user bot.UserID, kind bot.EventKind) bot.Event {
	return bot.Event{Platform: p, Account: account, Kind: kind, Sender: user, Text: "hi", Time: t0}
}

type fixture struct {
	store *memStore
	wx    *fakeFetcher
	wc    *fakeFetcher
	svc   *identity.Service
	seen  *seen
	h     bot.Handler
}

func newFixture(t *testing.T, mod func(*identity.Config)) *fixture {
	t.Helper()
	f := &fixture{
		store: newMemStore(),
		wx:    &fakeFetcher{unions: map[bot.UserID]string{}, errs: map[bot.UserID]error{}, hang: map[bot.UserID]bool{}, release: make(chan struct{})},
		wc:    &fakeFetcher{unions: map[bot.UserID]string{}, errs: map[bot.UserID]error{}, hang: map[bot.UserID]bool{}, release: make(chan struct{})},
		seen:  &seen{},
	}
	cfg := identity.Config{
		Store:    f.store,
		Fetchers: map[bot.Platform]identity.Fetcher{bot.WeChat: f.wx, bot.WeCom: f.wc},
		Scope: func(p bot.Platform, a bot.AccountID) bot.AccountID {
			if a == "corp/app/1" {
				return ""
			}
			if a == "corp/kf/wk1" {
				return "corp"
			}
			return a
		},
		Now: func() time.Time { return t0 },
		// Fetches answer at once unless a test hangs them: a long wait
		// keeps the tests free of timing.
		FollowWait: time.Minute,
	}
	if mod != nil {
		mod(&cfg)
	}
	f.svc = identity.New(cfg)
	f.h = bot.Chain(f.seen.handler(), f.svc.Middleware())
	t.Cleanup(func() {
		close(f.wx.release)
		close(f.wc.release)
		f.svc.Wait()
	})
	return f
}

func (f *fixture) handle(t *testing.T, e bot.Event) string {
	t.Helper()
	if _, err := f.h.HandleEvent(t.Context(), e); err != nil {
		t.Fatalf("HandleEvent: %v", err)
	}
	return f.seen.last()
}

// TestMiddleware: what unionid the engine sees, and what is fetched and
// stored, for each kind of sender.
func TestMiddleware(t *testing.T) {
	tests := []struct {
		name      string
		stored    []identity.Link
		unions    map[bot.UserID]string // the platform's answers
		errs      map[bot.UserID]error
		event     bot.Event
		wantSeen  string // the unionid the engine saw
		wantCalls int    // fetches made
		wantSaved string // stored for the sender afterwards ("-" for nothing)
	}{
		{
			name:   "a known follower is linked without a fetch",
			stored: []identity.Link{{Platform: bot.WeChat, Account: "gh", User: "o1", UnionID: "un-1", CheckedAt: t0}},
			event:  ev(bot.WeChat, "gh", "o1", bot.KindMessage), wantSeen: "un-1", wantCalls: 0, wantSaved: "un-1",
		},
		{
			name:   "an unknown sender's message goes on unlinked and is fetched behind it",
			unions: map[bot.UserID]string{"o1": "un-1"},
			event:  ev(bot.WeChat, "gh", "o1", bot.KindMessage), wantSeen: "", wantCalls: 1, wantSaved: "un-1",
		},
		{
			name:   "a new follower is fetched before the engine",
			unions: map[bot.UserID]string{"o1": "un-1"},
			event:  ev(bot.WeChat, "gh", "o1", bot.KindFollow), wantSeen: "un-1", wantCalls: 1, wantSaved: "un-1",
		},
		{
			name:  "a follower the platform gives no unionid is stored as none",
			event: ev(bot.WeChat, "gh", "o1", bot.KindFollow), wantSeen: "", wantCalls: 1, wantSaved: "",
		},
		{
			name:   "a user stored as none is not asked again before the recheck",
			stored: []identity.Link{{Platform: bot.WeChat, Account: "gh", User: "o1", CheckedAt: t0.Add(-time.Hour)}},
			unions: map[bot.UserID]string{"o1": "un-1"},
			event:  ev(bot.WeChat, "gh", "o1", bot.KindMessage), wantSeen: "", wantCalls: 0, wantSaved: "",
		},
		{
			name:   "a user stored as none is asked again after the recheck",
			stored: []identity.Link{{Platform: bot.WeChat, Account: "gh", User: "o1", CheckedAt: t0.Add(-25 * time.Hour)}},
			unions: map[bot.UserID]string{"o1": "un-1"},
			event:  ev(bot.WeChat, "gh", "o1", bot.KindFollow), wantSeen: "un-1", wantCalls: 1, wantSaved: "un-1",
		},
		{
			name:  "a refused fetch stores none",
			errs:  map[bot.UserID]error{"o1": fmt.Errorf("fake 40003: %w", bot.ErrInvalid)},
			event: ev(bot.WeChat, "gh", "o1", bot.KindFollow), wantSeen: "", wantCalls: 1, wantSaved: "",
		},
		{
			name:  "a failed fetch stores nothing",
			errs:  map[bot.UserID]error{"o1": fmt.Errorf("fake -1: %w", bot.ErrUnavailable)},
			event: ev(bot.WeChat, "gh", "o1", bot.KindFollow), wantSeen: "", wantCalls: 1, wantSaved: "-",
		},
		{
			name:   "someone leaving is not asked about",
			unions: map[bot.UserID]string{"o1": "un-1"},
			event:  ev(bot.WeChat, "gh", "o1", bot.KindUnfollow), wantSeen: "", wantCalls: 0, wantSaved: "-",
		},
		{
			name:   "a new WeCom contact is left to the adapter",
			unions: map[bot.UserID]string{"wm1": "un-1"},
			event:  ev(bot.WeCom, "corp", "wm1", bot.KindContactAdded), wantSeen: "", wantCalls: 0, wantSaved: "-",
		},
		{
			name:   "a 微信客服 customer is linked through the corp's contact",
			stored: []identity.Link{{Platform: bot.WeCom, Account: "corp", User: "wm1", UnionID: "un-1", CheckedAt: t0}},
			event:  ev(bot.WeCom, "corp/kf/wk1", "wm1", bot.KindMessage), wantSeen: "un-1", wantCalls: 0, wantSaved: "-",
		},
		{
			name:  "staff in the app's chats are never looked up",
			event: ev(bot.WeCom, "corp/app/1", "zhangsan", bot.KindMessage), wantSeen: "", wantCalls: 0, wantSaved: "-",
		},
		{
			name:  "Douyin has no fetcher and no unionid",
			event: ev(bot.Douyin, "dy", "d1", bot.KindMessage), wantSeen: "", wantCalls: 0, wantSaved: "-",
		},
		{
			name:     "an event that has a unionid keeps it",
			event:    func() bot.Event { e := ev(bot.WeChat, "gh", "o1", bot.KindFollow); e.UnionID = "un-9"; return e }(),
			wantSeen: "un-9", wantCalls: 0, wantSaved: "-",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			for _, l := range tc.stored {
				_ = f.store.Save(t.Context(), l)
			}
			for u, un := range tc.unions {
				f.wx.unions[u], f.wc.unions[u] = un, un
			}
			for u, err := range tc.errs {
				f.wx.errs[u], f.wc.errs[u] = err, err
			}
			if got := f.handle(t, tc.event); got != tc.wantSeen {
				t.Errorf("engine saw unionid %q, want %q", got, tc.wantSeen)
			}
			f.svc.Wait()
			if got := f.wx.callCount() + f.wc.callCount(); got != tc.wantCalls {
				t.Errorf("fetches = %d, want %d", got, tc.wantCalls)
			}
			l, ok := f.store.get(tc.event.Platform, tc.event.Account, tc.event.Sender)
			got := "-"
			if ok {
				got = l.UnionID
			}
			if got != tc.wantSaved {
				t.Errorf("stored unionid %q, want %q", got, tc.wantSaved)
			}
		})
	}
}

// TestHangingPlatform: a platform that never answers costs a follow at
// most FollowWait and a message nothing; a user is fetched once at a
// time, and fetches in flight are bounded.
func TestHangingPlatform(t *testing.T) {
	f := newFixture(t, func(c *identity.Config) { c.FollowWait = time.Millisecond; c.MaxFetches = 1 })
	f.wx.hang["o1"], f.wx.hang["o2"] = true, true
	f.wx.unions["o1"] = "un-1"
	f.wx.started = make(chan bot.UserID, 10)
	if got := f.handle(t, ev(bot.WeChat, "gh", "o1", bot.KindFollow)); got != "" {
		t.Errorf("follow while the platform hangs: unionid %q, want none", got)
	}
	<-f.wx.started // o1's fetch is in flight
	for range 3 {
		if got := f.handle(t, ev(bot.WeChat, "gh", "o1", bot.KindMessage)); got != "" {
			t.Errorf("message while the platform hangs: unionid %q, want none", got)
		}
	}
	f.handle(t, ev(bot.WeChat, "gh", "o2", bot.KindMessage)) // over MaxFetches: not fetched
	if got := f.wx.callCount(); got != 1 {
		t.Errorf("fetches while hanging = %d, want 1 (one per user at a time, at most MaxFetches)", got)
	}
	f.wx.release <- struct{}{} // o1's answer comes
	f.svc.Wait()
	if got := f.handle(t, ev(bot.WeChat, "gh", "o1", bot.KindMessage)); got != "un-1" {
		t.Errorf("message after the answer came: unionid %q, want un-1", got)
	}
}

// TestCrowdedLogsOnce: senders turned away while every fetch slot is
// taken cost one warning, not one per message.
func TestCrowdedLogsOnce(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	f := newFixture(t, func(c *identity.Config) {
		c.MaxFetches = 1
		c.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	})
	f.wx.hang["o-slow"] = true
	f.wx.started = make(chan bot.UserID, 10)
	f.handle(t, ev(bot.WeChat, "gh", "o-slow", bot.KindMessage))
	<-f.wx.started // the one slot is taken
	for i := range 20 {
		f.handle(t, ev(bot.WeChat, "gh", bot.UserID(fmt.Sprintf("o-%d", i)), bot.KindMessage))
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "too many fetches"); n != 1 {
		t.Errorf("%d warnings for 20 senders turned away, want 1:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestFailPause: after a failure that may pass, no question starts on
// that platform until FailPause has passed; then the next event asks
// again. Other platforms are asked meanwhile.
func TestFailPause(t *testing.T) {
	clk := bottest.NewClock(t0)
	f := newFixture(t, func(c *identity.Config) {
		c.FailPause = time.Minute
		c.Now = clk.Now
	})
	f.wx.errs["o1"] = fmt.Errorf("fake -1: %w", bot.ErrUnavailable)
	f.wx.unions["o2"], f.wc.unions["wm1"] = "un-2", "un-3"
	steps := []struct {
		name      string
		after     time.Duration
		event     bot.Event
		wantSeen  string
		wantCalls int // fetches so far, both platforms
	}{
		{"the platform fails", 0, ev(bot.WeChat, "gh", "o1", bot.KindFollow), "", 1},
		{"paused: another follower is not asked", time.Second, ev(bot.WeChat, "gh", "o2", bot.KindFollow), "", 1},
		{"another platform is asked", 0, ev(bot.WeCom, "corp", "wm1", bot.KindMessage), "", 2},
		{"after the pause the follower is asked", time.Minute, ev(bot.WeChat, "gh", "o2", bot.KindFollow), "un-2", 3},
	}
	for _, st := range steps {
		clk.Add(st.after)
		if got := f.handle(t, st.event); got != st.wantSeen {
			t.Errorf("%s: unionid %q, want %q", st.name, got, st.wantSeen)
		}
		f.svc.Wait()
		if got := f.wx.callCount() + f.wc.callCount(); got != st.wantCalls {
			t.Errorf("%s: fetches = %d, want %d", st.name, got, st.wantCalls)
		}
	}
}

// TestSlowStore: a store that fails or hangs costs the link, never the
// event.
func TestSlowStore(t *testing.T) {
	for _, mode := range []string{"fails", "hangs"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, func(c *identity.Config) { c.LookupTimeout = time.Millisecond })
			f.store.fail, f.store.block = mode == "fails", mode == "hangs"
			if got := f.handle(t, ev(bot.WeChat, "gh", "o1", bot.KindMessage)); got != "" {
				t.Errorf("unionid %q, want none", got)
			}
			if got := f.wx.callCount(); got != 0 {
				t.Errorf("fetches = %d, want none when the store cannot say", got)
			}
		})
	}
}

// TestContactWait: with ContactWait a new WeCom contact is fetched before
// the engine, like a follower.
func TestContactWait(t *testing.T) {
	f := newFixture(t, func(c *identity.Config) { c.ContactWait = 5 * time.Second })
	f.wc.unions["wm1"] = "un-1"
	if got := f.handle(t, ev(bot.WeCom, "corp", "wm1", bot.KindContactAdded)); got != "un-1" {
		t.Errorf("new contact: unionid %q, want un-1", got)
	}
}

// TestLearn: the adapter's Learn fetches an unknown contact once and
// leaves a known one alone.
func TestLearn(t *testing.T) {
	f := newFixture(t, nil)
	f.wc.unions["wm1"], f.wc.unions["wm2"] = "un-1", "un-2"
	_ = f.store.Save(t.Context(), identity.Link{Platform: bot.WeCom, Account: "corp", User: "wm2", UnionID: "un-2", CheckedAt: t0})
	f.svc.Learn(t.Context(), bot.WeCom, "corp", "wm1")
	f.svc.Learn(t.Context(), bot.WeCom, "corp", "wm2")
	f.svc.Wait()
	if got := f.wc.callCount(); got != 1 {
		t.Errorf("fetches = %d, want 1 (the unknown contact only)", got)
	}
	if l, _ := f.store.get(bot.WeCom, "corp", "wm1"); l.UnionID != "un-1" {
		t.Errorf("stored %q for wm1, want un-1", l.UnionID)
	}
}

// gateSpy records the push it was asked about.
type gateSpy struct{ got bot.Push }

func (g *gateSpy) Admit(_ context.Context, p bot.Push, _ time.Time) (time.Time, error) {
	g.got = p
	return time.Time{}, nil
}

// TestGate: a queued push to a user linked since gets the unionid before
// the gate decides; others go as they are.
func TestGate(t *testing.T) {
	f := newFixture(t, nil)
	_ = f.store.Save(t.Context(), identity.Link{Platform: bot.WeCom, Account: "corp", User: "wm1", UnionID: "un-1", CheckedAt: t0})
	tests := []struct {
		name string
		to   bot.Target
		want string
	}{
		{"linked 微信客服 customer", bot.Target{Platform: bot.WeCom, Account: "corp/kf/wk1", User: "wm1"}, "un-1"},
		{"unlinked user", bot.Target{Platform: bot.WeCom, Account: "corp", User: "wm2"}, ""},
		{"a unionid already there is kept", bot.Target{Platform: bot.WeCom, Account: "corp", User: "wm1", UnionID: "un-0"}, "un-0"},
		{"a group", bot.Target{Platform: bot.WeCom, Account: "corp", Conversation: bot.Conversation{Group: "g1"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spy := &gateSpy{}
			p := bot.Push{Action: bot.Batched{Action: bot.Reply{To: tc.to, Text: "券"}, Key: "k"}, Topic: "coupon"}
			if _, err := f.svc.Gate(spy).Admit(t.Context(), p, t0); err != nil {
				t.Fatal(err)
			}
			if got := spy.got.Dest().UnionID; got != tc.want {
				t.Errorf("gate saw unionid %q, want %q", got, tc.want)
			}
			if text, _ := bot.TextOf(spy.got); text != "券" || spy.got.Topic != "coupon" {
				t.Errorf("push changed: %+v", spy.got)
			}
		})
	}
	if f.svc.Gate(nil) != nil {
		t.Error("Gate(nil) is not nil: the outbox would call a gate that is not there")
	}
}

// TestWithUnionID sets the target of every action type.
func TestWithUnionID(t *testing.T) {
	to := bot.Target{Platform: bot.WeCom, Account: "corp", User: "wm1"}
	for _, a := range []bot.Action{
		bot.Reply{To: to}, bot.News{To: to}, bot.Welcome{To: to}, bot.StaffAlert{To: to}, bot.Render{To: to},
		bot.Push{Action: bot.Reply{To: to}}, bot.Batched{Action: bot.News{To: to}},
	} {
		if got := identity.WithUnionID(a, "un-1").Dest().UnionID; got != "un-1" {
			t.Errorf("%T: unionid %q, want un-1", a, got)
		}
	}
}

// BenchmarkMiddleware: what the middleware adds to an event, by what
// the replica knows of the sender: linked and cached, unlinked and
// cached, and never seen with the index complete (the platform paused,
// so nothing starts behind the event). None touches the store.
func BenchmarkMiddleware(b *testing.B) {
	store := newMemStore()
	_ = store.Save(b.Context(), identity.Link{Platform: bot.WeChat, Account: "gh", User: "o-linked", UnionID: "un-1", CheckedAt: t0})
	_ = store.Save(b.Context(), identity.Link{Platform: bot.WeChat, Account: "gh", User: "o-alone", CheckedAt: t0})
	paused := &fakeFetcher{errs: map[bot.UserID]error{"o-fail": fmt.Errorf("fake: %w", bot.ErrUnavailable)}}
	svc := identity.New(identity.Config{Store: store, Fetchers: map[bot.Platform]identity.Fetcher{bot.WeChat: paused}, Now: func() time.Time { return t0 }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.Run(ctx)
	for !svc.Indexed() {
		time.Sleep(time.Millisecond)
	}
	h := bot.Chain(bot.HandlerFunc(func(context.Context, bot.Event) ([]bot.Action, error) { return nil, nil }), svc.Middleware())
	for _, u := range []bot.UserID{"o-linked", "o-alone", "o-fail"} {
		_, _ = h.HandleEvent(b.Context(), ev(bot.WeChat, "gh", u, bot.KindMessage)) // cache them; pause the platform
		svc.Wait()
	}
	for _, tc := range []struct {
		name string
		user func(i int) bot.UserID
	}{
		{"linked", func(int) bot.UserID { return "o-linked" }},
		{"unlinked", func(int) bot.UserID { return "o-alone" }},
		{"never seen", func(i int) bot.UserID { return bot.UserID("o-new-" + strconv.Itoa(i)) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			before := store.lookupCount()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := h.HandleEvent(b.Context(), ev(bot.WeChat, "gh", tc.user(i), bot.KindMessage)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(store.lookupCount()-before)/float64(b.N), "lookups/op")
		})
	}
}

func BenchmarkDigestOf(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		identity.DigestOf(bot.WeChat, "wx5823bf96d3bd56c7", "oLVPpjqs9BhvzwPj5A-vTYAX3GLc")
	}
}

// TestUnboundAccount: an Official Account that gave no unionid for
// UnlinkedAfter answers in a row is not asked about its new senders
// until UnlinkedFor has passed; one more answer without a unionid then
// renews the verdict, and a unionid ends it. Other accounts, and
// platforms not AccountWide (WeCom: a contact's kind decides), are asked
// as before.
func TestUnboundAccount(t *testing.T) {
	var mu sync.Mutex
	now := t0
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	f := newFixture(t, func(c *identity.Config) {
		c.AccountWide = []bot.Platform{bot.WeChat}
		c.UnlinkedAfter = 3
		c.UnlinkedFor = time.Hour
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	// As in production: the index says who was ever linked, so a new
	// sender is looked up only behind the reply.
	runIndexed(t, f.svc)
	send := func(p bot.Platform, account bot.AccountID, user bot.UserID) {
		t.Helper()
		f.handle(t, ev(p, account, user, bot.KindMessage))
		f.svc.Wait()
	}
	steps := []struct {
		name      string
		before    func()
		p         bot.Platform
		account   bot.AccountID
		user      bot.UserID
		wantFetch bool
	}{
		{name: "first answer without a unionid", p: bot.WeChat, account: "gh", user: "o1", wantFetch: true},
		{name: "second", p: bot.WeChat, account: "gh", user: "o2", wantFetch: true},
		{name: "third earns the verdict", p: bot.WeChat, account: "gh", user: "o3", wantFetch: true},
		{name: "a new sender of the unbound account is not asked about", p: bot.WeChat, account: "gh", user: "o4", wantFetch: false},
		{name: "another account is asked about", p: bot.WeChat, account: "gh2", user: "p1", wantFetch: true},
		{name: "WeCom contacts are asked about however many lack one", before: func() {
			for _, u := range []bot.UserID{"w1", "w2", "w3", "w4"} {
				send(bot.WeCom, "corp", u)
			}
		}, p: bot.WeCom, account: "corp", user: "w5", wantFetch: true},
		{name: "the verdict stands just before its end", before: func() { advance(time.Hour - time.Second) }, p: bot.WeChat, account: "gh", user: "o5", wantFetch: false},
		{name: "after it a new sender is asked about", before: func() { advance(2 * time.Second) }, p: bot.WeChat, account: "gh", user: "o6", wantFetch: true},
		{name: "that answer without a unionid renewed it", p: bot.WeChat, account: "gh", user: "o7", wantFetch: false},
		{name: "a unionid after the next end", before: func() {
			advance(time.Hour + time.Second)
			f.wx.mu.Lock()
			f.wx.unions["o8"] = "un-8"
			f.wx.mu.Unlock()
		}, p: bot.WeChat, account: "gh", user: "o8", wantFetch: true},
		{name: "ends the run: the next sender is asked about", p: bot.WeChat, account: "gh", user: "o9", wantFetch: true},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		fetcher := f.wx
		if st.p == bot.WeCom {
			fetcher = f.wc
		}
		calls, lookups := fetcher.callCount(), f.store.lookupCount()
		send(st.p, st.account, st.user)
		fetched := fetcher.callCount() > calls
		if fetched != st.wantFetch {
			t.Fatalf("%s: fetched %v, want %v", st.name, fetched, st.wantFetch)
		}
		if !st.wantFetch {
			if n := f.store.lookupCount() - lookups; n != 0 {
				t.Errorf("%s: %d lookups of the store, want none", st.name, n)
			}
			if _, ok := f.store.get(st.p, st.account, st.user); ok {
				t.Errorf("%s: a link was saved for a sender not asked about", st.name)
			}
		}
	}
}
