package redisstore

import (
	"context"
	"fmt"
	"time"

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
	ch channel
}

// Interface guard.
var _ identity.Announcer = (*IdentityLinks)(nil)

// NewIdentityLinks returns the announcer on c.
func NewIdentityLinks(c *Client) *IdentityLinks {
	return &IdentityLinks{ch: channel{rdb: c.rdb, name: c.key("identity", "links"), log: c.log, idle: 15 * time.Second, what: "identity"}}
}

// Announce implements identity.Announcer.
func (l *IdentityLinks) Announce(ctx context.Context, a identity.Announcement) error {
	flag := "0"
	if a.Linked {
		flag = "1"
	}
	if err := l.ch.rdb.Publish(ctx, l.ch.name, a.Digest.String()+flag+a.From).Err(); err != nil {
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
	l.ch.listen(ctx, func(payload string) {
		if a, ok := parseAnnouncement(payload); ok {
			heard(a)
		}
	}, listening)
}
