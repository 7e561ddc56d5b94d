package bot_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

// TestEngineScopes: the engine answers an event with the scripts of its
// route, and says which file answered.
func TestEngineScopes(t *testing.T) {
	fsys := fstest.MapFS{
		"faq.yaml":                        {Data: []byte(hoursRule("九点") + "fallback: 没听懂\n")},
		"welcome.yaml":                    {Data: []byte("welcome:\n  follow: 欢迎关注\n")},
		"brands/shancha/faq.yaml":         {Data: []byte(hoursRule("十点"))},
		"brands/shancha/oa-main/faq.yaml": {Data: []byte(hoursRule("十一点"))},
		"brands/shancha/welcome.yaml":     {Data: []byte("welcome:\n  follow: 欢迎来到山茶\n")},
	}
	lib, err := bot.NewLibrary(fsys, bottest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	e := bot.NewEngine(bot.EngineConfig{Scripts: lib, Pick: func(int) int { return 0 }})
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		route    bot.Route
		kind     bot.EventKind
		text     string
		want     string
		wantFile string
		wantLine int
	}{
		{"the account's rule", shanchaOA, bot.KindMessage, "营业时间", "十一点", "brands/shancha/oa-main/faq.yaml", 2},
		{"another account of the brand: the brand's rule", shanchaWeCom, bot.KindMessage, "营业时间", "十点", "brands/shancha/faq.yaml", 2},
		{"the environment's account: the base rule", bot.Route{}, bot.KindMessage, "营业时间", "九点", "faq.yaml", 2},
		{"a brand without a folder: the base rule", otherOA, bot.KindMessage, "营业时间", "九点", "faq.yaml", 2},
		{"the brand's file replaced the fallback's file", shanchaWeCom, bot.KindMessage, "啊？", "", "", 0},
		{"the base fallback", bot.Route{}, bot.KindMessage, "啊？", "没听懂", "faq.yaml", 5},
		{"the brand's welcome", shanchaOA, bot.KindFollow, "", "欢迎来到山茶", "brands/shancha/welcome.yaml", 2},
		{"the base welcome", bot.Route{}, bot.KindFollow, "", "欢迎关注", "welcome.yaml", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := bot.Event{Platform: bot.WeChat, Account: "gh_1", Route: tc.route, Kind: tc.kind, Sender: "u1", Text: tc.text, Time: at}
			turn, err := e.Run(t.Context(), ev, false)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, a := range turn.Actions {
				switch a := a.(type) {
				case bot.Reply:
					got = a.Text
				case bot.Welcome:
					got = a.Text
				}
				if a.Dest().Route != tc.route {
					t.Errorf("action to route %q, want %q", a.Dest().Route, tc.route)
				}
			}
			if got != tc.want {
				t.Errorf("answer %q, want %q", got, tc.want)
			}
			if turn.Answer.File != tc.wantFile || turn.Answer.Line != tc.wantLine {
				t.Errorf("answered from %s:%d, want %s:%d", turn.Answer.File, turn.Answer.Line, tc.wantFile, tc.wantLine)
			}
			if turn.Scripts != lib.ScriptsFor(tc.route) {
				t.Error("the turn's scripts are not the route's")
			}
		})
	}
}

// staticSource is a ScriptSource without scripts per route, as tests and
// older callers give the engine.
type staticSource struct{ s *bot.Scripts }

func (s staticSource) Scripts() *bot.Scripts { return s.s }

func TestEngineScopesPlainSource(t *testing.T) {
	s, err := bot.LoadScripts(fstest.MapFS{"faq.yaml": {Data: []byte(hoursRule("九点"))}, "brands/shancha/faq.yaml": {Data: []byte(hoursRule("十点"))}})
	if err != nil {
		t.Fatal(err)
	}
	e := bot.NewEngine(bot.EngineConfig{Scripts: staticSource{s}})
	turn, err := e.Run(t.Context(), bot.Event{Platform: bot.WeChat, Route: shanchaOA, Kind: bot.KindMessage, Sender: "u", Text: "营业时间", Time: time.Now()}, false)
	if err != nil {
		t.Fatal(err)
	}
	if turn.Scripts != s || turn.Answer.File != "faq.yaml" {
		t.Errorf("a source without routes answers from %s, want its own scripts (faq.yaml)", turn.Answer.File)
	}
}

// benchScopes is a base of 200 rules and, with brands > 0, that many
// brands each replacing one base file and with two accounts, one of which
// replaces it again.
func benchScopes(tb testing.TB, brands int) *bot.Library {
	tb.Helper()
	fsys := fstest.MapFS{}
	for f := range 10 {
		var b strings.Builder
		b.WriteString("rules:\n")
		for r := range 20 {
			fmt.Fprintf(&b, "  - name: r%d-%d\n    match: {contains: [关键词%d号%d]}\n    reply: 回复%d-%d\n", f, r, f, r, f, r)
		}
		if f == 0 {
			b.WriteString("  - name: hours\n    match: {contains: [营业时间]}\n    reply: 九点\n")
		}
		fsys[fmt.Sprintf("faq%d.yaml", f)] = &fstest.MapFile{Data: []byte(b.String())}
	}
	fsys["fallback.yaml"] = &fstest.MapFile{Data: []byte("fallback: 没听懂\n")}
	for i := range brands {
		fsys[fmt.Sprintf("brands/b%02d/faq0.yaml", i)] = &fstest.MapFile{Data: []byte(hoursRule(fmt.Sprintf("品牌%d十点", i)))}
		fsys[fmt.Sprintf("brands/b%02d/oa/faq0.yaml", i)] = &fstest.MapFile{Data: []byte(hoursRule(fmt.Sprintf("品牌%d十一点", i)))}
		fsys[fmt.Sprintf("brands/b%02d/wecom/extra.yaml", i)] = &fstest.MapFile{Data: []byte(promoRule("满减"))}
	}
	lib, err := bot.NewLibrary(fsys, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return lib
}

// BenchmarkEngineRunScopes is the engine's turn for a keyword message
// with the base scripts alone and with 20 brands (60 scopes), for an
// event of the environment's account and one of a brand's account: the
// per-event choice of scripts must not show.
func BenchmarkEngineRunScopes(b *testing.B) {
	cases := []struct {
		name   string
		brands int
		route  bot.Route
	}{
		{"base only/zero route", 0, bot.Route{}},
		{"base only/routed", 0, bot.Route{Brand: "b10", Name: "oa"}},
		{"20 brands/zero route", 20, bot.Route{}},
		{"20 brands/account", 20, bot.Route{Brand: "b10", Name: "oa"}},
		{"20 brands/brand", 20, bot.Route{Brand: "b10", Name: "douyin"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			lib := benchScopes(b, c.brands)
			e := bot.NewEngine(bot.EngineConfig{Scripts: lib, Pick: func(int) int { return 0 }})
			ev := bot.Event{Platform: bot.WeChat, Account: "gh_1", Route: c.route, Kind: bot.KindMessage, Sender: "u1", Text: "请问营业时间是几点", Time: time.Now()}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Run(b.Context(), ev, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLibraryLoadScopes is one load of benchScopes' files: what a
// reload costs with the base alone and with 20 brands.
func BenchmarkLibraryLoadScopes(b *testing.B) {
	for _, brands := range []int{0, 20} {
		b.Run(fmt.Sprintf("%d brands", brands), func(b *testing.B) {
			lib := benchScopes(b, brands)
			b.ReportAllocs()
			for b.Loop() {
				if err := lib.Reload(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScriptsFor is the per-event choice of scripts alone, with 20
// brands (60 scopes): the zero route, an account with a folder, and an
// account without one (its brand's).
func BenchmarkScriptsFor(b *testing.B) {
	lib := benchScopes(b, 20)
	for _, r := range []bot.Route{{}, {Brand: "b10", Name: "oa"}, {Brand: "b10", Name: "douyin"}} {
		name := r.String()
		if r.IsZero() {
			name = "zero"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if lib.ScriptsFor(r) == nil {
					b.Fatal("no scripts")
				}
			}
		})
	}
}
