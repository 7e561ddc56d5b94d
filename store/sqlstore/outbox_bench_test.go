package sqlstore_test

import (
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
