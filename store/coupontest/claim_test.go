package coupontest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

const raceCampaign = `campaigns:
  - id: race
    name: 抢券
    stock: 100
    per_person: 1
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: RC, length: 10}}
`

// TestConcurrentClaims: two replicas, 1,000 concurrent claims from 300
// people on a stock of 100 with a limit of 1: exactly 100 issued, nobody
// twice, every code distinct, one claim per trigger however often it is
// retried, and no oversell when Redis is emptied midway.
func TestConcurrentClaims(t *testing.T) {
	tests := []struct {
		name    string
		retries bool // about a third of the attempts repeat an earlier trigger
		flushAt int  // empty Redis when this many coupons are issued; 0: never
	}{
		{name: "distinct triggers"},
		{name: "retries of the same trigger mixed in", retries: true},
		{name: "redis flushed midway", retries: true, flushAt: 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newReplicas(t, 2, raceCampaign, time.Now, nil)
			c := r.campaign(t, "race")

			const attempts, people, workers = 1000, 300, 24
			rng := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			type attempt struct{ user, trigger string }
			plan := make([]attempt, attempts)
			triggers := map[string][]string{} // user → triggers so far
			for i := range plan {
				user := fmt.Sprintf("o-user-%03d", rng.IntN(people))
				if i < people {
					user = fmt.Sprintf("o-user-%03d", i) // everyone tries at least once
				}
				trig := fmt.Sprintf("wechat:gh_test:msg-%d", i)
				if prev := triggers[user]; tc.retries && len(prev) > 0 && rng.IntN(3) == 0 {
					trig = prev[rng.IntN(len(prev))]
				} else {
					triggers[user] = append(prev, trig)
				}
				plan[i] = attempt{user, trig}
			}
			rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })

			results := make([]coupon.Result, attempts)
			var issued atomic.Int64
			jobs := make(chan int)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					svc := r.svcs[w%len(r.svcs)]
					for i := range jobs {
						a := plan[i]
						res, err := svc.Claim(ctx, c, coupon.Request{Person: person(a.user), Trigger: a.trigger, To: target(a.user)})
						if err != nil {
							t.Errorf("Claim %d: %v", i, err)
							continue
						}
						results[i] = res
						if res.Outcome == coupon.Issued && !res.Replayed && issued.Add(1) == int64(tc.flushAt) {
							r.flush(t) // while the other workers keep claiming
						}
					}
				}()
			}
			for i := range plan {
				jobs <- i
			}
			close(jobs)
			wg.Wait()

			claimIDs := map[string]bool{}
			byTrigger := map[string]string{}
			for i, res := range results {
				if res.Outcome != coupon.Issued {
					continue
				}
				claimIDs[res.Claim.ID] = true
				trig := plan[i].trigger
				if prev, ok := byTrigger[trig]; ok && prev != res.Claim.ID {
					t.Errorf("trigger %s got claims %s and %s, want one", trig, prev, res.Claim.ID)
				}
				byTrigger[trig] = res.Claim.ID
			}
			if got := len(claimIDs); got != c.Stock {
				t.Errorf("distinct claims answered = %d, want %d", got, c.Stock)
			}
			n, err := r.stores[0].Issued(ctx, "race")
			if err != nil {
				t.Fatal(err)
			}
			if n != c.Stock {
				t.Errorf("claims stored = %d, want exactly the stock %d", n, c.Stock)
			}
			claims, err := r.stores[1].Claims(ctx, "race", 1000)
			if err != nil {
				t.Fatal(err)
			}
			persons, codes, seqs := map[bot.PersonID]int{}, map[string]int{}, map[int]int{}
			for _, cl := range claims {
				persons[cl.Person]++
				codes[cl.Code]++
				seqs[cl.Seq]++
				if !claimIDs[cl.ID] {
					t.Errorf("stored claim %s was never answered", cl.ID)
				}
				if cl.Seq < 1 || cl.Seq > c.Stock {
					t.Errorf("claim seq %d outside 1..%d", cl.Seq, c.Stock)
				}
			}
			for p, k := range persons {
				if k > 1 {
					t.Errorf("person %s got %d coupons, want at most 1", p, k)
				}
			}
			if len(codes) != len(claims) || len(seqs) != len(claims) {
				t.Errorf("%d claims with %d distinct codes and %d distinct seqs, want all distinct", len(claims), len(codes), len(seqs))
			}
			// Every claim's message is in the outbox, once, under its key.
			items, err := sqlstore.NewOutbox(r.dbs[0]).List(ctx, bot.OutboxPending, 1000)
			if err != nil {
				t.Fatal(err)
			}
			queued := 0
			for _, it := range items {
				if id, ok := strings.CutPrefix(it.Key, "batch:coupon:"); ok {
					queued++
					if !claimIDs[id] {
						t.Errorf("outbox message for unknown claim %s", id)
					}
				}
			}
			if queued != c.Stock {
				t.Errorf("coupon messages queued = %d, want %d", queued, c.Stock)
			}
		})
	}
}

// TestRebuildAfterRedisLoss: counters rebuilt from the database keep the
// stock and each person's limit.
func TestRebuildAfterRedisLoss(t *testing.T) {
	ctx := context.Background()
	r := newReplicas(t, 1, `campaigns:
  - id: small
    stock: 5
    per_person: 2
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: SM, length: 8}}
`, time.Now, nil)
	c := r.campaign(t, "small")
	svc := r.svcs[0]
	claim := func(user, trig string) coupon.Outcome {
		t.Helper()
		res, err := svc.Claim(ctx, c, coupon.Request{Person: person(user), Trigger: trig, To: target(user)})
		if err != nil {
			t.Fatalf("Claim(%s, %s): %v", user, trig, err)
		}
		return res.Outcome
	}
	steps := []struct {
		name, user, trigger string
		flushFirst          bool
		want                coupon.Outcome
	}{
		{"a first", "a", "1", false, coupon.Issued},
		{"a second", "a", "2", false, coupon.Issued},
		{"b first", "b", "3", false, coupon.Issued},
		{"a third after a flush is past the limit", "a", "4", true, coupon.LimitReached},
		{"a's first trigger replayed after a flush", "a", "1", true, coupon.Issued},
		{"c first", "c", "5", false, coupon.Issued},
		{"d first after a flush", "d", "6", true, coupon.Issued},
		{"e finds the stock gone", "e", "7", false, coupon.OutOfStock},
		{"e after a flush finds it gone too", "e", "8", true, coupon.OutOfStock},
	}
	for _, st := range steps {
		if st.flushFirst {
			r.flush(t)
		}
		if got := claim(st.user, st.trigger); got != st.want {
			t.Errorf("%s: outcome %s, want %s", st.name, got, st.want)
		}
	}
	if n, _ := r.stores[0].Issued(ctx, "small"); n != 5 {
		t.Errorf("issued = %d, want 5", n)
	}
}

// TestLostReservationIsRecovered: a replica that dies holding a
// reservation strands a seq; when stock seems gone, the database's count
// brings it back.
func TestLostReservationIsRecovered(t *testing.T) {
	ctx := context.Background()
	clk := bottest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	r := newReplicas(t, 1, `campaigns:
  - id: two
    stock: 2
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: TW, length: 8}}
`, clk.Now, nil)
	c := r.campaign(t, "two")
	svc := r.svcs[0]
	if res, err := svc.Claim(ctx, c, coupon.Request{Person: person("a"), Trigger: "1", To: target("a")}); err != nil || res.Outcome != coupon.Issued {
		t.Fatalf("first claim = %v, %v; want issued", res.Outcome, err)
	}
	// A reservation nobody inserts: the replica died.
	counter := redisCounter(r)
	if res, err := counter.Reserve(ctx, "two", []bot.PersonID{person("ghost")}, 2, 1, false); err != nil || res.Status != coupon.Reserved {
		t.Fatalf("Reserve = %+v, %v", res, err)
	}
	res, err := svc.Claim(ctx, c, coupon.Request{Person: person("b"), Trigger: "2", To: target("b")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != coupon.Issued {
		t.Errorf("claim after a lost reservation = %s, want issued (the database has stock left)", res.Outcome)
	}
	res, err = svc.Claim(ctx, c, coupon.Request{Person: person("c"), Trigger: "3", To: target("c")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != coupon.OutOfStock {
		t.Errorf("third claim on a stock of 2 = %s, want out_of_stock", res.Outcome)
	}
}

// TestDatabaseRestoredUnderOldCounters: when the database loses claims
// (restored from a backup) while Redis keeps its counters, nobody is
// refused on the counters' word alone.
func TestDatabaseRestoredUnderOldCounters(t *testing.T) {
	ctx := context.Background()
	r := newReplicas(t, 1, `campaigns:
  - id: one
    stock: 1
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: ON, length: 8}}
`, time.Now, nil)
	c := r.campaign(t, "one")
	claim := func(user, trig string) coupon.Outcome {
		t.Helper()
		res, err := r.svcs[0].Claim(ctx, c, coupon.Request{Person: person(user), Trigger: trig, To: target(user)})
		if err != nil {
			t.Fatalf("Claim: %v", err)
		}
		return res.Outcome
	}
	if got := claim("a", "1"); got != coupon.Issued {
		t.Fatalf("first claim = %s, want issued", got)
	}
	if err := r.dbs[0].Gorm().Exec("DELETE FROM coupon_claims").Error; err != nil {
		t.Fatal(err)
	}
	if err := r.dbs[0].Gorm().Exec("DELETE FROM coupon_claim_names").Error; err != nil {
		t.Fatal(err)
	}
	if got := claim("a", "2"); got != coupon.Issued {
		t.Errorf("claim after the restore = %s, want issued (the database holds none of a's)", got)
	}
	if got := claim("b", "3"); got != coupon.OutOfStock {
		t.Errorf("next claim = %s, want out_of_stock", got)
	}
}
