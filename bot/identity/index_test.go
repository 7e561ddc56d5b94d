package identity_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/identity"
)

// runIndexed starts f's Run and waits until its index is complete. The
// deadline only bounds a failing test.
func runIndexed(t *testing.T, svc *identity.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the index to be complete", svc.Indexed)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestIndexedSenders: with the index of linked users complete, only a
// sender the index holds is looked up before the engine runs; any other
// goes on at once, unlinked, and is looked up (then asked about) behind
// the event, never when the platform is paused.
func TestIndexedSenders(t *testing.T) {
	tests := []struct {
		name        string
		stored      []identity.Link
		unions      map[bot.UserID]string
		paused      bool // the platform failed moments ago
		wantSeen    string
		wantSync    int // store lookups before the engine ran
		wantLookups int // store lookups in all
		wantCalls   int // fetches
		wantSaved   string
	}{
		{
			name:     "a linked sender not cached is looked up before the engine",
			stored:   []identity.Link{{Platform: bot.WeChat, Account: "gh", User: "o1", UnionID: "un-1", CheckedAt: t0}},
			wantSeen: "un-1", wantSync: 1, wantLookups: 1, wantCalls: 0, wantSaved: "un-1",
		},
		{
			name:     "a never seen sender goes on at once and is learnt behind the event",
			unions:   map[bot.UserID]string{"o1": "un-1"},
			wantSeen: "", wantSync: 0, wantLookups: 1, wantCalls: 1, wantSaved: "un-1",
		},
		{
			name:     "a sender checked lately is read behind the event and not asked again",
			stored:   []identity.Link{{Platform: bot.WeChat, Account: "gh", User: "o1", CheckedAt: t0.Add(-time.Hour)}},
			unions:   map[bot.UserID]string{"o1": "un-1"},
			wantSeen: "", wantSync: 0, wantLookups: 1, wantCalls: 0, wantSaved: "",
		},
		{
			name:     "while the platform is paused a never seen sender costs the store nothing",
			paused:   true,
			wantSeen: "", wantSync: 0, wantLookups: 0, wantCalls: 1, wantSaved: "-", // the failed fetch
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			for _, l := range tc.stored {
				_ = f.store.Save(t.Context(), l)
			}
			for u, un := range tc.unions {
				f.wx.unions[u] = un
			}
			runIndexed(t, f.svc)
			if tc.paused {
				f.wx.errs["o0"] = fmt.Errorf("fake -1: %w", bot.ErrUnavailable)
				f.handle(t, ev(bot.WeChat, "gh", "o0", bot.KindMessage))
				f.svc.Wait()
				f.store.mu.Lock()
				f.store.lookups, f.store.syncLookups = 0, 0
				f.store.mu.Unlock()
			}
			if got := f.handle(t, ev(bot.WeChat, "gh", "o1", bot.KindMessage)); got != tc.wantSeen {
				t.Errorf("engine saw unionid %q, want %q", got, tc.wantSeen)
			}
			f.svc.Wait()
			if got := f.store.syncLookupCount(); got != tc.wantSync {
				t.Errorf("store lookups the middleware waited for = %d, want %d", got, tc.wantSync)
			}
			if got := f.store.lookupCount(); got != tc.wantLookups {
				t.Errorf("store lookups = %d, want %d", got, tc.wantLookups)
			}
			if got := f.wx.callCount(); got != tc.wantCalls {
				t.Errorf("fetches = %d, want %d", got, tc.wantCalls)
			}
			l, ok := f.store.get(bot.WeChat, "gh", "o1")
			got := "-"
			if ok {
				got = l.UnionID
			}
			if got != tc.wantSaved {
				t.Errorf("stored unionid %q, want %q", got, tc.wantSaved)
			}
			// Whatever was learnt is cached: the next event costs the
			// store nothing.
			before := f.store.lookupCount()
			f.handle(t, ev(bot.WeChat, "gh", "o1", bot.KindMessage))
			f.svc.Wait()
			if got := f.store.lookupCount() - before; got != 0 && !tc.paused {
				t.Errorf("the next event looked the store up %d times, want none", got)
			}
		})
	}
}

// TestNegativeCache: a sender the platform gave no unionid is looked up
// in the store once, not for every message.
func TestNegativeCache(t *testing.T) {
	f := newFixture(t, nil)
	_ = f.store.Save(t.Context(), identity.Link{Platform: bot.WeChat, Account: "gh", User: "o1", CheckedAt: t0.Add(-time.Hour)})
	for range 3 {
		if got := f.handle(t, ev(bot.WeChat, "gh", "o1", bot.KindMessage)); got != "" {
			t.Fatalf("unionid %q, want none", got)
		}
	}
	f.svc.Wait()
	if got := f.store.lookupCount(); got != 1 {
		t.Errorf("store lookups for 3 messages = %d, want 1", got)
	}
	if got := f.wx.callCount(); got != 0 {
		t.Errorf("fetches = %d, want none before the recheck", got)
	}
}

// bus is an Announcer shared by the replicas of a test: every
// announcement reaches every listener at once, except one whose
// connection is broken, which misses it.
type bus struct {
	mu        sync.Mutex
	listeners map[*busListener]bool
}

type busListener struct {
	b         *bus
	heard     func(identity.Announcement)
	listening func(bool)
	broken    bool
}

func newBus() *bus { return &bus{listeners: map[*busListener]bool{}} }

// announcer returns one replica's end of the bus.
func (b *bus) announcer() *busListener { return &busListener{b: b} }

func (l *busListener) Announce(_ context.Context, a identity.Announcement) error {
	l.b.mu.Lock()
	var to []*busListener
	for o := range l.b.listeners {
		if !o.broken {
			to = append(to, o)
		}
	}
	l.b.mu.Unlock()
	for _, o := range to {
		o.heard(a)
	}
	return nil
}

func (l *busListener) Listen(ctx context.Context, heard func(identity.Announcement), listening func(bool)) {
	l.b.mu.Lock()
	l.heard, l.listening = heard, listening
	l.b.listeners[l] = true
	l.b.mu.Unlock()
	listening(true)
	<-ctx.Done()
	l.b.mu.Lock()
	delete(l.b.listeners, l)
	l.b.mu.Unlock()
}

// setBroken breaks or mends the listener's connection.
func (l *busListener) setBroken(broken bool) {
	l.b.mu.Lock()
	l.broken = broken
	l.b.mu.Unlock()
	l.listening(!broken)
}

// replica is a second Service of a test on f's store, with its own
// platform answers.
func (f *fixture) replica(t *testing.T, a identity.Announcer) (*identity.Service, *fakeFetcher, bot.Handler) {
	t.Helper()
	wx := &fakeFetcher{unions: map[bot.UserID]string{}, errs: map[bot.UserID]error{}, hang: map[bot.UserID]bool{}, release: make(chan struct{})}
	svc := identity.New(identity.Config{
		Store: f.store, Fetchers: map[bot.Platform]identity.Fetcher{bot.WeChat: wx}, Announcer: a,
		Now: func() time.Time { return t0 }, FollowWait: time.Minute,
	})
	t.Cleanup(func() { close(wx.release); svc.Wait() })
	return svc, wx, bot.Chain(f.seen.handler(), svc.Middleware())
}

func say(t *testing.T, h bot.Handler, s *seen, user bot.UserID) string {
	t.Helper()
	if _, err := h.HandleEvent(t.Context(), ev(bot.WeChat, "gh", user, bot.KindMessage)); err != nil {
		t.Fatal(err)
	}
	return s.last()
}

// TestAnnouncements: a link one replica learns reaches the others at
// once, so a sender another replica cached as not (yet) linked, or has
// never seen, is linked there at the next message.
func TestAnnouncements(t *testing.T) {
	f := newFixture(t, nil)
	b := newBus()
	a, aWX, ha := f.replica(t, b.announcer())
	other, bWX, hb := f.replica(t, b.announcer())
	runIndexed(t, a)
	runIndexed(t, other)
	// The second replica meets o1 while its platform is down: it caches
	// that nothing is stored.
	bWX.errs["o1"] = fmt.Errorf("fake -1: %w", bot.ErrUnavailable)
	if got := say(t, hb, f.seen, "o1"); got != "" {
		t.Fatalf("o1 on the second replica: %q, want none", got)
	}
	other.Wait()
	// The first replica learns o1's and o2's links.
	aWX.unions["o1"], aWX.unions["o2"] = "un-1", "un-2"
	for _, u := range []bot.UserID{"o1", "o2"} {
		say(t, ha, f.seen, u)
	}
	a.Wait()
	for _, tc := range []struct {
		user bot.UserID
		want string
	}{{"o1", "un-1"}, {"o2", "un-2"}} {
		if got := say(t, hb, f.seen, tc.user); got != tc.want {
			t.Errorf("%s on the second replica after the first learnt it: %q, want %q", tc.user, got, tc.want)
		}
	}
}

// TestAnnouncerGap: while a replica's connection is down it may miss
// announcements, so it looks up every sender it has not cached; once it
// listens again it reloads its index, so a link it missed is still
// found.
func TestAnnouncerGap(t *testing.T) {
	f := newFixture(t, nil)
	b := newBus()
	a, aWX, ha := f.replica(t, b.announcer())
	bl := b.announcer()
	other, _, hb := f.replica(t, bl)
	runIndexed(t, a)
	runIndexed(t, other)
	bl.setBroken(true)
	if other.Indexed() {
		t.Fatal("index complete while its announcements may be lost")
	}
	aWX.unions["o2"] = "un-2"
	say(t, ha, f.seen, "o2") // announced while the second replica does not listen
	a.Wait()
	bl.setBroken(false)
	waitFor(t, "the index to be reloaded", other.Indexed)
	if got := say(t, hb, f.seen, "o2"); got != "un-2" {
		t.Errorf("a link announced during the gap: %q on the second replica, want un-2", got)
	}
}
