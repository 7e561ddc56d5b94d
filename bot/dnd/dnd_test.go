package dnd_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/dnd"
)

func TestSectionErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // "" for no error
	}{
		{"example", "dnd:\n  unsubscribe: [退订, TD]\n  quiet_hours: {from: \"22:00\", to: \"08:00\", timezone: Asia/Shanghai}\n  caps: {per_person_day: 2}\n", ""},
		{"absent section", "rules: []\n", ""},
		{"bad time", "dnd:\n  quiet_hours:\n    from: \"25:00\"\n    to: \"08:00\"\n", "d.yaml:3: dnd.quiet_hours.from"},
		{"time without minutes", "dnd:\n  quiet_hours: {from: \"22\", to: \"08:00\"}\n", "d.yaml:2: dnd.quiet_hours.from"},
		{"bad zone", "dnd:\n  quiet_hours:\n    from: \"22:00\"\n    to: \"08:00\"\n    timezone: Mars/Olympus\n", "d.yaml:5: dnd.quiet_hours.timezone: unknown time zone"},
		{"negative cap", "dnd:\n  caps:\n    per_person_day: 2\n    per_person_week: -1\n", "d.yaml:4: dnd.caps.per_person_week: want 0 (no cap) or more"},
		{"same from and to", "dnd:\n  quiet_hours: {from: \"08:00\", to: \"08:00\"}\n", "d.yaml:2: dnd.quiet_hours"},
		{"bad over rule", "dnd:\n  caps:\n    over: {coupon: later}\n", "d.yaml:3: dnd.caps.over.coupon: want defer or drop"},
		{"unknown key", "dnd:\n  quiet: yes\n", "d.yaml:2"},
		{"word both ways", "dnd:\n  unsubscribe: [订阅]\n", "d.yaml:2: dnd: \"订阅\" is both"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bot.LoadScripts(fstest.MapFS{"d.yaml": {Data: []byte(tc.yaml)}}, dnd.Section{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("LoadScripts: %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("LoadScripts err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestSectionDefaults(t *testing.T) {
	s, err := bot.LoadScripts(fstest.MapFS{"d.yaml": {Data: []byte("rules: []\n")}}, dnd.Section{})
	if err != nil {
		t.Fatal(err)
	}
	r := dnd.RulesOf(s)
	if got, want := strings.Join(r.Unsubscribe, ","), "退订,td,t,取消推送,别再发了"; got != want {
		t.Errorf("Unsubscribe = %s, want %s", got, want)
	}
	if r.UnsubscribedReply != dnd.DefaultUnsubscribedReply || r.ResubscribedReply != dnd.DefaultResubscribedReply {
		t.Errorf("replies = %q, %q, want the defaults", r.UnsubscribedReply, r.ResubscribedReply)
	}
	if r.Quiet != nil || r.PerPersonDay != 0 {
		t.Errorf("quiet = %v, per day = %d, want none without a section", r.Quiet, r.PerPersonDay)
	}
}

func TestStage(t *testing.T) {
	f := newFixture(t, testScripts)
	ctx := context.Background()
	type step struct {
		name      string
		ev        bot.Event
		intent    string
		conf      float64
		dryRun    bool
		advance   time.Duration
		wantReply string // "" for no action
		wantStage string
		wantOut   bool // opted out afterwards
	}
	steps := []step{
		{name: "keyword question", ev: message("u1", "营业时间"), wantReply: "每天 9:00-21:00", wantStage: "rule"},
		{name: "dry-run 退订 writes nothing", ev: message("u1", "退订"), dryRun: true, wantReply: dnd.DefaultUnsubscribedReply, wantStage: "command:dnd"},
		{name: "退订", ev: message("u1", "退订"), wantReply: dnd.DefaultUnsubscribedReply, wantStage: "command:dnd", wantOut: true},
		{name: "repeat is not confirmed again", ev: message("u1", "【退订】"), wantStage: "command:dnd", wantOut: true},
		{name: "question still answered", ev: message("u1", "营业时间？"), wantReply: "每天 9:00-21:00", wantStage: "rule", wantOut: true},
		{name: "repeat a day later is confirmed once more", ev: message("u1", "TD"), advance: 25 * time.Hour, wantReply: dnd.DefaultUnsubscribedReply, wantStage: "command:dnd", wantOut: true},
		{name: "订阅", ev: message("u1", "订阅"), wantReply: dnd.DefaultResubscribedReply, wantStage: "command:dnd"},
		{name: "T alone opts out", ev: message("u1", "t"), wantReply: dnd.DefaultUnsubscribedReply, wantStage: "command:dnd", wantOut: true},
		{name: "订阅 again", ev: message("u1", "订阅"), wantReply: dnd.DefaultResubscribedReply, wantStage: "command:dnd"},
		{name: "T inside a word is not a command", ev: message("u1", "T恤有吗"), wantStage: ""},
		{name: "Tea is not a command", ev: message("u1", "tea"), wantStage: ""},
		{name: "unsure intent is not a command", ev: message("u1", "能少发点吗"), intent: "unsubscribe", conf: 0.5, wantStage: ""},
		{name: "intent alone asks first", ev: message("u1", "以后不要再给我发消息"), intent: "unsubscribe", conf: 0.93, wantReply: dnd.DefaultConfirmReply, wantStage: "ask:dnd"},
	}
	group := message("u2", "退订")
	group.Conversation = bot.Conversation{Group: "g1"}
	steps = append(steps, step{name: "退订 in a group is chatter", ev: group, wantStage: ""})

	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			f.clock.Add(st.advance)
			engine := bot.NewEngine(bot.EngineConfig{
				Scripts: source{f.scripts},
				Understand: []bot.Analyzer{bot.AnalyzerFunc(func(_ context.Context, tn *bot.Turn) error {
					tn.Intent, tn.Confidence = st.intent, st.conf
					return nil
				})},
				Commands: []bot.Stage{f.svc.Stage()},
				Now:      f.clock.Now,
			})
			turn, err := engine.Run(ctx, st.ev, st.dryRun)
			if err != nil {
				t.Fatal(err)
			}
			if turn.Answer.Stage != st.wantStage {
				t.Errorf("stage = %q, want %q", turn.Answer.Stage, st.wantStage)
			}
			got := ""
			if st.wantStage != "" && len(turn.Actions) > 0 {
				got, _ = bot.TextOf(turn.Actions[0])
			}
			if st.wantStage == "" {
				got = st.wantReply // the fallback is not this test's business
			}
			if got != st.wantReply || (st.wantReply == "" && len(turn.Actions) != 0) {
				t.Errorf("reply = %q (%d actions), want %q", got, len(turn.Actions), st.wantReply)
			}
			if out, _ := f.store.AnyOptedOut(ctx, st.ev.Person()); out != st.wantOut {
				t.Errorf("opted out = %v, want %v", out, st.wantOut)
			}
		})
	}
}

func TestMiddleware(t *testing.T) {
	ctx := context.Background()
	union := bot.Target{Platform: bot.WeCom, Account: "corp", User: "wm-ext", UnionID: "un-1"}
	group := bot.Target{Platform: bot.Douyin, Account: "dy", Conversation: bot.Conversation{Group: "fans"}}
	tests := []struct {
		name    string
		now     time.Time
		optOut  bot.PersonID
		actions []bot.Action
		// want describes each action out: "reply", "push", "batched@<rfc3339 in Shanghai>"
		want          []string
		wantReason    []string
		wantHeldTopic string // of the first held record, when set
	}{
		{
			name:    "reply and push in the day",
			now:     at(0, 12, 0),
			actions: []bot.Action{bot.Reply{To: oaUser("u1"), Text: "hi"}, push(oaUser("u1"), "coupon", "券")},
			want:    []string{"reply", "push"},
		},
		{
			name:    "opted out: push dropped, reply kept",
			now:     at(0, 12, 0),
			optOut:  bot.PersonOf(bot.WeChat, "gh_brand", "u1", ""),
			actions: []bot.Action{bot.Reply{To: oaUser("u1"), Text: "hi"}, push(oaUser("u1"), "coupon", "券")},
			want:    []string{"reply"}, wantReason: []string{dnd.ReasonOptedOut},
		},
		{
			name:    "opted out on the OA: no push to the same unionid on WeCom",
			now:     at(0, 12, 0),
			optOut:  "union:un-1",
			actions: []bot.Action{push(union, "coupon", "券")},
			want:    nil, wantReason: []string{dnd.ReasonOptedOut},
		},
		{
			name:    "quiet hours: deferred to 08:00, reply not",
			now:     at(0, 23, 30),
			actions: []bot.Action{bot.Reply{To: oaUser("u1"), Text: "hi"}, push(oaUser("u1"), "checkin_reward", "奖励")},
			want:    []string{"reply", "batched@" + at(1, 8, 0).Format(time.RFC3339)}, wantReason: []string{dnd.ReasonQuietHours},
		},
		{
			name:    "after midnight: deferred to the same morning",
			now:     at(1, 1, 0),
			actions: []bot.Action{push(oaUser("u1"), "coupon", "券")},
			want:    []string{"batched@" + at(1, 8, 0).Format(time.RFC3339)}, wantReason: []string{dnd.ReasonQuietHours},
		},
		{
			name: "day cap: third push waits for the next morning, a reminder is dropped",
			now:  at(0, 12, 0),
			actions: []bot.Action{
				push(oaUser("u1"), "coupon", "1"), push(oaUser("u1"), "coupon", "2"),
				push(oaUser("u1"), "coupon", "3"), push(oaUser("u1"), "reminder", "4"),
			},
			want:       []string{"push", "push", "batched@" + at(1, 8, 0).Format(time.RFC3339)},
			wantReason: []string{dnd.ReasonPersonDay, dnd.ReasonPersonDay},
		},
		{
			name: "group cap per minute, group welcome wrapped for the gate",
			now:  at(0, 12, 0),
			actions: []bot.Action{
				push(group, "digest", "1"), push(group, "digest", "2"), push(group, "digest", "3"),
				bot.Batched{Action: bot.Reply{To: group, Text: "欢迎"}, Key: "welcome:x", SendAt: at(0, 12, 0)},
			},
			want:          []string{"push", "push", "push", "batched@" + at(0, 12, 1).Format(time.RFC3339)},
			wantReason:    []string{dnd.ReasonGroupMinute},
			wantHeldTopic: dnd.TopicGroupWelcome,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testScripts)
			f.clock.Set(tc.now)
			if tc.optOut != "" {
				f.store.out[tc.optOut] = true
			}
			h := f.svc.Middleware()(bot.HandlerFunc(func(context.Context, bot.Event) ([]bot.Action, error) { return tc.actions, nil }))
			out, err := h.HandleEvent(ctx, message("u1", "x"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range out {
				switch a := a.(type) {
				case bot.Batched:
					if _, ok := a.Action.(bot.Push); !ok {
						t.Errorf("batched %T, want a Push inside for the gate", a.Action)
					}
					got = append(got, "batched@"+a.SendAt.In(shanghai).Format(time.RFC3339))
				case bot.Push:
					got = append(got, "push")
				case bot.Reply:
					got = append(got, "reply")
				default:
					t.Errorf("unexpected %T", a)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("actions = %v, want %v", got, tc.want)
			}
			if got, want := strings.Join(f.store.heldReasons(), " "), strings.Join(tc.wantReason, " "); got != want {
				t.Errorf("held reasons = %q, want %q", got, want)
			}
			if tc.wantHeldTopic != "" && f.store.held[0].Topic != tc.wantHeldTopic {
				t.Errorf("held topic = %q, want %q", f.store.held[0].Topic, tc.wantHeldTopic)
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, testScripts)
	p := push(oaUser("u1"), "coupon", "券")
	tests := []struct {
		name      string
		now       time.Time
		optOut    bool
		wantUntil time.Time
		wantDrop  bool
	}{
		{name: "first of the day", now: at(0, 12, 0)},
		{name: "second of the day", now: at(0, 12, 5)},
		{name: "third waits for tomorrow 08:00", now: at(0, 12, 10), wantUntil: at(1, 8, 0)},
		{name: "in quiet hours", now: at(0, 23, 0), wantUntil: at(1, 8, 0)},
		{name: "released at 08:00", now: at(1, 8, 0)},
		{name: "opted out while waiting", now: at(1, 9, 0), optOut: true, wantDrop: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.optOut {
				f.store.out[bot.PersonOf(bot.WeChat, "gh_brand", "u1", "")] = true
			}
			f.clock.Set(tc.now)
			until, err := f.svc.Admit(ctx, p, tc.now)
			if tc.wantDrop {
				if !errors.Is(err, bot.ErrInvalid) {
					t.Fatalf("Admit err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Admit: %v", err)
			}
			if !until.Equal(tc.wantUntil) {
				t.Errorf("Admit = %v, want %v", until, tc.wantUntil)
			}
		})
	}
}

func TestExplainRecordsNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, testScripts)
	f.store.out["union:un-1"] = true
	actions := []bot.Action{
		bot.Reply{To: oaUser("u1"), Text: "hi"},
		push(bot.Target{Platform: bot.WeCom, Account: "corp", User: "wm", UnionID: "un-1"}, "coupon", "券"),
		push(oaUser("u1"), "coupon", "1"), push(oaUser("u1"), "coupon", "2"), push(oaUser("u1"), "coupon", "3"),
	}
	held, err := f.svc.Explain(ctx, actions, at(0, 12, 0))
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, h := range held {
		reasons = append(reasons, h.Reason)
	}
	if got, want := strings.Join(reasons, " "), dnd.ReasonOptedOut+" "+dnd.ReasonPersonDay; got != want {
		t.Errorf("Explain reasons = %q, want %q", got, want)
	}
	if len(f.store.held) != 0 || len(f.counters.n) != 0 {
		t.Errorf("Explain recorded %d and counted %d, want nothing", len(f.store.held), len(f.counters.n))
	}
}

// TestPlatformCaps: with no caps of the brand's own, the platforms'
// limits still apply: Douyin's 3 proactive messages a day per customer,
// WeCom's one 企业群发 message a day of the month per recipient.
func TestPlatformCaps(t *testing.T) {
	ctx := context.Background()
	douyin := bot.Target{Platform: bot.Douyin, Account: "dy", User: "fan"}
	wecom := bot.Target{Platform: bot.WeCom, Account: "corp", Conversation: bot.Conversation{Group: "wrOg"}}
	tests := []struct {
		name       string
		to         bot.Target
		n          int // pushes admitted at noon, a minute apart
		wantAdmits int
		wantReason string
		wantUntil  time.Time
	}{
		{"douyin 3 a day", douyin, 5, 3, dnd.ReasonDouyinDay, at(1, 0, 0)},
		{"wecom 30 in November", wecom, 31, 30, dnd.ReasonWeComMonth, time.Date(2026, 12, 1, 0, 0, 0, 0, shanghai)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "rules: []\n") // defaults: no quiet hours, no caps
			admits := 0
			for i := range tc.n {
				now := at(0, 12, 0).Add(time.Duration(i) * time.Minute)
				until, err := f.svc.Admit(ctx, push(tc.to, "coupon", "券"), now)
				if err != nil {
					t.Fatalf("Admit #%d: %v", i+1, err)
				}
				if until.IsZero() {
					admits++
					continue
				}
				if !until.Equal(tc.wantUntil) {
					t.Errorf("deferred to %v, want %v", until, tc.wantUntil)
				}
			}
			if admits != tc.wantAdmits {
				t.Errorf("admitted %d, want %d", admits, tc.wantAdmits)
			}
			if r := f.store.heldReasons(); len(r) != tc.n-tc.wantAdmits || r[0] != tc.wantReason {
				t.Errorf("held = %v, want %d × %s", r, tc.n-tc.wantAdmits, tc.wantReason)
			}
		})
	}
}
