package scripts_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/bot/handover"
	"github.com/siyu-bot/siyu/bot/nlp"
	"github.com/siyu-bot/siyu/bot/risk"
	"github.com/siyu-bot/siyu/knowledge"
	"github.com/siyu-bot/siyu/scripts"
)

// shippedSections returns the capabilities' script sections the shipped
// scripts use, as main's scriptSections does.
func shippedSections(t *testing.T) []bot.Section {
	t.Helper()
	f, err := knowledge.FS.Open("intents.model")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	labels, err := nlp.ReadLabels(f)
	if err != nil {
		t.Fatal(err)
	}
	return []bot.Section{nlp.IntentsSection{Labels: labels}, nlp.FAQSection{}, dnd.Section{}, risk.Section{}, coupon.Section{}, checkin.Section{}, handover.Section{}}
}

// TestShippedIntentScripts checks nlp.yaml: its intent rules, hand-over
// settings and FAQ.
func TestShippedIntentScripts(t *testing.T) {
	s, err := bot.LoadScripts(scripts.FS, shippedSections(t)...)
	if err != nil {
		t.Fatal(err)
	}
	for intent, want := range map[string]string{"coupon": "intent-coupon", "price": "intent-price", "order_status": "intent-order-status", "after_sales": "intent-after-sales"} {
		if r, ok := s.MatchIntent(bot.WeChat, intent, 0.9); !ok || r.Name != want {
			t.Errorf("MatchIntent(%s) = %v, %v, want %s", intent, r, ok, want)
		}
	}
	if r, ok := s.MatchIntent(bot.WeChat, "coupon", 0.5); ok {
		t.Errorf("MatchIntent(coupon, 0.5) = %s, want none below min_confidence", r.Name)
	}
	if st := s.Section("intents").(*nlp.Settings); st.HandoverIntent != "human_agent" || len(st.HandoverReply) == 0 {
		t.Errorf("intents: = %+v, want a hand-over for human_agent with a reply", st)
	}
	faq := s.Section("faq").(*nlp.FAQ)
	if e, _, ok := faq.Match(nlp.Canonical("拿铁可以换燕麦奶吗？")); !ok || e.Name != "oat-milk" {
		t.Errorf("FAQ match for 燕麦奶 = %q, %v, want oat-milk", e.Name, ok)
	}
}

// TestShippedHandover checks handover.yaml: 人工 and the contact menu
// hand over, so does a complaint, and the bot resumes after 30 minutes.
func TestShippedHandover(t *testing.T) {
	s, err := bot.LoadScripts(scripts.FS, shippedSections(t)...)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Section("handover").(*handover.Settings)
	if !slices.Contains(st.Exact, "人工") || !slices.Contains(st.Menu, "MENU_CONTACT") || !slices.Contains(st.Risks, "complaint") || st.Quiet != 30*time.Minute {
		t.Errorf("handover: = %+v, want 人工, MENU_CONTACT, complaint and a 30-minute quiet time", st)
	}
}

// TestRewardCouponMustNameACampaign: a check-in reward's coupon names a
// campaign of the campaigns: section, or the scripts do not load.
func TestRewardCouponMustNameACampaign(t *testing.T) {
	files := fstest.MapFS{"a.yaml": {Data: []byte(`checkin:
  keywords: [签到]
  rewards:
    - streak: 7
      message: 七天啦
      coupon: no-such-campaign
campaigns:
  - id: real-one
    stock: 1
    start: "2026-11-01T00:00:00+08:00"
    end: "2026-12-31T23:59:59+08:00"
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: A, length: 8}}
`)}}
	_, err := bot.LoadScripts(files, shippedSections(t)...)
	got := bot.ScriptErrors(err)
	if len(got) != 1 || got[0].File != "a.yaml" || got[0].Line != 6 || !strings.Contains(got[0].Msg, "no-such-campaign") {
		t.Fatalf("errors = %v, want one at a.yaml:6 naming the unknown campaign", got)
	}
}
