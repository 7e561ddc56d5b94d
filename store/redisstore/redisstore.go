// Package redisstore implements siyu's shared short-lived state on Redis
// through go-redis v9: the callback Deduper, the SDK's access-token cache,
// locks, counters and boards. It runs on a single Redis server, on one
// found through Sentinel, or on a Redis Cluster (see README.md for the key
// scheme that makes every script's keys share a cluster slot). With no
// URL it runs an in-process miniredis, so a single replica (or a test)
// needs no Redis server.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strings"
	"sync"
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
	rdb  redis.UniversalClient
	mini *miniredis.Miniredis // nil unless embedded
	// embeddedPassword is the embedded server's random password.
	embeddedPassword string
	prefix           string
	log              *slog.Logger
	unlock           *redis.Script
	batch            *batcher
	// mode is how Open reaches Redis: modeSingle, modeCluster or
	// modeSentinel.
	mode string
	// master names the Sentinel master (modeSentinel only).
	master string
}

// How Open reaches Redis.
const (
	modeSingle   = "single"
	modeCluster  = "cluster"
	modeSentinel = "sentinel"
)

// Option changes how Open sets up a Client.
type Option func(*Client)

// WithPrefix replaces DefaultPrefix; tests use it to isolate themselves
// in a shared Redis. A prefix may hold no hash tag ({…}), or one that
// is complete and not empty (then every key is in one cluster slot).
func WithPrefix(prefix string) Option {
	return func(c *Client) { c.prefix = prefix }
}

// Cluster makes Open read its URL as a Redis Cluster's, in go-redis's
// ParseClusterURL form: redis://[user:password@]host:port?addr=host:port&addr=…
// (any of the nodes; the client learns the rest). REDIS_CLUSTER=1 selects it.
func Cluster() Option {
	return func(c *Client) { c.mode = modeCluster }
}

// Sentinel makes Open find the master named master through Redis
// Sentinel, reading its URL in go-redis's ParseFailoverURL form: the
// URL's host and its addr parameters are the sentinels, its user and
// password the sentinels' own, and a password parameter the master's
// (redis://[:sentinel-password@]s1:26379?addr=s2:26379&password=…).
// REDIS_SENTINEL_MASTER selects it.
func Sentinel(master string) Option {
	return func(c *Client) { c.mode, c.master = modeSentinel, master }
}

// unlockScript deletes a lock only if it still holds the caller's token,
// so a holder whose lease ran out cannot delete its successor's lock.
const unlockScript = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`

// Open connects to the Redis at url (redis:// or rediss://, as parsed by
// redis.ParseURL, or by ParseClusterURL or ParseFailoverURL with the
// Cluster or Sentinel option), or starts an embedded miniredis when url
// is empty. A nil logger discards. Errors wrap bot.ErrInvalid for a bad
// URL or options and bot.ErrUnavailable when Redis does not answer.
func Open(ctx context.Context, url string, logger *slog.Logger, opts ...Option) (*Client, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{prefix: DefaultPrefix, log: logger, unlock: redis.NewScript(unlockScript), mode: modeSingle}
	for _, o := range opts {
		o(c)
	}
	if !validPrefix(c.prefix) {
		return nil, fmt.Errorf("redisstore.Open: prefix %q holds an incomplete or empty hash tag: %w", c.prefix, bot.ErrInvalid)
	}
	if url == "" {
		if c.mode != modeSingle {
			return nil, fmt.Errorf("redisstore.Open: %s needs a URL: %w", c.mode, bot.ErrInvalid)
		}
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
	var addrs []string
	switch c.mode {
	case modeCluster:
		o, err := redis.ParseClusterURL(url)
		if err != nil {
			// The parse error may quote the URL, password included.
			return nil, fmt.Errorf("redisstore.Open: invalid REDIS_URL for a cluster: %w", bot.ErrInvalid)
		}
		// ParseClusterURL ignores a database number; a cluster has only
		// database 0, so another would silently not be the one asked for.
		if u, err := neturl.Parse(url); err != nil || (u.Path != "" && u.Path != "/" && u.Path != "/0") {
			return nil, fmt.Errorf("redisstore.Open: a cluster has only database 0; REDIS_URL names another: %w", bot.ErrInvalid)
		}
		c.rdb, addrs = newClusterClient(o), o.Addrs
	case modeSentinel:
		o, err := redis.ParseFailoverURL(url)
		if err != nil {
			return nil, fmt.Errorf("redisstore.Open: invalid REDIS_URL for Sentinel: %w", bot.ErrInvalid)
		}
		if c.master == "" {
			return nil, fmt.Errorf("redisstore.Open: Sentinel without a master name: %w", bot.ErrInvalid)
		}
		o.MasterName = c.master
		c.rdb, addrs = redis.NewFailoverClient(o), o.SentinelAddrs
	default:
		o, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("redisstore.Open: invalid REDIS_URL: %w", bot.ErrInvalid)
		}
		c.rdb, addrs = redis.NewClient(o), []string{o.Addr}
	}
	where := strings.Join(addrs, ",")
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		_ = c.rdb.Close()
		return nil, fmt.Errorf("redisstore.Open %s %s: %w: %w", c.mode, where, bot.ErrUnavailable, err)
	}
	c.batch = newBatcher(c.rdb, logger)
	logger.InfoContext(ctx, "redisstore: connected", "mode", c.mode, "addrs", where, "master", c.master)
	return c, nil
}

// validPrefix reports whether keys under prefix keep the cluster slot
// their own hash tag gives them, or all share the prefix's: a prefix
// with no '{', or whose first '{' is closed by a '}' with something
// between them. An unclosed or empty tag in the prefix would make Redis
// hash parts of the key name that differ between keys of one script.
func validPrefix(prefix string) bool {
	open := strings.IndexByte(prefix, '{')
	if open < 0 {
		return true
	}
	end := strings.IndexByte(prefix[open+1:], '}')
	return end > 0
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
// "lock"): for keys that no script or multi-key command uses together.
func (c *Client) key(ns, name string) string { return c.prefix + ns + ":" + name }

// tagged returns the full key of name in group of namespace ns, for keys
// that one script or multi-key command touches together: the hash tag
// {ns:group} puts the group's keys in one Redis Cluster slot (and one
// node of a proxy-based cloud cluster). The tag is never empty, and a
// '}' in group only shortens it alike for every key of the group.
func (c *Client) tagged(ns, group, name string) string {
	return c.prefix + "{" + ns + ":" + group + "}:" + name
}

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

// ForEachKey calls fn with every key matching match (a SCAN pattern, such
// as Prefix()+"*"), on every master of a cluster, and stops at fn's first
// error. Keys written or deleted meanwhile may be missed or seen twice,
// as with SCAN. Errors wrap bot.ErrUnavailable, or are fn's.
func (c *Client) ForEachKey(ctx context.Context, match string, fn func(ctx context.Context, key string) error) error {
	scan := func(ctx context.Context, node redis.UniversalClient) error {
		// A large COUNT: a shared Redis may hold many other keys.
		iter := node.Scan(ctx, 0, match, 1000).Iterator()
		for iter.Next(ctx) {
			if err := fn(ctx, iter.Val()); err != nil {
				return err
			}
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("redisstore.ForEachKey %s: %w: %w", match, bot.ErrUnavailable, err)
		}
		return nil
	}
	cc, ok := c.rdb.(*redis.ClusterClient)
	if !ok {
		return scan(ctx, c.rdb)
	}
	// ForEachMaster calls its function on every master at once; fn is
	// called one key at a time all the same.
	var (
		mu    sync.Mutex
		fnErr error
	)
	inner := fn
	fn = func(ctx context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		if fnErr == nil {
			fnErr = inner(ctx, key)
		}
		return fnErr
	}
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) })
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil && !errors.Is(err, bot.ErrUnavailable):
		// The cluster's layout could not be read.
		return fmt.Errorf("redisstore.ForEachKey %s: %w: %w", match, bot.ErrUnavailable, err)
	}
	return err
}
