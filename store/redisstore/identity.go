package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/identity"
)

// IdentityLinks carries bot/identity's announcements between replicas:
// Redis pub/sub on one channel under the client's prefix. A message is
// the user's digest in hex, "1" (linked) or "0" (checked, none), and the
// announcing replica's id, so no customer id passes through Redis.
// Pub/sub costs the replicas nothing per callback; what it can lose
// (messages sent while a subscriber's connection is down) bot/identity
// makes up for by reloading its index when Listen reports the gap.
type IdentityLinks struct {
	rdb     redis.UniversalClient
	channel string
	log     *slog.Logger
	// idle is how long Listen waits for a message before it pings, and
	// then for the answer before it takes the connection for dead: a
	// subscriber otherwise only reads, and would not notice a Redis that
	// vanished without closing the connection.
	idle time.Duration
}

// Interface guard.
var _ identity.Announcer = (*IdentityLinks)(nil)

// NewIdentityLinks returns the announcer on c.
func NewIdentityLinks(c *Client) *IdentityLinks {
	return &IdentityLinks{rdb: c.rdb, channel: c.key("identity", "links"), log: c.log, idle: 15 * time.Second}
}

// Announce implements identity.Announcer.
func (l *IdentityLinks) Announce(ctx context.Context, a identity.Announcement) error {
	flag := "0"
	if a.Linked {
		flag = "1"
	}
	if err := l.rdb.Publish(ctx, l.channel, a.Digest.String()+flag+a.From).Err(); err != nil {
		return fmt.Errorf("redisstore.IdentityLinks.Announce: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// parseAnnouncement reads a message Announce wrote.
func parseAnnouncement(payload string) (identity.Announcement, bool) {
	const n = 2 * len(identity.Digest{})
	if len(payload) < n+1 {
		return identity.Announcement{}, false
	}
	d, ok := identity.ParseDigest(payload[:n])
	if !ok || payload[n] != '0' && payload[n] != '1' {
		return identity.Announcement{}, false
	}
	return identity.Announcement{Digest: d, Linked: payload[n] == '1', From: payload[n+1:]}, true
}

// Listen implements identity.Announcer: it subscribes, and after a
// broken connection subscribes again on a new one, waiting 1 s, then
// longer up to 30 s while Redis stays away.
func (l *IdentityLinks) Listen(ctx context.Context, heard func(identity.Announcement), listening func(bool)) {
	const maxWait = 30 * time.Second
	wait := time.Second
	for ctx.Err() == nil {
		if l.listen(ctx, heard, listening) {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}

// listen runs one subscription until its connection breaks or ctx ends,
// and reports whether it was listening.
func (l *IdentityLinks) listen(ctx context.Context, heard func(identity.Announcement), listening func(bool)) (up bool) {
	ps := l.rdb.Subscribe(ctx, l.channel)
	// Receive does not return when ctx ends; closing the subscription
	// makes it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	defer ps.Close()
	defer func() {
		if up {
			listening(false)
		}
	}()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, l.idle)
		if err != nil {
			if ctx.Err() != nil {
				return up
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err := ps.Ping(ctx); err == nil {
					pinged = true
					continue
				}
			}
			if up {
				l.log.WarnContext(ctx, "redisstore: identity announcements lost their connection; subscribing again", "err", err)
			}
			return up
		}
		pinged = false // anything read proves the connection
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == l.channel && !up {
				up = true
				listening(true)
			}
		case *redis.Message:
			if a, ok := parseAnnouncement(m.Payload); ok {
				heard(a)
			}
		}
	}
}
