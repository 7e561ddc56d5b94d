package risk

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

// memStore is an in-memory RecordStore for the service's tests.
type memStore struct {
	mu        sync.Mutex
	events    []Event
	reminders map[string]bool
}

func (m *memStore) Repeats(_ context.Context, scope string, person bot.PersonID, c Category, since time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.events {
		if e.Scope == scope && e.Person == person && e.Category == c && !e.CreatedAt.Before(since) {
			n++
		}
	}
	return n, nil
}

func (m *memStore) Record(_ context.Context, e Event) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, old := range m.events {
		if e.Key != "" && old.Key == e.Key {
			return old.ID, false, nil
		}
	}
	e.ID = int64(len(m.events) + 1)
	m.events = append(m.events, e)
	return e.ID, true, nil
}

func (m *memStore) ClaimReminder(_ context.Context, person bot.PersonID, scope string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reminders == nil {
		m.reminders = map[string]bool{}
	}
	k := string(person) + "|" + scope
	if m.reminders[k] {
		return false, nil
	}
	m.reminders[k] = true
	return true, nil
}

func (m *memStore) Summary(_ context.Context, scope string, c Category, from, to time.Time) (Summary, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var s Summary
	senders := map[bot.PersonID]bool{}
	for _, e := range m.events {
		if e.Scope == scope && e.Category == c && !e.CreatedAt.Before(from) && e.CreatedAt.Before(to) {
			s.Count++
			senders[e.Person] = true
			s.Max = max(s.Max, e.Severity)
			s.Last = e
		}
	}
	s.Senders = len(senders)
	return s, nil
}

// harness runs the service's analyzer and observer like the engine's
// layers 1 and 2.
type harness struct {
	svc     *Service
	store   *memStore
	scripts *bot.Scripts
	clock   *bottest.Clock
}

func newHarness(tb testing.TB, yaml string, logger *slog.Logger) *harness {
	tb.Helper()
	fsys := fstest.MapFS{"risk.yaml": {Data: []byte(yaml)}}
	scripts, err := bot.LoadScripts(fsys, Section{})
	if err != nil {
		tb.Fatalf("LoadScripts: %v", err)
	}
	h := &harness{store: &memStore{}, scripts: scripts, clock: bottest.NewClock(time.Date(2026, 11, 26, 6, 0, 10, 0, time.UTC))}
	h.svc = NewService(ServiceConfig{Scanner: mustScanner(tb, ScannerConfig{}), Store: h.store, Logger: logger, Now: h.clock.Now})
	return h
}

func groupMsg(id, sender, text string) bot.Event {
	return bot.Event{
		Platform: bot.WeCom, Account: "ww1", Kind: bot.KindMessage, Conversation: bot.Conversation{Group: "wrGroup1"},
		Sender: bot.UserID(sender), Text: text, MessageID: id, DedupeKey: "wecom:" + id, Time: time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC),
	}
}

func (h *harness) run(tb testing.TB, ev bot.Event, dryRun bool) *bot.Turn {
	tb.Helper()
	t := &bot.Turn{Event: ev, Scripts: h.scripts, Text: bot.Normalize(ev.Text), DryRun: dryRun}
	if err := h.svc.Analyzer().Analyze(tb.Context(), t); err != nil {
		tb.Fatalf("Analyze: %v", err)
	}
	if _, err := h.svc.Observer().HandleTurn(tb.Context(), t); err != nil {
		tb.Fatalf("Observe: %v", err)
	}
	return t
}

const testRiskYAML = `
risk:
  alert:
    window: 2m
    categories:
      ad_spam: medium
      fraud: medium
      pii: off
  escalate: {after: 3, within: 24h}
  reminder: 请勿在群里发手机号哦
  words:
    poaching: [瑞幸, "库迪 | high"]
`

// TestAnalyzerRisks checks Turn.Risks: the main category first, none for
// ordinary chat, the scripts' brand words included.
func TestAnalyzerRisks(t *testing.T) {
	h := newHarness(t, testRiskYAML, nil)
	tests := []struct {
		name, text string
		want       string
	}{
		{name: "ordinary", text: "拿铁多少钱一杯", want: ""},
		{name: "fraud before poaching", text: "兼职刷单，加我微信", want: "fraud,poaching"},
		{name: "pii", text: "我电话13800138000", want: "pii"},
		{name: "brand word", text: "库迪更便宜", want: "poaching"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			turn := h.run(t, groupMsg(tc.name, "u1", tc.text), true)
			if got := strings.Join(turn.Risks, ","); got != tc.want {
				t.Errorf("Risks = %q, want %q", got, tc.want)
			}
		})
	}
	if len(h.store.events) != 0 {
		t.Errorf("dry runs recorded %d events, want 0", len(h.store.events))
	}
}

// TestObserverEscalates checks that the third hit of one sender in one
// scope is escalated and alerts, and that the store sees every hit,
// observed messages included.
func TestObserverEscalates(t *testing.T) {
	h := newHarness(t, testRiskYAML, nil)
	var alerts int
	for i := range 3 {
		ev := groupMsg(fmt.Sprint("m", i), "u1", "加我微信，比店里便宜")
		ev.Observe = i == 1 // a chat-archive copy counts too
		turn := h.run(t, ev, false)
		for _, a := range turn.Actions {
			if _, ok := a.(bot.Batched); ok {
				alerts++
			}
		}
	}
	if len(h.store.events) != 3 {
		t.Fatalf("recorded %d events, want 3", len(h.store.events))
	}
	got := []Severity{h.store.events[0].Severity, h.store.events[1].Severity, h.store.events[2].Severity}
	if got[0] != Medium || got[1] != Medium || got[2] != High || h.store.events[2].Count != 3 {
		t.Errorf("severities = %v, count %d, want medium medium high, 3", got, h.store.events[2].Count)
	}
	if alerts != 1 {
		t.Errorf("alerts queued = %d, want 1 (poaching alerts from high, reached by escalation)", alerts)
	}
	// A retry of the same message records nothing more.
	h.run(t, groupMsg("m2", "u1", "加我微信，比店里便宜"), false)
	if len(h.store.events) != 3 {
		t.Errorf("after a retry: %d events, want 3", len(h.store.events))
	}
}

// TestSpamWaveOneAlert checks that 100 spam lines from many senders in one
// group and window queue one alert (one Batched key) that names the
// count when rendered.
func TestSpamWaveOneAlert(t *testing.T) {
	h := newHarness(t, testRiskYAML, nil)
	keys := map[string]bot.Batched{}
	for i := range 100 {
		h.clock.Add(time.Second / 2)
		turn := h.run(t, groupMsg(fmt.Sprint("w", i), fmt.Sprint("bot", i%40), "诚招代理，一件代发，详情私聊"), false)
		for _, a := range turn.Actions {
			if b, ok := a.(bot.Batched); ok {
				keys[b.Key] = b
			}
		}
	}
	if len(keys) != 1 {
		t.Fatalf("alert keys = %d, want 1", len(keys))
	}
	for _, b := range keys {
		r := b.Action.(bot.Render)
		if r.To.Platform != bot.Staff || r.Renderer != RendererName {
			t.Errorf("alert = %+v, want a %s render routed to staff", r, RendererName)
		}
		a, err := h.svc.Renderer().Render(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		alert, ok := a.(bot.StaffAlert)
		if !ok {
			t.Fatalf("Render = %T, want StaffAlert", a)
		}
		if !strings.Contains(alert.Text, "共 100 条") || !strings.Contains(alert.Text, "来自 40 人") || alert.To.Conversation.Group != "wrGroup1" {
			t.Errorf("alert = %+v, want 100 events from 40 people in wrGroup1", alert)
		}
	}
}

// TestObserverWaveEscalates checks that, with the default configuration
// (ad_spam alerts from high), a wave of medium-severity spam from many
// senders is raised to high from its tenth line on and alerts.
func TestObserverWaveEscalates(t *testing.T) {
	h := newHarness(t, "risk:\n  reminder: 提醒\n", nil)
	h.clock.Set(time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC))
	var alerts int
	for i := range 12 {
		h.clock.Add(time.Second)
		turn := h.run(t, groupMsg(fmt.Sprint("v", i), fmt.Sprint("spammer", i), "诚招代理，零门槛"), false)
		for _, a := range turn.Actions {
			if _, ok := a.(bot.Batched); ok {
				alerts++
			}
		}
	}
	for i, e := range h.store.events {
		want := Medium
		if i >= 9 {
			want = High
		}
		if e.Severity != want {
			t.Errorf("event %d severity = %v, want %v", i, e.Severity, want)
		}
	}
	if alerts != 3 {
		t.Errorf("alerts queued = %d, want 3 (lines 10-12, one batch key)", alerts)
	}
}

// TestReminderOnce checks that a customer who posts their own number in a
// group is reminded once, and not in a 1:1 chat.
func TestReminderOnce(t *testing.T) {
	h := newHarness(t, testRiskYAML, nil)
	replies := func(turn *bot.Turn) int {
		n := 0
		for _, a := range turn.Actions {
			if r, ok := a.(bot.Reply); ok && r.Text == "请勿在群里发手机号哦" {
				n++
			}
		}
		return n
	}
	if n := replies(h.run(t, groupMsg("p1", "u1", "我电话 138 0013 8000"), false)); n != 1 {
		t.Errorf("first post: %d reminders, want 1", n)
	}
	if n := replies(h.run(t, groupMsg("p2", "u1", "身份证11010519491231002X"), false)); n != 0 {
		t.Errorf("second post: %d reminders, want 0", n)
	}
	if n := replies(h.run(t, groupMsg("p3", "u1", "邮箱 a@qq.com"), false)); n != 0 {
		t.Errorf("email: %d reminders, want 0", n)
	}
	dm := groupMsg("p4", "u2", "我电话13800138000")
	dm.Conversation = bot.Conversation{}
	if n := replies(h.run(t, dm, false)); n != 0 {
		t.Errorf("1:1 chat: %d reminders, want 0", n)
	}
	if got := h.store.events[0].TextMasked; got != "我电话 138****8000" {
		t.Errorf("stored text = %q, want it masked", got)
	}
}

// TestStoredEvidenceMasked: a phone number joined to a room number raises a
// pii event, and neither the stored text nor any event's evidence holds a
// run of 7 or more digits, a lexicon's evidence included.
func TestStoredEvidenceMasked(t *testing.T) {
	h := newHarness(t, testRiskYAML+"    ad_spam: [\"热线4008001234 | medium\"]\n", nil)
	h.run(t, groupMsg("m1", "u1", "加我薇信 房间3 13812345678"), false)
	h.run(t, groupMsg("m2", "u2", "打热线4008001234 领券"), false)
	var cats []string
	for _, e := range h.store.events {
		cats = append(cats, string(e.Category))
		for _, s := range []string{e.TextMasked, e.Evidence} {
			if m := regexp.MustCompile(`\d{7,}`).FindString(s); m != "" {
				t.Errorf("%s event stores %q (in %q)", e.Category, m, s)
			}
		}
	}
	if got := strings.Join(cats, " "); !strings.Contains(got, "pii") || !strings.Contains(got, "ad_spam") {
		t.Errorf("events %q, want a pii event for the joined phone number and the scripts' ad_spam word", cats)
	}
}

// TestLogsCarryNoPII runs messages full of personal data through the
// stages with a debug logger and checks the log holds no phone, ID or
// card number (nor any run of 7 or more digits).
func TestLogsCarryNoPII(t *testing.T) {
	var logs bottest.Logs
	h := newHarness(t, testRiskYAML, logs.Logger(slog.LevelDebug))
	for i, text := range []string{
		"我电话13800138000", "身份证11010519491231002X", "卡号6222021234567890128", "一三八零零一三八零零零",
		"座机010-62345678", "护照E12345678", "邮箱zhang.san@qq.com",
	} {
		h.run(t, groupMsg(fmt.Sprint("l", i), "u1", text), false)
	}
	log := logs.String()
	if !strings.Contains(log, "risk event recorded") {
		t.Fatalf("log = %q, want the events logged", log)
	}
	if m := regexp.MustCompile(`\d{7,}|zhang|e12345678`).FindString(log); m != "" {
		t.Errorf("log holds %q:\n%s", m, log)
	}
}

// TestSectionErrors checks the risk: section's file:line errors.
func TestSectionErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{name: "unknown key", yaml: "risk:\n  alerts: {}\n", want: "risk.yaml:2"},
		{name: "bad severity", yaml: "risk:\n  alert:\n    categories:\n      fraud: urgent\n", want: "risk.yaml:4"},
		{name: "unknown category", yaml: "risk:\n  alert:\n    categories:\n      spam: high\n", want: "risk.yaml:4"},
		{name: "bad window", yaml: "risk:\n  alert:\n    window: soon\n", want: "risk.yaml:3"},
		{name: "pii words", yaml: "risk:\n  words:\n    pii: [手机]\n", want: "risk.yaml:3"},
		{name: "bad word severity", yaml: "risk:\n  words:\n    poaching:\n      - 瑞幸\n      - 库迪 | urgent\n", want: "risk.yaml:5"},
		{name: "bad confidence", yaml: "risk:\n  model: {min_confidence: 2}\n", want: "risk.yaml:2"},
		{name: "bad wave", yaml: "risk:\n  escalate:\n    wave: -1\n", want: "risk.yaml:3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bot.LoadScripts(fstest.MapFS{"risk.yaml": {Data: []byte(tc.yaml)}}, Section{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadScripts = %v, want an error at %s", err, tc.want)
			}
		})
	}
	s, err := bot.LoadScripts(fstest.MapFS{"risk.yaml": {Data: []byte(testRiskYAML)}}, Section{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ConfigOf(s)
	if !cfg.Alerts(AdSpam, Medium) || cfg.Alerts(PII, High) || !cfg.Alerts(Complaint, Medium) || cfg.Alerts(Abuse, Medium) {
		t.Errorf("AlertFrom = %v, want ad_spam medium, pii off, defaults kept", cfg.AlertFrom)
	}
	if cfg.Words.Len() != 2 {
		t.Errorf("Words = %d terms, want 2", cfg.Words.Len())
	}
}

// TestRouteKept: an event keeps the configured account its message came
// through, and so does its alert, from the queued render to the staff
// alert it renders; the environment's account (zero route) keeps the
// scope and alert key it had before routes existed; and two accounts
// that see one chat (two apps of one corp) count and alert apart.
func TestRouteKept(t *testing.T) {
	shancha := bot.Route{Brand: "shancha", Name: "wecom-a"}
	other := bot.Route{Brand: "other", Name: "wecom-b"}
	tests := []struct {
		name      string
		route     bot.Route
		wantScope string
		wantKey   string // the render's key as queued
	}{
		{"the environment's account", bot.Route{}, "wecom:ww1:g:wrGroup1",
			`{"p":"wecom","a":"ww1","g":"wrGroup1","s":"wecom:ww1:g:wrGroup1","c":"fraud","f":1795672800000000,"t":1795672920000000}`},
		{"a brand's account", shancha, "wecom:ww1:g:wrGroup1:r:shancha/wecom-a",
			`{"p":"wecom","a":"ww1","r":{"brand":"shancha","name":"wecom-a"},"g":"wrGroup1","s":"wecom:ww1:g:wrGroup1:r:shancha/wecom-a","c":"fraud","f":1795672800000000,"t":1795672920000000}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testRiskYAML, nil)
			ev := groupMsg("m1", "u1", "兼职刷单日结")
			ev.Route = tc.route
			turn := h.run(t, ev, false)
			if len(h.store.events) != 1 {
				t.Fatalf("recorded %d events, want 1", len(h.store.events))
			}
			if e := h.store.events[0]; e.Route != tc.route || e.Scope != tc.wantScope {
				t.Errorf("event route %q scope %q, want %q, %q", e.Route, e.Scope, tc.route, tc.wantScope)
			}
			var r bot.Render
			for _, a := range turn.Actions {
				if b, ok := a.(bot.Batched); ok {
					r = b.Action.(bot.Render)
				}
			}
			if r.Key != tc.wantKey || r.To.Route != tc.route {
				t.Errorf("render key %s to %q,\nwant %s to %q", r.Key, r.To.Route, tc.wantKey, tc.route)
			}
			// The alert names the route even when the render's target
			// did not keep it: the key does.
			r.To = bot.Target{Platform: bot.Staff}
			a, err := h.svc.Renderer().Render(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			if alert := a.(bot.StaffAlert); alert.To.Route != tc.route || alert.To.Platform != bot.WeCom || alert.To.Conversation.Group != "wrGroup1" {
				t.Errorf("alert to %+v, want route %q in wrGroup1 on wecom", alert.To, tc.route)
			}
		})
	}

	t.Run("an alert queued before routes were kept takes its render's route", func(t *testing.T) {
		h := newHarness(t, testRiskYAML, nil)
		h.run(t, groupMsg("m1", "u1", "兼职刷单日结"), false)
		old := `{"p":"wecom","a":"ww1","g":"wrGroup1","s":"wecom:ww1:g:wrGroup1","c":"fraud","f":1795672800000000,"t":1795672920000000}`
		a, err := h.svc.Renderer().Render(t.Context(), bot.Render{To: bot.Target{Platform: bot.Staff, Route: shancha}, Renderer: RendererName, Key: old})
		if err != nil {
			t.Fatal(err)
		}
		if got := a.(bot.StaffAlert).To.Route; got != shancha {
			t.Errorf("alert route = %q, want %q", got, shancha)
		}
	})

	t.Run("two accounts of one corp count and alert apart", func(t *testing.T) {
		h := newHarness(t, testRiskYAML, nil)
		keys := map[string]bot.Route{}
		for i, r := range []bot.Route{shancha, other, shancha} {
			ev := groupMsg(fmt.Sprint("t", i), "u1", "兼职刷单日结")
			ev.Route = r
			for _, a := range h.run(t, ev, false).Actions {
				if b, ok := a.(bot.Batched); ok {
					keys[b.Key] = r
				}
			}
		}
		if len(keys) != 2 {
			t.Fatalf("alert keys = %v, want one per account", keys)
		}
		if c := h.store.events[2].Count; c != 2 {
			t.Errorf("shancha's second hit counts %d, want 2 (other's not counted)", c)
		}
	})
}
