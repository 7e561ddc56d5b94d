package wechat

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

// lateRows returns the outbox rows of late events' stored copies.
func lateRows(t *testing.T, b backends) []bot.OutboxItem {
	t.Helper()
	return rowsWithPrefix(t, b, "batch:wechat-late:")
}

// TestLateEventDueAfterDedupeLease: a late callback's stored event comes
// due once the first handling's dedupe lease (6 s by default) would have
// run out had the replica died, not after ProcessTimeout + 30 s (90 s), so
// a dead replica's late callback is answered within seconds.
func TestLateEventDueAfterDedupeLease(t *testing.T) {
	b := newBackends(t)
	release := newGate()
	clk := bottest.NewClock(time.Now().Truncate(time.Second))
	r := newFaultReplica(t, b, bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		<-release.c // still running when the budget runs out
		return nil, nil
	}), faultOptions{cfg: Config{ReplyBudget: time.Millisecond, Now: clk.Now}})
	t.Cleanup(release.open) // after the server's: cleanups run last first
	if got, err := postGuarded(t, r.sim(), r.sim().TextXML("o-late-due", "你好", NewMsgID())); err != nil || got.MsgType != "" {
		t.Fatalf("answer = %+v, %v; want success", got, err)
	}
	rows := lateRows(t, b)
	if len(rows) != 1 {
		t.Fatalf("stored late events = %d, want 1", len(rows))
	}
	const dedupeLease = 6 * time.Second // bot.DedupeConfig's default
	if got := rows[0].NextAt.Sub(clk.Now()); got <= dedupeLease || got > 15*time.Second {
		t.Errorf("stored event due %v after the answer, want after the dedupe lease (%v) and within 15 s", got, dedupeLease)
	}
}

// TestLateCopyWhileFirstStillRuns: the stored event may come due while
// the first handling still runs (it renews its dedupe claim). The copy
// then handles nothing and sends nothing ("still being handled", tried
// again later); once the first handling has queued the reply, the copy
// finds its result: the engine ran once and the reply went out once.
func TestLateCopyWhileFirstStillRuns(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	dcfg := bot.DedupeConfig{Lease: 300 * time.Millisecond, Wait: 50 * time.Millisecond, Poll: 5 * time.Millisecond}
	engine := testEngine(t)
	entered := make(chan struct{}, 4)
	finish := newGate()
	var calls atomic.Int32
	slow := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		calls.Add(1)
		entered <- struct{}{}
		<-finish.c
		return engine.HandleEvent(ctx, ev)
	})
	a := newFaultReplica(t, b, slow, faultOptions{dedupe: dcfg, cfg: Config{ReplyBudget: time.Millisecond}})
	clk := bottest.NewClock(time.Now())
	replicaB := newFaultReplica(t, b, slow, faultOptions{dedupe: dcfg, outboxNow: clk.Now,
		senders: map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b)}})
	t.Cleanup(finish.open) // after the servers': cleanups run last first

	if got, err := postGuarded(t, a.sim(), a.sim().TextXML("o-late-running", "营业时间", NewMsgID())); err != nil || got.MsgType != "" {
		t.Fatalf("answer = %+v, %v; want success", got, err)
	}
	guard(t, entered, "replica A handling the callback")
	clk.Add(time.Hour) // the stored event is due; A still handles it
	if _, err := replicaB.outbox.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if sent := api.messages(); len(sent) != 0 {
		t.Fatalf("API received %+v while the first handling ran, want nothing", sent)
	}
	if rows := lateRows(t, b); len(rows) != 1 || rows[0].Status != bot.OutboxPending {
		t.Fatalf("stored event rows %+v, want 1 pending (tried again later)", rows)
	}

	finish.open()
	guard(t, a.queued, "replica A queueing the late reply")
	for range 3 {
		clk.Add(time.Hour)
		if _, err := replicaB.outbox.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if sent := api.messages(); len(sent) != 1 || sent[0].Text != "我们每天 9:00-21:00 营业" {
		t.Fatalf("API received %+v, want the reply once", sent)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("engine ran %d times, want 1", n)
	}
	if rows := lateRows(t, b); len(rows) != 1 || rows[0].Status != bot.OutboxSent {
		t.Fatalf("stored event rows %+v, want 1 done", rows)
	}
}
