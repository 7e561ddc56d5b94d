package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot/bottest"
)

// batcherBackend is a Redis for the batcher's own tests: the one REDIS_URL
// names (a cluster with REDIS_CLUSTER=1, through Sentinel with
// REDIS_SENTINEL_MASTER), or a miniredis. breakConn drops the server side
// of every client connection but the caller's, as a restart or a network
// fault would.
type batcherBackend struct {
	rdb       redis.UniversalClient
	keyPrefix string
	breakConn func(t *testing.T)
}

// testClient connects to REDIS_URL as siyu's configuration would (this
// package cannot use storetest, which imports it), naming its
// connections name when name is not empty.
func testClient(t *testing.T, url, name string) redis.UniversalClient {
	t.Helper()
	switch {
	case os.Getenv("REDIS_CLUSTER") == "1":
		o, err := redis.ParseClusterURL(url)
		if err != nil {
			t.Fatal(err)
		}
		o.ClientName = name
		return redis.NewClusterClient(o)
	case os.Getenv("REDIS_SENTINEL_MASTER") != "":
		o, err := redis.ParseFailoverURL(url)
		if err != nil {
			t.Fatal(err)
		}
		o.MasterName, o.ClientName = os.Getenv("REDIS_SENTINEL_MASTER"), name
		return redis.NewFailoverClient(o)
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	o.ClientName = name
	return redis.NewClient(o)
}

// eachServer calls fn with every master of rdb's cluster, or rdb itself.
func eachServer(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, c redis.UniversalClient) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return fn(ctx, c) })
	}
	return fn(ctx, rdb)
}

func newBatcherBackend(t *testing.T) batcherBackend {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "siyu:t:" + hex.EncodeToString(b[:]) + ":"
	if url := os.Getenv("REDIS_URL"); url != "" {
		// The test's connections carry a name of their own, so breaking
		// them leaves alone every other client of the shared server (other
		// packages' tests run at the same time).
		name := "siyu-test-" + hex.EncodeToString(b[:])
		admin := testClient(t, url, "")
		rdb := testClient(t, url, name)
		t.Cleanup(func() {
			ctx := context.Background()
			_ = eachServer(ctx, rdb, func(ctx context.Context, c redis.UniversalClient) error {
				iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
				for iter.Next(ctx) {
					c.Del(ctx, iter.Val())
				}
				return nil
			})
			_ = rdb.Close()
			_ = admin.Close()
		})
		return batcherBackend{rdb: rdb, keyPrefix: prefix, breakConn: func(t *testing.T) {
			var mu sync.Mutex
			killed := 0
			err := eachServer(t.Context(), admin, func(ctx context.Context, c redis.UniversalClient) error {
				list, err := c.ClientList(ctx).Result()
				if err != nil {
					return err
				}
				for _, line := range strings.Split(list, "\n") {
					if !strings.Contains(line, " name="+name+" ") {
						continue
					}
					for _, field := range strings.Fields(line) {
						if id, ok := strings.CutPrefix(field, "id="); ok {
							if err := c.Do(ctx, "client", "kill", "id", id).Err(); err != nil {
								return err
							}
							mu.Lock()
							killed++
							mu.Unlock()
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if killed == 0 {
				t.Fatalf("no connection named %s to break", name)
			}
		}}
	}
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return batcherBackend{rdb: rdb, keyPrefix: prefix, breakConn: func(t *testing.T) {
		m.Close()
		if err := m.Restart(); err != nil {
			t.Fatal(err)
		}
	}}
}

// hangGuard bounds waitForValue: only a broken test should reach it, not
// a loaded CI machine under -race (a one-second bound is a timing
// assumption).
const hangGuard = 30 * time.Second

// waitForValue polls until key holds want, for a write sent in the
// background.
func waitForValue(t *testing.T, rdb redis.UniversalClient, key, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := rdb.Get(t.Context(), key).Result()
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q (err %v) after %v, want %q", key, got, err, within, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// A write nobody waits for goes out on its own when no awaited command
// comes to carry it.
func TestBatcherDeferredWriteGoesOutAlone(t *testing.T) {
	be := newBatcherBackend(t)
	b := newBatcher(be.rdb, bottest.Logger(t))
	t.Cleanup(b.close)
	key := be.keyPrefix + "alone"
	if err := b.send(t.Context(), redis.NewStatusCmd(t.Context(), "set", key, "v")); err != nil {
		t.Fatal(err)
	}
	waitForValue(t, be.rdb, key, "v", hangGuard)
}

// Close sends what was accepted before it, so a result handed to Finish
// just before shutdown is not lost.
func TestBatcherCloseFlushesDeferredWrites(t *testing.T) {
	be := newBatcherBackend(t)
	b := newBatcher(be.rdb, bottest.Logger(t))
	key := be.keyPrefix + "flush"
	for i := range 3 {
		if err := b.send(t.Context(), redis.NewStatusCmd(t.Context(), "rpush", key, i)); err != nil {
			t.Fatal(err)
		}
	}
	b.close()
	got, err := be.rdb.LRange(t.Context(), key, 0, -1).Result()
	if err != nil || len(got) != 3 {
		t.Fatalf("after close: %v (err %v), want the 3 writes sent before it", got, err)
	}
	if err := b.send(t.Context(), redis.NewStatusCmd(t.Context(), "rpush", key, "late")); err == nil {
		t.Error("send after close was accepted")
	}
}

// The worker keeps its connection between pipelines; when the connection
// breaks, the commands on it fail and the next pipeline dials again.
func TestBatcherRedialsAfterBrokenConnection(t *testing.T) {
	be := newBatcherBackend(t)
	b := newBatcher(be.rdb, bottest.Logger(t))
	t.Cleanup(b.close)
	key := be.keyPrefix + "redial"
	set := func(v string) error {
		cmd := redis.NewStatusCmd(t.Context(), "set", key, v)
		b.do(t.Context(), cmd)
		return cmd.Err()
	}
	if err := set("before"); err != nil {
		t.Fatal(err)
	}
	be.breakConn(t)
	// The first command after the break may meet the dead connection.
	var err error
	for range 2 {
		if err = set("after"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("set after the connection broke: %v", err)
	}
	waitForValue(t, be.rdb, key, "after", hangGuard)
}
