package risk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// Status is where staff's review of an event stands.
type Status string

// Statuses. A dismissed event is kept: it is a labelled false positive
// for retraining the model and tuning the lexicons.
const (
	StatusOpen         Status = "open"
	StatusAcknowledged Status = "acknowledged"
	StatusDismissed    Status = "dismissed"
)

// ParseStatus returns the status named s.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case StatusOpen, StatusAcknowledged, StatusDismissed:
		return st, nil
	}
	return "", fmt.Errorf("risk: unknown status %q (want open, acknowledged or dismissed): %w", s, bot.ErrInvalid)
}

// Event is one recorded risk: a message's hits of one category.
type Event struct {
	ID int64
	// Key makes recording idempotent: the message's dedupe key and the
	// category.
	Key      string
	Category Category
	Severity Severity
	Source   string
	// Evidence is the matched span, personal data masked.
	Evidence string
	// TextMasked is the message with personal data masked.
	TextMasked string
	Platform   bot.Platform
	Account    bot.AccountID
	// Route is the configured account the message came through (zero:
	// the environment's): its brand's staff review the event and get its
	// alert.
	Route        bot.Route
	Conversation bot.GroupID // "" for a 1:1 chat
	Sender       bot.UserID
	Person       bot.PersonID
	// Scope is where repeats are counted and alerts grouped: a group, or
	// a 1:1 chat.
	Scope string
	// Count is the sender's hits of this category in this scope within
	// the escalation window, this one included.
	Count     int
	Status    Status
	CreatedAt time.Time
}

// Summary describes the events of one scope and category in a window,
// for an alert.
type Summary struct {
	Count   int
	Senders int
	Max     Severity
	Last    Event
}

// RecordStore keeps risk events. store/sqlstore implements it.
type RecordStore interface {
	// Repeats counts the events of person in scope and category created
	// at or after since. Errors are bot.ErrUnavailable.
	Repeats(ctx context.Context, scope string, person bot.PersonID, c Category, since time.Time) (int, error)
	// Record stores e, unless an event with e.Key is stored already (a
	// platform's retry), and reports whether it was new. Errors are
	// bot.ErrUnavailable.
	Record(ctx context.Context, e Event) (id int64, created bool, err error)
	// ClaimReminder reports whether person is reminded about personal
	// data in scope for the first time, marking them reminded: once per
	// person and scope across replicas. Errors are bot.ErrUnavailable.
	ClaimReminder(ctx context.Context, person bot.PersonID, scope string, at time.Time) (bool, error)
	// Summary describes the events of scope and category created in
	// [from, to). Errors are bot.ErrUnavailable.
	Summary(ctx context.Context, scope string, c Category, from, to time.Time) (Summary, error)
}

// RendererName is the name the alert renderer is registered under with
// the outbox.
const RendererName = "risk_alert"

// ServiceConfig holds a Service's dependencies.
type ServiceConfig struct {
	Scanner *Scanner
	Store   RecordStore
	// Reviews answer staff's questions; nil: none recorded.
	Reviews Reviews
	Logger  *slog.Logger
	Now     func() time.Time
	// Location is the time zone alerts show times in (Asia/Shanghai by
	// default, where the brand's staff work).
	Location *time.Location
	// Learner keeps the events staff dismiss (a none line) or acknowledge
	// (a line of its category) for retraining; nil keeps none.
	Learner bot.Learner
}

// Service puts the scanner to work in the engine's stack: its Analyzer
// fills Turn.Risks (layer 1), its Observer records, escalates, alerts and
// reminds (layer 2), and its Renderer writes grouped alerts when the
// outbox sends them.
type Service struct {
	cfg ServiceConfig
}

// hitsKey is the Turn value under which the analyzer hands a message's
// hits to the observer, so a message is scanned once.
type hitsKey struct{}

// NewService returns a Service.
func NewService(cfg ServiceConfig) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.FixedZone("CST", 8*3600) // China Standard Time, no daylight saving
	}
	return &Service{cfg: cfg}
}

// Analyzer is layer 1: it scans a message once and fills Turn.Risks, the
// main category first.
func (s *Service) Analyzer() bot.Analyzer {
	return bot.AnalyzerFunc(func(_ context.Context, t *bot.Turn) error {
		if t.Event.Kind != bot.KindMessage || t.Event.Text == "" {
			return nil
		}
		cfg := ConfigOf(t.Scripts)
		hits := s.cfg.Scanner.ScanWith(t.Event.Text, cfg.Words, cfg.MinConfidence)
		if len(hits) == 0 {
			return nil
		}
		t.Risks = Main(hits)
		t.Set(hitsKey{}, hits)
		return nil
	})
}

// Observer is layer 2: for every message with hits, observed ones
// included, it records one event per category, escalates a sender's
// repeated hits, queues a grouped staff alert where the scripts ask for
// one, and reminds a customer who posted their own number in a group,
// once. A dry run records nothing. Store errors wrap bot.ErrUnavailable,
// so the platform's retry records the event.
func (s *Service) Observer() bot.Stage {
	return bot.StageFunc(func(ctx context.Context, t *bot.Turn) (bool, error) {
		hits, _ := t.Value(hitsKey{}).([]Hit)
		if len(hits) == 0 {
			return false, nil
		}
		s.answerFlagged(t)
		if t.DryRun {
			return false, nil
		}
		if err := s.observe(ctx, t, hits); err != nil {
			return false, fmt.Errorf("risk.Observe: %w", err)
		}
		return false, nil
	})
}

// answerFlagged answers a 1:1 message flagged ad_spam, fraud or poaching
// with the neutral risk.flagged_reply: the engine runs no scripted answer
// for it (see bot.Turn.Barred), and staff hear of it through its event.
func (s *Service) answerFlagged(t *bot.Turn) {
	ev := &t.Event
	if !t.Barred() || ev.Observe || ev.Conversation.IsGroup() || ev.Kind != bot.KindMessage {
		return
	}
	cfg := ConfigOf(t.Scripts)
	if cfg.FlaggedReply != "" {
		t.ReplyText(cfg.FlaggedReply)
	}
	t.Answer = bot.Answer{Stage: "risk", Rule: t.Risks[0], Intent: t.Intent, Confidence: t.Confidence}
}

// evidenced reports whether a hit may alert staff: words and detectors
// point at their evidence; the model alone alerts only from
// risk.model.alert_confidence (off by default), since alerting on its
// guesses is what makes staff stop reading alerts.
func evidenced(cfg *Config, h Hit) bool {
	if h.Source != SourceModel {
		return true
	}
	return cfg.ModelAlertConfidence > 0 && h.Confidence >= cfg.ModelAlertConfidence
}

func (s *Service) observe(ctx context.Context, t *bot.Turn, hits []Hit) error {
	ev := t.Event
	cfg := ConfigOf(t.Scripts)
	now := s.cfg.Now()
	scope := ScopeOf(ev)
	person := ev.Person()
	masked := MaskText(ev.Text, hits)
	msgKey := ev.DedupeKey
	if msgKey == "" {
		msgKey = string(ev.Platform) + ":" + ev.MessageID
	}
	for _, cat := range Main(hits) {
		c := Category(cat)
		first := hitOf(hits, c)
		sev := first.Severity
		repeats, err := s.cfg.Store.Repeats(ctx, scope, person, c, now.Add(-cfg.EscalateWithin))
		if err != nil {
			return err
		}
		if cfg.EscalateAfter > 0 && repeats+1 >= cfg.EscalateAfter {
			sev = sev.Raise()
		}
		if cfg.WaveAfter > 0 && sev < High {
			from := now.Truncate(cfg.AlertWindow)
			wave, err := s.cfg.Store.Summary(ctx, scope, c, from, now.Add(time.Microsecond))
			if err != nil {
				return err
			}
			if wave.Count+1 >= cfg.WaveAfter {
				sev = sev.Raise()
			}
		}
		e := Event{
			Category: c, Severity: sev, Source: first.Source, Evidence: first.Evidence, TextMasked: masked,
			Platform: ev.Platform, Account: ev.Account, Route: ev.Route, Conversation: ev.Conversation.Group, Sender: ev.Sender,
			Person: person, Scope: scope, Count: repeats + 1, Status: StatusOpen, CreatedAt: now,
		}
		if ev.DedupeKey != "" || ev.MessageID != "" {
			e.Key = msgKey + "#" + cat
		}
		_, created, err := s.cfg.Store.Record(ctx, e)
		if err != nil {
			return err
		}
		if !created {
			continue // a retry: its alert and reminder were queued the first time
		}
		// Categories and severities only: the log never sees who said
		// what.
		s.cfg.Logger.InfoContext(ctx, "risk event recorded", "category", cat, "severity", sev.String(), "source", first.Source, "platform", ev.Platform, "repeats", repeats)
		if cfg.Alerts(c, sev) && evidenced(cfg, first) {
			t.Add(s.alert(ev, scope, c, now, cfg.AlertWindow))
		}
		if c == PII && ev.Conversation.IsGroup() && cfg.Reminder != "" && remindable(hits) {
			first, err := s.cfg.Store.ClaimReminder(ctx, person, scope, now)
			if err != nil {
				return err
			}
			if first {
				t.Add(bot.Reply{To: ev.ReplyTarget(), Text: cfg.Reminder, InReplyTo: ev.MessageID})
			}
		}
	}
	return nil
}

// remindable reports whether hits hold a number whose owner should not
// post it in a group (an email is often posted for invoices).
func remindable(hits []Hit) bool {
	for _, h := range hits {
		if h.Category == PII && h.Kind != KindEmail && h.Source == SourcePII {
			return true
		}
	}
	return false
}

func hitOf(hits []Hit, c Category) Hit {
	for _, h := range hits {
		if h.Category == c {
			return h // hits are sorted, the first is the most severe
		}
	}
	return Hit{}
}

// ScopeOf is where an event's repeats are counted and its alerts grouped:
// its group, or its 1:1 chat, as seen through its configured account. A
// routed account's scope names its route: two apps of one WeCom corp
// may see the same chat, and each brand's alert counts its own events
// only. The environment's account's scopes are as they always were.
func ScopeOf(ev bot.Event) string {
	var s string
	if ev.Conversation.IsGroup() {
		s = string(ev.Platform) + ":" + string(ev.Account) + ":g:" + string(ev.Conversation.Group)
	} else {
		s = string(ev.Platform) + ":" + string(ev.Account) + ":u:" + string(ev.Sender)
	}
	if !ev.Route.IsZero() {
		s += ":r:" + ev.Route.String()
	}
	return s
}

// alertRef is what a queued alert names, in its Render.Key: the scope,
// the category and the window whose events it counts when sent.
type alertRef struct {
	Platform bot.Platform  `json:"p"`
	Account  bot.AccountID `json:"a,omitempty"`
	// Route is absent for the environment's account: its keys are as
	// before routes existed.
	Route    bot.Route   `json:"r,omitzero"`
	Group    bot.GroupID `json:"g,omitempty"`
	User     bot.UserID  `json:"u,omitempty"`
	Scope    string      `json:"s"`
	Category Category    `json:"c"`
	From     int64       `json:"f"`
	To       int64       `json:"t"`
}

// alert returns the grouped alert for a hit: one Batched render per
// scope, category and window, so a wave of spam is one alert that counts
// the wave's events when it is sent at the window's end.
func (s *Service) alert(ev bot.Event, scope string, c Category, now time.Time, window time.Duration) bot.Action {
	end := now.Truncate(window).Add(window)
	ref := alertRef{Platform: ev.Platform, Account: ev.Account, Route: ev.Route, Group: ev.Conversation.Group, Scope: scope, Category: c, From: end.Add(-window).UnixMicro(), To: end.UnixMicro()}
	if !ev.Conversation.IsGroup() {
		ref.User = ev.Sender
	}
	key, _ := json.Marshal(ref) // plain strings and numbers: cannot fail
	// The scope is hashed: platform ids are long and the outbox key is
	// bounded.
	sum := sha256.Sum256([]byte(scope))
	return bot.Batched{
		// Platform Staff routes the rendered alert to staff's sender.
		Action: bot.Render{To: bot.Target{Platform: bot.Staff, Account: ev.Account, Route: ev.Route, Conversation: ev.Conversation}, Renderer: RendererName, Key: string(key)},
		Key:    "risk:" + hex.EncodeToString(sum[:8]) + ":" + string(c) + ":" + strconv.FormatInt(end.Unix(), 10),
		SendAt: end,
	}
}

// Renderer writes a grouped alert when the outbox sends it: it counts the
// events of its scope, category and window from the store at that
// moment.
func (s *Service) Renderer() bot.Renderer { return alertRenderer{s} }

type alertRenderer struct{ s *Service }

// Render returns the StaffAlert for r, or nil when its events are gone.
func (a alertRenderer) Render(ctx context.Context, r bot.Render) (bot.Action, error) {
	var ref alertRef
	if err := json.Unmarshal([]byte(r.Key), &ref); err != nil {
		return nil, fmt.Errorf("risk.Render: bad key: %w: %w", bot.ErrInvalid, err)
	}
	from, to := time.UnixMicro(ref.From), time.UnixMicro(ref.To)
	sum, err := a.s.cfg.Store.Summary(ctx, ref.Scope, ref.Category, from, to)
	if err != nil {
		return nil, fmt.Errorf("risk.Render: %w", err)
	}
	if sum.Count == 0 {
		return nil, nil
	}
	route := ref.Route
	if route.IsZero() {
		route = r.To.Route // an alert queued before its key named the route
	}
	return bot.StaffAlert{
		// The route says whose staff get it (the brand's, see
		// handlers/accounts' StaffSender).
		To:    bot.Target{Platform: ref.Platform, Account: ref.Account, Route: route, Conversation: bot.Conversation{Group: ref.Group}, User: ref.User},
		Title: "风险提醒：" + ref.Category.Label() + "（" + sum.Max.Label() + "）",
		Text:  alertText(ref, sum, from, to, a.s.cfg.Location),
	}, nil
}

func alertText(ref alertRef, sum Summary, from, to time.Time, loc *time.Location) string {
	var b strings.Builder
	where := "私聊"
	if ref.Group != "" {
		where = "群 " + string(ref.Group)
	}
	fmt.Fprintf(&b, "%s · %s\n", platformLabel(ref.Platform), where)
	fmt.Fprintf(&b, "%s–%s 共 %d 条%s，来自 %d 人，最高级别：%s\n",
		from.In(loc).Format("01-02 15:04"), to.In(loc).Format("15:04"), sum.Count, ref.Category.Label(), sum.Senders, sum.Max.Label())
	fmt.Fprintf(&b, "最近一条（发送人 %s）：「%s」\n", MaskID(string(sum.Last.Sender)), sum.Last.Evidence)
	b.WriteString("请到管理后台「风险事件」确认或忽略。")
	return b.String()
}

func platformLabel(p bot.Platform) string {
	switch p {
	case bot.WeChat:
		return "公众号"
	case bot.WeCom:
		return "企业微信"
	case bot.Douyin:
		return "抖音"
	}
	return string(p)
}

// MaskID shows enough of a platform id for staff to tell two apart and
// not enough to look the customer up: its first two and last four
// characters.
func MaskID(id string) string {
	r := []rune(id)
	if len(r) <= 6 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:2]) + "***" + string(r[len(r)-4:])
}
