package handover_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/handover"
)

// TestSettingsPerRoute: outside a turn (the platform's hold) the
// hand-over's settings come from the scripts of the conversation's
// route: a brand's quiet time for its account, the base's otherwise.
func TestSettingsPerRoute(t *testing.T) {
	clock := bottest.NewClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	store := newMemStore(clock.Now)
	lib, err := bot.NewLibrary(fstest.MapFS{
		"a.yaml":                    {Data: []byte(testScripts)},
		"brands/shancha/a.yaml":     {Data: []byte(strings.Replace(testScripts, "quiet: 30m", "quiet: 5m", 1))},
		"brands/shancha/oa/x.yaml":  {Data: []byte("")},
		"brands/yunshan/other.yaml": {Data: []byte("")},
	}, nil, handover.Section{})
	if err != nil {
		t.Fatal(err)
	}
	svc := handover.New(handover.Config{Pauses: store, Board: store, Turns: store, Log: store, History: store, Scripts: lib, Now: clock.Now})
	tests := []struct {
		route bot.Route
		user  string
		want  time.Duration
	}{
		{bot.Route{Brand: "shancha", Name: "oa"}, "u1", 5 * time.Minute},
		{bot.Route{Brand: "shancha", Name: "kf"}, "u2", 5 * time.Minute},
		{bot.Route{Brand: "yunshan", Name: "oa"}, "u3", 30 * time.Minute},
		{bot.Route{}, "u4", 30 * time.Minute},
	}
	for _, tc := range tests {
		to := bot.Target{Platform: bot.WeChat, Account: "acct", Route: tc.route, User: bot.UserID(tc.user)}
		if err := svc.Hold(context.Background(), to, handover.ReasonPlatform); err != nil {
			t.Fatal(err)
		}
		mp := store.pauses[handover.ConvOf(to.Platform, to.Account, to.User)]
		if got := mp.deadline.Sub(clock.Now()); got != tc.want {
			t.Errorf("route %q: the pause lasts %v, want %v", tc.route, got, tc.want)
		}
		if mp.p.To.Route != tc.route {
			t.Errorf("route %q: the pause's target has route %q", tc.route, mp.p.To.Route)
		}
	}
}
