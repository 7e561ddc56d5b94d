package coupontest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

const confirmCampaigns = `campaigns:
  - id: haggle
    name: 满减券
    stock: 10
    per_person: 3
    trigger: {keywords: [领券], intent: coupon}
    codes: {generate: {prefix: HG, length: 8}}
  - id: gone
    name: 旧活动券
    stock: 10
    end: "2025-12-31T23:59:59+08:00"
    trigger: {intent: greeting}
    codes: {generate: {prefix: GO, length: 8}}
    replies: {ended: 活动已结束}
  - id: quiet
    name: 会员券
    stock: 10
    per_person: 3
    trigger: {intent: coupon, sure_confidence: 0.99}
    codes: {generate: {prefix: QU, length: 8}}
    replies: {confirm: "要一张{{name}}吗？回复 领券"}
`

// TestCouponAsksUnlessSure: a claim read from the coupon intent alone
// (ordinary haggling reads coupon at 0.96) asks first; the answer claims
// once, on whichever replica it reaches, however often it is retried;
// a message flagged as spam, fraud or poaching claims nothing.
func TestCouponAsksUnlessSure(t *testing.T) {
	ctx := context.Background()
	clock := bottest.NewClock(testNow)
	r := newReplicas(t, 2, confirmCampaigns, clock.Now, nil)
	// Each replica reads the open questions through its own client, on
	// the same Redis prefix.
	other := storetest.RedisReplica(t, r.rdb)
	engines := make([]*bot.Engine, 2)
	for i, rdb := range []*redisstore.Client{r.rdb, other} {
		confirm := bot.NewConfirmations(bot.ConfirmConfig{Store: redisstore.NewQuestions(rdb), Now: clock.Now})
		svc := coupon.New(coupon.Config{Store: r.stores[i], Counter: redisstore.NewCouponCounter(rdb), Now: clock.Now, Scripts: staticScripts{r.scripts}, Confirm: confirm})
		engines[i] = buildEngine(t, r.scripts, confirm, svc, clock)
	}
	type step struct {
		name    string
		replica int
		ev      bot.Event
		intent  string
		conf    float64
		risks   []string
		advance time.Duration
		stage   string
		reply   string // prefix of the first action's text
		issued  int    // claims of haggle and quiet afterwards
	}
	steps := []step{
		{name: "haggling asks, claims nothing", ev: message("a", "两件一起买能便宜点吗？包邮不", "h1"), intent: "coupon", conf: 0.96,
			stage: "ask:coupon", reply: "想领取满减券吗？回复「领券」领取～"},
		{name: "the answer claims both offered campaigns, on the other replica", replica: 1, ev: message("a", "领券", "h2"),
			stage: "command:coupon", reply: "领取成功！您的券码 HG", issued: 2},
		{name: "the answer's retry claims nothing new", ev: message("a", "领券", "h2"), stage: "command:coupon", reply: "领取成功！您的券码 HG", issued: 2},
		{name: "a second 领券 is the keyword alone: one more haggle coupon", ev: message("a", "领券", "h3"), stage: "command:coupon", issued: 3},
		{name: "asked again", ev: message("b", "有没有优惠", "h4"), intent: "coupon", conf: 0.9, stage: "ask:coupon", issued: 3},
		{name: "a flagged answer earns nothing and answers nothing", ev: message("b", "领券", "h5"), risks: []string{"ad_spam"}, stage: "", issued: 3},
		{name: "a flagged keyword earns nothing", ev: message("c", "领券", "h6"), risks: []string{"fraud"}, stage: "", issued: 3},
		{name: "a reading sure by quiet's own threshold claims quiet alone", ev: message("d", "有没有会员券", "h7"), intent: "coupon", conf: 0.995,
			stage: "command:coupon", reply: "领取成功！您的券码 QU", issued: 4},
		{name: "an ended campaign is not offered: its answer changes nothing", ev: message("f", "你好呀", "h10"), intent: "greeting", conf: 0.9,
			stage: "command:coupon", reply: "活动已结束", issued: 4},
		{name: "both campaigns offered", ev: message("e", "有优惠吗", "h8"), intent: "coupon", conf: 0.9, stage: "ask:coupon", issued: 4},
		{name: "an answer after the question's five minutes is the keyword alone: haggle only", ev: message("e", "领券", "h9"), advance: 6 * time.Minute, stage: "command:coupon", issued: 5},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clock.Add(st.advance)
			st.ev.Time = clock.Now()
			ctx := withReading(ctx, reading{st.intent, st.conf, st.risks})
			turn, err := engines[st.replica].Run(ctx, st.ev, false)
			if err != nil {
				t.Fatal(err)
			}
			if turn.Answer.Stage != st.stage {
				t.Errorf("stage = %q, want %q", turn.Answer.Stage, st.stage)
			}
			if st.reply != "" {
				if len(turn.Actions) == 0 {
					t.Fatalf("no actions, want %q", st.reply)
				}
				if got := render(t, r.svcs[0], turn.Actions[0]); !strings.HasPrefix(got, st.reply) {
					t.Errorf("reply = %q, want it to start with %q", got, st.reply)
				}
			}
			if st.stage == "" && len(turn.Actions) != 0 {
				t.Errorf("actions = %+v, want none", turn.Actions)
			}
			h, _ := r.stores[0].Issued(ctx, "haggle")
			q, _ := r.stores[0].Issued(ctx, "quiet")
			if h+q != st.issued {
				t.Errorf("issued = %d haggle + %d quiet, want %d", h, q, st.issued)
			}
		})
	}
}

// reading is what the test's analyzer says of a message.
type reading struct {
	intent string
	conf   float64
	risks  []string
}

type readingKey struct{}

func withReading(ctx context.Context, r reading) context.Context {
	return context.WithValue(ctx, readingKey{}, r)
}

// capFunc adapts a function to bot.Capability.
type capFunc func(*bot.Stack) error

func (f capFunc) Install(s *bot.Stack) error { return f(s) }

func buildEngine(t *testing.T, scripts *bot.Scripts, confirm *bot.Confirmations, svc *coupon.Service, clock *bottest.Clock) *bot.Engine {
	t.Helper()
	understand := capFunc(func(s *bot.Stack) error {
		s.Analyze(bot.AnalyzerFunc(func(ctx context.Context, t *bot.Turn) error {
			r, _ := ctx.Value(readingKey{}).(reading)
			t.Intent, t.Confidence, t.Risks = r.intent, r.conf, r.risks
			return nil
		}))
		return nil
	})
	stack, err := bot.NewStack(understand, confirm, svc)
	if err != nil {
		t.Fatal(err)
	}
	return stack.Engine(bot.EngineConfig{Scripts: staticScripts{scripts}, Now: clock.Now, Pick: func(int) int { return 0 }})
}
