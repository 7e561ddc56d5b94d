package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot/bottest"
)

// batcherBackend is a Redis for the batcher's own tests: the one REDIS_URL
// names, or a miniredis. breakConn drops the server side of every client
// connection but the caller's, as a restart or a network fault would.
type batcherBackend struct {
	rdb       *redis.Client
	keyPrefix string
	breakConn func(t *testing.T)
}

func newBatcherBackend(t *testing.T) batcherBackend {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "siyu:t:" + hex.EncodeToString(b[:]) + ":"
	if url := os.Getenv("REDIS_URL"); url != "" {
		o, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		// The test's connections carry a name of their own, so breaking
		// them leaves alone every other client of the shared server (other
		// packages' tests run at the same time).
		name := "siyu-test-" + hex.EncodeToString(b[:])
		admin := redis.NewClient(o)
		o.ClientName = name
		rdb := redis.NewClient(o)
		t.Cleanup(func() {
			ctx := context.Background()
			iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				rdb.Del(ctx, iter.Val())
			}
			_ = rdb.Close()
			_ = admin.Close()
		})
		return batcherBackend{rdb: rdb, keyPrefix: prefix, breakConn: func(t *testing.T) {
			list, err := admin.ClientList(t.Context()).Result()
			if err != nil {
				t.Fatal(err)
			}
			killed := 0
			defer func() {
				if killed == 0 {
					t.Fatalf("no connection named %s to break", name)
				}
			}()
			for _, line := range strings.Split(list, "\n") {
				if !strings.Contains(line, " name="+name+" ") {
					continue
				}
				for _, field := range strings.Fields(line) {
					if id, ok := strings.CutPrefix(field, "id="); ok {
						if err := admin.Do(t.Context(), "client", "kill", "id", id).Err(); err != nil {
							t.Fatal(err)
						}
						killed++
					}
				}
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
func waitForValue(t *testing.T, rdb *redis.Client, key, want string, within time.Duration) {
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
