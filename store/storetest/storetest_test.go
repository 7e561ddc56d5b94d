package storetest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestRedisCleanupAfterQueuedWrite: a dedupe result is written without
// waiting (Deduper.Finish queues it); the cleanup must delete it anyway,
// not run before it lands and leave it in the shared Redis.
func TestRedisCleanupAfterQueuedWrite(t *testing.T) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		// An embedded Redis of storetest's own goes away with its client;
		// a server that outlives the client stands in for the shared one.
		m := miniredis.RunT(t)
		url = "redis://" + m.Addr()
		t.Setenv("REDIS_URL", url)
	}
	var prefix string
	for i := range 20 { // the race lost once in a few runs
		t.Run("", func(t *testing.T) {
			c := storetest.Redis(t)
			prefix = c.Prefix()
			d := redisstore.NewDeduper(c)
			if _, _, err := d.Claim(t.Context(), "k", "token", time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := d.Finish(t.Context(), "k", []byte("result"), time.Hour); err != nil {
				t.Fatal(err)
			}
		})
		c, err := redisstore.Open(context.Background(), url, nil, append(storetest.RedisOptions(), redisstore.WithPrefix(prefix))...)
		if err != nil {
			t.Fatal(err)
		}
		keys := storetest.Keys(t, c)
		c.Close()
		if len(keys) != 0 {
			t.Fatalf("run %d: keys left after the test: %q", i, keys)
		}
	}
}

// TestRedisPrefix: a prefix for a client the test opens itself is never
// siyu's production prefix, and differs per call.
func TestRedisPrefix(t *testing.T) {
	a, b := storetest.RedisPrefix(t), storetest.RedisPrefix(t)
	if a == b || a == redisstore.DefaultPrefix || len(a) <= len(redisstore.DefaultPrefix) || a[:len("siyu:t:")] != "siyu:t:" {
		t.Fatalf("prefixes %q, %q: want two distinct siyu:t:<hex>: prefixes", a, b)
	}
}
