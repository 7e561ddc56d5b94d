// Package redisstore implements siyu's shared short-lived state on Redis
// through go-redis v9: the callback Deduper, the SDK's access-token cache
// and a simple lock. With no URL it runs an in-process miniredis, so a
// single replica (or a test) needs no Redis server.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/siyu-bot/siyu/bot"
)

// DefaultPrefix starts every key siyu writes, so siyu can share a Redis
// database with other programs.
const DefaultPrefix = "siyu:"

// Client is a connection to Redis (or an embedded miniredis) with siyu's
// key prefix.
type Client struct {
	rdb  *redis.Client
	mini *miniredis.Miniredis // nil unless embedded
	// embeddedPassword is the embedded server's random password.
	embeddedPassword string
	prefix           string
	log              *slog.Logger
	unlock           *redis.Script
	batch            *batcher
}

// Option changes how Open sets up a Client.
type Option func(*Client)

// WithPrefix replaces DefaultPrefix; tests use it to isolate themselves
// in a shared Redis.
func WithPrefix(prefix string) Option {
	return func(c *Client) { c.prefix = prefix }
}

// unlockScript deletes a lock only if it still holds the caller's token,
// so a holder whose lease ran out cannot delete its successor's lock.
const unlockScript = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`

// Open connects to the Redis at url (redis:// or rediss://, as parsed by
// redis.ParseURL), or starts an embedded miniredis when url is empty. A
// nil logger discards. Errors wrap bot.ErrInvalid for a bad URL and
// bot.ErrUnavailable when Redis does not answer.
func Open(ctx context.Context, url string, logger *slog.Logger, opts ...Option) (*Client, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{prefix: DefaultPrefix, log: logger, unlock: redis.NewScript(unlockScript)}
	for _, o := range opts {
		o(c)
	}
	if url == "" {
		// miniredis listens on a loopback TCP port (it has no unix
		// socket), where any local process could read the dedupe values
		// (openids) and cached access tokens, or write keys: a random
		// password, never logged, keeps them to this process.
		var pw [16]byte
		_, _ = rand.Read(pw[:]) // never fails (crypto/rand docs)
		m := miniredis.NewMiniRedis()
		m.RequireAuth(hex.EncodeToString(pw[:]))
		if err := m.Start(); err != nil {
			return nil, fmt.Errorf("redisstore.Open: embedded: %w: %w", bot.ErrUnavailable, err)
		}
		c.mini = m
		c.embeddedPassword = hex.EncodeToString(pw[:])
		c.rdb = redis.NewClient(&redis.Options{Addr: m.Addr(), Password: c.embeddedPassword})
		c.batch = newBatcher(c.rdb, logger)
		logger.InfoContext(ctx, "redisstore: using embedded miniredis; state is lost on restart and not shared between replicas", "addr", m.Addr())
		return c, nil
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, fmt.Errorf("redisstore.Open: invalid REDIS_URL: %w", bot.ErrInvalid)
	}
	c.rdb = redis.NewClient(o)
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		_ = c.rdb.Close()
		return nil, fmt.Errorf("redisstore.Open %s: %w: %w", o.Addr, bot.ErrUnavailable, err)
	}
	c.batch = newBatcher(c.rdb, logger)
	logger.InfoContext(ctx, "redisstore: connected", "addr", o.Addr, "db", o.DB)
	return c, nil
}

// Close closes the connection and stops the embedded miniredis, if any.
func (c *Client) Close() error {
	c.batch.close()
	err := c.rdb.Close()
	if c.mini != nil {
		c.mini.Close()
	}
	if err != nil {
		return fmt.Errorf("redisstore.Close: %w", err)
	}
	return nil
}

// Redis returns the underlying client. Keys written through it should
// start with Prefix.
func (c *Client) Redis() redis.UniversalClient { return c.rdb }

// Prefix returns the prefix of every key this Client writes.
func (c *Client) Prefix() string { return c.prefix }

// Embedded reports whether the Client runs on an in-process miniredis.
func (c *Client) Embedded() bool { return c.mini != nil }

// Miniredis returns the embedded server, or nil when connected to a real
// Redis. Tests use it to move the server's clock (FastForward), since
// miniredis does not expire keys by wall time.
func (c *Client) Miniredis() *miniredis.Miniredis { return c.mini }

// EmbeddedURL returns the URL another client in this process opens the
// embedded server with (a second replica in a test), password included:
// never log it. It is "" when connected to a real Redis.
func (c *Client) EmbeddedURL() string {
	if c.mini == nil {
		return ""
	}
	return "redis://:" + c.embeddedPassword + "@" + c.mini.Addr()
}

// key returns the full key of name in namespace ns ("dedupe", "token",
// "lock").
func (c *Client) key(ns, name string) string { return c.prefix + ns + ":" + name }

// Lock takes the lock named key for ttl, unless someone else holds it.
// ok is false (with a nil error) when the lock is held. release gives the
// lock up if this caller still holds it; it is safe to call more than
// once and never nil when ok. The lock expires after ttl even if release
// is never called, so ttl must outlast the work it guards. Errors wrap
// bot.ErrInvalid (ttl under a millisecond) or bot.ErrUnavailable.
func (c *Client) Lock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error) {
	if ttl < time.Millisecond {
		return nil, false, fmt.Errorf("redisstore.Lock %s: ttl %v: %w", key, ttl, bot.ErrInvalid)
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand docs)
	token := hex.EncodeToString(b[:])
	k := c.key("lock", key)
	ok, err = c.rdb.SetNX(ctx, k, token, ttl).Result()
	if err != nil {
		return nil, false, fmt.Errorf("redisstore.Lock %s: %w: %w", key, bot.ErrUnavailable, err)
	}
	if !ok {
		return nil, false, nil
	}
	release = func() {
		// The caller's context may be spent by now; one second is plenty
		// for one round trip, and the lock expires anyway.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := c.unlock.Run(rctx, c.rdb, []string{k}, token).Err(); err != nil && !errors.Is(err, redis.Nil) {
			c.log.WarnContext(rctx, "redisstore: lock release failed; it expires on its own", "lock", key, "err", err)
		}
	}
	return release, true, nil
}
