package dnd_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/dnd"
)

// capFunc adapts a function to bot.Capability.
type capFunc func(*bot.Stack) error

func (f capFunc) Install(s *bot.Stack) error { return f(s) }

// TestOptOutOnlyWhenSure: an opt-out read from the intent alone asks
// first (那我不要了 may be about an item), and only the answer within
// the question's few minutes, or the command words, opt out.
func TestOptOutOnlyWhenSure(t *testing.T) {
	type step struct {
		name     string
		user     string
		text     string
		msg      string // dedupe key; "" a new message
		intent   string
		conf     float64
		sure     bool // the classifier marks the reading sure
		group    bool
		advance  time.Duration
		scripts  string // "" the default dnd: section
		wantStg  string
		wantText string
		wantOut  bool
	}
	ask, done := dnd.DefaultConfirmReply, dnd.DefaultUnsubscribedReply
	steps := []step{
		{name: "那我不要了 about an item asks, opts nobody out", user: "u1", text: "那我不要了", intent: "unsubscribe", conf: 0.94, wantStg: "ask:dnd", wantText: ask},
		{name: "好的 is not the confirm word", user: "u1", text: "好的", intent: "greeting", conf: 0.9, wantStg: ""},
		{name: "确认退订 after it is still the answer: the first answer word within the TTL", user: "u1", text: "确认退订", wantStg: "command:dnd", wantText: done, wantOut: true},
		{name: "asked again", user: "u2", text: "以后别给我发了", intent: "unsubscribe", conf: 0.98, wantStg: "ask:dnd", wantText: ask},
		{name: "确认退订 answers it", user: "u2", text: "确认退订", msg: "u2-answer", wantStg: "command:dnd", wantText: done, wantOut: true},
		{name: "its retry acts on the same answer, changing nothing", user: "u2", text: "确认退订", msg: "u2-answer", wantStg: "command:dnd", wantOut: true},
		{name: "T, a command word, opts out with no question", user: "u3", text: "T", wantStg: "command:dnd", wantText: done, wantOut: true},
		{name: "a question expires", user: "u4", text: "别再推送了", intent: "unsubscribe", conf: 0.9, wantStg: "ask:dnd", wantText: ask},
		{name: "the answer six minutes later is too late", user: "u4", text: "确认退订", advance: 6 * time.Minute, wantStg: ""},
		{name: "another user's answer is not", user: "u5", text: "确认退订", wantStg: ""},
		{name: "below min_confidence nothing is asked", user: "u6", text: "不要了", intent: "unsubscribe", conf: 0.5, wantStg: ""},
		{name: "a sure reading opts out at once", user: "u7", text: "以后别给我发了", intent: "unsubscribe", conf: 0.98, sure: true, wantStg: "command:dnd", wantText: done, wantOut: true},
		{name: "the brand's sure_confidence is a sure reading too", user: "u8", text: "以后别给我发了", intent: "unsubscribe", conf: 0.98,
			scripts: "dnd:\n  sure_confidence: 0.97\n", wantStg: "command:dnd", wantText: done, wantOut: true},
		{name: "below the brand's sure_confidence it asks", user: "u9", text: "以后别给我发了", intent: "unsubscribe", conf: 0.96,
			scripts: "dnd:\n  sure_confidence: 0.97\n  confirm_reply: 回复 T 退订\n", wantStg: "ask:dnd", wantText: "回复 T 退订"},
		{name: "someone opted out already is not asked again", user: "u2", text: "以后都别发了", intent: "unsubscribe", conf: 0.9, wantStg: "command:dnd", wantOut: true},
		{name: "a group is never asked", user: "u10", text: "那我不要了", intent: "unsubscribe", conf: 0.94, group: true, wantStg: ""},
	}
	clock := bottest.NewClock(at(0, 12, 0))
	qs := bottest.NewQuestions(clock)
	confirm := bot.NewConfirmations(bot.ConfirmConfig{Store: qs, Now: clock.Now})
	store, counters := newMemStore(), newMemCounters(clock.Now)
	ctx := context.Background()
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clock.Add(st.advance)
			yaml := "rules: []\n" + st.scripts
			s, err := bot.LoadScripts(fstest.MapFS{"s.yaml": {Data: []byte(yaml)}}, dnd.Section{})
			if err != nil {
				t.Fatal(err)
			}
			svc := dnd.New(dnd.Config{Store: store, Counters: counters, Scripts: source{s}, Now: clock.Now, Confirm: confirm})
			stack, err := bot.NewStack(confirm, capFunc(func(s *bot.Stack) error {
				s.Analyze(bot.AnalyzerFunc(func(_ context.Context, t *bot.Turn) error {
					t.Intent, t.Confidence, t.Sure = st.intent, st.conf, st.sure
					return nil
				}))
				return nil
			}), svc)
			if err != nil {
				t.Fatal(err)
			}
			e := stack.Engine(bot.EngineConfig{Scripts: source{s}, Now: clock.Now})
			ev := message(st.user, st.text)
			ev.Time, ev.DedupeKey = clock.Now(), "m"+string(rune('a'+i))
			if st.msg != "" {
				ev.DedupeKey = st.msg
			}
			if st.group {
				ev.Conversation.Group = "g1"
			}
			turn, err := e.Run(ctx, ev, false)
			if err != nil {
				t.Fatal(err)
			}
			if turn.Answer.Stage != st.wantStg {
				t.Errorf("stage = %q, want %q", turn.Answer.Stage, st.wantStg)
			}
			got := ""
			if len(turn.Actions) > 0 {
				got, _ = bot.TextOf(turn.Actions[0])
			}
			if st.wantStg != "" && got != st.wantText {
				t.Errorf("reply = %q, want %q", got, st.wantText)
			}
			if out, _ := store.AnyOptedOut(ctx, ev.Person()); out != st.wantOut {
				t.Errorf("opted out = %v, want %v", out, st.wantOut)
			}
		})
	}
}

func TestSectionConfirmKeys(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		wantErr   string
		wantSure  float64
		wantWords string
	}{
		{"defaults", "dnd: {}\n", "", 0, "t,确认退订"},
		{"off", "dnd:\n  sure_confidence: off\n", "", 0, "t,确认退订"},
		{"a threshold", "dnd:\n  sure_confidence: 0.99\n  confirm_words: [T, 是的退订]\n", "", 0.99, "t,是的退订"},
		{"above 1", "dnd:\n  sure_confidence: 1.5\n", "s.yaml:2: dnd.sure_confidence: want a number in (0, 1] or off", 0, ""},
		{"not a number", "dnd:\n  sure_confidence: sure\n", "s.yaml:2: dnd.sure_confidence: want a number", 0, ""},
		{"a confirm word that resubscribes", "dnd:\n  confirm_words: [订阅]\n", "both a confirm word and a resubscribe word", 0, ""},
		{"empty question", "dnd:\n  confirm_reply: \"\"\n", "s.yaml:2: dnd.confirm_reply: empty", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := bot.LoadScripts(fstest.MapFS{"s.yaml": {Data: []byte(tc.yaml)}}, dnd.Section{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := dnd.RulesOf(s)
			if r.SureConfidence != tc.wantSure {
				t.Errorf("SureConfidence = %v, want %v", r.SureConfidence, tc.wantSure)
			}
			if got := strings.Join(r.ConfirmWords, ","); got != tc.wantWords {
				t.Errorf("ConfirmWords = %s, want %s", got, tc.wantWords)
			}
		})
	}
}
