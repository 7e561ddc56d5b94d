package checkin_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/checkin"
)

// senderNames names a person by their user id, so boards show who is on
// them.
type senderNames struct{}

func (senderNames) Name(_ context.Context, ev bot.Event) string { return string(ev.Sender) }

// TestBoardsPerBrand: two brands whose accounts share one WeCom corp (one
// account id) check in in scopes of their own, so neither sees the
// other's people on its boards, and a person checks in once a day in
// each; the base scripts' scopes are as before brands had scripts.
func TestBoardsPerBrand(t *testing.T) {
	lib, err := bot.NewLibrary(fstest.MapFS{
		"checkin.yaml":                {Data: []byte(testYAML)},
		"brands/shancha/welcome.yaml": {Data: []byte("welcome:\n  follow: 欢迎关注山茶\n")},
		"brands/yunshan/welcome.yaml": {Data: []byte("welcome:\n  follow: 欢迎关注云山\n")},
	}, nil, checkin.Section{})
	if err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	clock := &bottest.Clock{}
	clock.Set(shanghai("2026-11-26 09:00"))
	svc := checkin.New(checkin.Options{Store: store, Names: senderNames{}, Now: clock.Now, Scripts: lib})
	engine := bot.NewEngine(bot.EngineConfig{Scripts: lib, Commands: []bot.Stage{svc}, Now: clock.Now})
	var (
		shancha = bot.Route{Brand: "shancha", Name: "wecom"}
		yunshan = bot.Route{Brand: "yunshan", Name: "wecom"}
	)
	say := func(route bot.Route, user, text string) string {
		t.Helper()
		ev := bot.Event{Platform: bot.WeCom, Account: "ww_corp", Route: route, Kind: bot.KindMessage, Sender: bot.UserID(user), Text: text, Time: clock.Now()}
		turn, err := engine.Run(t.Context(), ev, false)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(texts(turn.Actions), "\n")
	}
	for _, c := range []struct {
		route      bot.Route
		user, want string
	}{
		{shancha, "山茶甲", "签到成功！连续 1 天，积分 +10，总积分 10，今日第 1 位"},
		{shancha, "山茶乙", "今日第 2 位"},
		{yunshan, "云山甲", "今日第 1 位"},
		// The same contact of the shared corp, in each brand: one
		// check-in a day in each, not "already" in the second.
		{shancha, "共同", "今日第 3 位"},
		{yunshan, "共同", "今日第 2 位"},
		{yunshan, "共同", "今天已签到过啦"},
		{bot.Route{}, "环境", "今日第 1 位"},
	} {
		if got := say(c.route, c.user, "签到"); !strings.Contains(got, c.want) {
			t.Errorf("%s checks in through %q: %q, want %q", c.user, c.route, got, c.want)
		}
	}
	for _, c := range []struct {
		route     bot.Route
		on, notOn []string
	}{
		{shancha, []string{"山茶甲", "山茶乙", "共同"}, []string{"云山甲", "环境"}},
		{yunshan, []string{"云山甲", "共同"}, []string{"山茶甲", "山茶乙", "环境"}},
		{bot.Route{}, []string{"环境"}, []string{"山茶甲", "云山甲", "共同"}},
	} {
		board := say(c.route, "共同", "排行榜")
		for _, name := range c.on {
			if !strings.Contains(board, name) {
				t.Errorf("%q's board lacks %s:\n%s", c.route, name, board)
			}
		}
		for _, name := range c.notOn {
			if strings.Contains(board, name) {
				t.Errorf("%q's board shows %s of another brand:\n%s", c.route, name, board)
			}
		}
	}
	scopes := map[string]bool{}
	for _, r := range store.rows {
		scopes[r.Scope] = true
	}
	for _, want := range []string{"shancha|wecom:ww_corp", "yunshan|wecom:ww_corp", "wecom:ww_corp"} {
		if !scopes[want] {
			t.Errorf("scopes %v lack %q", scopes, want)
		}
	}
}

func TestScopeIn(t *testing.T) {
	dm := bot.Event{Platform: bot.WeChat, Account: "gh_1", Sender: "o1"}
	grp := bot.Event{Platform: bot.Douyin, Account: "dy_1", Sender: "o1", Conversation: bot.Conversation{Group: "g1"}}
	long := bot.Event{Platform: bot.WeCom, Account: bot.AccountID(strings.Repeat("w", 80)), Sender: "o1"}
	tests := []struct {
		brand string
		ev    bot.Event
		want  string
	}{
		{"", dm, "wechat:gh_1"},
		{"", grp, "douyin:dy_1:g1"},
		{"shancha", dm, "shancha|wechat:gh_1"},
		{"shancha", grp, "shancha|douyin:dy_1:g1"},
		{"", long, "wecom:" + strings.Repeat("w", 80)},
	}
	for _, tc := range tests {
		if got := checkin.ScopeIn(tc.brand, tc.ev); got != tc.want {
			t.Errorf("ScopeIn(%q, %s) = %q, want %q", tc.brand, tc.ev.Account, got, tc.want)
		}
		if tc.brand == "" && checkin.ScopeOf(tc.ev) != tc.want {
			t.Errorf("ScopeOf(%s) = %q, want ScopeIn's %q", tc.ev.Account, checkin.ScopeOf(tc.ev), tc.want)
		}
	}
	// Over MaxScopeLen with the brand: a digest, not the base scope.
	got := checkin.ScopeIn("shancha", long)
	if len(got) > checkin.MaxScopeLen || got == checkin.ScopeOf(long) || !strings.HasPrefix(got, "h:") {
		t.Errorf("ScopeIn(shancha, long) = %q, want a bounded digest of its own", got)
	}
}
