//go:build failover

// Built only with -tags failover (.ci/run): the test fails a Redis
// master over, so it never runs in a plain `go test ./...`, where a
// skipped test would prove nothing.

package redisstore_test

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestSentinelFailover: when Sentinel promotes the replica, a Client
// follows it. The dedupe batcher's own connection, which would otherwise
// keep writing to the demoted master (READONLY), dials the new one, and
// scripts and plain commands reach it too; what was written before the
// failover is still there.
//
// It makes the Sentinel named by REDIS_URL fail its master over, so it
// runs only when SIYU_TEST_SENTINEL_FAILOVER=1 asks for it, with no other
// test on that Sentinel at the same time (.ci/run runs it alone).
func TestSentinelFailover(t *testing.T) {
	master := os.Getenv("REDIS_SENTINEL_MASTER")
	if master == "" || os.Getenv("SIYU_TEST_SENTINEL_FAILOVER") != "1" {
		t.Fatal("needs REDIS_SENTINEL_MASTER, REDIS_URL naming a sentinel, and SIYU_TEST_SENTINEL_FAILOVER=1")
	}
	u, err := url.Parse(os.Getenv("REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	sentinel := redis.NewSentinelClient(&redis.Options{Addr: u.Host})
	defer sentinel.Close()
	ctx := t.Context()
	masterAddr := func() string {
		t.Helper()
		a, err := sentinel.GetMasterAddrByName(ctx, master).Result()
		if err != nil {
			t.Fatal(err)
		}
		return a[0] + ":" + a[1]
	}

	c := storetest.Redis(t)
	d := redisstore.NewDeduper(c)
	if first, _, err := d.Claim(ctx, "before", "tok", time.Hour); err != nil || !first {
		t.Fatalf("Claim before the failover = %v, %v", first, err)
	}
	if err := d.Finish(ctx, "before", []byte("answer"), time.Hour); err != nil {
		t.Fatal(err)
	}
	waitResult(t, d, "before", "answer")
	// The replica has it before it is promoted.
	if err := c.Redis().Do(ctx, "wait", 1, 5000).Err(); err != nil {
		t.Fatal(err)
	}

	old := masterAddr()
	if err := sentinel.Failover(ctx, master).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	deadline := time.Now().Add(hangGuard)
	for masterAddr() == old {
		if time.Now().After(deadline) {
			t.Fatalf("Sentinel still names %s after %v", old, hangGuard)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("failed over from %s to %s", old, masterAddr())

	// Commands right after the switch may meet connections still open to
	// the old master; each kind must get through within a few tries.
	retry := func(name string, do func(context.Context) error) {
		t.Helper()
		var err error
		for deadline := time.Now().Add(hangGuard); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if err = do(ctx); err == nil {
				return
			}
		}
		t.Fatalf("%s after the failover: %v", name, err)
	}
	n := 0
	retry("batched claim", func(ctx context.Context) error {
		n++
		_, _, err := d.Claim(ctx, "after-"+time.Now().String(), "tok", time.Hour)
		return err
	})
	retry("script", func(ctx context.Context) error {
		release, _, err := c.Lock(ctx, "after", time.Minute)
		if err == nil {
			release()
		}
		return err
	})
	if _, result, err := d.Claim(ctx, "before", "tok", time.Hour); err != nil || string(result) != "answer" {
		t.Errorf("result written before the failover = %q, %v; want answer", result, err)
	}
	// The batcher's connection now leads to the new master: claims keep
	// working without errors.
	for i := range 20 {
		if _, _, err := d.Claim(ctx, "steady-"+time.Now().String(), "tok", time.Hour); err != nil {
			t.Fatalf("claim %d after the batcher settled: %v", i, err)
		}
	}
}
