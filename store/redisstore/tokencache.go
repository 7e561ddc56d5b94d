package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/cache"
	"github.com/siyu-bot/siyu/bot"
)

// TokenCache is the silenceper/wechat SDK's cache (access tokens, JS
// tickets) on Redis, shared by all replicas. It honours what the SDK
// assumes of a cache: Get returns a string or an untyped nil, never
// []byte (the SDK asserts val.(string)) and never "" for a miss (the
// WeCom token code would use "" as the token). Get and IsExist cannot
// report errors; they log them, without the value, and report a miss.
type TokenCache struct {
	c     *Client
	onSet func(key string)
}

// Interface guards.
var _ cache.ContextCache = (*TokenCache)(nil)

// NewTokenCache returns a TokenCache storing its keys in c.
func NewTokenCache(c *Client) *TokenCache { return &TokenCache{c: c} }

// OnSet calls f with the key of every token stored: a token is stored
// when it was fetched from the platform, so metrics count refreshes.
// Call it before the cache is used.
func (t *TokenCache) OnSet(f func(key string)) { t.onSet = f }

// Get returns the cached string, or nil.
func (t *TokenCache) Get(key string) any { return t.GetContext(context.Background(), key) }

// Set caches val for timeout.
func (t *TokenCache) Set(key string, val any, timeout time.Duration) error {
	return t.SetContext(context.Background(), key, val, timeout)
}

// IsExist reports whether key is cached.
func (t *TokenCache) IsExist(key string) bool { return t.IsExistContext(context.Background(), key) }

// Delete forgets key.
func (t *TokenCache) Delete(key string) error { return t.DeleteContext(context.Background(), key) }

// GetContext returns the cached string, or nil on a miss or an error.
func (t *TokenCache) GetContext(ctx context.Context, key string) any {
	v, err := t.c.rdb.Get(ctx, t.c.key("token", key)).Result()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			t.c.log.WarnContext(ctx, "redisstore: token cache get failed; treating as a miss", "key", key, "err", err)
		}
		return nil
	}
	return v
}

// SetContext caches val, a string or []byte, for timeout. A timeout
// under a millisecond is refused (bot.ErrInvalid): a token without expiry
// would be served long after the platform revoked it.
func (t *TokenCache) SetContext(ctx context.Context, key string, val any, timeout time.Duration) error {
	var s string
	switch v := val.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("redisstore.TokenCache.Set %s: value of type %T: %w", key, val, bot.ErrInvalid)
	}
	if timeout < time.Millisecond {
		return fmt.Errorf("redisstore.TokenCache.Set %s: timeout %v: %w", key, timeout, bot.ErrInvalid)
	}
	if err := t.c.rdb.Set(ctx, t.c.key("token", key), s, timeout).Err(); err != nil {
		return fmt.Errorf("redisstore.TokenCache.Set %s: %w: %w", key, bot.ErrUnavailable, err)
	}
	if t.onSet != nil {
		t.onSet(key)
	}
	return nil
}

// IsExistContext reports whether key is cached; false on an error.
func (t *TokenCache) IsExistContext(ctx context.Context, key string) bool {
	n, err := t.c.rdb.Exists(ctx, t.c.key("token", key)).Result()
	if err != nil {
		t.c.log.WarnContext(ctx, "redisstore: token cache exists failed; treating as a miss", "key", key, "err", err)
		return false
	}
	return n > 0
}

// DeleteContext forgets key. Deleting an absent key is not an error.
func (t *TokenCache) DeleteContext(ctx context.Context, key string) error {
	if err := t.c.rdb.Del(ctx, t.c.key("token", key)).Err(); err != nil {
		return fmt.Errorf("redisstore.TokenCache.Delete %s: %w: %w", key, bot.ErrUnavailable, err)
	}
	return nil
}
