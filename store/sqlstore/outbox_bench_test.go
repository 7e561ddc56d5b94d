package sqlstore_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// seedSent fills o's table with n sent rows (sent at `sent`) and a few
// pending and dead ones, by doubling with INSERT … SELECT: a million rows
// take seconds where a million Enqueues would take minutes.
func seedSent(tb testing.TB, db *sqlstore.DB, n int, sent time.Time) {
	tb.Helper()
	o := sqlstore.NewOutbox(db)
	ctx := tb.Context()
	if err := o.Enqueue(ctx, []bot.OutboxItem{{Key: "seed", Platform: bot.WeChat, Payload: []byte("{}")}}); err != nil {
		tb.Fatal(err)
	}
	g := db.Gorm().WithContext(ctx)
	if err := g.Exec("UPDATE outbox SET status = ?, next_at = ?, updated_at = ?", bot.OutboxSent, sent, sent).Error; err != nil {
		tb.Fatal(err)
	}
	concat := "CONCAT('s', ?, '-', id)"
	if db.Dialect() != sqlstore.DialectMySQL {
		concat = "('s' || ? || '-' || id)"
	}
	for have, round := 1, 0; have < n; round++ {
		res := g.Exec("INSERT INTO outbox (item_key, platform, payload, status, attempts, next_at, last_error, created_at, updated_at) "+
			"SELECT "+concat+", platform, payload, status, attempts, next_at, last_error, created_at, updated_at FROM outbox WHERE status = ? LIMIT ?",
			strconv.Itoa(round), bot.OutboxSent, n-have)
		if res.Error != nil {
			tb.Fatal(res.Error)
		}
		have += int(res.RowsAffected)
	}
	var items []bot.OutboxItem
	for i := range 20 {
		items = append(items, bot.OutboxItem{Key: fmt.Sprint("live-", i), Platform: bot.WeChat, Payload: []byte("{}")})
	}
	if err := o.Enqueue(ctx, items); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkOutboxDepth is one /metrics scrape's database work on an
// outbox holding SIYU_BENCH_OUTBOX_ROWS sent rows (default 200,000; the
// issue saw 824,000), on MYSQL_DSN when set.
func BenchmarkOutboxDepth(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("SIYU_BENCH_OUTBOX_ROWS")); err == nil && v > 0 {
		n = v
	}
	db := storetest.SQL(b)
	seedSent(b, db, n, time.Now().Add(-time.Hour))
	o := sqlstore.NewOutbox(db)
	b.Run(fmt.Sprintf("sent=%d", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := o.Depth(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
