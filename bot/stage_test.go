package bot_test

import (
	"context"
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

// keywordStage takes messages equal to its keyword, as a command would.
func keywordStage(name, keyword string, log *[]string) bot.Stage {
	return bot.StageFunc(func(_ context.Context, t *bot.Turn) (bool, error) {
		*log = append(*log, name)
		if t.Text != keyword {
			return false, nil
		}
		t.ReplyText(name + " took it")
		t.Answer = bot.Answer{Stage: "command:" + name}
		return true, nil
	})
}

func TestEngineStack(t *testing.T) {
	fsys := fstest.MapFS{"s.yaml": {Data: []byte(`
rules:
  - name: hours
    match: {contains: [营业时间]}
    reply: 九点
  - name: coupon-intent
    match: {intent: coupon, min_confidence: 0.8}
    reply: 领券请点菜单
fallback: 没听懂
`)}}
	lib, err := bot.NewLibrary(fsys, bottest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	classify := bot.AnalyzerFunc(func(_ context.Context, t *bot.Turn) error {
		log = append(log, "understand")
		if t.Text == "有券吗" || t.Text == "营业时间有券吗" {
			t.Intent, t.Confidence = "coupon", 0.9
		}
		if t.Text == "券吗" {
			t.Intent, t.Confidence = "coupon", 0.5
		}
		return nil
	})
	observe := bot.StageFunc(func(_ context.Context, t *bot.Turn) (bool, error) {
		log = append(log, "observe")
		return true, nil // an observer's answer is ignored
	})
	faq := bot.StageFunc(func(_ context.Context, t *bot.Turn) (bool, error) {
		log = append(log, "faq")
		if t.Text == "保质期多久" {
			t.ReplyText("三天")
			t.Answer = bot.Answer{Stage: "faq"}
			return true, nil
		}
		return false, nil
	})
	e := bot.NewEngine(bot.EngineConfig{
		Scripts:    lib,
		Understand: []bot.Analyzer{classify},
		Observe:    []bot.Stage{observe},
		Commands:   []bot.Stage{keywordStage("dnd", "退订", &log), keywordStage("checkin", "签到", &log)},
		Meaning:    []bot.Stage{faq},
		Pick:       func(int) int { return 0 },
	})
	tests := []struct {
		name      string
		text      string
		group     bool
		observe   bool
		wantText  string
		wantStage string
		wantLog   []string
	}{
		{"a command takes its word", "签到", false, false, "checkin took it", "command:checkin", []string{"understand", "observe", "dnd", "checkin"}},
		{"the first command wins", "退订", false, false, "dnd took it", "command:dnd", []string{"understand", "observe", "dnd"}},
		{"keyword rules before intents", "营业时间有券吗", false, false, "九点", "rule", []string{"understand", "observe", "dnd", "checkin"}},
		{"intent rule", "有券吗", false, false, "领券请点菜单", "intent", []string{"understand", "observe", "dnd", "checkin"}},
		{"unsure intent goes on to the meaning stages", "券吗", false, false, "没听懂", "fallback", []string{"understand", "observe", "dnd", "checkin", "faq"}},
		{"faq", "保质期多久", false, false, "三天", "faq", []string{"understand", "observe", "dnd", "checkin", "faq"}},
		{"no fallback in groups", "嗯嗯", true, false, "", "", []string{"understand", "observe", "dnd", "checkin", "faq"}},
		{"observed events stop after observers", "签到", true, true, "", "", []string{"understand", "observe"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log = nil
			ev := bot.Event{Platform: bot.WeChat, Account: "a", Kind: bot.KindMessage, Sender: "u", Text: tc.text, Time: time.Now(), Observe: tc.observe}
			if tc.group {
				ev.Conversation.Group = "g"
			}
			turn, err := e.Run(t.Context(), ev, false)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if len(turn.Actions) == 1 {
				got, _ = bot.TextOf(turn.Actions[0])
			} else if len(turn.Actions) > 1 {
				t.Fatalf("actions = %#v, want at most one", turn.Actions)
			}
			if got != tc.wantText || turn.Answer.Stage != tc.wantStage {
				t.Errorf("answer = %q by %q, want %q by %q", got, turn.Answer.Stage, tc.wantText, tc.wantStage)
			}
			if !reflect.DeepEqual(log, tc.wantLog) {
				t.Errorf("stages run = %v, want %v", log, tc.wantLog)
			}
		})
	}
}

// flagSection is a capability's section for the test: "flag: on|off".
type flagSection struct{}

func (flagSection) Key() string { return "flag" }

func (flagSection) Parse(p *bot.SectionParser, n *yaml.Node) any {
	s, ok := p.Text(n, "flag")
	if ok && s != "on" && s != "off" {
		p.Errorf(n, "flag: want on or off, got %q", s)
	}
	return s
}

func (flagSection) Merge(m *bot.SectionMerger, _ *bot.Scripts, parts []bot.SectionPart) any {
	part, ok := m.Once("flag", parts)
	if !ok {
		return "off"
	}
	return part.Value
}

func TestSections(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    string
		wantErr []string
	}{
		{"absent gets the section's default", map[string]string{"a.yaml": "fallback: 嗯\n"}, "off", nil},
		{"set", map[string]string{"a.yaml": "flag: on\n"}, "on", nil},
		{"a bad value is file:line", map[string]string{"a.yaml": "fallback: 嗯\nflag: maybe\n"}, "", []string{`a.yaml:2: flag: want on or off, got "maybe"`}},
		{"twice across files", map[string]string{"a.yaml": "flag: on\n", "b.yaml": "\nflag: off\n"}, "", []string{"b.yaml:2: flag already defined at a.yaml:1"}},
		{"unknown keys are still refused", map[string]string{"a.yaml": "flags: on\n"}, "", []string{`a.yaml:1: top level: unknown key "flags" (want welcome, rules, fallback, channels or flag)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, text := range tc.files {
				fsys[name] = &fstest.MapFile{Data: []byte(text)}
			}
			s, err := bot.LoadScripts(fsys, flagSection{})
			var got []string
			for _, e := range bot.ScriptErrors(err) {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tc.wantErr) {
				t.Fatalf("errors = %q, want %q (err %v)", got, tc.wantErr, err)
			}
			if err == nil && s.Section("flag") != tc.want {
				t.Errorf("Section(flag) = %v, want %q", s.Section("flag"), tc.want)
			}
		})
	}
}

func TestIsProactive(t *testing.T) {
	user := bot.Target{Platform: bot.WeChat, Account: "a", User: "u"}
	staff := bot.Target{Platform: bot.Staff}
	tests := []struct {
		name string
		a    bot.Action
		want bool
	}{
		{"a reply", bot.Reply{To: user, Text: "x"}, false},
		{"a push", bot.Push{Action: bot.Reply{To: user, Text: "x"}, Topic: "coupon"}, true},
		{"a batched group welcome", bot.Batched{Action: bot.Reply{To: user, Text: "x"}, Key: "k"}, true},
		{"a staff alert", bot.StaffAlert{To: user, Title: "t"}, false},
		{"a batched staff alert", bot.Batched{Action: bot.StaffAlert{To: user, Title: "t"}, Key: "k"}, false},
		{"a batched render for staff", bot.Batched{Action: bot.Render{To: staff, Renderer: "risk_alert"}, Key: "k"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := bot.IsProactive(tc.a); got != tc.want {
				t.Errorf("IsProactive = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRetarget: every action type's destination is changed, through
// wrappers, and nothing else is.
func TestRetarget(t *testing.T) {
	to := bot.Target{Platform: bot.WeChat, Account: "a", User: "u"}
	want := to
	want.UnionID = "un"
	set := func(t bot.Target) bot.Target { t.UnionID = "un"; return t }
	for _, a := range []bot.Action{
		bot.Reply{To: to, Text: "x"},
		bot.News{To: to},
		bot.Welcome{To: to, Text: "w"},
		bot.StaffAlert{To: to, Title: "t"},
		bot.Render{To: to, Renderer: "r"},
		bot.Handover{To: to, Step: bot.HandoverForward},
		bot.Push{Action: bot.Batched{Action: bot.Reply{To: to, Text: "x"}, Key: "k"}, Topic: "coupon"},
	} {
		got := bot.Retarget(a, set)
		if got.Dest() != want {
			t.Errorf("Retarget(%T).Dest() = %+v, want %+v", a, got.Dest(), want)
		}
		if txt, _ := bot.TextOf(got); txt != func() string { s, _ := bot.TextOf(a); return s }() {
			t.Errorf("Retarget(%T) changed the text", a)
		}
	}
}

// TestTurnValues: what one stage sets is there for a later stage of the
// same turn, and only that turn.
func TestTurnValues(t *testing.T) {
	type key struct{}
	var a, b bot.Turn
	if a.Value(key{}) != nil {
		t.Fatal("a new turn has a value")
	}
	a.Set(key{}, 42)
	if got := a.Value(key{}); got != 42 {
		t.Errorf("Value = %v, want 42", got)
	}
	if b.Value(key{}) != nil {
		t.Error("another turn sees the value")
	}
}
