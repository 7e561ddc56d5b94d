package coupontest_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot/coupon"
)

// BenchmarkClaim measures issuing claims: each one a Redis script and a
// database transaction (the claim and its outbox message), by distinct
// people, from two replicas' services in parallel. Run it on MariaDB and
// Redis:
//
//	MYSQL_DSN='root@tcp(127.0.0.1:3306)/test' REDIS_URL=redis://127.0.0.1:6379/0 \
//	  go test -run '^$' -bench Claim -benchtime 10000x ./store/coupontest/
func BenchmarkClaim(b *testing.B) {
	benchClaims(b, "BE", func(user, trigger string) coupon.Request {
		return coupon.Request{Person: person(user), Trigger: trigger, To: target(user)}
	})
}

// benchClaims claims one coupon per person, from two replicas in
// parallel, each request built by req.
func benchClaims(b *testing.B, prefix string, req func(user, trigger string) coupon.Request) {
	r := newReplicas(b, 2, `campaigns:
  - id: bench
    stock: 100000000
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: `+prefix+`, length: 12}}
`, time.Now, nil)
	c := r.campaign(b, "bench")
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16) // claims wait on the database, not the CPU
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			user := "o-bench-" + strconv.FormatInt(i, 10)
			res, err := r.svcs[i%2].Claim(ctx, c, req(user, "t"+strconv.FormatInt(i, 10)))
			if err != nil || res.Outcome != coupon.Issued {
				b.Errorf("Claim = %s, %v", res.Outcome, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}
