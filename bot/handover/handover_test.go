package handover_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/handover"
)

const testScripts = `
rules:
  - name: hours
    match: {contains: [营业时间]}
    reply: 每天 9:00-21:00
  - name: contact
    match: {menu: [MENU_HOURS]}
    reply: 菜单回答
fallback: 没听懂
handover:
  exact: [人工]
  keywords: [转人工]
  menu: [MENU_CONTACT]
  risks: [complaint]
  reply: 已为你转接人工
  risk_reply: 抱歉，已请同事跟进
  alert_title: 要人工
  quiet: 30m
  agents:
    wechat: [kf1@gh_test, kf2@gh_test]
`

// before stands in for the capabilities listed before the hand-over:
// a classifier (layer 1: 找个人 reads as human_agent, 投诉你们 as a
// complaint risk) and a command that must keep working in a held
// conversation (签到).
type before struct{}

func (before) Install(st *bot.Stack) error {
	st.Analyze(bot.AnalyzerFunc(func(_ context.Context, t *bot.Turn) error {
		if strings.Contains(t.Text, "找个人") {
			t.Intent, t.Confidence = "human_agent", 0.9
		}
		if strings.Contains(t.Text, "投诉你们") {
			t.Risks = []string{"complaint"}
		}
		if strings.Contains(t.Text, "加我微信") {
			t.Risks = []string{bot.RiskPoaching}
		}
		return nil
	}))
	st.Command(bot.StageFunc(func(_ context.Context, t *bot.Turn) (bool, error) {
		if t.Event.Kind == bot.KindMessage && t.Text == "签到" {
			t.ReplyText("签到成功")
			t.Answer = bot.Answer{Stage: "command:checkin"}
			return true, nil
		}
		return false, nil
	}))
	return nil
}

// after stands in for the intents capability's hand-over stage (layer
// 5), which lives in another package: it asks for a hand-over with a
// bot.Handover, as bot/nlp does.
type after struct{}

func (after) Install(st *bot.Stack) error {
	st.Meaning(bot.StageFunc(func(_ context.Context, t *bot.Turn) (bool, error) {
		if t.Intent != "human_agent" {
			return false, nil
		}
		to := t.Event.ReplyTarget()
		t.Add(bot.Handover{To: to, Step: bot.HandoverStart, Reason: handover.ReasonIntent})
		t.ReplyText("意图转人工")
		t.Answer = bot.Answer{Stage: "handover", Intent: t.Intent}
		return true, nil
	}))
	return nil
}

type rig struct {
	clock *bottest.Clock
	store *memStore
	sent  *sentLog
	svc   *handover.Service
	h     bot.Handler

	handovers []string
	waits     []time.Duration
}

func newRig(t *testing.T, scripts string) *rig {
	t.Helper()
	clock := bottest.NewClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	return newReplicaRig(t, scripts, clock, newMemStore(clock.Now), nil)
}

// newReplicaRig is one replica on stores replicas share, announcing
// hand-overs on bus (nil: no index; every message reads its pause).
func newReplicaRig(t *testing.T, scripts string, clock *bottest.Clock, store *memStore, bus handover.Announcer) *rig {
	t.Helper()
	r := &rig{clock: clock, sent: &sentLog{}, store: store}
	var lib *bot.Library
	r.svc = handover.New(handover.Config{
		Pauses: r.store, Board: r.store, Turns: r.store, Log: r.store, History: r.store, Purger: r.store,
		Sender: r.sent, Outbox: r.sent, Scripts: scriptsOf(func() *bot.Library { return lib }), Announcer: bus,
		OnHandover:   func(reason string) { r.handovers = append(r.handovers, reason) },
		OnFirstReply: func(d time.Duration) { r.waits = append(r.waits, d) },
		Logger:       bottest.Logger(t), Now: r.clock.Now,
	})
	stack, err := bot.NewStack(before{}, r.svc, after{})
	if err != nil {
		t.Fatal(err)
	}
	lib, err = bot.NewLibrary(fstest.MapFS{"a.yaml": {Data: []byte(scripts)}}, nil, stack.ScriptSections()...)
	if err != nil {
		t.Fatal(err)
	}
	engine := stack.Engine(bot.EngineConfig{Scripts: lib, Pick: func(int) int { return 0 }, Now: r.clock.Now})
	r.h = bot.Chain(engine, stack.Middleware()...)
	return r
}

type scriptsOf func() *bot.Library

func (f scriptsOf) Scripts() *bot.Scripts { return f().Scripts() }

func (r *rig) event(t *testing.T, p bot.Platform, user string, kind bot.EventKind, text string) []string {
	t.Helper()
	ev := bot.Event{Platform: p, Account: "acct", Kind: kind, Sender: bot.UserID(user), Text: text, Time: r.clock.Now()}
	if kind == bot.KindMenuClick || kind == bot.KindMedia {
		ev.Key, ev.Text = text, ""
	}
	actions, err := r.h.HandleEvent(context.Background(), ev)
	if err != nil {
		t.Fatalf("%s %q: %v", user, text, err)
	}
	return describe(actions)
}

func (r *rig) say(t *testing.T, user, text string) []string {
	t.Helper()
	return r.event(t, bot.WeChat, user, bot.KindMessage, text)
}

func (r *rig) held(t *testing.T, user string) (handover.Pause, bool) {
	t.Helper()
	p, ok, err := r.store.Get(context.Background(), handover.ConvOf(bot.WeChat, "acct", bot.UserID(user)))
	if err != nil {
		t.Fatal(err)
	}
	return p, ok
}

func TestHandoverTriggers(t *testing.T) {
	tests := []struct {
		name   string
		kind   bot.EventKind
		text   string
		want   []string
		reason string
	}{
		{"the exact keyword", bot.KindMessage, "人工", []string{"handover:start:keyword:kf1@gh_test", "alert:要人工", "reply:已为你转接人工"}, "keyword"},
		{"a keyword inside a message", bot.KindMessage, "营业时间不对，转人工！", []string{"handover:start:keyword:kf1@gh_test", "alert:要人工", "reply:已为你转接人工"}, "keyword"},
		{"a menu click", bot.KindMenuClick, "MENU_CONTACT", []string{"handover:start:keyword:kf1@gh_test", "alert:要人工", "reply:已为你转接人工"}, "keyword"},
		{"the intent, raised by another capability", bot.KindMessage, "能帮我找个人吗", []string{"handover:start:intent:kf1@gh_test", "reply:意图转人工"}, "intent"},
		{"a risk the section names", bot.KindMessage, "我要投诉你们", []string{"handover:start:risk:kf1@gh_test", "alert:要人工", "reply:抱歉，已请同事跟进"}, "risk"},
		{"人工 inside a word is not the exact keyword", bot.KindMessage, "人工智能是什么", []string{"reply:没听懂"}, ""},
		{"a barred message is not handed over", bot.KindMessage, "转人工，加我微信返现", []string{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, testScripts)
			got := r.event(t, bot.WeChat, "u1", tc.kind, tc.text)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("actions = %q, want %q", got, tc.want)
			}
			p, held := r.held(t, "u1")
			if held != (tc.reason != "") || p.Reason != tc.reason {
				t.Fatalf("held = %v with reason %q, want %v %q", held, p.Reason, tc.reason != "", tc.reason)
			}
			if tc.reason == "" {
				return
			}
			if !slices.Equal(r.handovers, []string{tc.reason}) {
				t.Errorf("hand-overs counted = %q, want [%s]", r.handovers, tc.reason)
			}
			if p.Agent != "kf1@gh_test" || p.Since.IsZero() || p.Waiting.IsZero() {
				t.Errorf("pause = %+v, want agent kf1@gh_test, since and waiting set", p)
			}
		})
	}
}

// TestHeldConversation: once a person holds the conversation, the bot's
// keyword, fallback and menu answers stop and each message is forwarded;
// 签到 (a command listed before the hand-over) still answers; another
// customer still gets the bot; everything is recorded for staff.
func TestHeldConversation(t *testing.T) {
	r := newRig(t, testScripts)
	r.say(t, "u1", "人工")
	steps := []struct {
		name, user, text string
		kind             bot.EventKind
		want             []string
	}{
		{"a keyword rule is paused", "u1", "营业时间", bot.KindMessage, []string{"handover:forward:keyword:kf1@gh_test"}},
		{"the fallback is paused", "u1", "嗯嗯", bot.KindMessage, []string{"handover:forward:keyword:kf1@gh_test"}},
		{"a menu rule is paused, nothing forwarded", "u1", "MENU_HOURS", bot.KindMenuClick, []string{}},
		{"a command before the hand-over still answers", "u1", "签到", bot.KindMessage, []string{"reply:签到成功"}},
		{"人工 again is forwarded, not a second hand-over", "u1", "人工", bot.KindMessage, []string{"handover:forward:keyword:kf1@gh_test"}},
		{"an image is forwarded", "u1", "image", bot.KindMedia, []string{"handover:forward:keyword:kf1@gh_test"}},
		{"another customer's image gets nothing", "u2", "image", bot.KindMedia, []string{}},
		{"another customer gets the bot", "u2", "营业时间", bot.KindMessage, []string{"reply:每天 9:00-21:00"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got := r.event(t, bot.WeChat, st.user, st.kind, st.text)
			if !slices.Equal(got, st.want) {
				t.Fatalf("actions = %q, want %q", got, st.want)
			}
		})
	}
	want := []string{"customer:人工", "bot:已为你转接人工", "customer:营业时间", "customer:嗯嗯", "customer:（点击菜单）", "customer:签到", "bot:签到成功", "customer:人工", "customer:（图片）"}
	if got := r.store.texts(); !slices.Equal(got, want) {
		t.Errorf("recorded = %q, want %q", got, want)
	}
	if len(r.handovers) != 1 {
		t.Errorf("hand-overs counted = %d, want 1", len(r.handovers))
	}
}

func TestAgentsInTurn(t *testing.T) {
	r := newRig(t, testScripts)
	var agents []string
	for i := range 3 {
		r.say(t, fmt.Sprintf("u%d", i), "人工")
		p, _ := r.held(t, fmt.Sprintf("u%d", i))
		agents = append(agents, p.Agent)
	}
	if want := []string{"kf1@gh_test", "kf2@gh_test", "kf1@gh_test"}; !slices.Equal(agents, want) {
		t.Errorf("agents = %q, want %q", agents, want)
	}
	// Platforms without agents in the scripts choose themselves.
	got := r.event(t, bot.Douyin, "d1", bot.KindMessage, "人工")
	if got[0] != "handover:start:keyword:" {
		t.Errorf("Douyin hand-over = %q, want no agent", got[0])
	}
}

// TestQuietTime: the pause ends 30 minutes after the last message of the
// customer or of staff, and the bot answers again.
func TestQuietTime(t *testing.T) {
	r := newRig(t, testScripts)
	r.say(t, "u1", "人工")
	r.clock.Add(29 * time.Minute)
	if got := r.say(t, "u1", "营业时间"); got[0] != "handover:forward:keyword:kf1@gh_test" {
		t.Fatalf("after 29 min: %q, want forwarded", got)
	}
	r.clock.Add(29 * time.Minute) // 58 min after the hand-over, 29 after the last message
	p, held := r.held(t, "u1")
	if !held {
		t.Fatal("not held 29 minutes after the customer's last message")
	}
	if err := r.svc.Reply(context.Background(), p.ID, "小王", "您好"); err != nil {
		t.Fatal(err)
	}
	r.clock.Add(29 * time.Minute) // 29 after staff's reply
	if _, held := r.held(t, "u1"); !held {
		t.Fatal("not held 29 minutes after staff's reply")
	}
	r.clock.Add(2 * time.Minute)
	if got := r.say(t, "u1", "营业时间"); !slices.Equal(got, []string{"reply:每天 9:00-21:00"}) {
		t.Fatalf("after the quiet time: %q, want the bot's answer", got)
	}
	n, err := r.svc.Sweep(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v, want 1 closed", n, err)
	}
	if s, _ := r.store.Session(context.Background(), p.ID); s.EndReason != handover.EndQuiet || s.EndedAt.IsZero() {
		t.Errorf("session = %+v, want ended for quiet", s)
	}
	if n, _ := r.svc.Sweep(context.Background()); n != 0 {
		t.Errorf("second Sweep closed %d, want 0", n)
	}
}

func TestStaffReply(t *testing.T) {
	r := newRig(t, testScripts)
	ctx := context.Background()
	r.say(t, "u1", "人工")
	p, _ := r.held(t, "u1")

	r.clock.Add(90 * time.Second)
	if err := r.svc.Reply(ctx, p.ID, "小王", "  您好，我是客服小王  "); err != nil {
		t.Fatal(err)
	}
	if got := describe(r.sent.sent); !slices.Equal(got, []string{"reply:您好，我是客服小王"}) {
		t.Fatalf("sent %q, want the reply", got)
	}
	if to := r.sent.sent[0].Dest(); to.Platform != bot.WeChat || to.Account != "acct" || to.User != "u1" {
		t.Errorf("sent to %+v, want the customer", to)
	}
	if !slices.Equal(r.waits, []time.Duration{90 * time.Second}) {
		t.Errorf("first-reply waits = %v, want [1m30s]", r.waits)
	}
	if err := r.svc.Reply(ctx, p.ID, "小王", "还在吗"); err != nil {
		t.Fatal(err)
	}
	if len(r.waits) != 1 {
		t.Errorf("first-reply waits = %v, want only the first counted", r.waits)
	}
	if cur, _ := r.held(t, "u1"); !cur.Waiting.IsZero() || cur.LastStaff.IsZero() {
		t.Errorf("after staff's reply: waiting %v, last staff %v; want not waiting", cur.Waiting, cur.LastStaff)
	}
	r.say(t, "u1", "在的")
	if cur, _ := r.held(t, "u1"); cur.Waiting.IsZero() {
		t.Error("the customer wrote again, but the conversation is not waiting")
	}
	th, err := r.svc.Thread(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, m := range th.Messages {
		lines = append(lines, string(m.From)+"("+m.Author+"):"+m.Text)
	}
	want := []string{"customer():人工", "bot():已为你转接人工", "staff(小王):您好，我是客服小王", "staff(小王):还在吗", "customer():在的"}
	if !th.Held || !slices.Equal(lines, want) {
		t.Errorf("thread held=%v %q, want held %q", th.Held, lines, want)
	}

	t.Run("refused by the platform", func(t *testing.T) {
		r.sent.err = fmt.Errorf("wechat.Send: errcode=45047: %w", bot.ErrInvalid)
		defer func() { r.sent.err = nil }()
		err := r.svc.Reply(ctx, p.ID, "小王", "hi")
		if !errors.Is(err, handover.ErrRefused) || !strings.Contains(err.Error(), "45047") {
			t.Errorf("Reply = %v, want ErrRefused with the platform's reason", err)
		}
	})
	t.Run("platform unreachable", func(t *testing.T) {
		r.sent.err = fmt.Errorf("wechat.Send: %w", bot.ErrUnavailable)
		defer func() { r.sent.err = nil }()
		if err := r.svc.Reply(ctx, p.ID, "小王", "hi"); !errors.Is(err, bot.ErrUnavailable) || errors.Is(err, handover.ErrRefused) {
			t.Errorf("Reply = %v, want ErrUnavailable", err)
		}
	})
	t.Run("empty text", func(t *testing.T) {
		if err := r.svc.Reply(ctx, p.ID, "小王", "  "); !errors.Is(err, bot.ErrInvalid) {
			t.Errorf("Reply = %v, want ErrInvalid", err)
		}
	})
	t.Run("unknown hand-over", func(t *testing.T) {
		if err := r.svc.Reply(ctx, "nope", "小王", "hi"); !errors.Is(err, bot.ErrNotFound) {
			t.Errorf("Reply = %v, want ErrNotFound", err)
		}
	})
}

// TestReplyWindow: WeChat accepts customer-service messages for 48 hours
// after the customer's last message; after that staff are told plainly,
// and nothing is sent.
func TestReplyWindow(t *testing.T) {
	tests := []struct {
		name     string
		platform bot.Platform
		after    time.Duration
		wantErr  error
	}{
		{"WeChat inside 48 h", bot.WeChat, 47 * time.Hour, nil},
		{"WeChat after 48 h", bot.WeChat, 48 * time.Hour, handover.ErrWindowClosed},
		{"Douyin after 24 h", bot.Douyin, 24 * time.Hour, handover.ErrWindowClosed},
		{"Douyin inside 24 h", bot.Douyin, 23 * time.Hour, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A quiet time longer than the window, so the hand-over is
			// still held when the window closes.
			r := newRig(t, strings.Replace(testScripts, "quiet: 30m", "quiet: 48h", 1))
			r.event(t, tc.platform, "u1", bot.KindMessage, "人工")
			p, ok, _ := r.store.Get(context.Background(), handover.ConvOf(tc.platform, "acct", "u1"))
			if !ok {
				t.Fatal("not held")
			}
			// Staff wrote an hour in: the pause lasts from then, the
			// window from the customer's last message.
			r.clock.Add(time.Hour)
			if err := r.svc.Reply(context.Background(), p.ID, "小王", "稍等"); err != nil {
				t.Fatal(err)
			}
			r.clock.Add(tc.after - time.Hour)
			err := r.svc.Reply(context.Background(), p.ID, "小王", "您好")
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("Reply = %v, want %v", err, tc.wantErr)
			}
			if wantSent := tc.wantErr == nil; (len(r.sent.sent) == 2) != wantSent {
				t.Errorf("sent %d, want sent: %v", len(r.sent.sent), wantSent)
			}
		})
	}
}

func TestEnd(t *testing.T) {
	ctx := context.Background()
	t.Run("staff end it: the bot answers, the platform is told", func(t *testing.T) {
		r := newRig(t, testScripts)
		r.say(t, "u1", "人工")
		p, _ := r.held(t, "u1")
		if err := r.svc.End(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if got := r.say(t, "u1", "营业时间"); !slices.Equal(got, []string{"reply:每天 9:00-21:00"}) {
			t.Fatalf("after the end: %q, want the bot's answer", got)
		}
		if got := describe(r.sent.queued); !slices.Equal(got, []string{"handover:end:keyword:kf1@gh_test"}) {
			t.Errorf("queued %q, want the end for the platform", got)
		}
		if s, _ := r.store.Session(ctx, p.ID); s.EndReason != handover.EndStaff {
			t.Errorf("session = %+v, want ended by staff", s)
		}
		if err := r.svc.End(ctx, p.ID); !errors.Is(err, handover.ErrNotHeld) {
			t.Errorf("second End = %v, want ErrNotHeld", err)
		}
		if err := r.svc.Reply(ctx, p.ID, "小王", "hi"); !errors.Is(err, handover.ErrNotHeld) {
			t.Errorf("Reply after the end = %v, want ErrNotHeld", err)
		}
	})
	t.Run("the platform closes the session", func(t *testing.T) {
		r := newRig(t, testScripts)
		r.say(t, "u1", "人工")
		p, _ := r.held(t, "u1")
		if got := r.event(t, bot.WeChat, "u1", bot.KindSessionClosed, ""); len(got) != 0 {
			t.Fatalf("session closed answered %q, want nothing", got)
		}
		if _, held := r.held(t, "u1"); held {
			t.Fatal("still held after the platform closed the session")
		}
		if len(r.sent.queued) != 0 {
			t.Errorf("queued %q, want nothing told to the platform that told siyu", describe(r.sent.queued))
		}
		if s, _ := r.store.Session(ctx, p.ID); s.EndReason != handover.EndPlatform {
			t.Errorf("session = %+v, want ended by the platform", s)
		}
	})
	t.Run("a staff message in the platform's tool keeps it held and counts", func(t *testing.T) {
		r := newRig(t, testScripts)
		r.say(t, "u1", "人工")
		r.clock.Add(time.Minute)
		r.event(t, bot.WeChat, "u1", bot.KindStaffMessage, "我来处理")
		if !slices.Contains(r.store.texts(), "staff:我来处理") || len(r.waits) != 1 {
			t.Errorf("recorded %q, waits %v; want the staff message and one first-reply wait", r.store.texts(), r.waits)
		}
		// Unheld conversations' staff messages are not recorded.
		r.event(t, bot.WeChat, "u9", bot.KindStaffMessage, "别处")
		if slices.Contains(r.store.texts(), "staff:别处") {
			t.Error("a staff message of a conversation nobody handed over was recorded")
		}
	})
}

func TestHold(t *testing.T) {
	r := newRig(t, testScripts)
	to := bot.Target{Platform: bot.WeChat, Account: "acct", User: "u1"}
	if err := r.svc.Hold(context.Background(), to, handover.ReasonPlatform); err != nil {
		t.Fatal(err)
	}
	if got := r.say(t, "u1", "营业时间"); got[0] != "handover:forward:platform:" {
		t.Fatalf("after the platform's hold: %q, want forwarded", got)
	}
	p, _ := r.held(t, "u1")
	if err := r.svc.Hold(context.Background(), to, handover.ReasonPlatform); err != nil {
		t.Fatal(err)
	}
	if cur, _ := r.held(t, "u1"); cur.ID != p.ID || len(r.handovers) != 1 {
		t.Errorf("a second hold replaced the pause or was counted (%d)", len(r.handovers))
	}
}

func TestInboxOrder(t *testing.T) {
	r := newRig(t, testScripts)
	ctx := context.Background()
	for _, u := range []string{"a", "b", "c"} {
		r.say(t, u, "人工")
		r.clock.Add(time.Minute)
	}
	pb, _ := r.held(t, "b")
	if err := r.svc.Reply(ctx, pb.ID, "小王", "您好"); err != nil { // b answered: no longer waiting
		t.Fatal(err)
	}
	if err := r.svc.Assign(ctx, pb.ID, "小王"); err != nil {
		t.Fatal(err)
	}
	inbox, err := r.svc.Inbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range inbox {
		order = append(order, string(c.To.User)+"/"+c.Assignee)
	}
	if want := []string{"a/", "c/", "b/小王"}; !slices.Equal(order, want) {
		t.Errorf("inbox = %q, want %q (waiting longest first, answered last)", order, want)
	}
	if w := inbox[0].WindowEnds.Sub(inbox[0].LastCustomer); w != 48*time.Hour {
		t.Errorf("window = %v after the last message, want 48h", w)
	}
}

func TestPurge(t *testing.T) {
	r := newRig(t, testScripts)
	r.say(t, "u1", "人工")
	for range 2500 {
		r.store.Add(context.Background(), handover.Message{Conv: "x", From: handover.Customer, Text: "old", At: r.clock.Now()})
	}
	r.clock.Add(31 * 24 * time.Hour)
	r.store.Add(context.Background(), handover.Message{Conv: "x", From: handover.Customer, Text: "new", At: r.clock.Now()})
	n, err := r.svc.Purge(context.Background())
	if err != nil || n != 2502 {
		t.Fatalf("Purge = %d, %v, want 2502 (three batches)", n, err)
	}
	if got := r.store.texts(); !slices.Equal(got, []string{"customer:new"}) {
		t.Errorf("left %q, want only the new message", got)
	}
}

func TestStats(t *testing.T) {
	r := newRig(t, testScripts)
	ctx := context.Background()
	r.say(t, "a", "人工")
	r.say(t, "b", "能帮我找个人吗")
	pa, _ := r.held(t, "a")
	r.clock.Add(2 * time.Minute)
	if err := r.svc.Reply(ctx, pa.ID, "小王", "您好"); err != nil {
		t.Fatal(err)
	}
	r.clock.Add(24 * time.Hour)
	r.say(t, "c", "人工")
	days, err := r.svc.Stats(ctx, 3, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(days))
	for i, d := range days {
		got[i] = fmt.Sprintf("%s k%d i%d r%d w%s", d.Day, d.ByReason["keyword"], d.ByReason["intent"], d.Replied, d.WaitSum)
	}
	want := []string{"2026-12-06 k0 i0 r0 w0s", "2026-12-07 k1 i1 r1 w2m0s", "2026-12-08 k1 i0 r0 w0s"}
	if !slices.Equal(got, want) {
		t.Errorf("stats = %q, want %q", got, want)
	}
}

// TestStartFailsCleanly: a hand-over whose record cannot be written
// leaves no pause, and the event fails so the platform retries.
func TestStartFailsCleanly(t *testing.T) {
	r := newRig(t, testScripts)
	r.store.fail = fmt.Errorf("db down: %w", bot.ErrUnavailable)
	_, err := r.h.HandleEvent(context.Background(), bot.Event{Platform: bot.WeChat, Account: "acct", Kind: bot.KindMessage, Sender: "u1", Text: "人工", Time: r.clock.Now()})
	if !errors.Is(err, bot.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	r.store.fail = nil
	if _, held := r.held(t, "u1"); held {
		t.Error("a failed hand-over left a pause")
	}
}

func TestSection(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"quiet too short", "handover:\n  quiet: 10s\n", "a.yaml:2: handover.quiet: want between 1m and 48h"},
		{"quiet not a duration", "handover:\n  quiet: soon\n", "a.yaml:2: handover.quiet: want a duration"},
		{"a risk that is no category", "handover:\n  risks: [投诉]\n", "a.yaml:2: handover.risks"},
		{"an unknown key", "handover:\n  colour: red\n", "a.yaml:2"},
		{"agents of a platform without any", "handover:\n  agents:\n    douyin: [x]\n", "a.yaml:3"},
		{"an empty keyword", "handover:\n  exact: ['？']\n", "a.yaml:2: handover.exact: empty keyword"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bot.LoadScripts(fstest.MapFS{"a.yaml": {Data: []byte(tc.yaml)}}, handover.Section{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
	s, err := bot.LoadScripts(fstest.MapFS{"a.yaml": {Data: []byte(testScripts)}}, handover.Section{})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Section("handover").(*handover.Settings)
	if st.Quiet != 30*time.Minute || !slices.Equal(st.Agents[bot.WeChat], []string{"kf1@gh_test", "kf2@gh_test"}) || st.AlertTitle != "要人工" {
		t.Errorf("settings = %+v", st)
	}
	s, err = bot.LoadScripts(fstest.MapFS{"a.yaml": {Data: []byte("fallback: x\n")}}, handover.Section{})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Section("handover").(*handover.Settings); st.Quiet != handover.DefaultQuiet || len(st.Reply) == 0 {
		t.Errorf("default settings = %+v, want the default quiet time and a reply", st)
	}
}
