package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestOutboxPurger: rows sent longer ago than the retention are deleted,
// pending ones kept; a replica that finds another purging leaves it be.
func TestOutboxPurger(t *testing.T) {
	db, rdb := storetest.SQL(t), storetest.Redis(t)
	o := sqlstore.NewOutbox(db)
	ctx := t.Context()
	var items []bot.OutboxItem
	for _, k := range []string{"a", "b", "c"} {
		items = append(items, bot.OutboxItem{Key: "purge-" + k, Platform: bot.WeChat, Payload: []byte("{}")})
	}
	if err := o.Enqueue(ctx, items); err != nil {
		t.Fatal(err)
	}
	claimed, err := o.Claim(ctx, time.Now().Add(time.Second), 2, time.Minute)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("Claim = %d rows, %v", len(claimed), err)
	}
	for _, it := range claimed {
		if err := o.Complete(ctx, it.ID); err != nil {
			t.Fatal(err)
		}
	}
	logs := &bottest.Logs{}
	later := func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	p := bot.OutboxPurger{Outbox: o, Locks: rdb, Retention: 7 * 24 * time.Hour, Now: later, Logger: logs.Logger(slog.LevelInfo)}

	release, ok, err := rdb.Lock(ctx, "outbox-purge", time.Minute)
	if err != nil || !ok {
		t.Fatalf("Lock = %v, %v", ok, err)
	}
	p.Purge(ctx)
	if c, _ := o.Counts(ctx); c[bot.OutboxSent] != 2 {
		t.Fatalf("with another replica purging: %v, want the 2 sent rows left to it", c)
	}
	release()
	p.Purge(ctx)
	c, err := o.Counts(ctx)
	if err != nil || c[bot.OutboxSent] != 0 || c[bot.OutboxPending] != 1 {
		t.Fatalf("after the purge: %v, %v; want no sent row and the pending one", c, err)
	}
	if !strings.Contains(logs.String(), "outbox: sent rows purged") || !strings.Contains(logs.String(), "rows=2") {
		t.Fatalf("log = %s, want the purge counted", logs.String())
	}
}

// TestMetricsAddr: with SIYU_METRICS_ADDR, /metrics is served there and
// not on the public listener; without it, on the public one.
func TestMetricsAddr(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	_, public := buildTest(t, map[string]string{"SIYU_SCRIPTS": "scripts"})
	if code, body := get(public.URL + "/metrics"); code != http.StatusOK || !strings.Contains(body, "siyu_callbacks_total") {
		t.Fatalf("/metrics without SIYU_METRICS_ADDR = %d, want 200 with siyu's metrics", code)
	}

	a, srv := buildTest(t, map[string]string{"SIYU_SCRIPTS": "scripts", "SIYU_METRICS_ADDR": "127.0.0.1:0"})
	if code, _ := get(srv.URL + "/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics on the public listener with SIYU_METRICS_ADDR = %d, want 404", code)
	}
	addr, stop, err := serveMetrics("127.0.0.1:0", a.metrics.Handler(), bottest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if code, body := get("http://" + addr + "/metrics"); code != http.StatusOK || !strings.Contains(body, "siyu_callbacks_total") {
		t.Fatalf("/metrics on the private listener = %d, want 200 with siyu's metrics", code)
	}
	if code, _ := get("http://" + addr + "/admin/"); code != http.StatusNotFound {
		t.Fatalf("the private listener serves /admin/: %d, want 404", code)
	}
}
