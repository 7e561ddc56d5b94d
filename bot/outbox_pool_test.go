package bot_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// TestOutboxRunKeepsSlotsBusy: one hung send holds one send slot, not a
// batch. Run claims more rows as slots free up, so every other row goes
// out while the hung send still runs (before, the worker waited for the
// whole batch of the hung row before claiming more).
func TestOutboxRunKeepsSlotsBusy(t *testing.T) {
	clk := newTestClock()
	store := &memOutbox{}
	release := make(chan struct{})
	sent := make(chan bot.UserID, 16)
	sender := bot.SenderFunc(func(ctx context.Context, a bot.Action) error {
		to := a.Dest().User
		if to == "hung" {
			select { // the platform hangs until the test ends
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}
		sent <- to
		return nil
	})
	o := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.WeChat: sender}, bot.OutboxConfig{
		Now: clk.Now, Concurrency: 2, Batch: 4,
		// Long enough that the hung send never times out during the test.
		Lease: 3 * time.Hour, SendTimeout: time.Hour,
	})
	actions := []bot.Action{reply("hung")}
	const others = 6
	for i := range others {
		actions = append(actions, reply(fmt.Sprint("u", i)))
	}
	if got := runUntilSent(t, o, actions, release, sent, others); got < others {
		t.Fatalf("sent %d of the %d other rows while one send hung, want all", got, others)
	}
}

func douyinReply(user string) bot.Action {
	return bot.Reply{To: bot.Target{Platform: bot.Douyin, Account: "d", User: bot.UserID(user)}, Text: "你好"}
}

// TestOutboxPlatformCircuit: once CircuitThreshold sends in a row to a
// platform time out, its other rows are put back without a send (and
// without counting an attempt) while another platform's rows go out; once
// the cooldown has passed, one probe send goes, and its success closes
// the circuit so the rest follow.
func TestOutboxPlatformCircuit(t *testing.T) {
	clk := newTestClock()
	store := &memOutbox{}
	var douyinDown atomic.Bool
	douyinDown.Store(true)
	var douyinCalls, wechatCalls atomic.Int32
	douyin := bot.SenderFunc(func(ctx context.Context, a bot.Action) error {
		douyinCalls.Add(1)
		if douyinDown.Load() {
			return fmt.Errorf("fake douyin: %w", context.DeadlineExceeded)
		}
		return nil
	})
	o := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.Douyin: douyin, bot.WeChat: countingSender(&wechatCalls)},
		bot.OutboxConfig{Now: clk.Now, Concurrency: 1, CircuitThreshold: 3, CircuitCooldown: time.Second})
	var actions []bot.Action
	for i := range 5 {
		actions = append(actions, douyinReply(fmt.Sprint("d", i)))
		if i < 3 {
			actions = append(actions, reply(fmt.Sprint("w", i)))
		}
	}
	if err := o.Enqueue(t.Context(), "k", actions); err != nil {
		t.Fatal(err)
	}

	if _, err := o.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := douyinCalls.Load(), int32(3); got != want {
		t.Errorf("douyin sends while timing out = %d, want %d (the threshold, then the circuit opens)", got, want)
	}
	if got, want := wechatCalls.Load(), int32(3); got != want {
		t.Errorf("wechat sends = %d, want %d: another platform's rows must not wait", got, want)
	}
	deferred := 0
	for id := int64(1); id <= int64(len(actions)); id++ {
		row := store.get(id)
		if row.Status == bot.OutboxPending && row.Attempts == 0 {
			deferred++
			if !row.NextAt.After(clk.Now()) {
				t.Errorf("deferred row %d due %v, want after now (%v)", id, row.NextAt, clk.Now())
			}
		}
	}
	if deferred != 2 {
		t.Errorf("rows put back without an attempt = %d, want 2", deferred)
	}

	// The platform recovers; past the cooldown and the rows' backoff, the
	// probe succeeds and closes the circuit.
	douyinDown.Store(false)
	clk.Add(5 * time.Second)
	if _, err := o.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := douyinCalls.Load(), int32(3+5); got != want {
		t.Errorf("douyin sends after recovery = %d in all, want %d (probe, then the rest)", got, want)
	}
	for id := int64(1); id <= int64(len(actions)); id++ {
		if row := store.get(id); row.Status != bot.OutboxSent {
			t.Errorf("row %d %s (%s), want sent", id, row.Status, row.LastError)
		}
	}
}

// TestOutboxAccountHangs: one configured account's API hangs. Its sends
// hold at most their share of the send slots, so another account of the
// same platform still gets its rows out while the first account's sends
// hang (before, the hung account's rows took every slot until they timed
// out).
func TestOutboxAccountHangs(t *testing.T) {
	clk := newTestClock()
	store := &memOutbox{}
	release := make(chan struct{})
	sent := make(chan bot.UserID, 16)
	hung := bot.Route{Brand: "b", Name: "hangs"}
	sender := bot.SenderFunc(func(ctx context.Context, a bot.Action) error {
		if a.Dest().Route == hung {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return ctx.Err()
		}
		sent <- a.Dest().User
		return nil
	})
	o := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.WeChat: sender}, bot.OutboxConfig{
		Now: clk.Now, Concurrency: 4, AccountSlots: 3, Batch: 8,
		Lease: 3 * time.Hour, SendTimeout: time.Hour,
	})
	to := func(r bot.Route, user string) bot.Action {
		return bot.Reply{To: bot.Target{Platform: bot.WeChat, Account: "wx", Route: r, User: bot.UserID(user)}, Text: "你好"}
	}
	var actions []bot.Action
	for i := range 8 {
		actions = append(actions, to(hung, fmt.Sprint("h", i)))
	}
	const others = 3
	for i := range others {
		actions = append(actions, to(bot.Route{Brand: "b", Name: "ok"}, fmt.Sprint("u", i)))
	}
	if got := runUntilSent(t, o, actions, release, sent, others); got < others {
		t.Fatalf("sent %d of the healthy account's %d rows while the other account's sends hung, want all", got, others)
	}
}

// runUntilSent enqueues actions and runs o until want sends were seen on
// sent (or a failure guard, not a speed claim, ran out), then stops it
// and releases the hung sends; it returns how many were seen.
func runUntilSent(t *testing.T, o *bot.Outbox, actions []bot.Action, release chan struct{}, sent <-chan bot.UserID, want int) int {
	t.Helper()
	if err := o.Enqueue(t.Context(), "k", actions); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	defer func() { stop(); close(release); <-done }()
	guard := time.NewTimer(20 * time.Second)
	defer guard.Stop()
	for got := range want {
		select {
		case <-sent:
		case <-guard.C:
			return got
		}
	}
	return want
}

// TestOutboxStaffCircuitPerBrand: staff alerts go out through their
// brand's own app when it has one, so one brand's failing app opens only
// that brand's staff circuit: another brand's alerts, and the
// environment's, still go out.
func TestOutboxStaffCircuitPerBrand(t *testing.T) {
	clk := newTestClock()
	store := &memOutbox{}
	sent := map[string]int{}
	staff := bot.SenderFunc(func(_ context.Context, a bot.Action) error {
		b := a.Dest().Route.Brand
		sent[b]++
		if b == "down" {
			return fmt.Errorf("fake app of brand down: %w", context.DeadlineExceeded)
		}
		return nil
	})
	o := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.Staff: staff},
		bot.OutboxConfig{Now: clk.Now, Concurrency: 1, CircuitThreshold: 3, CircuitCooldown: time.Minute})
	alert := func(brand string, i int) bot.Action {
		return bot.StaffAlert{To: bot.Target{Platform: bot.WeCom, Route: bot.Route{Brand: brand, Name: brand + "-app"}, User: bot.UserID(fmt.Sprint("wm", i))}, Title: "客户请求人工", Text: "人工"}
	}
	var actions []bot.Action
	for i := range 5 {
		actions = append(actions, alert("down", i), alert("up", i))
		if i < 2 {
			actions = append(actions, bot.StaffAlert{To: bot.Target{Platform: bot.WeCom, User: "wm-env"}, Text: "人工"})
		}
	}
	if err := o.Enqueue(t.Context(), "k", actions); err != nil {
		t.Fatal(err)
	}
	if _, err := o.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"down": 3, "up": 5, "": 2}; fmt.Sprint(sent) != fmt.Sprint(want) {
		t.Errorf("alerts sent per brand = %v, want %v: the failing brand's circuit opens after 3, the others' alerts all go", sent, want)
	}
}
