package bot_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

// capFunc adapts a function to bot.Capability.
type capFunc func(*bot.Stack) error

func (f capFunc) Install(s *bot.Stack) error { return f(s) }

// askingCapability is a capability that acts on its word "go" or on the
// answer to its question, and asks on the intent "go" when not sure.
func askingCapability(confirm *bot.Confirmations, acted *[]string) bot.Capability {
	return capFunc(func(s *bot.Stack) error {
		confirm.Answers(func(_ *bot.Scripts, text string) bool { return text == "好的" || text == "go" })
		s.Command(bot.StageFunc(func(ctx context.Context, t *bot.Turn) (bool, error) {
			q, confirmed := t.Confirms("test")
			switch {
			case t.Text == "go" || confirmed:
				*acted = append(*acted, t.Event.DedupeKey+"/"+q.Trigger)
				t.ReplyText("done")
				t.Answer = bot.Answer{Stage: "command:test"}
				return true, nil
			case t.Intent == "go" && !t.SureAt(0.99):
				if !confirm.Ask(ctx, t, bot.Question{Capability: "test", Words: []string{"好的", "go"}, Prompt: "回复 好的 确认"}) {
					return false, nil
				}
				t.Answer = bot.Answer{Stage: "ask:test"}
				return true, nil
			case t.Intent == "go":
				*acted = append(*acted, t.Event.DedupeKey+"/sure")
				t.Answer = bot.Answer{Stage: "command:test"}
				return true, nil
			}
			return false, nil
		}))
		return nil
	})
}

func TestConfirmations(t *testing.T) {
	clock := bottest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	qs := bottest.NewQuestions(clock)
	confirm := bot.NewConfirmations(bot.ConfirmConfig{Store: qs, Now: clock.Now})
	lib, err := bot.NewLibrary(fstest.MapFS{"s.yaml": {Data: []byte("fallback: 没听懂\n")}}, bottest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	var acted []string
	type step struct {
		name    string
		user    string
		text    string
		key     string
		intent  string
		conf    float64
		sure    bool
		group   bool
		dryRun  bool
		advance time.Duration
		stage   string
		acted   string // appended to acted, "" none
		stored  bool   // a question is open for user afterwards
	}
	steps := []step{
		{name: "an unsure reading asks", user: "u1", text: "走吧", key: "k1", intent: "go", conf: 0.9, stage: "ask:test", stored: true},
		{name: "the answer acts on the question's trigger", user: "u1", text: "好的", key: "k2", stage: "command:test", acted: "k2/k1"},
		{name: "the answer's retry acts again on the same trigger", user: "u1", text: "好的", key: "k2", stage: "command:test", acted: "k2/k1"},
		{name: "another 好的 is no answer", user: "u1", text: "好的", key: "k3", stage: "fallback"},
		{name: "asked again", user: "u1", text: "走吧", key: "k4", intent: "go", conf: 0.9, stage: "ask:test", stored: true},
		{name: "a message that is no answer word leaves the question open", user: "u1", text: "今天天气不错", key: "k5", stage: "fallback", stored: true},
		{name: "so 好的 after it still answers, once", user: "u1", text: "好的", key: "k6", stage: "command:test", acted: "k6/k4"},
		{name: "asked once more", user: "u1", text: "走吧", key: "k7", intent: "go", conf: 0.9, stage: "ask:test", stored: true},
		{name: "another person's 好的 is not their answer", user: "u2", text: "好的", key: "k8", stage: "fallback", stored: false},
		{name: "the asked person's answer still counts", user: "u1", text: "好的", key: "k9", stage: "command:test", acted: "k9/k7"},
		{name: "an answer after five minutes is too late", user: "u1", text: "走吧", key: "k10", intent: "go", conf: 0.9, stage: "ask:test", stored: true},
		{name: "too late", user: "u1", text: "好的", key: "k11", advance: 5*time.Minute + time.Second, stage: "fallback"},
		{name: "a sure reading acts without asking", user: "u1", text: "走吧", key: "k12", intent: "go", conf: 0.9, sure: true, stage: "command:test", acted: "k12/sure"},
		{name: "the brand's threshold is sure too", user: "u1", text: "走吧", key: "k13", intent: "go", conf: 0.995, stage: "command:test", acted: "k13/sure"},
		{name: "a group is never asked", user: "u1", text: "走吧", key: "k14", intent: "go", conf: 0.9, group: true, stage: ""},
		{name: "a dry run shows the question and stores nothing", user: "u3", text: "走吧", key: "k15", intent: "go", conf: 0.9, dryRun: true, stage: "ask:test"},
		{name: "so nothing answers it", user: "u3", text: "好的", key: "k16", stage: "fallback"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clock.Add(st.advance)
			stack, err := bot.NewStack(confirm, capFunc(func(s *bot.Stack) error {
				s.Analyze(bot.AnalyzerFunc(func(_ context.Context, t *bot.Turn) error {
					t.Intent, t.Confidence, t.Sure = st.intent, st.conf, st.sure
					return nil
				}))
				return nil
			}), askingCapability(confirm, &acted))
			if err != nil {
				t.Fatal(err)
			}
			e := stack.Engine(bot.EngineConfig{Scripts: lib, Now: clock.Now, Pick: func(int) int { return 0 }})
			ev := bot.Event{Platform: bot.WeChat, Account: "gh", Kind: bot.KindMessage, Sender: bot.UserID(st.user), Text: st.text, DedupeKey: st.key, Time: clock.Now()}
			if st.group {
				ev.Conversation.Group = "g"
			}
			before := len(acted)
			turn, err := e.Run(t.Context(), ev, st.dryRun)
			if err != nil {
				t.Fatal(err)
			}
			if turn.Answer.Stage != st.stage {
				t.Errorf("stage = %q, want %q", turn.Answer.Stage, st.stage)
			}
			var got string
			if len(acted) > before {
				got = strings.Join(acted[before:], ",")
			}
			if got != st.acted {
				t.Errorf("acted = %q, want %q", got, st.acted)
			}
			if open := qs.Open("q:wechat:gh:" + st.user); open != st.stored {
				t.Errorf("question open = %v, want %v", open, st.stored)
			}
		})
	}
}

// failingQuestions is a QuestionStore that is down.
type failingQuestions struct{}

func (failingQuestions) Put(context.Context, string, []byte, time.Duration) error {
	return bot.ErrUnavailable
}
func (failingQuestions) Claim(context.Context, string, string, time.Duration) ([]byte, bool, error) {
	return nil, false, bot.ErrUnavailable
}

// TestConfirmationsWithoutStore: without its store (none, or down) a
// question is still asked, nothing fails, and nothing is confirmed.
func TestConfirmationsWithoutStore(t *testing.T) {
	lib, err := bot.NewLibrary(fstest.MapFS{"s.yaml": {Data: []byte("fallback: 没听懂\n")}}, bottest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		confirm *bot.Confirmations
	}{
		{"nil", nil},
		{"no store", bot.NewConfirmations(bot.ConfirmConfig{})},
		{"store down", bot.NewConfirmations(bot.ConfirmConfig{Store: failingQuestions{}, Logger: bottest.Discard()})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var acted []string
			caps := []bot.Capability{capFunc(func(s *bot.Stack) error {
				s.Analyze(bot.AnalyzerFunc(func(_ context.Context, t *bot.Turn) error {
					if t.Text == "走吧" {
						t.Intent, t.Confidence = "go", 0.9
					}
					return nil
				}))
				return nil
			}), askingCapability(tc.confirm, &acted)}
			if tc.confirm != nil {
				caps = append([]bot.Capability{tc.confirm}, caps...)
			}
			stack, err := bot.NewStack(caps...)
			if err != nil {
				t.Fatal(err)
			}
			e := stack.Engine(bot.EngineConfig{Scripts: lib, Pick: func(int) int { return 0 }})
			for i, text := range []string{"走吧", "好的"} {
				turn, err := e.Run(t.Context(), bot.Event{Platform: bot.WeChat, Account: "gh", Kind: bot.KindMessage, Sender: "u", Text: text, DedupeKey: text, Time: time.Now()}, false)
				if err != nil {
					t.Fatal(err)
				}
				want := []string{"ask:test", "fallback"}[i]
				if turn.Answer.Stage != want {
					t.Errorf("%s: stage = %q, want %q", text, turn.Answer.Stage, want)
				}
			}
			if len(acted) != 0 {
				t.Errorf("acted = %v, want nothing", acted)
			}
		})
	}
}

// TestBarredAnsweredByCommandsOnly: a message flagged ad_spam, fraud or
// poaching gets no rule, intent rule, meaning stage or fallback (whose
// texts may advertise); commands still see it and decide for themselves.
func TestBarredAnsweredByCommandsOnly(t *testing.T) {
	lib, err := bot.NewLibrary(fstest.MapFS{"s.yaml": {Data: []byte(`
rules:
  - name: promo
    match: {contains: [优惠]}
    reply: 新人首杯立减 5 元🎁
fallback: 回复「优惠」领券
`)}}, bottest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		text   string
		risks  []string
		barred bool
		stage  string
	}{
		{"ordinary", "有优惠吗", nil, false, "rule"},
		{"ad spam gets no promotion", "加微信领优惠", []string{"ad_spam"}, true, ""},
		{"fraud gets no fallback", "刷单日结", []string{"fraud", "pii"}, true, ""},
		{"poaching", "私聊我有优惠", []string{"pii", "poaching"}, true, ""},
		{"a command still takes a flagged message", "退订", []string{"ad_spam"}, true, "command:test"},
		{"abuse is not barred", "有优惠吗，垃圾", []string{"abuse"}, false, "rule"},
		{"a complaint is not barred", "不给优惠我就投诉", []string{"complaint"}, false, "rule"},
		{"personal data is not barred", "我的电话 13800138000", []string{"pii"}, false, "fallback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			meaning := false
			e := bot.NewEngine(bot.EngineConfig{Scripts: lib, Pick: func(int) int { return 0 },
				Understand: []bot.Analyzer{bot.AnalyzerFunc(func(_ context.Context, t *bot.Turn) error { t.Risks = tc.risks; return nil })},
				Commands: []bot.Stage{bot.StageFunc(func(_ context.Context, t *bot.Turn) (bool, error) {
					if t.Text != "退订" {
						return false, nil
					}
					t.Answer = bot.Answer{Stage: "command:test"}
					return true, nil
				})},
				Meaning: []bot.Stage{bot.StageFunc(func(context.Context, *bot.Turn) (bool, error) { meaning = true; return false, nil })},
			})
			turn, err := e.Run(t.Context(), bot.Event{Platform: bot.WeChat, Kind: bot.KindMessage, Sender: "u", Text: tc.text, Time: time.Now()}, false)
			if err != nil {
				t.Fatal(err)
			}
			if turn.Barred() != tc.barred {
				t.Errorf("Barred = %v, want %v", turn.Barred(), tc.barred)
			}
			if turn.Answer.Stage != tc.stage {
				t.Errorf("stage = %q, want %q", turn.Answer.Stage, tc.stage)
			}
			if tc.barred && (meaning || len(turn.Actions) != 0) {
				t.Errorf("meaning ran = %v, actions = %+v: want neither for a flagged message", meaning, turn.Actions)
			}
		})
	}
}

func TestSureConfidenceSetting(t *testing.T) {
	tests := []struct {
		name, value string
		want        float64
		wantErr     string
	}{
		{"off", "off", 0, ""},
		{"OFF", "OFF", 0, ""},
		{"a threshold", "0.99", 0.99, ""},
		{"one", "1", 1, ""},
		{"zero is not off", "0", 0, "want a number in (0, 1] or off"},
		{"above one", "1.2", 0, "want a number in (0, 1] or off"},
		{"a word", "always", 0, "want a number"},
		{"a list", "[0.9]", 0, "want a number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got float64
			sec := testSection{key: "sure", parse: func(p *bot.SectionParser, n *yaml.Node) any {
				got, _ = p.SureConfidence(n, "sure")
				return nil
			}}
			_, err := bot.LoadScripts(fstest.MapFS{"s.yaml": {Data: []byte("sure: " + tc.value + "\n")}}, sec)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), "s.yaml:1: sure: "+tc.wantErr)):
				t.Fatalf("err = %v, want s.yaml:1: sure: %s…", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("SureConfidence = %v, want %v", got, tc.want)
			}
		})
	}
}

// testSection is a Section whose Parse is given.
type testSection struct {
	key   string
	parse func(p *bot.SectionParser, n *yaml.Node) any
}

func (s testSection) Key() string                                  { return s.key }
func (s testSection) Parse(p *bot.SectionParser, n *yaml.Node) any { return s.parse(p, n) }
func (s testSection) Merge(*bot.SectionMerger, *bot.Scripts, []bot.SectionPart) any {
	return nil
}
