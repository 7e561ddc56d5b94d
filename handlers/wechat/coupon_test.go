package wechat

import (
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/handlers/internal/handlertest"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

const couponScripts = `campaigns:
  - id: first-cup
    name: 首杯券
    stock: 100
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: FC, length: 10}}
    replies: {issued: "领取成功，券码 {{code}}"}
fallback: 没听懂
`

// couponEngine is the engine with the coupon command on b's stores: what
// every replica runs, sharing the claims.
func couponEngine(t *testing.T, b backends) (bot.Handler, *coupon.Service) {
	t.Helper()
	lib, err := bot.NewLibrary(fstest.MapFS{"c.yaml": {Data: []byte(couponScripts)}}, nil, coupon.Section{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.NewCoupons(t.Context(), b.db)
	if err != nil {
		t.Fatal(err)
	}
	svc := coupon.New(coupon.Config{Store: store, Counter: redisstore.NewCouponCounter(b.rdb), Scripts: lib})
	return bot.NewEngine(bot.EngineConfig{Scripts: lib, Commands: []bot.Stage{svc}, Pick: func(int) int { return 0 }}), svc
}

// TestCouponCodeInTheAnswer (issue 28 cause D): a coupon claimed inside
// the reply budget is answered with its code, so an account that cannot
// send customer-service messages (no AppSecret: the demo, a subscription
// account) shows it too. The message the claim wrote to the outbox stays
// on standby and is sent only when the answer did not carry the code: the
// budget ran out, or WeChat retried because the answer was lost and the
// retry could not answer passively. Once, by one path, with one code.
func TestCouponCodeInTheAnswer(t *testing.T) {
	tests := []struct {
		name string
		// budgetA: A's budget runs out while it claims.
		budgetA bool
		// retry: A's answer is lost and WeChat retries to B, whose
		// budget is cfgB's.
		retry       bool
		cfgB        Config
		wantPassive bool // the code reaches the customer in an answer
		wantSent    int  // and through the outbox this many times
	}{
		{"claimed inside the budget: the code is in the answer", false, false, Config{}, true, 0},
		{"answer lost, retry inside its budget: answered again", false, true, Config{}, true, 0},
		{"answer lost, retry past its budget: the standby message is sent", false, true, Config{ReplyBudget: time.Nanosecond}, false, 1},
		{"budget ran out while claiming: sent through the outbox", true, false, Config{}, false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			b := newBackends(t)
			dcfg := bot.DedupeConfig{Overlap: time.Nanosecond, Poll: 5 * time.Millisecond}
			engine, svc := couponEngine(t, b)
			senders := map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b)}
			var calls atomic.Int32
			answered := newGate()
			t.Cleanup(answered.open)
			handlerA := bot.Handler(engine)
			cfgA := Config{}
			if tc.budgetA {
				cfgA.ReplyBudget = time.Millisecond
				handlerA = answeredThen(answered, &calls, engine.HandleEvent)
			}
			a := newFaultReplica(t, b, handlerA, faultOptions{dedupe: dcfg, senders: senders, cfg: cfgA})
			replicaB := newFaultReplica(t, b, handlertest.Counting(&calls, engine), faultOptions{dedupe: dcfg, senders: senders, cfg: tc.cfgB})
			for _, r := range []*faultReplica{a, replicaB} {
				r.outbox.SetRenderer(coupon.RendererName, svc)
			}
			msg := a.sim().TextXML("o-coupon", "领券", NewMsgID())
			got, err := postGuarded(t, a.sim(), msg)
			if err != nil {
				t.Fatal(err)
			}
			answered.open()
			if tc.budgetA {
				guard(t, a.queued, "A queueing the coupon message")
			}
			code, inAnswer := strings.CutPrefix(got.Content, "领取成功，券码 FC")
			if inAnswer != !tc.budgetA {
				t.Fatalf("A answered %+v, want the code in it: %v", got, !tc.budgetA)
			}
			if tc.retry {
				gotB, err := postGuarded(t, replicaB.sim(), msg)
				if err != nil {
					t.Fatal(err)
				}
				if tc.wantPassive != (gotB.Content == got.Content) || !tc.wantPassive && gotB.MsgType != "" {
					t.Fatalf("retry answered %+v, want A's answer again: %v", gotB, tc.wantPassive)
				}
				if !tc.wantPassive {
					guard(t, replicaB.queued, "B queueing the coupon message")
				}
			}
			drainOutboxes(t, a, replicaB)
			sent := api.messages()
			if len(sent) != tc.wantSent {
				t.Fatalf("API received %+v, want the coupon message %d times", sent, tc.wantSent)
			}
			for _, m := range sent {
				if !strings.HasPrefix(m.Text, "领取成功，券码 FC") || code != "" && !strings.HasSuffix(m.Text, code) {
					t.Fatalf("sent %q, want the code of the answer (%q)", m.Text, code)
				}
			}
			standby, err := sqlstore.NewOutbox(b.db).List(t.Context(), bot.OutboxStandby, 10)
			if err != nil {
				t.Fatal(err)
			}
			if want := 1 - tc.wantSent; len(standby) != want {
				t.Fatalf("%d coupon messages on standby, want %d", len(standby), want)
			}
		})
	}
}
