package coupontest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/store/redisstore"
)

// countingStore counts the reads of a claim by its trigger.
type countingStore struct {
	coupon.Store
	byTrigger atomic.Int64
}

func (s *countingStore) ByTrigger(ctx context.Context, campaign string, p bot.PersonID, trigger string) (coupon.Claim, bool, error) {
	s.byTrigger.Add(1)
	return s.Store.ByTrigger(ctx, campaign, p, trigger)
}

const readsCampaigns = `campaigns:
  - id: scarce
    name: 限量券
    stock: 1
    per_person: 2
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: SC, length: 10}}
  - id: later
    name: 预告券
    stock: 5
    start: "2027-01-01T00:00:00+08:00"
    trigger: {keywords: [预告]}
    codes: {generate: {prefix: LT, length: 10}}
  - id: past
    name: 旧券
    stock: 5
    end: "2026-11-30T12:00:00+08:00"
    trigger: {keywords: [旧券]}
    codes: {generate: {prefix: PS, length: 10}}
`

// TestNegativeReads: a claim that finds no coupon reads the database
// (for an earlier claim of the same trigger, a retry's answer) only
// where one can be: not for a person the counter says holds none of a
// sold-out campaign, nor for a campaign not started or long ended. A
// retry of a claim that issued still gets its coupon back.
func TestNegativeReads(t *testing.T) {
	ctx := context.Background()
	var now atomic.Pointer[time.Time]
	setNow := func(s string) {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		now.Store(&tm)
	}
	setNow("2026-11-30T12:10:00+08:00")
	r := newReplicas(t, 1, readsCampaigns, func() time.Time { return *now.Load() }, nil)
	store := &countingStore{Store: r.stores[0]}
	svc := coupon.New(coupon.Config{Store: store, Counter: redisstore.NewCouponCounter(r.rdb), Now: func() time.Time { return *now.Load() }, Scripts: staticScripts{r.scripts}})

	tests := []struct {
		name      string
		at        string // the clock, when it moves
		campaign  string
		user      string
		trigger   string
		want      coupon.Outcome
		replayed  bool
		wantReads int64
	}{
		{name: "the last coupon is issued", campaign: "scarce", user: "a", trigger: "t1", want: coupon.Issued},
		{name: "its retry, sold out, replays it", campaign: "scarce", user: "a", trigger: "t1", want: coupon.Issued, replayed: true, wantReads: 1},
		{name: "another claim of the holder reads, finds none", campaign: "scarce", user: "a", trigger: "t2", want: coupon.OutOfStock, wantReads: 1},
		{name: "a person holding none reads nothing", campaign: "scarce", user: "b", trigger: "t3", want: coupon.OutOfStock},
		{name: "not started reads nothing", campaign: "later", user: "b", trigger: "t4", want: coupon.NotStarted},
		{name: "ended minutes ago reads (a retry may come)", campaign: "past", user: "b", trigger: "t5", want: coupon.Ended, wantReads: 1},
		{name: "ended beyond a retry's reach reads nothing", at: "2026-11-30T13:30:00+08:00", campaign: "past", user: "b", trigger: "t6", want: coupon.Ended},
	}
	for _, tc := range tests {
		if tc.at != "" {
			setNow(tc.at)
		}
		before := store.byTrigger.Load()
		res, err := svc.Claim(ctx, r.campaign(t, tc.campaign), coupon.Request{Person: person(tc.user), Trigger: tc.trigger, To: target(tc.user)})
		if err != nil {
			t.Fatalf("%s: Claim: %v", tc.name, err)
		}
		if res.Outcome != tc.want || res.Replayed != tc.replayed {
			t.Errorf("%s: outcome %s replayed %v, want %s replayed %v", tc.name, res.Outcome, res.Replayed, tc.want, tc.replayed)
		}
		if reads := store.byTrigger.Load() - before; reads != tc.wantReads {
			t.Errorf("%s: %d reads by trigger, want %d", tc.name, reads, tc.wantReads)
		}
	}
}
