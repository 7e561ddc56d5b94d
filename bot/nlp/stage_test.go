package nlp_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/nlp"
)

var labels = []string{"after_sales", "checkin", "coupon", "greeting", "human_agent", "order_status", "other", "price", "product_info", "unsubscribe"}

const engineYAML = `
rules:
  - name: hours
    match: {contains: [营业时间]}
    reply: 每天 9:00-21:00
  - name: intent-coupon
    match: {intent: coupon, min_confidence: 0.7}
    reply: 领券请点菜单
fallback: 没听懂
intents:
  min_confidence: 0.7
  handover_reply: 已通知人工客服，请稍候
  alert_title: 转人工
faq:
  - name: oat-milk
    questions: ["有燕麦奶吗", "可以换燕麦奶吗", "拿铁能换成燕麦奶吗"]
    answer: 可以免费换燕麦奶
  - name: pets
    questions: ["可以带宠物进店吗", "能带狗吗"]
    answer: 户外区欢迎毛孩子
`

func shipped(t *testing.T) *nlp.Model {
	t.Helper()
	f, err := os.Open("../../knowledge/intents.model")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := nlp.LoadModel(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEngineWithIntents runs the engine's stack with the shipped model:
// keyword rules first, then intent rules, the hand-over, the FAQ, then
// the fallback.
func TestEngineWithIntents(t *testing.T) {
	m := shipped(t)
	lib, err := bot.NewLibrary(fstest.MapFS{"s.yaml": {Data: []byte(engineYAML)}}, bottest.Logger(t),
		nlp.IntentsSection{Labels: m.Labels()}, nlp.FAQSection{})
	if err != nil {
		t.Fatal(err)
	}
	e := bot.NewEngine(bot.EngineConfig{
		Scripts: lib, Pick: func(int) int { return 0 },
		Understand: []bot.Analyzer{nlp.Analyzer{Model: m}},
		Meaning:    []bot.Stage{nlp.Handover{}, nlp.FAQStage{}},
	})
	user := bot.Event{Kind: bot.KindMessage, Platform: bot.WeChat, Account: "acct", Sender: "u1"}
	tests := []struct {
		name, text string
		stage      string // Answer.Stage
		rule       string
		reply      string
		alert      bool
	}{
		{"keyword rule wins", "营业时间？", "rule", "hours", "每天 9:00-21:00", false},
		{"coupon by meaning", "求一张代金券", "intent", "intent-coupon", "领券请点菜单", false},
		{"coupon in traditional", "有沒有優惠卷", "intent", "intent-coupon", "领券请点菜单", false},
		// The shipped model has no sure thresholds: a hand-over read from
		// the intent asks first (TestHandoverAsksUnlessSure).
		{"hand-over asks", "转人工", "ask:handover", "", nlp.DefaultSettings().ConfirmReply, false},
		{"hand-over in other words asks", "别让机器人回了，我要找真人", "ask:handover", "", nlp.DefaultSettings().ConfirmReply, false},
		{"faq by similarity", "请问拿铁可以换燕麦奶吗？", "faq", "oat-milk", "可以免费换燕麦奶", false},
		{"chit-chat falls back", "今天天气真好", "fallback", "", "没听懂", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := user
			ev.Text = tc.text
			turn, err := e.Run(t.Context(), ev, false)
			if err != nil {
				t.Fatal(err)
			}
			if turn.Answer.Stage != tc.stage || turn.Answer.Rule != tc.rule {
				t.Errorf("answered by %s/%s (intent %s %.2f), want %s/%s", turn.Answer.Stage, turn.Answer.Rule, turn.Intent, turn.Confidence, tc.stage, tc.rule)
			}
			var reply string
			alert, handover := false, false
			for _, a := range turn.Actions {
				switch a := a.(type) {
				case bot.Reply:
					reply = a.Text
				case bot.StaffAlert:
					alert = a.Title == "转人工" && a.Text == tc.text && a.To.User == "u1"
				case bot.Handover:
					handover = a.Step == bot.HandoverStart && a.Reason == "intent" && a.To.User == "u1"
				}
			}
			if reply != tc.reply || alert != tc.alert || handover != tc.alert {
				t.Errorf("reply %q alert %v hand-over %v, want %q %v %v", reply, alert, handover, tc.reply, tc.alert, tc.alert)
			}
		})
	}
}

func TestAnalyzer(t *testing.T) {
	a := nlp.Analyzer{Model: shipped(t)}
	// Not 能便宜点不: haggling is coupon in the seed lines and price in
	// two independent writers' (w1, w2, verbatim); the model now sides
	// with the writers at 0.47, which is an honest reading of a disputed
	// line, not a regression to hold it to.
	tests := []struct{ text, want string }{
		{"我要签到", "checkin"}, {"有优惠券吗", "coupon"}, {"有什么优惠活动吗", "coupon"}, {"拿铁多少钱", "price"}, {"", ""},
	}
	for _, tc := range tests {
		turn := &bot.Turn{Text: bot.Normalize(tc.text)}
		if err := a.Analyze(t.Context(), turn); err != nil {
			t.Fatal(err)
		}
		if turn.Intent != tc.want || (tc.want != "" && turn.Confidence <= 0.5) {
			t.Errorf("Analyze(%q) = %s %.2f, want %s with confidence > 0.5", tc.text, turn.Intent, turn.Confidence, tc.want)
		}
	}
}

func TestFAQMatch(t *testing.T) {
	faq := nlp.NewFAQ([]nlp.FAQEntry{
		{Name: "oat", Questions: []string{"有燕麦奶吗", "可以换燕麦奶吗"}, Answer: []string{"a"}, MinScore: nlp.DefaultFAQScore},
		{Name: "oat2", Questions: []string{"有燕麦奶吗？"}, Answer: []string{"b"}, MinScore: nlp.DefaultFAQScore},
		{Name: "pets", Questions: []string{"可以带宠物进店吗", "能带狗吗"}, Answer: []string{"c"}, MinScore: nlp.DefaultFAQScore},
	})
	tests := []struct {
		name, text, want string // "" : no answer
	}{
		{"variant", "能带狗吗？", "pets"},
		{"close wording", "请问可以带宠物进店吗", "pets"},
		{"unrelated", "今天天气怎么样", ""},
		{"shares one word only", "狗狗好可爱", ""},
		{"two entries about as close: unsure", "有燕麦奶吗", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, score, ok := faq.Match(nlp.Canonical(tc.text))
			got := ""
			if ok {
				got = e.Name
			}
			if got != tc.want {
				t.Errorf("Match(%q) = %q (score %.2f), want %q", tc.text, got, score, tc.want)
			}
		})
	}
}

func TestSectionErrors(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		want  []string // substrings of the error
	}{
		{"unknown intent in a rule", fstest.MapFS{"a.yaml": {Data: []byte("rules:\n  - name: r\n    match: {intent: cupon}\n    reply: x\n")}},
			[]string{"a.yaml:2", `match.intent "cupon" is not an intent of the model`}},
		{"bad min_confidence", fstest.MapFS{"a.yaml": {Data: []byte("intents:\n  min_confidence: 2\n")}},
			[]string{"a.yaml:2", "intents.min_confidence"}},
		{"unknown handover intent", fstest.MapFS{"a.yaml": {Data: []byte("intents:\n  handover_intent: humans\n")}},
			[]string{"a.yaml:1", `"humans" is not an intent of the model`}},
		{"intents twice", fstest.MapFS{"a.yaml": {Data: []byte("intents: {}\n")}, "b.yaml": {Data: []byte("intents: {}\n")}},
			[]string{"b.yaml:1", "intents already defined at a.yaml:1"}},
		{"faq without answer", fstest.MapFS{"a.yaml": {Data: []byte("faq:\n  - name: x\n    questions: [有吗]\n")}},
			[]string{"a.yaml:2", "answer is required"}},
		{"faq name twice", fstest.MapFS{
			"a.yaml": {Data: []byte("faq:\n  - name: x\n    questions: [有吗]\n    answer: y\n")},
			"b.yaml": {Data: []byte("faq:\n  - name: x\n    questions: [有吗]\n    answer: y\n")}},
			[]string{"b.yaml:2", "faq x already defined at a.yaml:2"}},
		{"unknown key", fstest.MapFS{"a.yaml": {Data: []byte("intents:\n  handover: yes\n")}},
			[]string{"a.yaml:2", "handover"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bot.LoadScripts(tc.files, nlp.IntentsSection{Labels: labels}, nlp.FAQSection{})
			if err == nil {
				t.Fatal("LoadScripts succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	s, err := bot.LoadScripts(fstest.MapFS{"a.yaml": {Data: []byte("rules:\n  - name: r\n    match: {intent: coupon}\n    reply: x\n")}},
		nlp.IntentsSection{Labels: labels}, nlp.FAQSection{})
	if err != nil {
		t.Fatalf("a known intent: %v", err)
	}
	if got := s.Section("intents").(*nlp.Settings); got.HandoverIntent != "human_agent" || got.MinConfidence != 0.75 {
		t.Errorf("settings without an intents: section = %+v, want the defaults", got)
	}
}

// TestHandoverAsksUnlessSure: a hand-over read from the intent alone
// alerts staff only when the reading is sure; otherwise one question, and
// the answer hands over, once.
func TestHandoverAsksUnlessSure(t *testing.T) {
	m := shipped(t)
	clock := bottest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	qs := bottest.NewQuestions(clock)
	confirm := bot.NewConfirmations(bot.ConfirmConfig{Store: qs, Now: clock.Now})
	type step struct {
		name    string
		text    string
		msgID   string // "" : a new message
		sure    bool   // the model marks human_agent sure
		risks   []string
		group   bool
		advance time.Duration
		stage   string
		alert   bool
	}
	steps := []step{
		{name: "ordinary haggling never hands over", text: "两件一起买能便宜点吗？包邮不", stage: "fallback"},
		{name: "unsure reading asks", text: "别让机器人回了，我要找真人", stage: "ask:handover"},
		{name: "the answer hands over", text: "人工", msgID: "m-answer", stage: "handover", alert: true},
		{name: "the platform's retry of the answer hands over again, idempotently", text: "人工", msgID: "m-answer", stage: "handover", alert: true},
		{name: "a second 人工 is not an answer: the keyword rule takes it", text: "人工", stage: "rule"},
		{name: "asked again", text: "我要找真人", stage: "ask:handover"},
		{name: "another message leaves the question open", text: "营业时间？", stage: "rule"},
		{name: "so 人工 after it is still the answer", text: "人工", stage: "handover", alert: true},
		{name: "asked once more", text: "我要找真人", stage: "ask:handover"},
		{name: "too late: the question expired", text: "人工", advance: 6 * time.Minute, stage: "rule"},
		{name: "in a group nothing is asked", text: "我要找真人", group: true, stage: ""},
		{name: "a sure reading hands over at once", text: "我要找真人", sure: true, stage: "handover", alert: true},
		{name: "a flagged message is not handed over", text: "我要找真人", sure: true, risks: []string{"poaching"}, stage: ""},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clock.Add(st.advance)
			var sure func(string, float64) bool
			if st.sure {
				sure = func(label string, _ float64) bool { return label == "human_agent" }
			}
			stack, err := bot.NewStack(confirm, nlp.Intents{Model: m, Sure: sure, Confirm: confirm},
				capFunc(func(s *bot.Stack) error {
					s.Analyze(bot.AnalyzerFunc(func(_ context.Context, t *bot.Turn) error { t.Risks = st.risks; return nil }))
					return nil
				}))
			if err != nil {
				t.Fatal(err)
			}
			lib, err := bot.NewLibrary(fstest.MapFS{"s.yaml": {Data: []byte(handoverYAML)}}, bottest.Logger(t), stack.ScriptSections()...)
			if err != nil {
				t.Fatal(err)
			}
			e := stack.Engine(bot.EngineConfig{Scripts: lib, Pick: func(int) int { return 0 }, Now: clock.Now})
			ev := bot.Event{Kind: bot.KindMessage, Platform: bot.WeChat, Account: "acct", Sender: "u1", Text: st.text, Time: clock.Now(), DedupeKey: fmt.Sprintf("m%d", i)}
			if st.msgID != "" {
				ev.DedupeKey = st.msgID
			}
			if st.group {
				ev.Conversation.Group = "g1"
			}
			turn, err := e.Run(t.Context(), ev, false)
			if err != nil {
				t.Fatal(err)
			}
			if turn.Answer.Stage != st.stage {
				t.Errorf("stage = %q (intent %s %.2f), want %q", turn.Answer.Stage, turn.Intent, turn.Confidence, st.stage)
			}
			alert := slices.ContainsFunc(turn.Actions, func(a bot.Action) bool { _, ok := a.(bot.StaffAlert); return ok })
			if alert != st.alert {
				t.Errorf("staff alerted = %v, want %v", alert, st.alert)
			}
		})
	}
}

const handoverYAML = `
rules:
  - name: hours
    match: {contains: [营业时间]}
    reply: 每天 9:00-21:00
  - name: people
    match: {contains: [人工]}
    reply: 人工客服工作时间 9:00-21:00
  - name: intent-price
    match: {intent: coupon, min_confidence: 0.7}
    reply: 领券请点菜单
fallback: 没听懂
intents:
  min_confidence: 0.7
`

// capFunc adapts a function to bot.Capability.
type capFunc func(*bot.Stack) error

func (f capFunc) Install(s *bot.Stack) error { return f(s) }
