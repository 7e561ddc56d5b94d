package coupontest_test

import (
	"context"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

const channels = `channels:
  - state: store-shanghai-01
    name: 上海静安门店
`

// replicas are n coupon services as n siyu replicas run them: each with
// its own database handle and Redis client, on one database and one
// Redis key prefix.
type replicas struct {
	svcs    []*coupon.Service
	stores  []*sqlstore.Coupons
	dbs     []*sqlstore.DB
	rdb     *redisstore.Client
	scripts *bot.Scripts
}

func loadScripts(t testing.TB, campaigns string) *bot.Scripts {
	t.Helper()
	s, err := bot.LoadScripts(fstest.MapFS{"c.yaml": {Data: []byte(channels + campaigns)}}, coupon.Section{})
	if err != nil {
		t.Fatalf("LoadScripts: %v", err)
	}
	return s
}

func newReplicas(t testing.TB, n int, campaigns string, now func() time.Time, native map[string]coupon.NativeIssuer) *replicas {
	t.Helper()
	ctx := context.Background()
	cfg := storetest.SQLConfig(t)
	rdb := storetest.Redis(t)
	r := &replicas{rdb: rdb, scripts: loadScripts(t, campaigns)}
	for i := range n {
		db, err := sqlstore.Open(ctx, cfg)
		if err != nil {
			t.Fatalf("sqlstore.Open: %v", err)
		}
		t.Cleanup(func() { _ = db.Close() })
		store, err := sqlstore.NewCoupons(ctx, db)
		if err != nil {
			t.Fatalf("NewCoupons: %v", err)
		}
		client := rdb
		if i > 0 {
			client = storetest.RedisReplica(t, rdb)
		}
		svc := coupon.New(coupon.Config{Store: store, Counter: redisstore.NewCouponCounter(client), Native: native, Now: now, Scripts: staticScripts{r.scripts}})
		r.svcs = append(r.svcs, svc)
		r.stores = append(r.stores, store)
		r.dbs = append(r.dbs, db)
	}
	return r
}

func (r *replicas) campaign(t testing.TB, id string) *coupon.Campaign {
	t.Helper()
	c, ok := coupon.From(r.scripts).Get(id)
	if !ok {
		t.Fatalf("no campaign %q", id)
	}
	return c
}

// flush deletes every key of the test's prefix, as if Redis restarted
// empty; other users of a shared Redis keep theirs.
func (r *replicas) flush(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	c := r.rdb.Redis()
	for _, k := range storetest.Keys(t, r.rdb) {
		if err := c.Del(ctx, k).Err(); err != nil {
			t.Errorf("del: %v", err)
		}
	}
}

func target(user string) bot.Target {
	return bot.Target{Platform: bot.WeChat, Account: "gh_test", User: bot.UserID(user)}
}

func person(user string) bot.PersonID { return target(user).Person() }

func redisCounter(r *replicas) *redisstore.CouponCounter { return redisstore.NewCouponCounter(r.rdb) }
