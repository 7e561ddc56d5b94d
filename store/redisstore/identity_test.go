package redisstore_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/identity"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// ear records what one replica's Listen reports.
type ear struct {
	mu    sync.Mutex
	heard []identity.Announcement
	state []bool
}

func (e *ear) hear(a identity.Announcement) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.heard = append(e.heard, a)
}
func (e *ear) listening(up bool) { e.mu.Lock(); defer e.mu.Unlock(); e.state = append(e.state, up) }

// until polls until cond holds on e; hangGuard bounds a failing test.
func (e *ear) until(t *testing.T, what string, cond func(e *ear) bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		e.mu.Lock()
		ok := cond(e)
		e.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestIdentityLinks: an announcement reaches every replica listening,
// unaltered; a broken connection is reported, and listening resumes on a
// new one.
func TestIdentityLinks(t *testing.T) {
	prefix := storetest.RedisPrefix(t)
	base, opts := os.Getenv("REDIS_URL"), storetest.RedisOptions()
	var m *miniredis.Miniredis
	if base == "" {
		m = miniredis.RunT(t)
		base, opts = "redis://"+m.Addr(), nil
	}
	open := func(name string) *redisstore.Client {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("client_name", name)
		u.RawQuery = q.Encode()
		c, err := redisstore.Open(t.Context(), u.String(), nil, append(opts, redisstore.WithPrefix(prefix))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	name := "siyu-t-listener-" + strings.TrimSuffix(strings.TrimPrefix(prefix, "siyu:t:"), ":")
	listener := redisstore.NewIdentityLinks(open(name))
	speakerClient := open("siyu-t-speaker")
	speaker := redisstore.NewIdentityLinks(speakerClient)

	e := &ear{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); listener.Listen(ctx, e.hear, e.listening) }()
	defer func() { cancel(); <-done }()
	e.until(t, "listening", func(e *ear) bool { return len(e.state) == 1 && e.state[0] })

	want := identity.Announcement{Digest: identity.DigestOf(bot.WeChat, "gh", "o-1"), Linked: true, From: "replica-a"}
	if err := speaker.Announce(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	e.until(t, "the announcement", func(e *ear) bool { return len(e.heard) == 1 })
	if got := e.heard[0]; got != want {
		t.Errorf("heard %+v, want %+v", got, want)
	}

	// The listener's connection breaks under it.
	if m != nil {
		m.Close()
		if err := m.Restart(); err != nil {
			t.Fatal(err)
		}
	} else {
		killClient(t, speakerClient.Redis(), name)
	}
	e.until(t, "the break, then listening again", func(e *ear) bool {
		return len(e.state) == 3 && !e.state[1] && e.state[2]
	})
	want2 := identity.Announcement{Digest: identity.DigestOf(bot.WeCom, "corp", "wm-1"), From: "replica-b"}
	if err := speaker.Announce(t.Context(), want2); err != nil {
		t.Fatal(err)
	}
	e.until(t, "the announcement after the break", func(e *ear) bool { return len(e.heard) == 2 })
	if got := e.heard[1]; got != want2 {
		t.Errorf("heard %+v, want %+v", got, want2)
	}
}

// killClient closes the server side of the connections named name, on
// every master of a cluster.
func killClient(t *testing.T, admin redis.UniversalClient, name string) {
	t.Helper()
	var (
		mu     sync.Mutex
		killed int
	)
	kill := func(ctx context.Context, c redis.UniversalClient) error {
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
	}
	var err error
	if cc, ok := admin.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error { return kill(ctx, c) })
	} else {
		err = kill(t.Context(), admin)
	}
	if err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatalf("no connection named %s to break", name)
	}
}

// TestIdentityLinksIdle: a quiet channel is pinged, not taken for a
// broken connection, and announcements still arrive after the pings.
func TestIdentityLinksIdle(t *testing.T) {
	c := storetest.Redis(t)
	l := redisstore.NewIdentityLinks(c)
	// Long enough for a pong on a loaded machine: a pong later than one
	// idle period is taken for a broken connection.
	redisstore.SetIdle(l, 100*time.Millisecond)
	e := &ear{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Listen(ctx, e.hear, e.listening) }()
	defer func() { cancel(); <-done }()
	e.until(t, "listening", func(e *ear) bool { return len(e.state) == 1 })
	time.Sleep(time.Second) // ten idle periods: pings, and their answers
	want := identity.Announcement{Digest: identity.DigestOf(bot.WeChat, "gh", "o-1"), From: "r"}
	if err := l.Announce(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	e.until(t, "the announcement", func(e *ear) bool { return len(e.heard) == 1 })
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.state) != 1 {
		t.Errorf("listening changes %v over a quiet channel, want just [true]", e.state)
	}
}
