package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// staffInbox is the outbox's sender for bot.Staff in tests.
type staffInbox struct {
	mu     sync.Mutex
	alerts []bot.StaffAlert
}

func (s *staffInbox) Send(_ context.Context, a bot.Action) error {
	alert, ok := a.(bot.StaffAlert)
	if !ok {
		return fmt.Errorf("staffInbox: %T: %w", a, bot.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerts = append(s.alerts, alert)
	return nil
}

// TestRiskSpamWaveOneAlert sends a wave of 100 spam lines from 40 senders
// into one WeCom group (observed, as the chat archive delivers them)
// through the wired engine and the real outbox, and checks that staff get
// one alert naming the count once the window closes.
func TestRiskSpamWaveOneAlert(t *testing.T) {
	ctx := t.Context()
	var logs bottest.Logs
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, _ := buildTestLog(t, map[string]string{"SIYU_SCRIPTS": "scripts"}, logger)
	engine := a.engine
	inbox := &staffInbox{}
	later := func() time.Time { return time.Now().Add(10 * time.Minute) } // past the alert window
	outbox := bot.NewOutbox(sqlstore.NewOutbox(a.st.db), map[bot.Platform]bot.Sender{bot.Staff: inbox},
		bot.OutboxConfig{Renderers: a.stack.Renderers(), Logger: logger, Now: later})

	for i := range 100 {
		ev := bot.Event{
			Platform: bot.WeCom, Account: "ww-corp", Kind: bot.KindMessage, Observe: true,
			Conversation: bot.Conversation{Group: "wrGroupCoffee"}, Sender: bot.UserID(fmt.Sprint("wmSpam", i%40)),
			Text: "诚招代理，一件代发，加我薇信详聊 ☎ 138 0013 8000", MessageID: fmt.Sprint("msg", i), DedupeKey: fmt.Sprint("wecom:msg", i), Time: time.Now(),
		}
		actions, err := engine.HandleEvent(ctx, ev)
		if err != nil {
			t.Fatalf("HandleEvent %d: %v", i, err)
		}
		if err := outbox.Enqueue(ctx, ev.DedupeKey, actions); err != nil {
			t.Fatalf("Enqueue %d: %v", i, err)
		}
	}
	for {
		n, err := outbox.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	var alerts []bot.StaffAlert
	for _, a := range inbox.alerts {
		if strings.Contains(a.Title, "广告刷屏") {
			alerts = append(alerts, a)
		}
	}
	// Two windows at most if the wave straddled a window's end.
	if len(alerts) == 0 || len(alerts) > 2 {
		t.Fatalf("ad_spam alerts = %d, want 1 (2 if the wave crossed a window's end): %+v", len(alerts), inbox.alerts)
	}
	total := 0
	for _, a := range alerts {
		var n int
		if _, err := fmt.Sscanf(a.Text[strings.Index(a.Text, "共 "):], "共 %d 条", &n); err != nil {
			t.Fatalf("alert text %q names no count", a.Text)
		}
		total += n
	}
	if total != 100 {
		t.Errorf("alerts count %d events, want 100", total)
	}
	if m := piiInLog.FindString(logs.String()); m != "" {
		t.Errorf("log holds %q", m)
	}
}

// TestRunRiskEndToEnd runs siyu, posts messages with personal data and
// risky words through the WeChat callback, and checks the events staff
// see in the admin API (masked), acknowledge and dismiss, and that the
// run's log holds no phone, ID or card number.
func TestRunRiskEndToEnd(t *testing.T) {
	base, logs := startSiyu(t, map[string]string{"SIYU_ADMIN_TOKEN": "t0ken", "SIYU_LOG_LEVEL": "debug"})
	for _, text := range []string{
		"我电话 138 0013 8000",
		"兼职刷单日赚五百，加我 v 信",
		"身份证11010519491231002X，退款到卡6222021234567890128",
		"拿铁多少钱",
	} {
		simulateCmd(t, base, nil, text)
	}
	api := func(method, path string) (int, map[string]any) {
		status, raw := adminRequest(t, method, base+"/admin/api/risk"+path, "t0ken", "", "")
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		return status, body
	}
	code, body := api(http.MethodGet, "/events")
	events, _ := body["events"].([]any)
	if code != http.StatusOK || len(events) == 0 {
		t.Fatalf("GET /events = %d %v, want events", code, body)
	}
	cats := map[string]bool{}
	raw, _ := json.Marshal(body)
	for _, e := range events {
		m := e.(map[string]any)
		cats[m["category"].(string)] = true
	}
	for _, want := range []string{"pii", "fraud", "poaching"} {
		if !cats[want] {
			t.Errorf("categories = %v, want %s", cats, want)
		}
	}
	if m := regexp.MustCompile(`0013|13800|1949123|62220212`).FindString(string(raw)); m != "" {
		t.Errorf("admin API shows %q unmasked: %s", m, raw)
	}
	id := int64(events[0].(map[string]any)["id"].(float64))
	if code, _ := api(http.MethodPost, fmt.Sprintf("/events/%d/dismiss", id)); code != http.StatusOK {
		t.Errorf("dismiss = %d", code)
	}
	if _, body := api(http.MethodGet, "/events?status=dismissed"); len(body["events"].([]any)) != 1 {
		t.Errorf("dismissed = %v, want the one event", body["events"])
	}
	if code, _ := api(http.MethodGet, "/events?category=spam"); code != http.StatusBadRequest {
		t.Errorf("unknown category = %d, want 400", code)
	}
	if !strings.Contains(logs.String(), "risk event recorded") {
		t.Errorf("log has no risk events:\n%s", logs)
	}
	if m := piiInLog.FindString(logs.String()); m != "" {
		t.Errorf("the run's log holds %q:\n%s", m, logs)
	}
}

// piiInLog finds the numbers (or their middles) and the message text
// the tests post, which must never reach a log or the admin API
// unmasked.
var piiInLog = regexp.MustCompile(`0013|13800|1949123|62220212|刷单|代理`)

// TestRiskReading checks what `siyu classify` reports for risk.
func TestRiskReading(t *testing.T) {
	s, err := newRiskScanner(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text, main, all string
	}{
		{"拿铁多少钱", "none", ""},
		{"兼职刷单，加我微信", "fraud", "fraud,poaching"},
		{"电话13800138000", "pii", "pii"},
	}
	for _, tc := range tests {
		main, all := riskReading(s, tc.text)
		if main != tc.main || strings.Join(all, ",") != tc.all {
			t.Errorf("riskReading(%q) = %q, %v, want %q, %q", tc.text, main, all, tc.main, tc.all)
		}
	}
}

// TestRiskAlertWebhook: with RISK_ALERT_WEBHOOK and no WeCom app
// alerts, staff alerts the outbox sends reach the robot; a bad URL stops
// siyu from starting.
func TestRiskAlertWebhook(t *testing.T) {
	got := make(chan string, 1)
	robot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Text struct{ Content string } `json:"text"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		got <- body.Text.Content
		fmt.Fprint(w, `{"errcode":0}`)
	}))
	t.Cleanup(robot.Close)
	a, _ := buildTest(t, map[string]string{"SIYU_SCRIPTS": "scripts", "RISK_ALERT_WEBHOOK": robot.URL + "/cgi-bin/webhook/send?key=k"})
	alert := bot.StaffAlert{To: bot.Target{Platform: bot.WeChat, Account: "wx1", User: "o1"}, Title: "风险提醒", Text: "共 1 条"}
	if err := a.outbox.Enqueue(t.Context(), "risk-webhook-test-"+randomID(), []bot.Action{alert}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.outbox.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case text := <-got:
		if !strings.Contains(text, "共 1 条") {
			t.Errorf("robot got %q, want the alert", text)
		}
	default:
		t.Fatal("the robot got no alert")
	}

	if _, err := loadConfig(func(k string) string { return map[string]string{"RISK_ALERT_WEBHOOK": "not a url"}[k] }); err == nil {
		t.Error("a bad RISK_ALERT_WEBHOOK was accepted")
	}
}
