package scripts_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/scripts"
)

// TestShippedScripts checks that the scripts shipped in the binary load
// and answer the questions they are written for.
func TestShippedScripts(t *testing.T) {
	s, err := bot.LoadScripts(scripts.FS, shippedSections(t)...)
	if err != nil {
		t.Fatalf("LoadScripts(scripts.FS): %v", err)
	}
	tests := []struct {
		name     string
		platform bot.Platform
		text     string
		want     string // rule name; "" for no match
	}{
		{name: "opening hours", platform: bot.WeChat, text: "请问营业时间是？", want: "opening-hours"},
		{name: "exact with punctuation", platform: bot.WeChat, text: " 时间？", want: "opening-hours"},
		{name: "human beats other rules", platform: bot.WeCom, text: "优惠券用不了，转人工", want: "human-agent"},
		{name: "order number", platform: bot.WeChat, text: "订单：20240918001", want: "order-number"},
		{name: "full-width wifi", platform: bot.WeChat, text: "ＷｉＦｉ", want: "wifi"},
		{name: "wifi not on douyin", platform: bot.Douyin, text: "wifi", want: ""},
		{name: "refund", platform: bot.Douyin, text: "怎么退款", want: "return-refund"},
		{name: "invoice", platform: bot.WeChat, text: "能开发票吗", want: "invoice"},
		{name: "delivery", platform: bot.WeChat, text: "什么时候发货", want: "delivery"},
		{name: "menu, as the follow welcome promises", platform: bot.WeChat, text: "菜单", want: "menu"},
		{name: "no match", platform: bot.WeChat, text: "今天天气怎么样", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if r, ok := s.Match(tc.platform, tc.text); ok {
				got = r.Name
			}
			if got != tc.want {
				t.Errorf("Match(%s, %q) = %q, want %q", tc.platform, tc.text, got, tc.want)
			}
		})
	}
	if r, ok := s.MatchMenu(bot.WeChat, "MENU_CONTACT"); !ok || r.Name != "human-agent" {
		t.Errorf("MatchMenu(MENU_CONTACT) = %v, %v, want human-agent", r, ok)
	}
	for name, text := range map[string]string{
		"follow welcome":  s.FollowWelcome(nil),
		"group welcome":   s.GroupWelcome(nil),
		"fallback":        s.FallbackReply(nil),
		"contact welcome": func() string { text, _ := s.ContactWelcome("", nil); return text }(),
	} {
		if text == "" {
			t.Errorf("%s is empty", name)
		}
	}
	if c := checkin.FromScripts(s); c == nil || len(c.Keywords) != 2 || c.Points != 10 || len(c.Rewards) == 0 {
		t.Errorf("checkin section = %+v, want the shipped 签到/打卡 with 10 points and rewards", c)
	}
	if text, ch := s.ContactWelcome("store-shanghai-01", nil); ch == nil || text != ch.Welcome[0] {
		t.Errorf("ContactWelcome(store-shanghai-01) = %q, %v, want the channel's welcome", text, ch)
	}
}

// TestPromisedRepliesAreAnswered: every 回复「X」 the shipped texts tell
// customers to send is answered by a rule, not the fallback.
func TestPromisedRepliesAreAnswered(t *testing.T) {
	s, err := bot.LoadScripts(scripts.FS, shippedSections(t)...)
	if err != nil {
		t.Fatal(err)
	}
	// The command stages take their own words before any rule.
	commands := map[string]string{}
	if c := checkin.FromScripts(s); c != nil {
		for _, w := range append(c.Keywords, c.BoardKeywords...) {
			commands[w] = "checkin"
		}
	}
	if d := dnd.RulesOf(s); d != nil {
		for _, w := range append(d.Unsubscribe, d.Resubscribe...) {
			commands[w] = "dnd"
		}
	}
	for _, c := range coupon.From(s).List() {
		for _, w := range c.Trigger.Keywords {
			commands[w] = "coupon " + c.ID
		}
	}
	files, err := fs.Glob(scripts.FS, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	promise := regexp.MustCompile(`回复「([^」]+)」`)
	n := 0
	for _, name := range files {
		b, err := fs.ReadFile(scripts.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range promise.FindAllStringSubmatch(string(b), -1) {
			word := m[1]
			if strings.Contains(word, "+") {
				continue // a template such as 订单号+问题, not a word to send as is
			}
			n++
			if stage, ok := commands[bot.Normalize(word)]; ok {
				t.Logf("%s: %q is taken by %s", name, word, stage)
			} else if r, ok := s.Match(bot.WeChat, word); !ok {
				t.Errorf("%s tells customers to reply %q, which no command or rule answers", name, word)
			} else {
				t.Logf("%s: %q is answered by %s", name, word, r.Name)
			}
		}
	}
	if n == 0 {
		t.Fatal("no 回复「…」 found in the shipped scripts")
	}
}
