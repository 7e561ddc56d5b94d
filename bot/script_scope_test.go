package bot_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

// hoursRule is a file answering 营业时间 with reply.
func hoursRule(reply string) string {
	return "rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    reply: " + reply + "\n"
}

func promoRule(reply string) string {
	return "rules:\n  - name: promo\n    match: {contains: [活动]}\n    reply: " + reply + "\n"
}

// answer is what scripts s answer to text on the OA, and from which file.
func answer(s *bot.Scripts, text string) string {
	r, ok := s.Match(bot.WeChat, text)
	if !ok {
		return "-"
	}
	return r.Reply(nil) + " @" + r.File
}

var (
	shanchaOA    = bot.Route{Brand: "shancha", Name: "oa-main"}
	shanchaWeCom = bot.Route{Brand: "shancha", Name: "wecom-sh"}
	otherOA      = bot.Route{Brand: "yunshan", Name: "oa"}
)

func TestScriptScopes(t *testing.T) {
	type ask struct {
		route     bot.Route
		text      string
		want      string    // answer(): "reply @file" or "-"
		wantScope bot.Route // Scripts.Scope of the scripts answering route
	}
	tests := []struct {
		name  string
		files map[string]string
		asks  []ask
	}{
		{
			name:  "no brands: every route answers with the base scripts",
			files: map[string]string{"faq.yaml": hoursRule("九点")},
			asks: []ask{
				{bot.Route{}, "营业时间", "九点 @faq.yaml", bot.Route{}},
				{shanchaOA, "营业时间", "九点 @faq.yaml", bot.Route{}},
			},
		},
		{
			name: "a brand's file replaces the base file of its name, for that brand only",
			files: map[string]string{
				"faq.yaml":                hoursRule("九点"),
				"brands/shancha/faq.yaml": hoursRule("十点"),
			},
			asks: []ask{
				{bot.Route{}, "营业时间", "九点 @faq.yaml", bot.Route{}},
				{shanchaOA, "营业时间", "十点 @brands/shancha/faq.yaml", bot.Route{Brand: "shancha"}},
				{shanchaWeCom, "营业时间", "十点 @brands/shancha/faq.yaml", bot.Route{Brand: "shancha"}},
				{otherOA, "营业时间", "九点 @faq.yaml", bot.Route{}},
			},
		},
		{
			name: "an account's file replaces its brand's and the base's",
			files: map[string]string{
				"faq.yaml":                        hoursRule("九点"),
				"brands/shancha/faq.yaml":         hoursRule("十点"),
				"brands/shancha/oa-main/faq.yaml": hoursRule("十一点"),
			},
			asks: []ask{
				{shanchaOA, "营业时间", "十一点 @brands/shancha/oa-main/faq.yaml", shanchaOA},
				{shanchaWeCom, "营业时间", "十点 @brands/shancha/faq.yaml", bot.Route{Brand: "shancha"}},
				{bot.Route{}, "营业时间", "九点 @faq.yaml", bot.Route{}},
			},
		},
		{
			name: "an account's file replaces the base's where its brand has none of that name",
			files: map[string]string{
				"faq.yaml":                        hoursRule("九点"),
				"brands/shancha/oa-main/faq.yaml": hoursRule("十一点"),
			},
			asks: []ask{
				{shanchaOA, "营业时间", "十一点 @brands/shancha/oa-main/faq.yaml", shanchaOA},
				// The brand has a scope of its own (its accounts' folders
				// make it): the base files, under the brand.
				{shanchaWeCom, "营业时间", "九点 @faq.yaml", bot.Route{Brand: "shancha"}},
			},
		},
		{
			name: "an empty file switches a base file off",
			files: map[string]string{
				"faq.yaml":                hoursRule("九点"),
				"promo.yaml":              promoRule("满减"),
				"brands/shancha/faq.yaml": "",
			},
			asks: []ask{
				{shanchaOA, "营业时间", "-", bot.Route{Brand: "shancha"}},
				{shanchaOA, "活动", "满减 @promo.yaml", bot.Route{Brand: "shancha"}},
				{bot.Route{}, "营业时间", "九点 @faq.yaml", bot.Route{}},
			},
		},
		{
			name: "a file of a new name adds to the levels below",
			files: map[string]string{
				"faq.yaml":                          hoursRule("九点"),
				"brands/shancha/promo.yaml":         promoRule("买一送一"),
				"brands/shancha/oa-main/promo2.yml": "rules:\n  - name: oa-only\n    match: {exact: [公众号]}\n    reply: 仅公众号\n",
			},
			asks: []ask{
				{shanchaOA, "营业时间", "九点 @faq.yaml", shanchaOA},
				{shanchaOA, "活动", "买一送一 @brands/shancha/promo.yaml", shanchaOA},
				{shanchaOA, "公众号", "仅公众号 @brands/shancha/oa-main/promo2.yml", shanchaOA},
				{shanchaWeCom, "公众号", "-", bot.Route{Brand: "shancha"}},
				{bot.Route{}, "活动", "-", bot.Route{}},
			},
		},
		{
			name: "names match with their extension",
			files: map[string]string{
				"faq.yaml":               hoursRule("九点"),
				"brands/shancha/faq.yml": promoRule("满减"),
			},
			asks: []ask{
				{shanchaOA, "营业时间", "九点 @faq.yaml", bot.Route{Brand: "shancha"}},
				{shanchaOA, "活动", "满减 @brands/shancha/faq.yml", bot.Route{Brand: "shancha"}},
			},
		},
		{
			name: "base files in subfolders are every scope's",
			files: map[string]string{
				"shop/faq.yaml":           hoursRule("九点"),
				"brands/shancha/faq.yaml": promoRule("满减"),
			},
			asks: []ask{
				{shanchaOA, "营业时间", "九点 @shop/faq.yaml", bot.Route{Brand: "shancha"}},
				{shanchaOA, "活动", "满减 @brands/shancha/faq.yaml", bot.Route{Brand: "shancha"}},
			},
		},
		{
			name: "an account of another brand never reads this brand's folder",
			files: map[string]string{
				"faq.yaml":                hoursRule("九点"),
				"brands/shancha/faq.yaml": hoursRule("十点"),
				"brands/yunshan/faq.yaml": hoursRule("八点"),
			},
			asks: []ask{
				{bot.Route{Brand: "yunshan", Name: "oa-main"}, "营业时间", "八点 @brands/yunshan/faq.yaml", bot.Route{Brand: "yunshan"}},
				// A route naming no brand is not the brand of its name.
				{bot.Route{Name: "shancha"}, "营业时间", "九点 @faq.yaml", bot.Route{}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, text := range tc.files {
				fsys[name] = &fstest.MapFile{Data: []byte(text)}
			}
			lib, err := bot.NewLibrary(fsys, bottest.Logger(t))
			if err != nil {
				t.Fatalf("NewLibrary: %v", err)
			}
			for _, a := range tc.asks {
				s := lib.ScriptsFor(a.route)
				if got := answer(s, a.text); got != a.want {
					t.Errorf("route %q asks %s: answer %q, want %q", a.route, a.text, got, a.want)
				}
				if s.Scope() != a.wantScope {
					t.Errorf("route %q: scripts of scope %q, want %q", a.route, s.Scope(), a.wantScope)
				}
			}
			if lib.ScriptsFor(bot.Route{}) != lib.Scripts() {
				t.Error("ScriptsFor(zero route) is not Scripts()")
			}
		})
	}
}

// TestScriptScopesWelcomeAndFallback: what is defined once (a welcome,
// the fallback) is replaced with its file, and defining it again in a
// new file is the same mistake as in the base scripts, reported at the
// brand's file.
func TestScriptScopesWelcomeAndFallback(t *testing.T) {
	fsys := fstest.MapFS{
		"welcome.yaml":                {Data: []byte("welcome:\n  follow: 欢迎关注\nfallback: 没听懂\n")},
		"brands/shancha/welcome.yaml": {Data: []byte("welcome:\n  follow: 欢迎来到山茶\n")},
	}
	lib, err := bot.NewLibrary(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := lib.ScriptsFor(shanchaOA)
	if got := s.FollowWelcome(nil); got != "欢迎来到山茶" {
		t.Errorf("brand's welcome = %q", got)
	}
	// The base file is replaced whole: its fallback with it.
	if got := s.FallbackReply(nil); got != "" {
		t.Errorf("brand's fallback = %q, want none (the file defining it is replaced)", got)
	}
	if got := lib.Scripts().FallbackReply(nil); got != "没听懂" {
		t.Errorf("base fallback = %q", got)
	}

	fsys["brands/shancha/wx.yaml"] = &fstest.MapFile{Data: []byte("fallback: 嗯？\nwelcome:\n  follow: 又一个欢迎\n")}
	err = lib.Reload()
	want := []string{"brands/shancha/wx.yaml:3: welcome.follow already defined at brands/shancha/welcome.yaml:2"}
	if got := errorStrings(err); !equalStrings(got, want) {
		t.Errorf("Reload errors = %q, want %q", got, want)
	}
}

func TestScriptScopesRefused(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // ScriptErrors as strings
	}{
		{
			name:  "a file directly in brands/",
			files: map[string]string{"faq.yaml": hoursRule("九点"), "brands/faq.yaml": hoursRule("十点")},
			want:  []string{"brands/faq.yaml: a file directly in brands/ belongs to no brand: move it into brands/<brand>/, or out of brands/ for every brand"},
		},
		{
			name:  "a folder inside an account's",
			files: map[string]string{"faq.yaml": hoursRule("九点"), "brands/shancha/oa/more/faq.yaml": hoursRule("十点")},
			want:  []string{"brands/shancha/oa/more/faq.yaml: folders inside an account's folder are not read: put the account's files directly in brands/<brand>/<account>/"},
		},
		{
			name:  "a brand folder's name",
			files: map[string]string{"faq.yaml": hoursRule("九点"), "brands/山茶/faq.yaml": hoursRule("十点")},
			want:  []string{`brands/山茶/faq.yaml: folder name "山茶": a brand's or account's folder is named with letters, digits, '-' or '_', at most 32, as in the accounts file`},
		},
		{
			name:  "an account folder's name",
			files: map[string]string{"faq.yaml": hoursRule("九点"), "brands/shancha/oa main/faq.yaml": hoursRule("十点")},
			want:  []string{`brands/shancha/oa main/faq.yaml: folder name "oa main": a brand's or account's folder is named with letters, digits, '-' or '_', at most 32, as in the accounts file`},
		},
		{
			name: "a brand's rule named as a base rule",
			files: map[string]string{
				"faq.yaml":                  hoursRule("九点"),
				"brands/shancha/extra.yaml": "\n" + hoursRule("十点"),
			},
			want: []string{`brands/shancha/extra.yaml:3: rule name "hours" already used at faq.yaml:2`},
		},
		{
			name: "an account's rule named as its brand's",
			files: map[string]string{
				"faq.yaml":                        "fallback: 嗯\n",
				"brands/shancha/promo.yaml":       promoRule("满减"),
				"brands/shancha/oa-main/oa.yaml":  promoRule("买一送一"),
				"brands/shancha/wecom/promo.yaml": promoRule("换成企业微信的"),
			},
			want: []string{`brands/shancha/oa-main/oa.yaml:2: rule name "promo" already used at brands/shancha/promo.yaml:2`},
		},
		{
			name: "a base mistake is reported once, not once per scope",
			files: map[string]string{
				"faq.yaml":              "rules:\n  - name: x\n    match: {contains: [a]}\n",
				"brands/a/x.yaml":       "",
				"brands/b/x.yaml":       "",
				"brands/b/oa/x.yaml":    "",
				"brands/b/wecom/x.yaml": "",
			},
			want: []string{`faq.yaml:2: rule "x": no reply`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, text := range tc.files {
				fsys[name] = &fstest.MapFile{Data: []byte(text)}
			}
			_, err := bot.LoadScripts(fsys)
			if !errors.Is(err, bot.ErrInvalid) {
				t.Fatalf("LoadScripts = %v, want ErrInvalid", err)
			}
			if got := errorStrings(err); !equalStrings(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestScriptScopesLimit(t *testing.T) {
	fsys := fstest.MapFS{"faq.yaml": {Data: []byte(hoursRule("九点"))}}
	for i := range 50 {
		fsys[fmt.Sprintf("brands/b%02d/oa/faq.yaml", i)] = &fstest.MapFile{Data: []byte(hoursRule("十点"))}
	}
	if _, err := bot.LoadScripts(fsys); err != nil {
		t.Fatalf("50 brands with an account each (100 scopes): %v", err)
	}
	fsys["brands/b50/faq.yaml"] = &fstest.MapFile{Data: []byte(hoursRule("十点"))}
	want := []string{"brands: 101 brand and account folders with scripts, over the limit of 100"}
	if _, err := bot.LoadScripts(fsys); !equalStrings(errorStrings(err), want) {
		t.Errorf("101 scopes: %v, want %q", err, want)
	}
}

func TestLoadScopes(t *testing.T) {
	fsys := fstest.MapFS{
		"faq.yaml":                        {Data: []byte(hoursRule("九点"))},
		"brands/yunshan/faq.yaml":         {Data: []byte(hoursRule("八点"))},
		"brands/shancha/oa-main/faq.yaml": {Data: []byte(hoursRule("十一点"))},
		"brands/shancha/wecom/a.yaml":     {Data: []byte("rules:\n  - name: wecom\n    match: {exact: [企微]}\n    reply: 企微\n")},
		"brands/shancha/promo.yaml":       {Data: []byte(promoRule("买一送一"))},
	}
	scopes, err := bot.LoadScopes(t.Context(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range scopes {
		got = append(got, fmt.Sprintf("%s=%d", s.Scope(), len(s.Rules())))
	}
	// The base first, then each brand followed by its accounts, by name.
	want := []string{"=1", "shancha/=2", "shancha/oa-main=2", "shancha/wecom=3", "yunshan/=1"}
	if !equalStrings(got, want) {
		t.Errorf("scopes = %q, want %q", got, want)
	}
}

// TestLibraryReloadBrandMistake: a mistake in one brand's file rejects
// the whole reload with its file and line, and every scope keeps
// answering as before.
func TestLibraryReloadBrandMistake(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "faq.yaml", hoursRule("九点"))
	writeFile(t, dir, "brands/shancha/faq.yaml", hoursRule("十点"))
	writeFile(t, dir, "brands/shancha/oa-main/faq.yaml", hoursRule("十一点"))
	var logs bottest.Logs
	lib, err := bot.NewLibrary(os.DirFS(dir), logs.Logger(slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	before := lib.Version()
	writeFile(t, dir, "brands/shancha/faq.yaml", "rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    replay: 十二点\n")
	writeFile(t, dir, "faq.yaml", hoursRule("七点")) // a good edit in the same reload
	err = lib.Reload()
	want := []string{`brands/shancha/faq.yaml:4: rule: unknown key "replay" (want name, match, reply, priority or platforms)`}
	if got := errorStrings(err); !equalStrings(got, want) {
		t.Fatalf("Reload errors = %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "file=brands/shancha/faq.yaml line=4") {
		t.Errorf("logs do not name the file and line:\n%s", logs.String())
	}
	if lib.Version() != before {
		t.Error("the version changed on a refused reload")
	}
	for route, wantReply := range map[bot.Route]string{
		{}:           "九点 @faq.yaml",
		shanchaWeCom: "十点 @brands/shancha/faq.yaml",
		shanchaOA:    "十一点 @brands/shancha/oa-main/faq.yaml",
	} {
		if got := answer(lib.ScriptsFor(route), "营业时间"); got != wantReply {
			t.Errorf("after the refused reload route %q answers %q, want the old %q", route, got, wantReply)
		}
	}
	writeFile(t, dir, "brands/shancha/faq.yaml", hoursRule("十二点"))
	if err := lib.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := answer(lib.ScriptsFor(shanchaWeCom), "营业时间"); got != "十二点 @brands/shancha/faq.yaml" {
		t.Errorf("after the fix the brand answers %q", got)
	}
	if got := answer(lib.Scripts(), "营业时间"); got != "七点 @faq.yaml" {
		t.Errorf("after the fix the base answers %q", got)
	}
}

// writeFile writes a script file into dir, creating folders as needed.
func writeFile(tb testing.TB, dir, name, text string) {
	tb.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func errorStrings(err error) []string {
	var out []string
	for _, e := range bot.ScriptErrors(err) {
		out = append(out, e.Error())
	}
	return out
}

func equalStrings(a, b []string) bool { return slices.Equal(a, b) }

// TestBrandsExample: the example tree of scripts/README.md (kept in the
// root's testdata, not in the embedded scripts) answers as the README
// says.
func TestBrandsExample(t *testing.T) {
	lib, err := bot.NewLibrary(os.DirFS("../testdata/scripts-brands"), nil, ignoredSection("campaigns"))
	if err != nil {
		t.Fatal(err)
	}
	oaMain := bot.Route{Brand: "shancha", Name: "oa-main"}
	shanchaOther := bot.Route{Brand: "shancha", Name: "douyin"}
	yunshan := bot.Route{Brand: "yunshan", Name: "oa"}
	tests := []struct {
		route bot.Route
		text  string
		want  string
	}{
		{bot.Route{}, "营业时间", "我们每天 9:00-21:00 营业 @faq.yaml"},
		{oaMain, "营业时间", "山茶各门店每天 10:00-22:00 营业 @brands/shancha/faq.yaml"},
		{shanchaOther, "茶单", "山茶茶单：乌龙、红茶、花茶 @brands/shancha/faq.yaml"},
		{shanchaOther, "发票", "-"}, // the base faq.yaml is replaced for shancha
		{yunshan, "发票", "下单时填写抬头即可开电子发票 @faq.yaml"},
		{yunshan, "有活动吗", "云山本周第二杯半价 @brands/yunshan/promo.yaml"},
		{bot.Route{}, "有活动吗", "-"},
	}
	for _, tc := range tests {
		if got := answer(lib.ScriptsFor(tc.route), tc.text); got != tc.want {
			t.Errorf("%q asks %s: %q, want %q", tc.route, tc.text, got, tc.want)
		}
	}
	if got := lib.ScriptsFor(oaMain).FollowWelcome(nil); !strings.HasPrefix(got, "欢迎关注山茶公众号") {
		t.Errorf("oa-main's welcome = %q", got)
	}
	if got := lib.ScriptsFor(shanchaOther).FollowWelcome(nil); !strings.HasPrefix(got, "欢迎关注！") {
		t.Errorf("shancha's other accounts' welcome = %q, want the base's", got)
	}
}

// ignoredSection accepts a capability's key that bot cannot import.
type ignoredSection string

func (s ignoredSection) Key() string                                                 { return string(s) }
func (ignoredSection) Parse(*bot.SectionParser, *yaml.Node) any                      { return nil }
func (ignoredSection) Merge(*bot.SectionMerger, *bot.Scripts, []bot.SectionPart) any { return nil }
