package wechat

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers/internal/handlertest"
)

// Issue 28: every reply reaches the customer exactly once, whichever
// answers WeChat takes or loses, and whichever replica dies where. Two
// replicas share the database and Redis; faults are placed with hooks.

const openingHours = "我们每天 9:00-21:00 营业"

// drainOutboxes sends what the replicas' outboxes hold that is due.
func drainOutboxes(t *testing.T, replicas ...*faultReplica) {
	t.Helper()
	for range 3 {
		for _, r := range replicas {
			if _, err := r.outbox.RunOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// stallGate makes a replica's dedupe claims hang until opened, as when
// its Redis stalls, and says when one is hanging.
type stallGate struct {
	gate
	entered chan struct{}
}

func newStallGate(r *faultReplica) stallGate {
	s := stallGate{gate: newGate(), entered: make(chan struct{}, 8)}
	r.dedupe.stall = func(ctx context.Context) {
		s.entered <- struct{}{}
		<-s.c
	}
	return s
}

// TestRetryOfLostPassiveAnswerIsDelivered (issue 28 cause A): replica A
// answers passively and its answer is lost; WeChat retries to replica B.
// The stored result says A's answer carried the reply, but the retry
// shows it did not arrive: B delivers it, once, passively while inside
// its budget, else through the outbox (its budget is tiny, or its Redis
// stalled past the deadline). Before, B's "success" was the accepted
// answer and the reply was dropped as answered elsewhere. A further retry
// after an outbox delivery answers success only.
func TestRetryOfLostPassiveAnswerIsDelivered(t *testing.T) {
	tests := []struct {
		name        string
		cfgB        Config
		stall       bool // B's Redis stalls past its deadline
		wantPassive bool // B answers with the reply
	}{
		{"retry within its budget answers passively", Config{}, false, true},
		{"retry past its budget sends through the outbox", Config{ReplyBudget: time.Nanosecond}, false, false},
		{"retry whose Redis stalls past its deadline sends through the outbox", Config{ReplyBudget: time.Millisecond, AnswerBy: time.Millisecond}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			b := newBackends(t)
			// Any later attempt is a retry (WeChat's come 5 s apart).
			dcfg := bot.DedupeConfig{Overlap: time.Nanosecond, Poll: 5 * time.Millisecond}
			senders := map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b)}
			var calls atomic.Int32
			engine := handlertest.Counting(&calls, testEngine(t))
			a := newFaultReplica(t, b, engine, faultOptions{dedupe: dcfg, senders: senders})
			replicaB := newFaultReplica(t, b, engine, faultOptions{dedupe: dcfg, senders: senders, cfg: tc.cfgB})
			msg := a.sim().TextXML("o-lost-answer", "营业时间", NewMsgID())
			if got, err := postGuarded(t, a.sim(), msg); err != nil || got.Content != openingHours {
				t.Fatalf("A's answer = %+v, %v; want the reply (then lost on its way)", got, err)
			}
			var stall stallGate
			if tc.stall {
				stall = newStallGate(replicaB)
				t.Cleanup(stall.open)
			}
			got, err := postGuarded(t, replicaB.sim(), msg) // WeChat's retry
			if err != nil {
				t.Fatal(err)
			}
			if tc.stall {
				stall.open()
			}
			if passive := got.Content == openingHours; passive != tc.wantPassive || !passive && got.MsgType != "" {
				t.Fatalf("B answered %+v, want the reply passively: %v", got, tc.wantPassive)
			}
			if !tc.wantPassive {
				guard(t, replicaB.queued, "B queueing the reply")
			}
			drainOutboxes(t, a, replicaB)
			wantSent := 0
			if !tc.wantPassive {
				wantSent = 1
			}
			if sent := api.messages(); len(sent) != wantSent || wantSent == 1 && sent[0].Text != openingHours {
				t.Fatalf("API received %+v, want the reply %d times", sent, wantSent)
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("handled %d times, want 1", n)
			}
			// B's answer is lost too: the next retry must not deliver it
			// again, and answers as B did.
			again, err := postGuarded(t, a.sim(), msg)
			if err != nil || (again.Content == openingHours) != tc.wantPassive {
				t.Fatalf("next retry answered %+v, %v; want the reply passively: %v", again, err, tc.wantPassive)
			}
			drainOutboxes(t, a, replicaB)
			if sent := api.messages(); len(sent) != wantSent {
				t.Fatalf("API received %d messages after the next retry, want %d", len(sent), wantSent)
			}
		})
	}
}

// TestOutboxDeliveryRecordedAfterRows (issue 28 cause C): replica A's
// budget runs out, so it answers "success" and must deliver the reply
// through the outbox; it is killed right after it records the callback
// as delivered through the outbox. WeChat will not retry, and the stored
// late copy finds that record when it comes due at replica B, so the rows
// must exist by then: before, the record came first and the kill lost the
// reply.
func TestOutboxDeliveryRecordedAfterRows(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	senders := map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b)}
	var calls atomic.Int32
	answered := newGate()
	a := newFaultReplica(t, b, answeredThen(answered, &calls, testEngine(t).HandleEvent),
		faultOptions{cfg: Config{ReplyBudget: time.Millisecond, ProcessTimeout: 2 * time.Second}, senders: senders})
	t.Cleanup(answered.open)
	recorded := make(chan struct{}, 1)
	a.dedupe.finished = func(_ string, result []byte) {
		if string(result) == "o" {
			a.die() // SIGKILL, right after the record
			recorded <- struct{}{}
		}
	}
	clk := bottest.NewClock(time.Now())
	replicaB := newFaultReplica(t, b, testEngine(t), faultOptions{senders: senders, outboxNow: clk.Now})

	msg := a.sim().TextXML("o-killed-late", "营业时间", NewMsgID())
	if got, err := postGuarded(t, a.sim(), msg); err != nil || got.MsgType != "" {
		t.Fatalf("A's answer = %+v, %v; want success (its budget ran out)", got, err)
	}
	answered.open()
	guard(t, recorded, "A recording the callback as delivered through the outbox")
	clk.Add(time.Hour) // A's stored late copy is due
	drainOutboxes(t, replicaB)
	if sent := api.messages(); len(sent) != 1 || sent[0].Text != openingHours {
		t.Fatalf("API received %+v, want the reply once", sent)
	}
}

// TestCopyAnswersAsTheOtherHandling (issue 18 item 3 and issue 28): WeChat
// delivers a callback to both replicas at once, and whichever answer it
// takes first is the one that counts. A copy that waits for the other
// handling answers as it does, whatever its budget; one that had to
// answer "success" before it learnt of the other (its Redis stalled past
// its deadline) sends the reply only if its "success" came first, and
// never again later, not even from its stored late copy after Redis
// forgot the result. An attempt whose "success" WeChat did not get (it
// retried, and the retry answered) sends nothing.
func TestCopyAnswersAsTheOtherHandling(t *testing.T) {
	tests := []struct {
		name string
		// order: "wait" B waits for A; "after" B answers early after A's
		// answer; "before" B answers early while A handles, before A
		// answers; "retry" B answers early and A comes after, as WeChat's
		// retry (B's answer was lost).
		order       string
		wantPassive bool // B answers with the reply
		wantSent    int
	}{
		{"copy waiting for the other answers the same", "wait", true, 0},
		{"copy answered early after the other's answer sends nothing", "after", false, 0},
		{"copy answered early before the other's answer sends the reply", "before", false, 1},
		{"attempt answered early, then WeChat's retry answered: sends nothing", "retry", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			b := newBackends(t)
			// Every attempt overlaps: copies sent together.
			dcfg := bot.DedupeConfig{Overlap: time.Hour, Wait: 20 * time.Second, Poll: 5 * time.Millisecond}
			senders := map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b)}
			engine := testEngine(t)
			hold := newGate()
			entered := make(chan struct{}, 1)
			a := newFaultReplica(t, b, bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
				entered <- struct{}{}
				<-hold.c
				return engine.HandleEvent(ctx, ev)
			}), faultOptions{dedupe: dcfg, senders: senders})
			clk := bottest.NewClock(time.Now())
			var callsB atomic.Int32
			cfgB := Config{ReplyBudget: time.Millisecond}
			if tc.order != "wait" {
				cfgB.AnswerBy = time.Millisecond
			}
			replicaB := newFaultReplica(t, b, handlertest.Counting(&callsB, engine), faultOptions{dedupe: dcfg, senders: senders, outboxNow: clk.Now, cfg: cfgB})
			t.Cleanup(hold.open)
			msg := a.sim().TextXML("o-copies", "营业时间", NewMsgID())
			type answer struct {
				r   SimReply
				err error
			}
			post := func(r *faultReplica) chan answer {
				c := make(chan answer, 1)
				go func() {
					got, err := r.sim().Post(t.Context(), msg)
					c <- answer{got, err}
				}()
				return c
			}
			var answerA, answerB chan answer
			var stall stallGate
			switch tc.order {
			case "wait":
				answerA = post(a)
				guard(t, entered, "A handling the callback")
				answerB = post(replicaB)
				hold.open()
			case "after":
				hold.open()
				answerA = post(a)
				guard(t, answerA, "A's answer") // before B's early one
				answerA <- answer{SimReply{Content: openingHours}, nil}
				stall = newStallGate(replicaB)
				answerB = post(replicaB)
			case "before":
				answerA = post(a)
				guard(t, entered, "A handling the callback")
				stall = newStallGate(replicaB)
				answerB = post(replicaB)
				gotB := guard(t, answerB, "B's early answer") // before A's
				answerB <- gotB
				hold.open()
			case "retry":
				stall = newStallGate(replicaB)
				answerB = post(replicaB)
				gotB := guard(t, answerB, "B's early answer") // lost: WeChat retries to A
				answerB <- gotB
				hold.open()
				answerA = post(a)
			}
			gotA := guard(t, answerA, "A's answer")
			if gotA.err != nil || gotA.r.Content != openingHours {
				t.Fatalf("A's answer = %+v, %v; want the reply passively", gotA.r, gotA.err)
			}
			gotB := guard(t, answerB, "B's answer")
			if tc.order != "wait" {
				stall.open()
			}
			if gotB.err != nil || (gotB.r.Content == openingHours) != tc.wantPassive {
				t.Fatalf("B's answer = %+v, %v; want the reply passively: %v", gotB.r, gotB.err, tc.wantPassive)
			}
			replicaB.srv.Close() // waits for B's handler, late delivery included
			if n := callsB.Load(); n != 0 {
				t.Fatalf("B handled the event %d times, want 0 (A's result replayed)", n)
			}
			// Redis forgets A's result; B's stored late copy comes due.
			replicaB.dedupe.forget()
			clk.Add(time.Hour)
			drainOutboxes(t, replicaB)
			if sent := api.messages(); len(sent) != tc.wantSent || tc.wantSent == 1 && sent[0].Text != openingHours {
				t.Fatalf("API received %+v besides A's passive reply, want the reply %d times", sent, tc.wantSent)
			}
		})
	}
}

// TestLateEventNotStoredIsRefused (issue 28): replica A's budget runs out,
// but it cannot store the event (its database is slow), so it must not
// answer "success": WeChat would not retry, and A's death would lose the
// reply. It refuses the callback, dies, and WeChat's retry to replica B
// answers with the reply once A's claim has run out.
func TestLateEventNotStoredIsRefused(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	dcfg := bot.DedupeConfig{Lease: 300 * time.Millisecond, Wait: 20 * time.Second, Poll: 5 * time.Millisecond}
	senders := map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b)}
	entered := make(chan struct{}, 1)
	death := newGate()
	a := newFaultReplica(t, b, bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		select {
		case entered <- struct{}{}:
		default: // handled again after the death: nobody waits
		}
		<-death.c // killed while handling
		return nil, bot.ErrUnavailable
	}), faultOptions{dedupe: dcfg, senders: senders, cfg: Config{ReplyBudget: time.Millisecond, ProcessTimeout: time.Second}})
	a.noPersist.Store(true)
	replicaB := newFaultReplica(t, b, testEngine(t), faultOptions{dedupe: dcfg, senders: senders})
	t.Cleanup(death.open)

	msg := a.sim().TextXML("o-not-stored", "营业时间", NewMsgID())
	got, err := postGuarded(t, a.sim(), msg)
	if err == nil || got.Status == http.StatusOK {
		t.Fatalf("A's answer = %+v, %v; want a refusal, so that WeChat retries", got, err)
	}
	guard(t, entered, "A handling the callback")
	a.die()
	if m := b.rdb.Miniredis(); m != nil {
		m.FastForward(dcfg.Lease) // a real Redis lets the lease run out while B waits
	}
	again, err := postGuarded(t, replicaB.sim(), msg) // WeChat's retry
	if err != nil || again.Content != openingHours {
		t.Fatalf("retry answered %+v, %v; want the reply", again, err)
	}
	drainOutboxes(t, a, replicaB)
	if sent := api.messages(); len(sent) != 0 {
		t.Fatalf("API received %+v besides the retry's answer, want nothing", sent)
	}
}
