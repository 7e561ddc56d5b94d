package dnd_test

import (
	"context"
	"testing"

	"github.com/siyu-bot/siyu/bot"
)

// BenchmarkMiddlewareReplies is the common path: an event answered with
// replies only passes the middleware untouched.
func BenchmarkMiddlewareReplies(b *testing.B) {
	f := newFixture(b, testScripts)
	actions := []bot.Action{bot.Reply{To: oaUser("u1"), Text: "每天 9:00-21:00"}}
	h := f.svc.Middleware()(bot.HandlerFunc(func(context.Context, bot.Event) ([]bot.Action, error) { return actions, nil }))
	ev := message("u1", "营业时间")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.HandleEvent(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStageNotACommand: the command stage on a message that is not
// 退订/订阅, which is nearly every message.
func BenchmarkStageNotACommand(b *testing.B) {
	f := newFixture(b, testScripts)
	stage := f.svc.Stage()
	turn := &bot.Turn{Event: message("u1", "营业时间"), Scripts: f.scripts, Text: "营业时间"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if taken, err := stage.HandleTurn(ctx, turn); err != nil || taken {
			b.Fatal(taken, err)
		}
	}
}

// BenchmarkAdmitLogic: the gate's own work per push, over in-memory
// stores (the real stores' round trips are in the store benchmarks).
func BenchmarkAdmitLogic(b *testing.B) {
	f := newFixture(b, "rules: []\n")
	p := push(oaUser("u1"), "coupon", "券")
	now := at(0, 12, 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.svc.Admit(ctx, p, now); err != nil {
			b.Fatal(err)
		}
	}
}
