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
// Claim returns for it: one NUL byte. An empty value, or one starting with
// leasePrefix, marks a claim whose handling is still running, so an empty
// result cannot be stored as is. bot.MarshalActions never produces an
// empty result.
const EmptyResult = "\x00"

// leasePrefix starts the value of a claim being handled; the holder's
// token follows. Results never start with it (bot stores JSON or "o").
const leasePrefix = "\x01"

// renewScript extends a lease still held under the caller's token, or
// takes the key again when the lease expired and nobody took it; a key
// that holds someone else's lease or a result is left alone. It returns 1
// when the caller holds the lease afterwards.
const renewScript = `local v = redis.call("GET", KEYS[1])
if v == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
if not v then redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2]) return 1 end
return 0`

// swapScript replaces a stored result that is still the caller's old
// one. It returns {1} when it did, else {0, what the key holds} ({0} when
// it holds nothing).
const swapScript = `local v = redis.call("GET", KEYS[1])
if v ~= ARGV[1] then return {0, v} end
redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
return {1}`

// Deduper is the bot.Deduper on Redis. A key holds leasePrefix+token,
// with a lease of seconds, while its first handling runs, and the result
// (kept for the TTL) once Finish stores it.
type Deduper struct {
	c     *Client
	renew *redis.Script
	swap  *redis.Script
}

// Interface guards.
var _ bot.Deduper = (*Deduper)(nil)

// NewDeduper returns a Deduper storing its keys in c.
func NewDeduper(c *Client) *Deduper {
	return &Deduper{c: c, renew: redis.NewScript(renewScript), swap: redis.NewScript(swapScript)}
}

// Claim and Finish go through the Client's batcher, which pipelines the
// commands of concurrent callbacks.
//
// Claim implements bot.Deduper in one round trip: SET key lease NX GET
// with the lease's expiry sets the key only if absent and returns the
// previous value, if any (Redis ≥ 7.0; miniredis supports it too). A SET
// whose pipeline timed out may still run in Redis later; its claim then
// expires with the lease. lease must be at least a millisecond (else
// bot.ErrInvalid): without one the key would never expire.
func (d *Deduper) Claim(ctx context.Context, key, token string, lease time.Duration) (bool, []byte, error) {
	if lease < time.Millisecond {
		return false, nil, fmt.Errorf("redisstore.Deduper.Claim %s: lease %v: %w", bot.Fingerprint(key), lease, bot.ErrInvalid)
	}
	cmd := redis.NewStringCmd(ctx, "set", d.c.key("dedupe", key), leasePrefix+token, "px", lease.Milliseconds(), "nx", "get")
	d.c.batch.do(ctx, cmd)
	prev, err := cmd.Result()
	switch {
	case errors.Is(err, redis.Nil):
		return true, nil, nil // the key was absent: this caller set it
	case err != nil:
		return false, nil, fmt.Errorf("redisstore.Deduper.Claim %s: %w: %w", bot.Fingerprint(key), bot.ErrUnavailable, err)
	case prev == "" || prev[:1] == leasePrefix:
		// Someone is still working ("" is a claim of a release before
		// leases, during a rolling upgrade).
		return false, nil, nil
	default:
		return false, []byte(prev), nil
	}
}

// Renew implements bot.Deduper with a script, so the check of the token
// and the new expiry are one step. lease must be at least a millisecond.
func (d *Deduper) Renew(ctx context.Context, key, token string, lease time.Duration) (bool, error) {
	if lease < time.Millisecond {
		return false, fmt.Errorf("redisstore.Deduper.Renew %s: lease %v: %w", bot.Fingerprint(key), lease, bot.ErrInvalid)
	}
	n, err := d.renew.Run(ctx, d.c.rdb, []string{d.c.key("dedupe", key)}, leasePrefix+token, lease.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore.Deduper.Renew %s: %w: %w", bot.Fingerprint(key), bot.ErrUnavailable, err)
	}
	return n == 1, nil
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
	// cancel it. Unconditional: if this handling lost its lease, the
	// other handling's result is as good as this one.
	cmd := redis.NewStatusCmd(ctx, "set", d.c.key("dedupe", key), result, "px", ttl.Milliseconds())
	if err := d.c.batch.send(ctx, cmd); err != nil {
		return fmt.Errorf("redisstore.Deduper.Finish %s: %w: %w", bot.Fingerprint(key), bot.ErrUnavailable, err)
	}
	return nil
}

// Release implements bot.Deduper: it deletes the key only while it holds
// the caller's lease. Releasing an unknown key is not an error.
func (d *Deduper) Release(ctx context.Context, key, token string) error {
	if err := d.c.unlock.Run(ctx, d.c.rdb, []string{d.c.key("dedupe", key)}, leasePrefix+token).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore.Deduper.Release %s: %w: %w", bot.Fingerprint(key), bot.ErrUnavailable, err)
	}
	return nil
}

// Swap implements bot.Deduper with a script, so the comparison and the
// write are one step. It is not pipelined: it sees a queued Finish once
// that is written, which a Claim that returned its result shows. A key
// that holds a lease holds no result: current is nil. ttl must be at
// least a millisecond.
func (d *Deduper) Swap(ctx context.Context, key string, old, result []byte, ttl time.Duration) ([]byte, bool, error) {
	if ttl < time.Millisecond {
		return nil, false, fmt.Errorf("redisstore.Deduper.Swap %s: ttl %v: %w", bot.Fingerprint(key), ttl, bot.ErrInvalid)
	}
	if len(result) == 0 {
		result = []byte(EmptyResult)
	}
	v, err := d.swap.Run(ctx, d.c.rdb, []string{d.c.key("dedupe", key)}, old, result, ttl.Milliseconds()).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("redisstore.Deduper.Swap %s: %w: %w", bot.Fingerprint(key), bot.ErrUnavailable, err)
	}
	if n, _ := v[0].(int64); n == 1 {
		return nil, true, nil
	}
	if len(v) < 2 {
		return nil, false, nil // gone
	}
	cur, _ := v[1].(string)
	if cur == "" || cur[:1] == leasePrefix {
		return nil, false, nil // claimed again: no result
	}
	return []byte(cur), false, nil
}
