package checkin_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
)

func TestSectionErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // file:line and message part; "" for no error
	}{
		{"minimal", "checkin:\n  keywords: [签到]\n", ""},
		{"unknown placeholder", "checkin:\n  keywords: [签到]\n  reply: \"连续 {{days}} 天\"\n", "c.yaml:3: checkin.reply: unknown placeholder {{days}}"},
		{"unknown placeholder in already", "checkin:\n  keywords: [签到]\n  already: \"{{score}}\"\n", "c.yaml:3: checkin.already: unknown placeholder {{score}}"},
		{"unknown placeholder in a reward", "checkin:\n  keywords: [签到]\n  rewards:\n    - streak: 7\n      message: \"{{coupon}}\"\n", "c.yaml:5: checkin.rewards.message: unknown placeholder"},
		{"bad time zone", "checkin:\n  keywords: [签到]\n  timezone: Mars/Olympus\n", "c.yaml:3: checkin.timezone: unknown time zone"},
		{"reward without a message", "checkin:\n  keywords: [签到]\n  rewards:\n    - streak: 7\n      coupon: weekly-7\n", "c.yaml:4: checkin.rewards: the reward at streak 7 has no message"},
		{"no keywords", "checkin:\n  points: 5\n", "c.yaml:2: checkin: keywords missing"},
		{"unknown key", "checkin:\n  keywords: [签到]\n  colour: red\n", "c.yaml:3: checkin: unknown key \"colour\""},
		{"bad bonus", "checkin:\n  keywords: [签到]\n  streak_bonus: {three: 5}\n", "c.yaml:3: checkin.streak_bonus streak: want a whole number"},
		{"bad window", "checkin:\n  keywords: [签到]\n  digest_window: soon\n", "c.yaml:3: checkin.digest_window"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bot.LoadScripts(fstest.MapFS{"c.yaml": {Data: []byte(tc.yaml)}}, checkin.Section{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSectionDefaults(t *testing.T) {
	s := mustScripts(t, "checkin:\n  keywords: [签到, 打卡]\n")
	c := checkin.FromScripts(s)
	if c == nil {
		t.Fatal("FromScripts = nil")
	}
	already := c.Already.Render(checkin.Values{Streak: 2, Total: 20})
	if !strings.Contains(already, "已签到") {
		t.Errorf("default already = %q, want it to say 已签到", already)
	}
	if c.Location.String() != "Asia/Shanghai" || c.Points != 10 || c.DigestWindow.Seconds() != 30 {
		t.Errorf("defaults = %v, %d, %v, want Asia/Shanghai, 10, 30s", c.Location, c.Points, c.DigestWindow)
	}
	if got := checkin.FromScripts(mustScripts(t, "rules: []\n")); got != nil {
		t.Errorf("FromScripts without the section = %+v, want nil", got)
	}
}

func TestTemplate(t *testing.T) {
	tpl, err := checkin.ParseTemplate("{{name}}连续 {{ streak }} 天 +{{points}} 共{{total}} 第{{rank}}")
	if err != nil {
		t.Fatal(err)
	}
	got := tpl.Render(checkin.Values{Name: "小王", Streak: 3, Points: 15, Total: 35, Rank: 2})
	if want := "小王连续 3 天 +15 共35 第2"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
}

func TestDays(t *testing.T) {
	tests := []struct {
		name string
		day  checkin.Day
		add  int
		want checkin.Day
	}{
		{"year end", 20261231, 1, 20270101},
		{"leap day", 20280228, 1, 20280229},
		{"back over a month", 20260301, -1, 20260228},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.day.AddDays(tc.add); got != tc.want {
				t.Errorf("%d.AddDays(%d) = %d, want %d", tc.day, tc.add, got, tc.want)
			}
		})
	}
	// ISO weeks: 2026-12-31 (Thursday) and 2027-01-01 (Friday) are in week 53 of 2026.
	if a, b := checkin.Day(20261231).Week(), checkin.Day(20270101).Week(); a != b || a != 202653 {
		t.Errorf("weeks = %d, %d, want 202653 both", a, b)
	}
}
