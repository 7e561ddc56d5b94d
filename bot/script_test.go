package bot

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// mustLoadScripts loads files given as path → YAML text.
func mustLoadScripts(tb testing.TB, files map[string]string) *Scripts {
	tb.Helper()
	s, err := LoadScripts(mapFS(files))
	if err != nil {
		tb.Fatalf("LoadScripts: %v", err)
	}
	return s
}

func mapFS(files map[string]string) fstest.MapFS {
	fsys := make(fstest.MapFS, len(files))
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	return fsys
}

// matchFiles exercises every match kind, priorities and ties. "a.yaml"
// sorts before "a/x.yaml" although fs.WalkDir visits "a/x.yaml" first.
var matchFiles = map[string]string{
	"a.yaml": `
rules:
  - name: hours
    match: {contains: ["营业时间", "几点开门"]}
    reply: "每天 9:00-21:00 营业"
    priority: 10
  - name: checkin
    match: {exact: ["签到"]}
    reply: 签到成功
  - name: vip
    match: {exact: ["ＶＩＰ"]}
    reply: vip
  - name: hello
    match: {exact: [Hello]}
    reply: hi
  - name: points-first
    match: {contains: 积分}
    reply: first
  - name: order
    match: {regex: '^订单\s*\d{6,}$'}
    reply: order
  - name: wecom-only
    match: {contains: ["企微"]}
    platforms: [wecom, douyin]
    reply: wecom
  - name: menu-or-word
    match:
      menu: [MENU_A]
      exact: [菜单a]
    reply: menu
`,
	"a/x.yaml": `
rules:
  - name: points-second
    match: {contains: ["积分"]}
    reply: second
  - name: menu-a-low
    match: {menu: MENU_A}
    reply: low
    priority: -1
  - name: human
    match: {contains: ["人工"]}
    reply: human
    priority: 100
  - name: spaces
    match: {exact: ["wi  fi"]}
    reply: wifi
`,
}

func TestMatch(t *testing.T) {
	s := mustLoadScripts(t, matchFiles)
	tests := []struct {
		name     string
		platform Platform
		text     string
		want     string // rule name, "" for no match
	}{
		{name: "contains", platform: WeChat, text: "请问营业时间是几点", want: "hours"},
		{name: "contains second keyword", platform: WeChat, text: "几点开门呀", want: "hours"},
		{name: "surrounding spaces and full-width question mark", platform: WeChat, text: "  营业时间？", want: "hours"},
		{name: "exact", platform: WeChat, text: "签到", want: "checkin"},
		{name: "exact with trailing punctuation", platform: WeChat, text: "签到！！", want: "checkin"},
		{name: "exact in brackets", platform: WeChat, text: "【签到】", want: "checkin"},
		{name: "exact with emoji and ideographic space", platform: WeChat, text: "\u3000签到👍️", want: "checkin"},
		{name: "exact is not contains", platform: WeChat, text: "我要签到", want: ""},
		{name: "full-width keyword and text", platform: WeChat, text: "ＶＩＰ", want: "vip"},
		{name: "half-width text for full-width keyword", platform: WeChat, text: "vip", want: "vip"},
		{name: "case and ASCII punctuation", platform: WeChat, text: "Hello!!", want: "hello"},
		{name: "upper case", platform: WeChat, text: "HELLO", want: "hello"},
		{name: "inner spaces collapse", platform: WeChat, text: "WI \t FI", want: "spaces"},
		{name: "tie goes to the earlier file", platform: WeChat, text: "我的积分", want: "points-first"},
		{name: "higher priority in a later file wins", platform: WeChat, text: "营业时间不对，找人工", want: "human"},
		{name: "regex", platform: WeChat, text: "订单 123456", want: "order"},
		{name: "regex sees half-width digits", platform: WeChat, text: "订单１２３４５６。", want: "order"},
		{name: "regex no match", platform: WeChat, text: "订单 123", want: ""},
		{name: "platform filter excludes", platform: WeChat, text: "企微", want: ""},
		{name: "platform filter includes", platform: WeCom, text: "企微", want: "wecom-only"},
		{name: "unknown platform with filter", platform: "", text: "企微", want: ""},
		{name: "text with menu rule's exact", platform: WeChat, text: "菜单A", want: "menu-or-word"},
		{name: "menu key as text does not match menu", platform: WeChat, text: "MENU_A", want: ""},
		{name: "empty", platform: WeChat, text: "", want: ""},
		{name: "only punctuation", platform: WeChat, text: "？？！", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if r, ok := s.Match(tc.platform, tc.text); ok {
				got = r.Name
			}
			if got != tc.want {
				t.Errorf("Match(%q, %q) = %q, want %q", tc.platform, tc.text, got, tc.want)
			}
		})
	}
}

// naiveMatch is Match without indexes: it tries every rule in rank order.
func naiveMatch(s *Scripts, p Platform, text string) (*Rule, bool) {
	text = normalize(text)
	if text == "" {
		return nil, false
	}
	for i := range s.rules {
		r := &s.rules[i]
		if !r.platforms.allowsClass(platformClass(p)) {
			continue
		}
		if slices.Contains(r.exact, text) ||
			slices.ContainsFunc(r.contains, func(k string) bool { return strings.Contains(text, k) }) ||
			slices.ContainsFunc(r.regexps, func(re *regexp.Regexp) bool { return re.MatchString(text) }) {
			return r, true
		}
	}
	return nil, false
}

// TestMatchAgreesWithNaiveMatch checks the indexes against trying every
// rule, on random messages made of keywords, parts of keywords and noise.
func TestMatchAgreesWithNaiveMatch(t *testing.T) {
	files := maps.Clone(matchFiles)
	files["z.yaml"] = `
rules:
  - name: overlapping-short
    match: {contains: [时间, 间是, a]}
    reply: x
    priority: 3
  - name: overlapping-long
    match: {contains: [营业时间是, 问营业, abc, bca]}
    reply: x
    priority: 4
    platforms: douyin
  - name: digits
    match: {regex: '\d{3}$'}
    reply: x
    priority: 2
  - name: long-low
    match: {contains: [abcd, 业时间是吗]}
    reply: x
  - name: suffix-high
    match: {contains: [bc, 时间是吗]}
    reply: x
    priority: 50
    platforms: [wecom]
`
	s := mustLoadScripts(t, files)
	pieces := []string{"营业", "时间", "是", "请问", "签到", "积分", "人工", "企微", "订单", "123456", "12",
		"Hello", "vip", "Ｖ", "wi", "fi", " ", "  ", "？", "！", "【", "】", "a", "b", "c", "d", "吗", "间", "菜单a"}
	platforms := []Platform{WeChat, WeCom, Douyin, ""}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		text, p := b.String(), platforms[rng.IntN(len(platforms))]
		got, gotOK := s.Match(p, text)
		want, wantOK := naiveMatch(s, p, text)
		if got != want || gotOK != wantOK {
			t.Fatalf("Match(%q, %q) = %v, %v, want %v, %v", p, text, ruleName(got), gotOK, ruleName(want), wantOK)
		}
	}
}

func ruleName(r *Rule) string {
	if r == nil {
		return "<nil>"
	}
	return r.Name
}

func TestMatchMenu(t *testing.T) {
	s := mustLoadScripts(t, matchFiles)
	tests := []struct {
		name string
		key  string
		want string
	}{
		{name: "highest priority", key: "MENU_A", want: "menu-or-word"},
		{name: "keys are case-sensitive", key: "menu_a", want: ""},
		{name: "no normalisation", key: " MENU_A", want: ""},
		{name: "unknown", key: "MENU_B", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if r, ok := s.MatchMenu(WeChat, tc.key); ok {
				got = r.Name
			}
			if got != tc.want {
				t.Errorf("MatchMenu(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	s := mustLoadScripts(t, matchFiles)
	for _, text := range []string{"请问营业时间是几点", "hello", "no match at all"} {
		allocs := testing.AllocsPerRun(100, func() { s.Match(WeChat, text) })
		if allocs != 0 {
			t.Errorf("Match(%q) allocs = %v, want 0", text, allocs)
		}
	}
}

func TestLoadScriptsMerge(t *testing.T) {
	s := mustLoadScripts(t, map[string]string{
		"welcome.yaml": `
welcome:
  follow: 欢迎关注
  group: [欢迎入群, 欢迎新朋友]
fallback: [没听懂, 换个说法试试]
channels:
  - state: shop-01
    name: 上海门店
    welcome: 欢迎来到上海门店
    tags: [门店, 上海]
`,
		"rules/faq.yml": `
welcome:
  contact: 你好，我是小助手
rules:
  - name: b
    match: {contains: [b]}
    reply: b
channels:
  - state: event-01
    tags: 活动
`,
		"rules/.hidden.yaml": "not: [valid",
		".git/x.yaml":        "not: [valid",
		"README.md":          "# not a script",
		"a.yaml": `
rules:
  - name: a
    match: {contains: [a]}
    reply: a
  - name: c
    match: {contains: [c]}
    reply: c
    priority: 1
`,
	})
	var names []string
	for _, r := range s.Rules() {
		names = append(names, fmt.Sprintf("%s@%s:%d", r.Name, r.File, r.Line))
	}
	want := []string{"c@a.yaml:6", "a@a.yaml:3", "b@rules/faq.yml:5"}
	if !slices.Equal(names, want) {
		t.Errorf("Rules() = %v, want %v", names, want)
	}
	texts := []struct {
		name string
		got  string
		want string
	}{
		{name: "follow", got: s.FollowWelcome(nil), want: "欢迎关注"},
		{name: "group", got: s.GroupWelcome(func(int) int { return 1 }), want: "欢迎新朋友"},
		{name: "fallback", got: s.FallbackReply(nil), want: "没听懂"},
	}
	for _, tc := range texts {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	var states []string
	for _, c := range s.Channels() {
		states = append(states, fmt.Sprintf("%s %s %v %v", c.State, c.Name, c.Welcome, c.Tags))
	}
	wantStates := []string{"event-01  [] [活动]", "shop-01 上海门店 [欢迎来到上海门店] [门店 上海]"}
	if !slices.Equal(states, wantStates) {
		t.Errorf("Channels() = %q, want %q", states, wantStates)
	}
}

func TestEmptyScripts(t *testing.T) {
	s := mustLoadScripts(t, map[string]string{"empty.yaml": "# nothing yet\n"})
	if r, ok := s.Match(WeChat, "hello"); ok {
		t.Errorf("Match = %v, want no match", r.Name)
	}
	text, ch := s.ContactWelcome("x", nil)
	if got := s.FollowWelcome(nil) + s.GroupWelcome(nil) + s.FallbackReply(nil) + text; got != "" || ch != nil {
		t.Errorf("texts = %q, channel %v, want none", got, ch)
	}
}

func TestContactWelcome(t *testing.T) {
	const channels = `
channels:
  - state: shop
    welcome: 门店欢迎
  - state: plain
    tags: [x]
`
	tests := []struct {
		name        string
		welcome     string
		state       string
		want        string
		wantChannel string
	}{
		{name: "channel welcome", welcome: "welcome: {follow: 关注欢迎, contact: 好友欢迎}", state: "shop", want: "门店欢迎", wantChannel: "shop"},
		{name: "channel without welcome", welcome: "welcome: {follow: 关注欢迎, contact: 好友欢迎}", state: "plain", want: "好友欢迎", wantChannel: "plain"},
		{name: "unknown state", welcome: "welcome: {follow: 关注欢迎, contact: 好友欢迎}", state: "nope", want: "好友欢迎"},
		{name: "follow when no contact", welcome: "welcome: {follow: 关注欢迎}", state: "", want: "关注欢迎"},
		{name: "nothing configured", welcome: "", state: "plain", want: "", wantChannel: "plain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustLoadScripts(t, map[string]string{"a.yaml": tc.welcome + "\n" + channels})
			got, ch := s.ContactWelcome(tc.state, nil)
			gotChannel := ""
			if ch != nil {
				gotChannel = ch.State
			}
			if got != tc.want || gotChannel != tc.wantChannel {
				t.Errorf("ContactWelcome(%q) = %q, %q, want %q, %q", tc.state, got, gotChannel, tc.want, tc.wantChannel)
			}
		})
	}
}

func TestReplyPick(t *testing.T) {
	s := mustLoadScripts(t, map[string]string{"a.yaml": `
rules:
  - name: one
    match: {exact: [one]}
    reply: "  只有一条\n"
  - name: many
    match: {exact: [many]}
    reply:
      - 第一条
      - 第二条
      - 第三条
`})
	one, _ := s.Match(WeChat, "one")
	many, _ := s.Match(WeChat, "many")
	tests := []struct {
		name string
		rule *Rule
		pick func(n int) int
		want string
	}{
		{name: "single reply, trimmed, pick not called", rule: one, pick: func(int) int { panic("called") }, want: "只有一条"},
		{name: "pick chooses", rule: many, pick: func(n int) int { return n - 1 }, want: "第三条"},
		{name: "nil pick", rule: many, pick: nil, want: "第一条"},
		{name: "out of range", rule: many, pick: func(n int) int { return n }, want: "第一条"},
		{name: "negative", rule: many, pick: func(int) int { return -1 }, want: "第一条"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rule.Reply(tc.pick); got != tc.want {
				t.Errorf("Reply() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRulesAreCopies(t *testing.T) {
	s := mustLoadScripts(t, matchFiles)
	rules := s.Rules()
	for i := range rules {
		rules[i].Name = "changed"
		if len(rules[i].Replies) > 0 {
			rules[i].Replies[0] = "changed"
		}
	}
	r, ok := s.Match(WeChat, "签到")
	if !ok || r.Name != "checkin" || r.Reply(nil) != "签到成功" {
		t.Errorf("after changing Rules(): Match = %q %q, want checkin 签到成功", r.Name, r.Reply(nil))
	}
}

func TestLoadScriptsErrors(t *testing.T) {
	const okRule = "  - name: ok\n    match: {contains: [ok]}\n    reply: ok\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "bad YAML",
			files: map[string]string{"a.yaml": "rules:\n  - name: x\n    reply: [oops\n"},
			want:  []string{"a.yaml:3: invalid YAML: did not find expected ',' or ']'"},
		},
		{
			name:  "bad indentation",
			files: map[string]string{"a.yaml": "rules:\n  - name: x\n    match: {exact: [x]}\n   reply: x\n  - name: y\n"},
			want:  []string{"a.yaml:4: invalid YAML: did not find expected '-' indicator"},
		},
		{
			name:  "stray text after a quoted string",
			files: map[string]string{"b.yaml": "fallback: ok\nrules:\n  - name: x\n    reply: 'ok' 了\n"},
			want:  []string{"b.yaml:4: invalid YAML: did not find expected key"},
		},
		{
			name:  "tab indentation",
			files: map[string]string{"a.yaml": "rules:\n\t- name: x\n"},
			want:  []string{"a.yaml:2: invalid YAML: found character that cannot start any token"},
		},
		{
			name:  "unknown key at top level",
			files: map[string]string{"a.yaml": "rules:\n" + okRule + "replies: x\n"},
			want:  []string{`a.yaml:5: top level: unknown key "replies" (want welcome, rules, fallback or channels)`},
		},
		{
			name:  "unknown key in a rule",
			files: map[string]string{"a.yaml": "rules:\n" + okRule + "  - name: x\n    match: {exact: [x]}\n    replay: x\n"},
			want:  []string{`a.yaml:7: rule: unknown key "replay" (want name, match, reply, priority or platforms)`},
		},
		{
			name:  "unknown key in match",
			files: map[string]string{"a.yaml": "rules:\n  - name: x\n    match:\n      contain: [x]\n    reply: x\n"},
			want:  []string{`a.yaml:4: rule "x": match: unknown key "contain" (want exact, contains, regex, menu, intent or min_confidence)`},
		},
		{
			name:  "unknown key in welcome and channel",
			files: map[string]string{"a.yaml": "welcome:\n  folow: x\nchannels:\n  - state: s\n    tag: [x]\n"},
			want: []string{
				`a.yaml:2: welcome: unknown key "folow" (want follow, contact or group)`,
				`a.yaml:5: channel: unknown key "tag" (want state, name, welcome or tags)`,
			},
		},
		{
			name:  "invalid regex",
			files: map[string]string{"a.yaml": "rules:\n  - name: x\n    match:\n      regex: '^(订单'\n    reply: x\n"},
			want:  []string{"a.yaml:4: rule \"x\": match.regex: invalid pattern: error parsing regexp: missing closing ): `^(订单`"},
		},
		{
			name:  "regex with upper case",
			files: map[string]string{"a.yaml": "rules:\n  - name: x\n    match:\n      regex: ['^vip', '^VIP\\d+']\n    reply: x\n"},
			want:  []string{`a.yaml:4: rule "x": match.regex: pattern has 'V' but messages are matched lower-case and half-width`},
		},
		{
			name: "empty reply",
			files: map[string]string{"a.yaml": "rules:\n" +
				"  - name: x\n    match: {exact: [x]}\n    reply: \"  \"\n" +
				"  - name: y\n    match: {exact: [y]}\n    reply:\n" +
				"  - name: z\n    match: {exact: [z]}\n    reply: [ok, '']\n"},
			want: []string{
				`a.yaml:4: rule "x": reply: empty`,
				`a.yaml:7: rule "y": reply: empty`,
				`a.yaml:10: rule "z": reply: empty`,
			},
		},
		{
			name:  "empty welcome and fallback",
			files: map[string]string{"a.yaml": "welcome:\n  follow: []\nfallback: ''\n"},
			want: []string{
				`a.yaml:2: welcome.follow: empty`,
				`a.yaml:3: fallback: empty`,
			},
		},
		{
			name:  "empty match",
			files: map[string]string{"a.yaml": "rules:\n  - name: x\n    match: {}\n    reply: x\n"},
			want:  []string{`a.yaml:3: rule "x": match: empty (want exact, contains, regex, menu or intent)`},
		},
		{
			name:  "rule is not a mapping",
			files: map[string]string{"a.yaml": "rules:\n  - x\n"},
			want:  []string{`a.yaml:2: rule: want a mapping (key: value), got "x"`},
		},
		{
			name:  "missing match",
			files: map[string]string{"a.yaml": "rules:\n  - name: x\n    reply: x\n"},
			want:  []string{`a.yaml:2: rule "x": no match (want match: with exact, contains, regex, menu or intent)`},
		},
		{
			name:  "missing name",
			files: map[string]string{"a.yaml": "rules:\n  - match: {exact: [x]}\n    reply: x\n"},
			want:  []string{`a.yaml:2: rule: missing name`},
		},
		{
			name:  "empty keyword",
			files: map[string]string{"a.yaml": "rules:\n  - name: x\n    match:\n      contains: [ok, '？', '']\n    reply: x\n"},
			want: []string{
				`a.yaml:4: rule "x": match.contains: empty keyword "？" (surrounding spaces, punctuation and emoji are ignored)`,
				`a.yaml:4: rule "x": match.contains: empty keyword "" (surrounding spaces, punctuation and emoji are ignored)`,
			},
		},
		{
			name:  "bad platform",
			files: map[string]string{"a.yaml": "rules:\n  - name: x\n    match: {exact: [x]}\n    reply: x\n    platforms:\n      - wechat\n      - weixin\n"},
			want:  []string{`a.yaml:7: rule "x": platforms: unknown platform "weixin" (want wechat, wecom or douyin)`},
		},
		{
			name:  "wrong types",
			files: map[string]string{"a.yaml": "rules:\n  - name: x\n    match: {exact: {a: b}}\n    reply: x\n    priority: high\nchannels: shop\n"},
			want: []string{
				`a.yaml:3: rule "x": match.exact: want text or a list of texts, got a mapping`,
				`a.yaml:5: rule "x": priority: want a whole number, got "high"`,
				`a.yaml:6: channels: want a list (items starting with "- "), got "shop"`,
			},
		},
		{
			name:  "top level is a list",
			files: map[string]string{"a.yaml": "- name: x\n"},
			want:  []string{`a.yaml:1: top level: want a mapping (key: value), got a list`},
		},
		{
			name:  "key defined twice in one file",
			files: map[string]string{"a.yaml": "fallback: a\nrules: []\nfallback: b\n"},
			want:  []string{`a.yaml:3: top level: key "fallback" already defined at line 1`},
		},
		{
			name:  "two documents",
			files: map[string]string{"a.yaml": "fallback: a\n---\nrules: []\n"},
			want:  []string{`a.yaml:2: a second YAML document (---): put everything in one document per file`},
		},
		{
			name: "duplicate rule name across files",
			files: map[string]string{
				"a.yaml":     "rules:\n" + okRule,
				"sub/b.yaml": "\nrules:\n" + okRule,
			},
			want: []string{`sub/b.yaml:3: rule name "ok" already used at a.yaml:2`},
		},
		{
			name: "duplicate fallback across files",
			files: map[string]string{
				"a.yaml": "fallback: 没听懂\n",
				"b.yaml": "rules:\n" + okRule + "fallback: [再说一次]\n",
			},
			want: []string{`b.yaml:5: fallback already defined at a.yaml:1`},
		},
		{
			name: "duplicate welcome across files",
			files: map[string]string{
				"a.yaml": "welcome:\n  follow: 欢迎\n  group: 欢迎入群\n",
				"b.yaml": "welcome:\n  group: 欢迎\n",
			},
			want: []string{`b.yaml:2: welcome.group already defined at a.yaml:3`},
		},
		{
			name: "duplicate channel state",
			files: map[string]string{
				"a.yaml": "channels:\n  - state: shop-01\n  - state: shop-02\n",
				"b.yaml": "channels:\n  - {state: shop-03}\n  - name: 门店\n    state: shop-01\n",
			},
			want: []string{`b.yaml:3: channel state "shop-01" already used at a.yaml:2`},
		},
		{
			name:  "missing state",
			files: map[string]string{"a.yaml": "channels:\n  - name: 门店\n"},
			want:  []string{`a.yaml:2: channel: missing state`},
		},
		{
			name:  "no script files",
			files: map[string]string{"README.md": "hi"},
			want:  []string{`.: no .yaml or .yml files`},
		},
		{
			name: "errors in several files are all reported in order",
			files: map[string]string{
				"b.yaml": "rules:\n  - name: x\n    reply: x\n",
				"a.yaml": "fallback:\nrule: []\n",
			},
			want: []string{
				`a.yaml:1: fallback: empty`,
				`a.yaml:2: top level: unknown key "rule" (want welcome, rules, fallback or channels)`,
				`b.yaml:2: rule "x": no match (want match: with exact, contains, regex, menu or intent)`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadScripts(mapFS(tc.files))
			if err == nil {
				t.Fatalf("LoadScripts = %v, nil, want an error", s)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false, want true; err = %v", err)
			}
			var got []string
			for _, e := range ScriptErrors(err) {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ScriptErrors =\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestScriptErrorsOfOtherErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "nil", err: nil, want: 0},
		{name: "plain", err: errors.New("x"), want: 0},
		{name: "wrapped pointer", err: fmt.Errorf("op: %w", &ScriptError{File: "a", Line: 1, Msg: "m"}), want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(ScriptErrors(tc.err)); got != tc.want {
				t.Errorf("len(ScriptErrors) = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestScriptErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  ScriptError
		want string
	}{
		{name: "with line", err: ScriptError{File: "faq.yaml", Line: 3, Msg: "bad"}, want: "faq.yaml:3: bad"},
		{name: "without line", err: ScriptError{File: "faq.yaml", Msg: "bad"}, want: "faq.yaml: bad"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAliases(t *testing.T) {
	s := mustLoadScripts(t, map[string]string{"a.yaml": `
fallback: &sorry [抱歉没听懂]
rules:
  - name: x
    match: {exact: [x]}
    reply: *sorry
`})
	r, ok := s.Match(WeChat, "x")
	if !ok || r.Reply(nil) != "抱歉没听懂" {
		t.Errorf("Match(x) = %v, want reply 抱歉没听懂", r)
	}
}

// BenchmarkMatch matches against 200 contains-rules, 问题000 to 问题199,
// with a message that only the last one matches.
func BenchmarkMatch(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("rules:\n")
	for i := range 200 {
		fmt.Fprintf(&sb, "  - name: q%03d\n    match: {contains: [问题%03d]}\n    reply: 答案%03d\n", i, i, i)
	}
	s := mustLoadScripts(b, map[string]string{"a.yaml": sb.String()})
	texts := []struct {
		name string
		text string
	}{
		{name: "normal", text: "请问问题199怎么办"},
		{name: "normalised", text: " 请问问题199怎么办？"},
	}
	for _, tc := range texts {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, ok := s.Match(WeChat, tc.text)
				if !ok || r.Name != "q199" {
					b.Fatalf("Match = %v, %v, want q199", r, ok)
				}
			}
		})
	}
}
