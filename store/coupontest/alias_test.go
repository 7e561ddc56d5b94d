package coupontest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

const aliasCampaigns = `campaigns:
  - id: one
    name: 一张
    stock: 1000
    per_person: 1
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: AO, length: 10}}
  - id: two
    name: 两张
    stock: 1000
    per_person: 2
    trigger: {keywords: [领两张]}
    codes: {generate: {prefix: AT, length: 10}}
`

// unlinked and linked are one follower's claims before and after siyu
// learnt their unionid.
func unlinked(user, trig string) coupon.Request {
	return coupon.Request{Person: person(user), Trigger: trig, To: target(user)}
}

func linked(user, trig string) coupon.Request {
	to := target(user)
	to.UnionID = "u-" + user
	return coupon.Request{Person: to.Person(), Alias: person(user), Trigger: trig, To: to}
}

// TestLimitAcrossLink: claims made under the platform name before the
// link and under the union name after it (or the other way round, a
// replica that has not learnt the link yet) share per_person, also when
// Redis lost its counters in between.
func TestLimitAcrossLink(t *testing.T) {
	type step struct {
		linked bool
		want   coupon.Outcome
	}
	tests := []struct {
		name     string
		campaign string
		flush    bool // Redis emptied before the last step
		steps    []step
	}{
		{"platform name, then linked", "one", false, []step{{false, coupon.Issued}, {true, coupon.LimitReached}}},
		{"linked, then platform name", "one", false, []step{{true, coupon.Issued}, {false, coupon.LimitReached}}},
		{"platform name, then linked, Redis emptied", "one", true, []step{{false, coupon.Issued}, {true, coupon.LimitReached}}},
		{"linked, then platform name, Redis emptied", "one", true, []step{{true, coupon.Issued}, {false, coupon.LimitReached}}},
		{"limit two, mixed", "two", false, []step{{false, coupon.Issued}, {true, coupon.Issued}, {true, coupon.LimitReached}, {false, coupon.LimitReached}}},
		{"limit two, mixed, Redis emptied", "two", true, []step{{false, coupon.Issued}, {true, coupon.Issued}, {false, coupon.LimitReached}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newReplicas(t, 2, aliasCampaigns, func() time.Time { return testNow }, nil)
			c := r.campaign(t, tc.campaign)
			for i, s := range tc.steps {
				if tc.flush && i == len(tc.steps)-1 {
					r.flush(t)
				}
				req := unlinked("o-1", fmt.Sprintf("t%d", i))
				if s.linked {
					req = linked("o-1", fmt.Sprintf("t%d", i))
				}
				res, err := r.svcs[i%2].Claim(ctx, c, req)
				if err != nil {
					t.Fatalf("step %d: Claim: %v", i, err)
				}
				if res.Outcome != s.want {
					t.Errorf("step %d (linked %v): outcome = %s, want %s", i, s.linked, res.Outcome, s.want)
				}
			}
			// Someone else is not held back by o-1's claims.
			if res, err := r.svcs[0].Claim(ctx, c, linked("o-2", "x")); err != nil || res.Outcome != coupon.Issued {
				t.Errorf("another person: Claim = %v, %v; want issued", res.Outcome, err)
			}
		})
	}
}

// TestRetryAcrossLink: a callback retried after the link was learnt
// gets the claim its first, unlinked try made, whatever the limit; and
// the other way round.
func TestRetryAcrossLink(t *testing.T) {
	tests := []struct {
		name          string
		campaign      string
		first, second func(user, trig string) coupon.Request
	}{
		{"limit one, unlinked then linked", "one", unlinked, linked},
		{"limit two, unlinked then linked", "two", unlinked, linked},
		{"limit two, linked then unlinked", "two", linked, unlinked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newReplicas(t, 2, aliasCampaigns, func() time.Time { return testNow }, nil)
			c := r.campaign(t, tc.campaign)
			first, err := r.svcs[0].Claim(ctx, c, tc.first("o-1", "msg-1"))
			if err != nil || first.Outcome != coupon.Issued {
				t.Fatalf("first Claim = %v, %v", first.Outcome, err)
			}
			again, err := r.svcs[1].Claim(ctx, c, tc.second("o-1", "msg-1"))
			if err != nil {
				t.Fatal(err)
			}
			if again.Outcome != coupon.Issued || !again.Replayed || again.Claim.ID != first.Claim.ID {
				t.Errorf("retry = %s replayed %v claim %s, want the first claim %s replayed", again.Outcome, again.Replayed, again.Claim.ID, first.Claim.ID)
			}
			if n, err := r.stores[0].Issued(ctx, c.ID); err != nil || n != 1 {
				t.Errorf("claims stored = %d, %v; want 1", n, err)
			}
		})
	}
}

// TestConcurrentClaimsAcrossLink: two replicas, people claiming at once
// under both names with many triggers, Redis emptied midway: nobody ever
// holds more than per_person coupons under their two names together.
func TestConcurrentClaimsAcrossLink(t *testing.T) {
	for _, id := range []string{"one", "two"} {
		t.Run(id, func(t *testing.T) {
			ctx := context.Background()
			r := newReplicas(t, 2, aliasCampaigns, time.Now, nil)
			c := r.campaign(t, id)
			const attempts, people, workers = 600, 60, 16
			rng := rand.New(rand.NewPCG(7, uint64(len(id))))
			plan := make([]coupon.Request, attempts)
			for i := range plan {
				user := fmt.Sprintf("o-%02d", rng.IntN(people))
				trig := fmt.Sprintf("msg-%d", i)
				if rng.IntN(2) == 0 {
					plan[i] = linked(user, trig)
				} else {
					plan[i] = unlinked(user, trig)
				}
			}
			jobs := make(chan int)
			var wg sync.WaitGroup
			var once sync.Once
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range jobs {
						if i == attempts/2 {
							once.Do(func() { r.flush(t) })
						}
						if _, err := r.svcs[w%2].Claim(ctx, c, plan[i]); err != nil {
							t.Errorf("Claim %d: %v", i, err)
						}
					}
				}()
			}
			for i := range plan {
				jobs <- i
			}
			close(jobs)
			wg.Wait()

			claims, err := r.stores[0].Claims(ctx, id, 1000)
			if err != nil {
				t.Fatal(err)
			}
			held := map[string]int{}
			for _, cl := range claims {
				held[string(cl.To.User)]++
			}
			if len(held) != people {
				t.Errorf("people with a coupon = %d, want all %d", len(held), people)
			}
			for user, n := range held {
				if n != c.PerPerson {
					t.Errorf("%s holds %d coupons under both names, want exactly per_person %d", user, n, c.PerPerson)
				}
			}
		})
	}
}

// TestNamesBackfill: a claim stored before coupon_claim_names existed
// (or by an older replica) gets its row when a replica starts, so the
// linked person's limit holds for it too.
func TestNamesBackfill(t *testing.T) {
	ctx := context.Background()
	r := newReplicas(t, 1, aliasCampaigns, func() time.Time { return testNow }, nil)
	c := r.campaign(t, "one")
	if res, err := r.svcs[0].Claim(ctx, c, unlinked("o-1", "t1")); err != nil || res.Outcome != coupon.Issued {
		t.Fatalf("Claim = %v, %v", res.Outcome, err)
	}
	if err := r.dbs[0].Gorm().Exec("DELETE FROM coupon_claim_names").Error; err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstore.NewCoupons(ctx, r.dbs[0]); err != nil {
		t.Fatalf("NewCoupons: %v", err)
	}
	r.flush(t) // the counter is rebuilt from the database
	res, err := r.svcs[0].Claim(ctx, c, linked("o-1", "t2"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != coupon.LimitReached {
		t.Errorf("linked claim after the backfill = %s, want limit_reached", res.Outcome)
	}
}

// BenchmarkClaimLinked is BenchmarkClaim with every claimant linked: each
// claim counts under two names (two Redis counters, two name rows).
func BenchmarkClaimLinked(b *testing.B) { benchClaims(b, "BL", linked) }
