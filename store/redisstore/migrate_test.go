package redisstore_test

import (
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/bot/window"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestMigrate: a Redis that ran the version before hash tags holds
// check-in boards, do-not-disturb counts and Douyin conversations under
// their old names; after Migrate the new names answer with the same
// state, the old keys stay for old replicas still running, and a second
// Migrate does nothing.
func TestMigrate(t *testing.T) {
	if os.Getenv("REDIS_CLUSTER") == "1" {
		t.Skip("the version before hash tags never ran on a cluster: Migrate does nothing there")
	}
	c := serverRedis(t)
	ctx := t.Context()
	rdb, p := c.Redis(), c.Prefix()
	const scope, day = "wechat:gh_1:g1", checkin.Day(20261126)
	now := time.Now()
	// The old names, as the previous version wrote them.
	old := []struct {
		key string
		set func(key string) error
	}{
		{p + "dnd:n:pd:wechat:o1:20261126", func(k string) error { return rdb.Set(ctx, k, 2, time.Hour).Err() }},
		{p + "dnd:once:confirm:x", func(k string) error { return rdb.Set(ctx, k, 1, time.Hour).Err() }},
		{p + "checkin:" + scope + ":pts:all", func(k string) error { return rdb.ZAdd(ctx, k, redis.Z{Score: 30, Member: "a"}).Err() }},
		{p + "checkin:" + scope + ":st:all", func(k string) error { return rdb.ZAdd(ctx, k, redis.Z{Score: 3, Member: "a"}).Err() }},
		{p + "checkin:" + scope + ":built", func(k string) error { return rdb.Set(ctx, k, 1, time.Hour).Err() }},
		{p + "douyin:conv:acct1:u1", func(k string) error {
			if err := rdb.HSet(ctx, k, "conv", "c1", "msg", "m1", "msg_at", now.UnixMilli(), "sent", 0, "recalled", 0).Err(); err != nil {
				return err
			}
			return rdb.PExpire(ctx, k, time.Hour).Err()
		}},
		{p + "douyin:msg:acct1:m1", func(k string) error { return rdb.Set(ctx, k, now.UnixMilli(), time.Hour).Err() }},
	}
	for _, o := range old {
		if err := o.set(o.key); err != nil {
			t.Fatal(err)
		}
	}

	n, err := c.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Six keys have new names; the confirmation throttle kept its own.
	if n != 6 {
		t.Errorf("Migrate copied %d keys, want 6", n)
	}
	if got, _ := redisstore.NewDNDCounters(c).Count(ctx, "pd:wechat:o1:20261126"); got != 2 {
		t.Errorf("do-not-disturb count after Migrate = %d, want the old 2", got)
	}
	if ok, _ := redisstore.NewDNDCounters(c).Once(ctx, "confirm:x", time.Hour); ok {
		t.Error("confirmation throttle after Migrate: free, want still taken")
	}
	board, built, err := redisstore.NewCheckinBoards(c).Top(ctx, scope, checkin.All, day, 3, "a")
	if err != nil || !built || len(board.ByPoints) != 1 || board.ByPoints[0].Points != 30 || board.ByPoints[0].Streak != 3 {
		t.Errorf("board after Migrate = %+v, built %v, %v; want a with 30 points, streak 3", board, built, err)
	}
	g, err := redisstore.NewDouyinState(c, window.DefaultLimits()).Reserve(ctx, "acct1", "u1", "m1", now)
	if err != nil || g.ReplyTo != "m1" || g.ConversationID != "c1" {
		t.Errorf("Douyin reply after Migrate = %+v, %v; want one answering m1 in c1", g, err)
	}
	// Old keys stay for old replicas; one that never expired now does.
	for _, o := range old {
		ttl, err := rdb.PTTL(ctx, o.key).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("old key %s: TTL %v (%v), want it kept with an expiry", o.key, ttl, err)
		}
	}

	// Once recorded, Migrate does not copy again, even a key an old
	// replica wrote since.
	if err := rdb.Set(ctx, p+"dnd:n:pd:wechat:o2:20261126", 1, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Migrate(ctx); err != nil || n != 0 {
		t.Errorf("second Migrate = %d, %v, want 0, nil", n, err)
	}
	if got, _ := redisstore.NewDNDCounters(c).Count(ctx, "pd:wechat:o2:20261126"); got != 0 {
		t.Errorf("count written after the migration = %d, want 0 (not carried over)", got)
	}
}

// serverRedis is storetest.Redis, or without REDIS_URL a client of a
// miniredis of the test's own: the embedded one is never migrated.
func serverRedis(t *testing.T) *redisstore.Client {
	t.Helper()
	if os.Getenv("REDIS_URL") != "" {
		return storetest.Redis(t)
	}
	c, err := redisstore.Open(t.Context(), "redis://"+miniredis.RunT(t).Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestMigrateKeepsNewerState: a key the new version already wrote is not
// overwritten by its old copy.
func TestMigrateKeepsNewerState(t *testing.T) {
	if os.Getenv("REDIS_CLUSTER") == "1" {
		t.Skip("Migrate does nothing on a cluster")
	}
	c := serverRedis(t)
	ctx := t.Context()
	counters := redisstore.NewDNDCounters(c)
	k := dnd.Counter{Key: "pd:wechat:o1:20261126", Limit: 10, TTL: time.Hour}
	if _, err := counters.Take(ctx, []dnd.Counter{k}, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Redis().Set(ctx, c.Prefix()+"dnd:n:"+k.Key, 7, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := counters.Count(ctx, k.Key); got != 1 {
		t.Errorf("count = %d, want the new version's 1", got)
	}
}

// TestMigrateEmbedded: the embedded Redis starts empty every time.
func TestMigrateEmbedded(t *testing.T) {
	c, err := redisstore.Open(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Redis().Set(t.Context(), c.Prefix()+"dnd:n:x", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Migrate(t.Context()); n != 0 || err != nil {
		t.Errorf("Migrate = %d, %v on the embedded Redis, want 0, nil", n, err)
	}
}
