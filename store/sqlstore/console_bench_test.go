package sqlstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// consoleRows is how many rows each table holds for the console's
// benchmarks: issue 25 asks the API to stay under 50 ms at 100k alerts,
// claims and outbox rows.
const consoleRows = 100_000

// BenchmarkConsoleQueries runs the home page's and the lists' queries on
// tables of consoleRows rows each (risk events, outbox rows, opt-outs,
// coupon claims of one campaign and its imported codes), seeded with
// multi-row INSERTs into a database of the benchmark's own, dropped when
// it ends. Run it on MariaDB (MYSQL_DSN): SQLite's
// figures say little of production.
func BenchmarkConsoleQueries(b *testing.B) {
	ctx := b.Context()
	db := storetest.SQL(b)
	if _, err := sqlstore.NewRisk(ctx, db); err != nil {
		b.Fatal(err)
	}
	if _, err := sqlstore.NewDND(ctx, db); err != nil {
		b.Fatal(err)
	}
	ov, err := sqlstore.NewOverview(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	dnds, _ := sqlstore.NewDND(ctx, db)
	ob := sqlstore.NewOutbox(db)
	coupons, err := sqlstore.NewCoupons(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	g := db.Gorm().WithContext(ctx)
	now := time.Now().UTC()
	const batch = 1000
	statuses := []string{"open", "acknowledged", "dismissed"}
	outboxStatus := []string{"sent", "sent", "sent", "dead", "pending"}
	errs := []string{"errcode=45015", "WECHAT_APPSECRET is not set", "timeout", "errcode=43004"}
	channels := []string{"", "qr-store-1", "qr-store-2", "poster", "wecom-group"}
	// The claims all belong to one campaign, the worst case for its
	// figures and its newest-claims page; a second campaign in force
	// has none.
	const campaign, idle = "spring", "autumn"
	for i := 0; i < consoleRows; i += batch {
		risk := make([]map[string]any, 0, batch)
		out := make([]map[string]any, 0, batch)
		opt := make([]map[string]any, 0, batch)
		claims := make([]map[string]any, 0, batch)
		codes := make([]map[string]any, 0, batch)
		for j := i; j < i+batch; j++ {
			at := now.Add(-time.Duration(j) * time.Minute)
			risk = append(risk, map[string]any{"event_key": fmt.Sprintf("%064d", j), "claim_token": "t", "scope_hash": fmt.Sprintf("%064d", j%500),
				"category": "fraud", "created_at": at, "severity": 1 + j%3, "source": "lexicon", "platform": "wechat", "scope": "s", "count": 1,
				"status": statuses[j%3], "updated_at": at})
			out = append(out, map[string]any{"item_key": fmt.Sprintf("k%d", j), "platform": "wechat", "payload": []byte(`{"type":"reply"}`),
				"status": outboxStatus[j%5], "attempts": 1, "next_at": at, "last_error": errs[j%4], "created_at": at, "updated_at": at})
			opt = append(opt, map[string]any{"person": fmt.Sprintf("wechat:gh:o-%d", j), "opted_out": j%4 != 0, "since": at, "updated_at": at})
			code := fmt.Sprintf("CODE%08d", j)
			claims = append(claims, map[string]any{"id": fmt.Sprintf("%032d", j), "campaign": campaign, "seq": j + 1,
				"person_hash": fmt.Sprintf("%064d", j), "slot": 1, "trigger_hash": fmt.Sprintf("%064d", j), "code": code,
				"person": fmt.Sprintf("wechat:gh:o-%d", j), "trigger_text": "keyword:领券", "channel": channels[j%len(channels)],
				"target": `{"platform":"wechat"}`, "message": "您的优惠券：" + code, "proactive": false, "created_at": at})
			codes = append(codes, map[string]any{"campaign": campaign, "seq": j + 1, "code": code, "created_at": at})
		}
		if err := g.Table("risk_events").Create(risk).Error; err != nil {
			b.Fatal(err)
		}
		if err := g.Table("outbox").Create(out).Error; err != nil {
			b.Fatal(err)
		}
		if err := g.Table("dnd_opt_outs").Create(opt).Error; err != nil {
			b.Fatal(err)
		}
		if err := g.Table("coupon_claims").Create(claims).Error; err != nil {
			b.Fatal(err)
		}
		if err := g.Table("coupon_codes").Create(codes).Error; err != nil {
			b.Fatal(err)
		}
	}
	midnight := now.Truncate(24 * time.Hour)
	tests := []struct {
		name string
		run  func() error
	}{
		{"OpenAlerts", func() error { _, err := ov.OpenAlerts(ctx); return err }},
		{"DeadReasons", func() error { _, err := ov.DeadReasons(ctx, 5); return err }},
		{"DeadIDs", func() error { _, err := ov.DeadIDs(ctx, "timeout", "wechat", 500); return err }},
		{"StuckPending", func() error { _, err := ov.StuckPending(ctx, now.Add(-time.Hour)); return err }},
		{"OptOutsSince", func() error { _, err := ov.OptOutsSince(ctx, midnight); return err }},
		{"CountOptedOut", func() error { _, _, err := dnds.CountOptedOut(ctx, midnight); return err }},
		{"OptedOutPage", func() error { _, err := dnds.OptedOut(ctx, "", 21); return err }},
		{"OutboxPage", func() error { _, err := ob.ListBefore(ctx, bot.OutboxDead, 50_000, 51); return err }},
		{"OutboxCounts", func() error { _, err := ob.Counts(ctx); return err }},
		// The coupon tab and the home page's stock alerts: the figures of
		// the campaigns in force, then one campaign's newest claims at the
		// console's limit (tabs.js asks for 100).
		{"CouponStats", func() error { _, err := coupons.Stats(ctx, []string{campaign, idle}); return err }},
		{"CouponClaimsPage", func() error { _, err := coupons.Claims(ctx, campaign, 100); return err }},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if err := tc.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
