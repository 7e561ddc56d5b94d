package dnd_test

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/dnd"
)

// TestGatePerRoute: the send gate, which runs outside any turn, applies
// the dnd: section of the scripts of the push's route (its account's,
// its brand's, or the base scripts'). Opting out stays per person: a
// person opted out is held back through every route.
func TestGatePerRoute(t *testing.T) {
	lib, err := bot.NewLibrary(fstest.MapFS{
		"dnd.yaml": {Data: []byte("dnd:\n  unsubscribe: [退订]\n")},
		"brands/shancha/dnd.yaml": {Data: []byte(
			"dnd:\n  unsubscribe: [退订]\n  quiet_hours: {from: \"22:00\", to: \"08:00\", timezone: Asia/Shanghai}\n")},
	}, nil, dnd.Section{})
	if err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	clock := bottest.NewClock(at(0, 23, 0))
	svc := dnd.New(dnd.Config{Store: store, Counters: newMemCounters(clock.Now), Scripts: lib, Now: clock.Now})
	to := func(route bot.Route, user string) bot.Target {
		tg := oaUser(user)
		tg.Route = route
		return tg
	}
	shancha := bot.Route{Brand: "shancha", Name: "oa-main"}
	tests := []struct {
		name      string
		to        bot.Target
		wantUntil bool
	}{
		{"shancha's account: its brand's quiet hours", to(shancha, "a"), true},
		{"the environment's account: the base scripts have none", to(bot.Route{}, "a"), false},
		{"another brand without scripts: the base's", to(bot.Route{Brand: "yunshan", Name: "oa"}, "a"), false},
	}
	for _, tc := range tests {
		until, err := svc.Admit(t.Context(), push(tc.to, "coupon", "券"), clock.Now())
		if err != nil {
			t.Fatalf("%s: Admit: %v", tc.name, err)
		}
		if !until.IsZero() != tc.wantUntil {
			t.Errorf("%s: deferred until %v, want deferred %v", tc.name, until, tc.wantUntil)
		}
	}
	if _, err := store.SetOptOut(t.Context(), oaUser("b").Person(), true, clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, route := range []bot.Route{{}, shancha} {
		if _, err := svc.Admit(t.Context(), push(to(route, "b"), "coupon", "券"), clock.Now()); !errors.Is(err, bot.ErrInvalid) {
			t.Errorf("an opted-out person through %q: Admit = %v, want refused", route, err)
		}
	}
}
