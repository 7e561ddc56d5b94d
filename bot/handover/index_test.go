package handover_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/handover"
)

// run starts the replica's background index and waits until it is
// loaded.
func (r *rig) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !r.svc.Indexed(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the index did not load")
		}
	}
}

// TestIndexAcrossReplicas: with each replica's index loaded, an ordinary
// message reads no pause; a hand-over on one replica is announced, so the
// customer's next message on the other is held; a replica that starts
// later loads the hand-overs made before it.
func TestIndexAcrossReplicas(t *testing.T) {
	clock := bottest.NewClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	store, bus := newMemStore(clock.Now), &memBus{}
	a := newReplicaRig(t, testScripts, clock, store, bus)
	b := newReplicaRig(t, testScripts, clock, store, bus)
	a.run(t)
	b.run(t)

	before := store.getCalls()
	if got := b.say(t, "u1", "营业时间"); !slices.Equal(got, []string{"reply:每天 9:00-21:00"}) {
		t.Fatalf("ordinary message: %q", got)
	}
	if n := store.getCalls() - before; n != 0 {
		t.Errorf("an ordinary message read %d pauses, want none", n)
	}
	a.say(t, "u1", "人工")
	before = store.getCalls()
	if got := b.say(t, "u1", "营业时间"); !slices.Equal(got, []string{"handover:forward:keyword:kf1@gh_test"}) {
		t.Fatalf("the next message on the other replica: %q, want it held", got)
	}
	if n := store.getCalls() - before; n != 1 {
		t.Errorf("a held conversation's message read %d pauses, want 1", n)
	}
	if got := b.say(t, "u2", "营业时间"); !slices.Equal(got, []string{"reply:每天 9:00-21:00"}) {
		t.Fatalf("another customer on the other replica: %q", got)
	}

	// A replica started now (a restart) learns the hand-over from the
	// stores.
	c := newReplicaRig(t, testScripts, clock, store, bus)
	c.run(t)
	if got := c.say(t, "u1", "营业时间"); !slices.Equal(got, []string{"handover:forward:keyword:kf1@gh_test"}) {
		t.Fatalf("on a replica started later: %q, want it held", got)
	}

	// The platform's own hold (95018) is announced too.
	if err := b.svc.Hold(context.Background(), bot.Target{Platform: bot.WeChat, Account: "acct", User: "u3"}, handover.ReasonPlatform); err != nil {
		t.Fatal(err)
	}
	if got := a.say(t, "u3", "营业时间"); !slices.Equal(got, []string{"handover:forward:platform:"}) {
		t.Fatalf("after the platform's hold on another replica: %q, want it held", got)
	}
}

// TestIndexNotReady: until the index is loaded, and when the stores
// cannot list the hand-overs, every message reads its pause.
func TestIndexNotReady(t *testing.T) {
	clock := bottest.NewClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	store := newMemStore(clock.Now)
	r := newReplicaRig(t, testScripts, clock, store, &memBus{})
	before := store.getCalls()
	r.say(t, "u1", "营业时间")
	if n := store.getCalls() - before; n != 1 || r.svc.Indexed() {
		t.Fatalf("before the index loads: %d reads (indexed %v), want 1", n, r.svc.Indexed())
	}
	store.mu.Lock()
	store.fail = bot.ErrUnavailable
	store.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); store.listCalls() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the index never tried to load")
		}
	}
	if r.svc.Indexed() {
		t.Fatal("indexed although the stores could not list the hand-overs")
	}
}
