// Package metrics exposes what siyu does as Prometheus metrics at
// /metrics, through github.com/prometheus/client_golang: callbacks by
// platform and outcome, handler latency, dedupe hits, the outbox's depth
// and age, sends and dead letters, token refreshes, and each capability's
// own counters read off the engine's turns. Counters are per replica, as
// Prometheus expects; the outbox gauges read the shared database.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers"
)

// Outcomes of a callback. Handlers name the ones a status code cannot
// tell apart with handlers.SetOutcome or an error wrapping
// handlers.ErrStaleTimestamp; the rest follow from the status.
const (
	OutcomeAnswered     = "answered"
	OutcomeDeduplicated = "deduplicated"
	OutcomeSignature    = "refused_signature"
	OutcomeStale        = "stale"
	OutcomeMalformed    = "malformed"
	OutcomeTooLarge     = "too_large"
	OutcomeError        = "error"
)

// OutboxStats is what the outbox gauges read, at most once per
// DepthEvery however often /metrics is scraped.
type OutboxStats interface {
	// Depth returns the pending and dead rows and the creation time of
	// the oldest pending row (zero when none is pending). It must be
	// cheap: it runs on scrapes, which anyone who reaches /metrics can
	// send.
	Depth(ctx context.Context) (map[bot.OutboxStatus]int, time.Time, error)
}

// DepthEvery is how long the outbox's depth read from the database
// serves scrapes: Prometheus scrapes every 15 s by default, and any
// number of scrapers (or anyone who reaches /metrics) costs the shared
// database at most one read per replica per DepthEvery.
const DepthEvery = 15 * time.Second

// Metrics holds siyu's collectors and the registry they are served from.
type Metrics struct {
	reg       *prometheus.Registry
	callbacks *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	dedupe    prometheus.Counter
	sends     *prometheus.CounterVec
	ambiguous *prometheus.CounterVec
	tokens    *prometheus.CounterVec
	turns     *prometheus.CounterVec
	risks     *prometheus.CounterVec
	heldBack  *prometheus.CounterVec
	coupons   *prometheus.CounterVec
	handovers *prometheus.CounterVec
	firstWait prometheus.Histogram
	now       func() time.Time
}

// New returns siyu's metrics, registered on a registry of their own with
// the Go runtime and process collectors. stats may be nil (no outbox
// gauges).
func New(stats OutboxStats) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siyu_callbacks_total", Help: "Platform callbacks by platform and outcome.",
		}, []string{"platform", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "siyu_callback_duration_seconds", Help: "Time to answer a platform callback.",
			// WeChat hangs up at 5 s: the buckets resolve the fast path
			// (sub-millisecond) and the budget's edge (4–5 s).
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 4, 5, 10},
		}, []string{"platform"}),
		dedupe: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "siyu_dedupe_hits_total", Help: "Callbacks answered from a stored result instead of being handled again.",
		}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siyu_sends_total", Help: "Outbox sends by platform and result (sent, retry, dead, deferred, held_back).",
		}, []string{"platform", "result"}),
		ambiguous: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siyu_sends_ambiguous_total", Help: "Sends that timed out after the platform may have delivered them; a retry may deliver twice.",
		}, []string{"platform"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siyu_token_refreshes_total", Help: "Access-token fetches from the platforms.",
		}, []string{"platform"}),
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siyu_answers_total", Help: "Engine answers by the stage that gave them (rule, intent, faq, fallback, command:checkin, …).",
		}, []string{"platform", "stage"}),
		risks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siyu_risk_hits_total", Help: "Messages that hit a risk category.",
		}, []string{"category"}),
		heldBack: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siyu_held_back_total", Help: "Proactive messages held back by do-not-disturb, by reason.",
		}, []string{"reason"}),
		coupons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siyu_coupon_claims_total", Help: "Coupon claims by campaign and outcome (issued, out_of_stock, limit_reached, ended, not_started).",
		}, []string{"campaign", "outcome"}),
		handovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "siyu_handovers_total", Help: "Conversations handed to a person, by reason (keyword, intent, risk, platform); per day: increase(…[1d]).",
		}, []string{"reason"}),
		firstWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "siyu_handover_first_reply_seconds", Help: "Wait from a hand-over to staff's first reply through siyu (the console, 微信客服's client).",
			// From a minute (staff on watch) to a day (a hand-over at
			// night answered in the morning).
			Buckets: []float64{30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400},
		}),
		now: time.Now,
	}
	m.reg.MustRegister(m.callbacks, m.latency, m.dedupe, m.sends, m.ambiguous, m.tokens, m.turns, m.risks, m.heldBack, m.coupons, m.handovers, m.firstWait,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if stats != nil {
		m.reg.MustRegister(&outboxCollector{
			stats: stats, now: func() time.Time { return m.now() },
			depth: prometheus.NewDesc("siyu_outbox_rows", "Outbox rows waiting (pending) or dead-lettered (dead), read from the shared database at most every 15 s.", []string{"status"}, nil),
			age:   prometheus.NewDesc("siyu_outbox_oldest_pending_seconds", "Age of the oldest pending outbox row; 0 when none is pending.", nil, nil),
		})
	}
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Callbacks is Echo middleware for the callback routes: it counts each
// callback by platform and outcome and times it. Routes outside
// /wechat/, /wecom/ and /douyin/ pass through uncounted.
func (m *Metrics) Callbacks() echo.MiddlewareFunc {
	// Curried per platform once, so a callback costs no label hashing.
	type series struct {
		latency  prometheus.Observer
		outcomes map[string]prometheus.Counter
	}
	all := map[string]*series{}
	for _, p := range []bot.Platform{bot.WeChat, bot.WeCom, bot.Douyin} {
		s := &series{latency: m.latency.WithLabelValues(string(p)), outcomes: map[string]prometheus.Counter{}}
		for _, o := range []string{OutcomeAnswered, OutcomeDeduplicated, OutcomeSignature, OutcomeStale, OutcomeMalformed, OutcomeTooLarge, OutcomeError} {
			s.outcomes[o] = m.callbacks.WithLabelValues(string(p), o)
		}
		all[string(p)] = s
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := c.Request().URL.Path
			if len(p) < 2 {
				return next(c)
			}
			name, _, _ := strings.Cut(p[1:], "/")
			s, ok := all[name]
			if !ok || c.Request().Method != http.MethodPost {
				return next(c)
			}
			start := m.now()
			err := next(c)
			s.latency.Observe(m.now().Sub(start).Seconds())
			outcome := handlers.OutcomeFrom(c.Request().Context())
			if outcome == "" {
				outcome = outcomeOf(c, err)
			}
			if ctr, ok := s.outcomes[outcome]; ok {
				ctr.Inc()
			}
			return err
		}
	}
}

// outcomeOf reads the outcome off the status the callback got or will
// get from the error handler.
func outcomeOf(c echo.Context, err error) string {
	if errors.Is(err, handlers.ErrStaleTimestamp) {
		return OutcomeStale
	}
	code := c.Response().Status
	if err != nil {
		code = http.StatusInternalServerError
		if he, ok := err.(*echo.HTTPError); ok {
			code = he.Code
		}
	}
	switch {
	case code == http.StatusUnauthorized:
		return OutcomeSignature
	case code == http.StatusRequestEntityTooLarge:
		return OutcomeTooLarge
	case code >= 400 && code < 500:
		return OutcomeMalformed
	case code >= 500:
		return OutcomeError
	}
	return OutcomeAnswered
}

// DedupeHit counts a callback answered from a stored result.
func (m *Metrics) DedupeHit() { m.dedupe.Inc() }

// Sent counts an outbox send's result.
func (m *Metrics) Sent(p bot.Platform, result string) {
	m.sends.WithLabelValues(string(p), result).Inc()
}

// Ambiguous counts a send that timed out after the platform may have
// delivered it.
func (m *Metrics) Ambiguous(p bot.Platform) { m.ambiguous.WithLabelValues(string(p)).Inc() }

// TokenRefresh counts an access-token fetch.
func (m *Metrics) TokenRefresh(p bot.Platform) { m.tokens.WithLabelValues(string(p)).Inc() }

// CouponClaim counts a coupon claim's outcome.
func (m *Metrics) CouponClaim(campaign, outcome string) {
	m.coupons.WithLabelValues(campaign, outcome).Inc()
}

// TokenRefreshKey counts an access-token fetch by the key the token is
// cached under: the SDK's keys name the Official Account
// ("officialaccount") and WeCom ("work"), siyu's Douyin keys "douyin".
func (m *Metrics) TokenRefreshKey(key string) {
	switch {
	case strings.Contains(key, "officialaccount"):
		m.TokenRefresh(bot.WeChat)
	case strings.Contains(key, "_work_"):
		m.TokenRefresh(bot.WeCom)
	case strings.Contains(key, "douyin"):
		m.TokenRefresh(bot.Douyin)
	default:
		m.TokenRefresh("other")
	}
}

// Handover counts a conversation handed to a person.
func (m *Metrics) Handover(reason string) { m.handovers.WithLabelValues(reason).Inc() }

// FirstReply observes the wait from a hand-over to staff's first reply.
func (m *Metrics) FirstReply(wait time.Duration) { m.firstWait.Observe(wait.Seconds()) }

// HeldBack counts a proactive message do-not-disturb held back.
func (m *Metrics) HeldBack(reason string) { m.heldBack.WithLabelValues(reason).Inc() }

// ObserveTurn counts what the engine did with one event: the stage that
// answered and the risk categories hit. The engine calls it after every
// turn (bot.EngineConfig.OnTurn).
func (m *Metrics) ObserveTurn(t *bot.Turn) {
	if t.DryRun {
		return
	}
	if t.Answer.Stage != "" {
		m.turns.WithLabelValues(string(t.Event.Platform), t.Answer.Stage).Inc()
	}
	for _, r := range t.Risks {
		m.risks.WithLabelValues(r).Inc()
	}
}

// outboxCollector reads the outbox's depth from the database, so every
// replica reports the shared truth, and keeps it for DepthEvery:
// concurrent scrapes wait for one read instead of each making their own.
type outboxCollector struct {
	stats      OutboxStats
	now        func() time.Time
	depth, age *prometheus.Desc

	mu     sync.Mutex
	readAt time.Time // zero: never read
	counts map[bot.OutboxStatus]int
	oldest time.Time
	err    error
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.age
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	counts, oldest, err := c.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	for _, s := range []bot.OutboxStatus{bot.OutboxPending, bot.OutboxDead} {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
	age := 0.0
	if !oldest.IsZero() {
		age = c.now().Sub(oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}

// read returns the depth read at most DepthEvery ago, reading it again
// when older. A failed read is kept as long, so a stalled database is not
// asked again by every scrape.
func (c *outboxCollector) read() (map[bot.OutboxStatus]int, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.readAt.IsZero() || now.Sub(c.readAt) >= DepthEvery || now.Before(c.readAt) {
		// A scrape must not hang on a stalled database.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c.counts, c.oldest, c.err = c.stats.Depth(ctx)
		c.readAt = now
	}
	return c.counts, c.oldest, c.err
}
