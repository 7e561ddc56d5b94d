package sqlstore_test

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// BenchmarkOutbox measures the outbox's statements on the configured
// database (MariaDB when MYSQL_DSN is set), 16 callers at a time as
// callbacks and send slots run: "enqueue" queues one reply (a Douyin
// reply, a coupon's message), "deliver" claims due rows 16 at a time
// and completes each, per row. Run it on MariaDB:
//
//	MYSQL_DSN='root@tcp(127.0.0.1:3306)/test' go test -run '^$' -bench Outbox -benchtime 20000x ./store/sqlstore/
func BenchmarkOutbox(b *testing.B) {
	o := sqlstore.NewOutbox(storetest.SQL(b))
	var seq atomic.Int64
	payload := []byte(`{"type":"reply","data":{"to":{"platform":"douyin","account":"dy-account","user":"u-bench"},"text":"山茶咖啡各门店营业时间为每天 9:00-21:00。"}}`)
	enqueue := func() error {
		key := "bench:" + strconv.FormatInt(seq.Add(1), 10) + "#0"
		return o.Enqueue(b.Context(), []bot.OutboxItem{{Key: key, Platform: bot.Douyin, Payload: payload, ExpiresAt: time.Now().Add(time.Hour)}})
	}
	b.Run("enqueue", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16) // callers wait on the database, not the CPU
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := enqueue(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("deliver", func(b *testing.B) {
		for range b.N {
			if err := enqueue(); err != nil {
				b.Fatal(err)
			}
		}
		var done atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var claimed []bot.OutboxItem
			for pb.Next() {
				if len(claimed) == 0 {
					var err error
					if claimed, err = o.Claim(b.Context(), time.Now(), 16, time.Minute); err != nil {
						b.Error(err)
						return
					}
					if len(claimed) == 0 {
						continue // the others hold what is left
					}
				}
				if err := o.Complete(b.Context(), claimed[0].ID); err != nil {
					b.Error(err)
					return
				}
				claimed = claimed[1:]
				done.Add(1)
			}
		})
		b.ReportMetric(float64(done.Load())/b.Elapsed().Seconds(), "rows/s")
	})
}

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
