package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers"
)

type fakeStats struct {
	depth  map[bot.OutboxStatus]int
	oldest time.Time
	err    error
}

func (f fakeStats) Depth(context.Context) (map[bot.OutboxStatus]int, time.Time, error) {
	return f.depth, f.oldest, f.err
}

func TestCallbacks(t *testing.T) {
	m := New(nil)
	e := handlers.NewEcho(bottest.Logger(t))
	e.Use(m.Callbacks())
	e.POST("/wechat/callback", func(c echo.Context) error {
		switch c.QueryParam("case") {
		case "stale":
			return handlers.StaleTimestamp()
		case "sig":
			return echo.NewHTTPError(http.StatusUnauthorized, "bad signature")
		case "bad":
			return echo.NewHTTPError(http.StatusBadRequest, "malformed")
		case "big":
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "too large")
		case "dup":
			handlers.SetOutcome(c.Request().Context(), OutcomeDeduplicated)
		case "fail":
			return errors.New("boom")
		}
		return c.String(http.StatusOK, "success")
	})
	e.POST("/douyin/webhook", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/healthz2", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	for _, q := range []string{"ok", "ok", "stale", "sig", "bad", "big", "dup", "fail"} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/wechat/callback?case="+q, nil))
	}
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/douyin/webhook", nil))
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz2", nil))
	tests := []struct {
		platform, outcome string
		want              float64
	}{
		{"wechat", OutcomeAnswered, 2},
		{"wechat", OutcomeStale, 1},
		{"wechat", OutcomeSignature, 1},
		{"wechat", OutcomeMalformed, 1},
		{"wechat", OutcomeTooLarge, 1},
		{"wechat", OutcomeDeduplicated, 1},
		{"wechat", OutcomeError, 1},
		{"douyin", OutcomeAnswered, 1},
		{"wecom", OutcomeAnswered, 0},
	}
	for _, tc := range tests {
		if got := testutil.ToFloat64(m.callbacks.WithLabelValues(tc.platform, tc.outcome)); got != tc.want {
			t.Errorf("callbacks{%s,%s} = %v, want %v", tc.platform, tc.outcome, got, tc.want)
		}
	}
	counts := map[string]uint64{}
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "siyu_callback_duration_seconds" {
			continue
		}
		for _, s := range mf.GetMetric() {
			counts[s.GetLabel()[0].GetValue()] = s.GetHistogram().GetSampleCount()
		}
	}
	if counts["wechat"] != 8 || counts["douyin"] != 1 || counts["wecom"] != 0 {
		t.Errorf("latency samples = %v, want wechat 8, douyin 1, wecom 0", counts)
	}
}

func TestOutboxGauges(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	m := New(fakeStats{depth: map[bot.OutboxStatus]int{bot.OutboxPending: 3, bot.OutboxDead: 1, bot.OutboxSent: 9}, oldest: now.Add(-90 * time.Second)})
	m.now = func() time.Time { return now }
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`siyu_outbox_rows{status="pending"} 3`, `siyu_outbox_rows{status="dead"} 1`, "siyu_outbox_oldest_pending_seconds 90"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// countingStats counts the depth reads.
type countingStats struct {
	mu    sync.Mutex
	reads int
}

func (c *countingStats) Depth(context.Context) (map[bot.OutboxStatus]int, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	return map[bot.OutboxStatus]int{bot.OutboxPending: c.reads}, time.Time{}, nil
}

// TestOutboxDepthRead: however many scrapes come, concurrently or not,
// the database is read once per DepthEvery, where each scrape used to
// count the whole outbox.
func TestOutboxDepthRead(t *testing.T) {
	clock := bottest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	stats := &countingStats{}
	m := New(stats)
	m.now = clock.Now
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	scrape := func() string {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Error(err)
			return ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { scrape() })
	}
	wg.Wait()
	if stats.reads != 1 {
		t.Fatalf("8 scrapes read the outbox %d times, want 1", stats.reads)
	}
	clock.Add(DepthEvery - time.Second)
	scrape()
	if stats.reads != 1 {
		t.Fatalf("a scrape within DepthEvery read the outbox again (%d reads)", stats.reads)
	}
	clock.Add(time.Second)
	if body := scrape(); stats.reads != 2 || !strings.Contains(body, `siyu_outbox_rows{status="pending"} 2`) {
		t.Fatalf("after DepthEvery: %d reads, want 2, and the new figure served", stats.reads)
	}
}

func TestObserveTurn(t *testing.T) {
	m := New(nil)
	m.ObserveTurn(&bot.Turn{Event: bot.Event{Platform: bot.WeChat}, Answer: bot.Answer{Stage: "command:checkin"}, Risks: []string{"pii", "ad_spam"}})
	m.ObserveTurn(&bot.Turn{Event: bot.Event{Platform: bot.WeChat}, Answer: bot.Answer{Stage: "rule"}, DryRun: true})
	if got := testutil.ToFloat64(m.turns.WithLabelValues("wechat", "command:checkin")); got != 1 {
		t.Errorf("answers{command:checkin} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.turns.WithLabelValues("wechat", "rule")); got != 0 {
		t.Errorf("a dry run was counted: answers{rule} = %v", got)
	}
	if got := testutil.ToFloat64(m.risks.WithLabelValues("pii")); got != 1 {
		t.Errorf("risk{pii} = %v, want 1", got)
	}
}

// BenchmarkCallbacks is the metrics middleware's cost per callback on top
// of a handler that does nothing: counting must stay off the hot path's
// allocation budget.
func BenchmarkCallbacks(b *testing.B) {
	m := New(nil)
	e := echo.New()
	h := m.Callbacks()(func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	req := httptest.NewRequest(http.MethodPost, "/wechat/callback", nil)
	rec := httptest.NewRecorder()
	c := e.NewContext(req, rec)
	b.ReportAllocs()
	for b.Loop() {
		c.Reset(req, rec)
		_ = h(c)
	}
}

func TestTokenRefreshKey(t *testing.T) {
	m := New(nil)
	for _, key := range []string{
		"gowechat_officialaccount__stable_access_token_wx1",
		"gowechat_work__access_token_corp_1000002",
		"douyin_client_token_key1",
		"douyin_client_token_key1",
	} {
		m.TokenRefreshKey(key)
	}
	for p, want := range map[string]float64{"wechat": 1, "wecom": 1, "douyin": 2, "other": 0} {
		if got := testutil.ToFloat64(m.tokens.WithLabelValues(p)); got != want {
			t.Errorf("token refreshes{%s} = %v, want %v", p, got, want)
		}
	}
}

func TestHandoverMetrics(t *testing.T) {
	m := New(nil)
	m.Handover("keyword")
	m.Handover("keyword")
	m.Handover("intent")
	m.FirstReply(90 * time.Second)
	for reason, want := range map[string]float64{"keyword": 2, "intent": 1, "risk": 0} {
		if got := testutil.ToFloat64(m.handovers.WithLabelValues(reason)); got != want {
			t.Errorf("handovers{%s} = %v, want %v", reason, got, want)
		}
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`siyu_handovers_total{reason="keyword"} 2`, "siyu_handover_first_reply_seconds_sum 90", `siyu_handover_first_reply_seconds_bucket{le="120"} 1`, `siyu_handover_first_reply_seconds_bucket{le="60"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
