package admin

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/bot/risk"
)

// The home page (今日概览): what needs staff today, from aggregates
// (counts grouped in the database, one Redis hash a day), never from
// reading every row on each view.

// AlertCount is how many open risk events have one category and
// severity.
type AlertCount struct {
	Category string
	Severity string
	Count    int
}

// alerting reports whether an event of category and severity alerts
// staff under the scripts in force (risk: alert: categories): those that
// do not (a category switched off, a severity below its threshold) are
// recorded for review, not waiting for anyone.
func (h *Handler) alerting(category, severity string) bool {
	return h.alertingFor(bot.Route{}, category, severity)
}

// alertingFor is alerting under the scripts of route's account (its
// brand's risk: section, over the shared one).
func (h *Handler) alertingFor(route bot.Route, category, severity string) bool {
	var s *bot.Scripts
	if h.scripts != nil {
		s = bot.ScriptsFor(h.scripts, route)
	}
	sev, err := risk.ParseSeverity(severity)
	if err != nil {
		return true // unknown: better shown than hidden
	}
	return risk.ConfigOf(s).Alerts(risk.Category(category), sev)
}

// DeadReason is how many dead outbox messages failed with one error.
type DeadReason struct {
	Reason   string
	Platform string
	Count    int
	Newest   int64
}

// OverviewStore is what the home page reads from the database.
type OverviewStore interface {
	// OpenAlerts counts the open risk events by category and severity.
	OpenAlerts(ctx context.Context) ([]AlertCount, error)
	// DeadReasons groups the newest dead messages by error, most
	// frequent first.
	DeadReasons(ctx context.Context, limit int) ([]DeadReason, error)
	// StuckPending counts pending messages due before cutoff.
	StuckPending(ctx context.Context, cutoff time.Time) (int, error)
	// OptOutsSince counts people who opted out since then.
	OptOutsSince(ctx context.Context, since time.Time) (int, error)
}

// DailyCounter counts named events per day, shared by every replica.
type DailyCounter interface {
	// Add adds each field's count on day ("20261126").
	Add(ctx context.Context, day string, counts map[string]int) error
	// Day returns day's counts by field.
	Day(ctx context.Context, day string) (map[string]int, error)
}

// WithOverview enables the home page's figures from the database and
// the day counters (either may be nil).
func (h *Handler) WithOverview(store OverviewStore, daily DailyCounter) *Handler {
	h.overview, h.daily = store, daily
	return h
}

// location is the scripts' time zone (do-not-disturb's, Asia/Shanghai
// by default): the console shows times and days in it, whatever zone
// the browser is in.
func (h *Handler) location() *time.Location {
	if h.scripts == nil {
		return locationOf(nil)
	}
	return locationOf(h.scripts)
}

func locationOf(src bot.ScriptSource) *time.Location {
	var s *bot.Scripts
	if src != nil {
		s = src.Scripts()
	}
	return dnd.RulesOf(s).Location
}

// dayKey names a day for DailyCounter in loc.
func dayKey(t time.Time, loc *time.Location) string { return t.In(loc).Format("20060102") }

// Daily counter fields.
const (
	fieldTurns    = "turns"
	fieldFallback = "fallback"
	fieldRule     = "rule:"
	fieldIntent   = "intent:"
	// fieldUnanswered counts the intent the classifier read in messages
	// that fell to the fallback: what customers ask that no rule answers.
	fieldUnanswered = "unanswered:"
	fieldCommand    = "command:"
	fieldOutOfStock = "out_of_stock:"
)

// Recorder counts, per day in the scripts' zone, what answered each
// customer message and which coupons were refused for want of stock, for
// the home page. The engine's OnTurn and the coupons' OnClaim call it.
// Counting costs the reply nothing: counts gather in memory and Run
// adds them to the shared DailyCounter every few seconds, so the reply
// path sends Redis nothing more (hotpath_test counts its commands).
type Recorder struct {
	counts DailyCounter
	loc    func() *time.Location
	now    func() time.Time
	logger *slog.Logger

	mu      sync.Mutex
	pending map[string]map[string]int // day → field → count
}

// NewRecorder returns a Recorder counting into counts, by days of the
// scripts' time zone (scripts may be nil: Asia/Shanghai).
func NewRecorder(counts DailyCounter, scripts bot.ScriptSource, logger *slog.Logger) *Recorder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{counts: counts, loc: func() *time.Location { return locationOf(scripts) }, now: time.Now, logger: logger, pending: map[string]map[string]int{}}
}

// flushEvery is how often counts reach Redis: the home page is a few
// seconds behind, and a replica that dies loses at most that much.
const flushEvery = 5 * time.Second

// flushTimeout bounds one flush, and the last one at shutdown.
const flushTimeout = 2 * time.Second

func (r *Recorder) add(fields ...string) {
	day := dayKey(r.now(), r.loc())
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.pending[day]
	if m == nil {
		m = map[string]int{}
		r.pending[day] = m
	}
	for _, f := range fields {
		m[f]++
	}
}

// Flush adds the counts gathered so far to the DailyCounter. Counts
// that could not be added are kept for the next flush.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	pending := r.pending
	r.pending = map[string]map[string]int{}
	r.mu.Unlock()
	var failed error
	for day, m := range pending {
		if err := r.counts.Add(ctx, day, m); err != nil {
			failed = err
			r.mu.Lock()
			for f, n := range m {
				if r.pending[day] == nil {
					r.pending[day] = map[string]int{}
				}
				r.pending[day][f] += n
			}
			r.mu.Unlock()
		}
	}
	return failed
}

// Run flushes every few seconds until ctx ends, then once more.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			if err := r.Flush(fctx); err != nil {
				r.logger.Warn("admin: daily counts not saved at shutdown", "err", err)
			}
			cancel()
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, flushTimeout)
			if err := r.Flush(fctx); err != nil {
				r.logger.Debug("admin: daily counts unavailable; kept for the next flush", "err", err)
			}
			cancel()
		}
	}
}

// ObserveTurn counts a finished turn of a customer's message: its
// answering rule, intent or command, or the fallback with the intent
// the classifier read. Dry runs and events other than messages are not
// counted.
func (r *Recorder) ObserveTurn(t *bot.Turn) {
	if t.DryRun || t.Event.Kind != bot.KindMessage {
		return
	}
	fields := []string{fieldTurns}
	a := t.Answer
	switch {
	case a.Stage == "rule" && a.Rule != "":
		fields = append(fields, fieldRule+a.Rule)
	case a.Stage == "intent" || a.Stage == "faq":
		fields = append(fields, fieldIntent+cmp.Or(a.Intent, a.Rule, t.Intent))
	case strings.HasPrefix(a.Stage, "command:"):
		fields = append(fields, fieldCommand+strings.TrimPrefix(a.Stage, "command:"))
	case a.Stage == "fallback" || a.Stage == "":
		fields = append(fields, fieldFallback)
		if t.Intent != "" {
			fields = append(fields, fieldUnanswered+t.Intent)
		}
	}
	r.add(fields...)
}

// CouponOutcome counts a coupon claim refused because the campaign ran
// out of stock (the coupons' OnClaim; other outcomes are not counted).
func (r *Recorder) CouponOutcome(campaign, outcome string) {
	if outcome == "out_of_stock" {
		r.add(fieldOutOfStock + campaign)
	}
}

// countView is one named count.
type countView struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// topCounts returns the fields of m under prefix, most first, at most n.
func topCounts(m map[string]int, prefix string, n int) []countView {
	out := []countView{}
	for f, c := range m {
		if name, ok := strings.CutPrefix(f, prefix); ok && c > 0 {
			out = append(out, countView{Name: name, Count: c})
		}
	}
	slices.SortFunc(out, func(a, b countView) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out[:min(n, len(out))]
}

// reasonView is a group of dead messages with one error, and whether
// sending again can help.
type reasonView struct {
	Reason      string `json:"reason"`
	Platform    string `json:"platform"`
	Count       int    `json:"count"`
	Hint        string `json:"hint"`
	ResendHelps bool   `json:"resend_helps"`
}

// errorHints say, for a dead message's error, what it means and whether
// sending it again can work, in staff's words. First match wins.
var errorHints = []struct {
	contains    string
	hint        string
	resendHelps bool
}{
	{"WECHAT_APPSECRET is not set", "未配置公众号 AppSecret，无法发送客服消息：重新发送无济于事，请先在部署配置中设置 WECHAT_APPSECRET。", false},
	{"WECOM_SECRET is not set", "未配置企业微信 Secret：重新发送无济于事，请先设置 WECOM_SECRET。", false},
	{"no sender for platform", "该平台未接入发送：重新发送无济于事，请先完成平台配置。", false},
	{"held back", "被免打扰规则拦下（如用户已退订）：不应重新发送。", false},
	{"45015", "超过 48 小时客服消息窗口：用户再次互动前重新发送也会失败。", false},
	{"45047", "超过客服消息条数上限：用户再次互动前重新发送也会失败。", false},
	{"43004", "用户未关注公众号或已取消关注：重新发送也会失败。", false},
	{"40001", "AppSecret 或访问令牌无效：请核对配置后再重新发送。", false},
	{"48001", "公众号没有该接口权限：请在公众平台开通后再重新发送。", false},
	{"window", "超出平台允许的回复时间窗口：重新发送也会失败。", false},
	{"timeout", "发送超时（平台或网络暂时不可用）：可以重新发送。", true},
	{"unavailable", "平台暂时不可用：可以重新发送。", true},
}

func hintFor(reason string) (string, bool) {
	for _, h := range errorHints {
		if strings.Contains(reason, h.contains) {
			return h.hint, h.resendHelps
		}
	}
	return "原因未知：可以尝试重新发送；如仍失败，请查看服务日志。", true
}

// stuckAfter is how late a pending message must be to count as stuck:
// retries back off for minutes, a message an hour late is not retrying
// its way out.
const stuckAfter = time.Hour

// overviewView is the home page.
type overviewView struct {
	Day      string         `json:"day"`
	TimeZone string         `json:"timezone"`
	Alerts   map[string]int `json:"alerts"`
	// Campaigns are those running low or out, or that refused demand
	// today for want of stock.
	Campaigns     []campaignAlert `json:"campaigns"`
	Outbox        outboxSummary   `json:"outbox"`
	OptOutsToday  *int            `json:"opt_outs_today"`
	CheckinsToday *int            `json:"checkins_today"`
	ContactsToday []countView     `json:"contacts_today"`
	Answers       *answersView    `json:"answers"`
}

type campaignAlert struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Stock        int    `json:"stock"`
	Remaining    int    `json:"remaining"`
	State        string `json:"state"` // out, low, ok
	RefusedToday int    `json:"refused_today"`
}

type outboxSummary struct {
	Pending int          `json:"pending"`
	Dead    int          `json:"dead"`
	Stuck   int          `json:"stuck"`
	Reasons []reasonView `json:"reasons"`
}

type answersView struct {
	Turns      int         `json:"turns"`
	Fallback   int         `json:"fallback"`
	Rules      []countView `json:"rules"`
	Intents    []countView `json:"intents"`
	Commands   []countView `json:"commands"`
	Unanswered []countView `json:"unanswered"`
}

// lowStock is the share of stock left under which a campaign shows as
// running out (the campaigns tab's amber bar).
const lowStock = 0.1

// overviewHandler answers GET /admin/api/overview. Each part a
// capability or store provides is there; the others are null.
func (h *Handler) overviewHandler(c echo.Context) error {
	ctx := c.Request().Context()
	loc := h.location()
	now := h.now().In(loc)
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	v := overviewView{Day: now.Format(time.DateOnly), TimeZone: loc.String(), Campaigns: []campaignAlert{}}
	var today map[string]int
	if h.daily != nil {
		var err error
		if today, err = h.daily.Day(ctx, dayKey(now, loc)); err != nil {
			return err
		}
		v.Answers = &answersView{
			Turns: today[fieldTurns], Fallback: today[fieldFallback],
			Rules: topCounts(today, fieldRule, 8), Intents: topCounts(today, fieldIntent, 8),
			Commands: topCounts(today, fieldCommand, 8), Unanswered: topCounts(today, fieldUnanswered, 8),
		}
	}
	counts, err := h.outbox.Counts(ctx)
	if err != nil {
		return err
	}
	v.Outbox = outboxSummary{Pending: counts[bot.OutboxPending], Dead: counts[bot.OutboxDead], Reasons: []reasonView{}}
	if h.overview != nil {
		if h.module("risk") != nil {
			counts, err := h.overview.OpenAlerts(ctx)
			if err != nil {
				return err
			}
			v.Alerts = map[string]int{"high": 0, "medium": 0, "low": 0, "review": 0}
			for _, a := range counts {
				if h.alerting(a.Category, a.Severity) {
					v.Alerts[a.Severity] += a.Count
				} else {
					v.Alerts["review"] += a.Count
				}
			}
		}
		if v.Outbox.Stuck, err = h.overview.StuckPending(ctx, h.now().Add(-stuckAfter)); err != nil {
			return err
		}
		reasons, err := h.overview.DeadReasons(ctx, 5)
		if err != nil {
			return err
		}
		for _, r := range reasons {
			hint, helps := hintFor(r.Reason)
			v.Outbox.Reasons = append(v.Outbox.Reasons, reasonView{Reason: r.Reason, Platform: r.Platform, Count: r.Count, Hint: hint, ResendHelps: helps})
		}
		if h.module("dnd") != nil {
			n, err := h.overview.OptOutsSince(ctx, midnight)
			if err != nil {
				return err
			}
			v.OptOutsToday = &n
		}
	}
	if m, ok := h.module("coupon").(*Coupon); ok {
		list, err := m.src.Campaigns(ctx)
		if err != nil {
			return err
		}
		for _, cp := range list {
			a := campaignAlert{ID: cp.ID, Name: cp.Name, Stock: cp.Stock, Remaining: cp.Remaining, State: "ok", RefusedToday: today[fieldOutOfStock+cp.ID]}
			switch {
			case cp.Remaining <= 0:
				a.State = "out"
			case cp.Stock > 0 && float64(cp.Remaining) < lowStock*float64(cp.Stock):
				a.State = "low"
			}
			if a.State != "ok" || a.RefusedToday > 0 {
				v.Campaigns = append(v.Campaigns, a)
			}
		}
	}
	if m, ok := h.module("checkin").(checkinModule); ok {
		scopes, err := m.a.Scopes(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, s := range scopes {
			n += s.CheckinsToday
		}
		v.CheckinsToday = &n
	}
	if h.contacts != nil {
		rows, err := h.contacts.NewContactsByDay(ctx, midnight, loc)
		if err != nil {
			return err
		}
		byState := map[string]*countView{}
		names := map[string]string{}
		if h.scripts != nil {
			for _, ch := range h.scripts.Scripts().Channels() {
				names[ch.State] = ch.Name
			}
		}
		for _, r := range rows {
			if r.Day != v.Day {
				continue
			}
			cv, ok := byState[r.State]
			if !ok {
				cv = &countView{Name: cmp.Or(r.ChannelName, names[r.State], r.State, "无渠道")}
				byState[r.State] = cv
			}
			cv.Count += r.Count
		}
		v.ContactsToday = []countView{}
		for _, cv := range byState {
			v.ContactsToday = append(v.ContactsToday, *cv)
		}
		slices.SortFunc(v.ContactsToday, func(a, b countView) int { return b.Count - a.Count })
	}
	return c.JSON(http.StatusOK, v)
}

// module returns the wired module named name, or nil.
func (h *Handler) module(name string) Module {
	for _, m := range h.modules {
		if m.Name() == name {
			return m
		}
	}
	return nil
}
