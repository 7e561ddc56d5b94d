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
	"github.com/siyu-bot/siyu/bot/handover"
)

// HandoverAnnouncements carries bot/handover's announcements between
// replicas: Redis pub/sub on one channel under the client's prefix. A
// message is the conversation's digest in hex, so no customer id passes
// through Redis. What pub/sub can lose (messages sent while a
// subscriber's connection is down) bot/handover makes up for: it reads
// every pause until it has subscribed again and reloaded its index.
type HandoverAnnouncements struct {
	ch channel
}

// Interface guard.
var _ handover.Announcer = (*HandoverAnnouncements)(nil)

// NewHandoverAnnouncements returns the announcer on c.
func NewHandoverAnnouncements(c *Client) *HandoverAnnouncements {
	return &HandoverAnnouncements{ch: channel{rdb: c.rdb, name: c.key("handover", "announce"), log: c.log, idle: 15 * time.Second, what: "hand-over"}}
}

// Announce implements handover.Announcer.
func (a *HandoverAnnouncements) Announce(ctx context.Context, d handover.Digest) error {
	if err := a.ch.rdb.Publish(ctx, a.ch.name, d.String()).Err(); err != nil {
		return fmt.Errorf("redisstore.HandoverAnnouncements.Announce: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// Listen implements handover.Announcer.
func (a *HandoverAnnouncements) Listen(ctx context.Context, heard func(handover.Digest), listening func(bool)) {
	a.ch.listen(ctx, func(payload string) {
		if d, ok := handover.ParseDigest(payload); ok {
			heard(d)
		}
	}, listening)
}

// channel is one pub/sub channel a replica listens to for as long as it
// runs, for any payload: identity's and the hand-over's announcements
// both go through it.
type channel struct {
	rdb  redis.UniversalClient
	name string
	log  *slog.Logger
	// idle is how long listen waits for a message before it pings, and
	// then for the answer before it takes the connection for dead: a
	// subscriber otherwise only reads, and would not notice a Redis that
	// vanished without closing the connection.
	idle time.Duration
	what string // for the log
}

// listen calls heard with each message until ctx ends, subscribing
// again on a new connection after a broken one, waiting 1 s, then longer
// up to 30 s while Redis stays away.
func (ch channel) listen(ctx context.Context, heard func(string), listening func(bool)) {
	const maxWait = 30 * time.Second
	wait := time.Second
	for ctx.Err() == nil {
		if ch.once(ctx, heard, listening) {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}

// once runs one subscription until its connection breaks or ctx ends,
// and reports whether it was listening.
func (ch channel) once(ctx context.Context, heard func(string), listening func(bool)) (up bool) {
	ps := ch.rdb.Subscribe(ctx, ch.name)
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
		msg, err := ps.ReceiveTimeout(ctx, ch.idle)
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
				ch.log.WarnContext(ctx, "redisstore: "+ch.what+" announcements lost their connection; subscribing again", "err", err)
			}
			return up
		}
		pinged = false // anything read proves the connection
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == ch.name && !up {
				up = true
				listening(true)
			}
		case *redis.Message:
			heard(m.Payload)
		}
	}
}
