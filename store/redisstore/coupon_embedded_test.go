package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestCouponCounterEmbeddedMatchesScripts: on the embedded Redis the
// counter's scripts run in Go; given the same random run of reserves,
// releases (stale epochs too), resets and rebuilds, they answer what the
// Lua scripts answer on a twin, and leave the same state behind.
func TestCouponCounterEmbeddedMatchesScripts(t *testing.T) {
	ctx := context.Background()
	open := func() (*redisstore.Client, *redisstore.CouponCounter) {
		c, err := redisstore.Open(ctx, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c, redisstore.NewCouponCounter(c)
	}
	goClient, goPath := open()
	luaClient, luaCounter := open()
	lua := redisstore.WithLuaScripts(luaCounter)
	if !goClient.Embedded() || !luaClient.Embedded() {
		t.Fatal("want embedded clients")
	}
	rng := rand.New(rand.NewPCG(7, 26))
	people := []bot.PersonID{"wechat:gh:a", "wechat:gh:b", "union:u1", "wechat:gh:c", "wecom:corp:d"}
	names := func() []bot.PersonID {
		if rng.IntN(3) == 0 {
			return []bot.PersonID{people[rng.IntN(len(people))], people[rng.IntN(len(people))]}
		}
		return []bot.PersonID{people[rng.IntN(len(people))]}
	}
	snap := func(context.Context) (coupon.Snapshot, error) {
		return coupon.Snapshot{Seqs: []int{1, 3, 4, 9}, Persons: map[bot.PersonID]int{"wechat:gh:a": 1, "union:u1": 2}, Codes: 6}, nil
	}
	type held struct {
		persons  []bot.PersonID
		goR, luR coupon.Reservation
	}
	var reserved []held
	const campaign = "twin"
	for i := range 3000 {
		op := rng.IntN(20)
		switch {
		case op == 0:
			for _, k := range []*redisstore.CouponCounter{goPath, lua} {
				if err := k.Reset(ctx, campaign); err != nil {
					t.Fatal(err)
				}
			}
		case op <= 6 && len(reserved) > 0:
			j := rng.IntN(len(reserved))
			h := reserved[j]
			reserved = slices.Delete(reserved, j, j+1)
			seq, slot := rng.IntN(2) == 0, rng.IntN(2) == 0
			if err := goPath.Release(ctx, campaign, h.persons, h.goR, seq, slot); err != nil {
				t.Fatal(err)
			}
			if err := lua.Release(ctx, campaign, h.persons, h.luR, seq, slot); err != nil {
				t.Fatal(err)
			}
		default:
			persons := names()
			stock, per, imp := 4+rng.IntN(8), 1+rng.IntN(3), rng.IntN(4) == 0
			g, err := goPath.Reserve(ctx, campaign, persons, stock, per, imp)
			if err != nil {
				t.Fatal(err)
			}
			l, err := lua.Reserve(ctx, campaign, persons, stock, per, imp)
			if err != nil {
				t.Fatal(err)
			}
			if g.Status != l.Status || g.Seq != l.Seq || g.Slot != l.Slot {
				t.Fatalf("op %d: Reserve(%v, stock %d, per %d, import %v): Go %+v, Lua %+v", i, persons, stock, per, imp, g, l)
			}
			switch g.Status {
			case coupon.NeedRebuild:
				for _, k := range []*redisstore.CouponCounter{goPath, lua} {
					if err := k.Rebuild(ctx, campaign, snap); err != nil {
						t.Fatal(err)
					}
				}
			case coupon.Reserved:
				reserved = append(reserved, held{persons, g, l})
			}
		}
	}
	for _, key := range []string{"state", "free", "persons"} {
		k := fmt.Sprintf("siyu:coupon:{%s}:%s", campaign, key)
		if key == "free" {
			g, _ := goClient.Miniredis().List(k)
			l, _ := luaClient.Miniredis().List(k)
			if !slices.Equal(g, l) {
				t.Errorf("%s: Go %v, Lua %v", key, g, l)
			}
			continue
		}
		g, _ := goClient.Miniredis().HKeys(k)
		l, _ := luaClient.Miniredis().HKeys(k)
		slices.Sort(g)
		slices.Sort(l)
		if !slices.Equal(g, l) {
			t.Errorf("%s fields: Go %v, Lua %v", key, g, l)
		}
		for _, f := range g {
			if f == "epoch" {
				continue // random on each
			}
			if gv, lv := goClient.Miniredis().HGet(k, f), luaClient.Miniredis().HGet(k, f); gv != lv {
				t.Errorf("%s %s: Go %s, Lua %s", key, f, gv, lv)
			}
		}
	}
}

// TestCouponReserveAfterScriptFlush: Reserve goes out as EVALSHA in the
// shared pipeline; a server that lost its scripts (restarted, or SCRIPT
// FLUSH) is sent the script itself, and the reservation still comes.
func TestCouponReserveAfterScriptFlush(t *testing.T) {
	ctx := context.Background()
	c := storetest.Redis(t)
	k := redisstore.WithLuaScripts(redisstore.NewCouponCounter(c)) // the scripts, on either server
	const campaign = "flushed"
	snap := func(context.Context) (coupon.Snapshot, error) { return coupon.Snapshot{}, nil }
	for i := range 3 {
		if err := c.Redis().ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		r, err := k.Reserve(ctx, campaign, []bot.PersonID{"wechat:gh:p"}, 10, 5, false)
		if err != nil {
			t.Fatalf("Reserve %d: %v", i, err)
		}
		if i == 0 {
			if r.Status != coupon.NeedRebuild {
				t.Fatalf("first Reserve = %+v, want NeedRebuild", r)
			}
			if err := k.Rebuild(ctx, campaign, snap); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if r.Status != coupon.Reserved || r.Seq != i {
			t.Errorf("Reserve %d after a flush = %+v, want seq %d reserved", i, r, i)
		}
	}
}
