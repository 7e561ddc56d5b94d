package dnd_test

import (
	"context"
	"errors"
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/dnd"
)

// TestHeldOncePerPush: a push held back when it is produced (quiet
// hours) and again when the outbox tries it (the person opted out
// meanwhile) is one held-back record, saying what happened last, not two.
func TestHeldOncePerPush(t *testing.T) {
	f := newFixture(t, testScripts)
	ctx := t.Context()
	f.clock.Set(at(0, 23, 0))
	h := f.svc.Middleware()(bot.HandlerFunc(func(context.Context, bot.Event) ([]bot.Action, error) {
		return []bot.Action{push(oaUser("u1"), "coupon", "新人券")}, nil
	}))
	out, err := h.HandleEvent(ctx, message("u1", "来张券"))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Fatalf("middleware returned %d actions, want the deferred push", len(out))
	}
	b, ok := out[0].(bot.Batched)
	if !ok {
		t.Fatalf("middleware returned %T, want bot.Batched", out[0])
	}
	// What the outbox stores and hands the gate at 08:00.
	payload, err := bot.MarshalAction(b.Action)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := bot.UnmarshalAction(payload)
	if err != nil {
		t.Fatal(err)
	}
	f.store.out[bot.PersonOf(bot.WeChat, "gh_brand", "u1", "")] = true
	f.clock.Set(at(1, 8, 0))
	if _, err := f.svc.Admit(ctx, stored.(bot.Push), f.clock.Now()); !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("Admit err = %v, want the push dropped (ErrInvalid)", err)
	}
	held, err := f.svc.Held(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 {
		t.Fatalf("held = %d records %+v, want 1 for the one push", len(held), held)
	}
	if held[0].Reason != dnd.ReasonOptedOut || !held[0].Dropped() {
		t.Errorf("held = %+v, want the latest: opted_out, dropped", held[0])
	}
}
