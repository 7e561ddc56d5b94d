package scripts_test

import (
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
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
