package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siyu-bot/siyu/bot"
)

// EmptyResult is what Finish stores for an empty result, and so what
// Claim returns for it: one NUL byte. An empty value marks a claim whose
// handling is still running, so an empty result cannot be stored as is.
// bot.MarshalActions never produces an empty result.
const EmptyResult = "\x00"

// Deduper is the bot.Deduper on Redis. A key holds "" while its first
// handling runs and the result once Finish stores it.
type Deduper struct {
	c *Client
}

// Interface guards.
var _ bot.Deduper = (*Deduper)(nil)

// NewDeduper returns a Deduper storing its keys in c.
func NewDeduper(c *Client) *Deduper { return &Deduper{c: c} }

// Claim and Finish go through the Client's batcher, which pipelines the
// commands of concurrent callbacks.
//
// Claim implements bot.Deduper in one round trip: SET key "" NX GET with
// the TTL sets the key only if absent and returns the previous value, if
// any (Redis ≥ 7.0; miniredis supports it too). ttl must be at least a
// millisecond (else bot.ErrInvalid): without one the key would never
// expire.
func (d *Deduper) Claim(ctx context.Context, key string, ttl time.Duration) (bool, []byte, error) {
	if ttl < time.Millisecond {
		return false, nil, fmt.Errorf("redisstore.Deduper.Claim %s: ttl %v: %w", bot.Fingerprint(key), ttl, bot.ErrInvalid)
	}
	cmd := redis.NewStringCmd(ctx, "set", d.c.key("dedupe", key), "", "px", ttl.Milliseconds(), "nx", "get")
	d.c.batch.do(ctx, cmd)
	prev, err := cmd.Result()
	switch {
	case errors.Is(err, redis.Nil):
		return true, nil, nil // the key was absent: this caller set it
	case err != nil:
		return false, nil, fmt.Errorf("redisstore.Deduper.Claim %s: %w: %w", bot.Fingerprint(key), bot.ErrUnavailable, err)
	case prev == "":
		return false, nil, nil // the first caller is still working
	default:
		return false, []byte(prev), nil
	}
}

// Finish implements bot.Deduper. An empty result is stored as
// EmptyResult. ttl must be at least a millisecond (else bot.ErrInvalid).
func (d *Deduper) Finish(ctx context.Context, key string, result []byte, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("redisstore.Deduper.Finish %s: ttl %v: %w", bot.Fingerprint(key), ttl, bot.ErrInvalid)
	}
	if len(result) == 0 {
		result = []byte(EmptyResult)
	}
	// Queued, not awaited: bot.Deduper lets Finish return before the
	// result is visible, and a callback's answer should not wait on it.
	// The batcher runs it on its own context, so ctx ending later does not
	// cancel it.
	cmd := redis.NewStatusCmd(ctx, "set", d.c.key("dedupe", key), result, "px", ttl.Milliseconds())
	if err := d.c.batch.send(cmd); err != nil {
		return fmt.Errorf("redisstore.Deduper.Finish %s: %w: %w", bot.Fingerprint(key), bot.ErrUnavailable, err)
	}
	return nil
}

// Release implements bot.Deduper. Releasing an unknown key is not an
// error.
func (d *Deduper) Release(ctx context.Context, key string) error {
	if err := d.c.rdb.Del(ctx, d.c.key("dedupe", key)).Err(); err != nil {
		return fmt.Errorf("redisstore.Deduper.Release %s: %w: %w", bot.Fingerprint(key), bot.ErrUnavailable, err)
	}
	return nil
}
