package risk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

// guesser is a stand-in for the model: it reads every message as label
// at conf, as the real model read ordinary haggling as ad spam.
type guesser struct {
	label string
	conf  float64
}

func (g guesser) Classify(string) (string, float64) { return g.label, g.conf }

func alerts(actions []bot.Action) int {
	n := 0
	for _, a := range actions {
		if r, ok := bot.Unwrap(a).(bot.Render); ok && r.Renderer == RendererName {
			n++
		}
	}
	return n
}

// TestAlertsNeedEvidence: staff are alerted by words and detectors, and by
// the model alone only from risk.model.alert_confidence (off by default);
// whatever is found is recorded for review either way.
func TestAlertsNeedEvidence(t *testing.T) {
	const alertAll = "risk:\n  alert:\n    categories: {ad_spam: medium, abuse: medium, fraud: medium, poaching: medium}\n"
	tests := []struct {
		name       string
		yaml       string
		model      guesser
		text       string
		wantRisks  string
		wantEvents int
		wantAlerts int
	}{
		{name: "ordinary haggling read as ad spam by the model alone: recorded, no alert", yaml: alertAll,
			model: guesser{"ad_spam", 0.97}, text: "两件一起买能便宜点吗？包邮不", wantRisks: "ad_spam", wantEvents: 1},
		{name: "nor as abuse, even escalated by repeats", yaml: alertAll + "  escalate: {after: 1}\n",
			model: guesser{"abuse", 0.99}, text: "老板再便宜点嘛，三件包邮", wantRisks: "abuse", wantEvents: 1},
		{name: "the model alone alerts from the brand's alert_confidence", yaml: alertAll + "  model: {alert_confidence: 0.95}\n",
			model: guesser{"ad_spam", 0.97}, text: "两件一起买能便宜点吗？包邮不", wantRisks: "ad_spam", wantEvents: 1, wantAlerts: 1},
		{name: "but not below it", yaml: alertAll + "  model: {alert_confidence: 0.99}\n",
			model: guesser{"ad_spam", 0.97}, text: "两件一起买能便宜点吗？包邮不", wantRisks: "ad_spam", wantEvents: 1},
		{name: "words are evidence: a fraud term alerts", yaml: alertAll,
			model: guesser{"none", 0.99}, text: "兼职刷单日结，有意私聊", wantRisks: "fraud", wantEvents: 1, wantAlerts: 1},
		{name: "the brand's words are evidence too", yaml: alertAll + "  words: {poaching: [隔壁店]}\n",
			model: guesser{"none", 0.99}, text: "隔壁店更便宜", wantRisks: "poaching", wantEvents: 1, wantAlerts: 1},
		{name: "ordinary chat", yaml: alertAll, model: guesser{"none", 0.99}, text: "拿铁多少钱"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.yaml, bottest.Logger(t))
			h.svc = NewService(ServiceConfig{Scanner: mustScanner(t, ScannerConfig{Classifier: tc.model}), Store: h.store, Now: h.clock.Now})
			turn := h.run(t, groupMsg("m1", "u1", tc.text), false)
			if got := strings.Join(turn.Risks, ","); !strings.HasPrefix(got, tc.wantRisks) {
				t.Errorf("risks = %s, want %s first", got, tc.wantRisks)
			}
			if len(h.store.events) != tc.wantEvents {
				t.Errorf("events = %d, want %d", len(h.store.events), tc.wantEvents)
			}
			if n := alerts(turn.Actions); n != tc.wantAlerts {
				t.Errorf("alerts = %d, want %d", n, tc.wantAlerts)
			}
		})
	}
}

// TestFlaggedReply: a 1:1 message flagged ad_spam, fraud or poaching is
// answered with the neutral flagged_reply and nothing else; groups and
// other categories get none. A retry records nothing twice and staff are
// alerted once.
func TestFlaggedReply(t *testing.T) {
	dm := func(id, text string) bot.Event {
		ev := groupMsg(id, "u1", text)
		ev.Conversation = bot.Conversation{}
		return ev
	}
	tests := []struct {
		name      string
		yaml      string
		ev        bot.Event
		dryRun    bool
		wantReply string
		wantStage string
	}{
		{name: "fraud in a 1:1 chat", ev: dm("m1", "兼职刷单日结"), wantReply: DefaultFlaggedReply, wantStage: "risk"},
		{name: "a dry run shows it", ev: dm("m2", "兼职刷单日结"), dryRun: true, wantReply: DefaultFlaggedReply, wantStage: "risk"},
		{name: "the brand's own words", yaml: "risk:\n  flagged_reply: 已收到\n", ev: dm("m3", "加微信给你更便宜的"), wantReply: "已收到", wantStage: "risk"},
		{name: "or none", yaml: "risk:\n  flagged_reply: \"\"\n", ev: dm("m4", "加微信给你更便宜的"), wantStage: "risk"},
		{name: "not in a group", ev: groupMsg("m5", "u1", "兼职刷单日结")},
		{name: "not for a complaint", ev: dm("m6", "再不退款我就去12315投诉")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "rules: []\n"+tc.yaml, bottest.Logger(t))
			turn := h.run(t, tc.ev, tc.dryRun)
			var replies []string
			for _, a := range turn.Actions {
				if r, ok := a.(bot.Reply); ok {
					replies = append(replies, r.Text)
				}
			}
			want := []string(nil)
			if tc.wantReply != "" {
				want = []string{tc.wantReply}
			}
			if fmt.Sprint(replies) != fmt.Sprint(want) {
				t.Errorf("replies = %q, want %q", replies, want)
			}
			if turn.Answer.Stage != tc.wantStage {
				t.Errorf("stage = %q, want %q", turn.Answer.Stage, tc.wantStage)
			}
			if tc.dryRun && len(h.store.events) != 0 {
				t.Errorf("the dry run recorded %d events", len(h.store.events))
			}
		})
	}

	// Staff see a flagged message once: one event, one alert, whatever
	// the retries.
	h := newHarness(t, "risk:\n  alert:\n    categories: {fraud: medium}\n", bottest.Logger(t))
	first := h.run(t, dm("r1", "兼职刷单日结"), false)
	retry := h.run(t, dm("r1", "兼职刷单日结"), false)
	if len(h.store.events) != 1 || alerts(first.Actions) != 1 || alerts(retry.Actions) != 0 {
		t.Errorf("events = %d, alerts = %d then %d; want 1, 1, 0", len(h.store.events), alerts(first.Actions), alerts(retry.Actions))
	}
}

// reviewStore is memStore with the staff's reads.
type reviewStore struct {
	*memStore
	statuses map[int64]Status
}

func (r *reviewStore) ListRisk(context.Context, Filter) ([]Event, error) { return r.events, nil }

func (r *reviewStore) SetRiskStatus(_ context.Context, id int64, st Status) error {
	if id < 1 || int(id) > len(r.events) {
		return fmt.Errorf("set %d: %w", id, bot.ErrNotFound)
	}
	r.statuses[id] = st
	return nil
}

func (r *reviewStore) RiskEvent(_ context.Context, id int64) (Event, error) {
	if id < 1 || int(id) > len(r.events) {
		return Event{}, fmt.Errorf("event %d: %w", id, bot.ErrNotFound)
	}
	return r.events[id-1], nil
}

// learner collects what it is taught.
type learner struct {
	got  []bot.Labelled
	fail error
}

func (l *learner) Learn(_ context.Context, x bot.Labelled) error {
	if l.fail != nil {
		return l.fail
	}
	l.got = append(l.got, x)
	return nil
}

// TestReviewsTeach: an event staff dismiss is a none line, one they
// acknowledge a line of its category, masked as it was stored.
func TestReviewsTeach(t *testing.T) {
	mem := &memStore{events: []Event{
		{ID: 1, Category: AdSpam, TextMasked: "两件包邮吗，能便宜点不"},
		{ID: 2, Category: Fraud, TextMasked: "您好这边是平台客服，订单异常需要退款，请加我 138****8000"},
		{ID: 3, Category: PII, TextMasked: "我的电话 138****8000"},
	}}
	tests := []struct {
		name    string
		id      int64
		status  string
		fail    error
		want    string // "label|text|source|was|key", "" nothing learnt
		wantErr error
	}{
		{"a false alarm is a none line", 1, "dismissed", nil, "none|两件包邮吗，能便宜点不|risk_dismissed|ad_spam|risk:1", nil},
		{"a confirmed alert is a line of its category", 2, "acknowledged", nil, "fraud|您好这边是平台客服，订单异常需要退款，请加我 138****8000|risk_confirmed|fraud|risk:2", nil},
		{"confirmed personal data teaches the model nothing", 3, "acknowledged", nil, "", nil},
		{"dismissed personal data is an ordinary line", 3, "dismissed", nil, "none|我的电话 138****8000|risk_dismissed|pii|risk:3", nil},
		{"reopening teaches nothing", 1, "open", nil, "", nil},
		{"an unknown event", 9, "dismissed", nil, "", bot.ErrNotFound},
		{"a learner that fails fails the review", 1, "dismissed", bot.ErrUnavailable, "", bot.ErrUnavailable},
		{"an unknown status", 1, "done", nil, "", bot.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &learner{fail: tc.fail}
			svc := NewService(ServiceConfig{Scanner: mustScanner(t, ScannerConfig{}), Store: mem, Reviews: &reviewStore{mem, map[int64]Status{}}, Learner: l})
			err := svc.SetStatus(t.Context(), tc.id, tc.status)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("SetStatus = %v, want %v", err, tc.wantErr)
			}
			got := ""
			if len(l.got) > 0 {
				x := l.got[0]
				if x.Dataset != Dataset {
					t.Errorf("dataset = %q, want %q", x.Dataset, Dataset)
				}
				got = strings.Join([]string{x.Label, x.Text, x.Source, x.Was, x.Key}, "|")
			}
			if got != tc.want || len(l.got) > 1 {
				t.Errorf("learnt %q (%d lines), want %q", got, len(l.got), tc.want)
			}
		})
	}
}

func TestMaskPII(t *testing.T) {
	s := mustScanner(t, ScannerConfig{Classifier: guesser{"fraud", 1}})
	tests := []struct{ in, want string }{
		{"我的手机 13800138000，明天到", "我的手机 138****8000，明天到"},
		{"加我微信领券", "加我微信领券"},                             // words are not personal data
		{"订单号 2026112600012345", "订单号 2026112600012345"}, // an order number is not (feedback masks long numbers anyway)
		{"", ""},
	}
	for _, tc := range tests {
		if got := s.MaskPII(tc.in); got != tc.want {
			t.Errorf("MaskPII(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSectionSureKeys(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
		wantAlert           float64
		wantReply           string
	}{
		{"defaults", "risk: {}\n", "", 0, DefaultFlaggedReply},
		{"alert_confidence", "risk:\n  model: {alert_confidence: 0.99}\n", "", 0.99, DefaultFlaggedReply},
		{"off", "risk:\n  model: {alert_confidence: off}\n  flagged_reply: \"\"\n", "", 0, ""},
		{"out of range", "risk:\n  model: {alert_confidence: 2}\n", "risk.yaml:2: risk.model.alert_confidence: want a number in (0, 1] or off", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := bot.LoadScripts(fstest.MapFS{"risk.yaml": {Data: []byte(tc.yaml)}}, Section{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg := ConfigOf(s)
			if cfg.ModelAlertConfidence != tc.wantAlert || cfg.FlaggedReply != tc.wantReply {
				t.Errorf("alert_confidence %v, flagged_reply %q; want %v, %q", cfg.ModelAlertConfidence, cfg.FlaggedReply, tc.wantAlert, tc.wantReply)
			}
		})
	}
}

// TestBarredCategoriesAreRisks: bot names the categories that bar a
// message without importing risk; the names must stay risk's.
func TestBarredCategoriesAreRisks(t *testing.T) {
	for _, c := range []struct {
		bot  string
		risk Category
	}{{bot.RiskAdSpam, AdSpam}, {bot.RiskFraud, Fraud}, {bot.RiskPoaching, Poaching}} {
		if c.bot != string(c.risk) {
			t.Errorf("bot's %q is not risk's %q", c.bot, c.risk)
		}
		turn := &bot.Turn{Risks: []string{string(c.risk)}}
		if !turn.Barred() {
			t.Errorf("a message flagged %s is not barred", c.risk)
		}
	}
	for _, c := range []Category{Abuse, Complaint, PII} {
		if (&bot.Turn{Risks: []string{string(c)}}).Barred() {
			t.Errorf("a message flagged %s is barred, want only ad_spam, fraud and poaching", c)
		}
	}
	if got := strings.Join(Labels(), ","); got != "abuse,ad_spam,complaint,fraud,none,poaching" {
		t.Errorf("Labels = %s", got)
	}
}
