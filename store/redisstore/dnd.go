package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/dnd"
)

// DNDCounters are do-not-disturb's frequency counts (per person per day
// and week, per group per minute, the platforms' own limits) and its
// confirmation throttle, on Redis so every replica counts together. Each
// count is one key that expires after its window.
type DNDCounters struct {
	rdb redis.UniversalClient
	// counter is the prefix of the counts' keys; once the prefix of the
	// confirmation throttle's.
	counter, once string
	take          *redis.Script
}

// Interface guard.
var _ dnd.Counters = (*DNDCounters)(nil)

// NewDNDCounters returns the counters stored in c under c's prefix.
func NewDNDCounters(c *Client) *DNDCounters {
	// One Take counts against a person's, a group's and a platform
	// account's caps at once, all or none, so every count shares the hash
	// tag {dnd:n} and one cluster slot: the counts are small keys, and one
	// node serves far more takes than the platforms accept pushes.
	return &DNDCounters{rdb: c.Redis(), counter: c.tagged("dnd", "n", ""), once: c.key("dnd", "once:"), take: redis.NewScript(dndTakeScript)}
}

// dndTakeScript: KEYS the counters; ARGV[1] "1" to only look, then per
// counter its limit, ttl (ms) and pending count. It returns the 0-based
// index of the first counter at its limit, or -1 after counting one
// against every counter (unless looking). One script, so two replicas
// can never both take the last slot.
const dndTakeScript = `
local peek = ARGV[1] == '1'
for i = 1, #KEYS do
  local base = 1 + (i - 1) * 3
  local limit = tonumber(ARGV[base + 1])
  local pending = tonumber(ARGV[base + 3])
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n + pending >= limit then return i - 1 end
end
if not peek then
  for i = 1, #KEYS do
    redis.call('INCR', KEYS[i])
    if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[1 + (i - 1) * 3 + 2]) end
  end
end
return -1`

// Take implements dnd.Counters.
func (c *DNDCounters) Take(ctx context.Context, counters []dnd.Counter, pending []int, peek bool) (int, error) {
	if len(counters) == 0 {
		return -1, nil
	}
	keys := make([]string, len(counters))
	args := make([]any, 0, 1+3*len(counters))
	flag := "0"
	if peek {
		flag = "1"
	}
	args = append(args, flag)
	for i, k := range counters {
		keys[i] = c.counter + k.Key
		p := 0
		if i < len(pending) {
			p = pending[i]
		}
		args = append(args, k.Limit, max(k.TTL, time.Second).Milliseconds(), p)
	}
	n, err := c.take.Run(ctx, c.rdb, keys, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("redisstore.DNDCounters.Take: %w: %w", bot.ErrUnavailable, err)
	}
	return n, nil
}

// Once implements dnd.Counters.
func (c *DNDCounters) Once(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ok, err := c.rdb.SetNX(ctx, c.once+key, "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redisstore.DNDCounters.Once: %w: %w", bot.ErrUnavailable, err)
	}
	return ok, nil
}

// Count returns a counter's current value, for tests and staff.
func (c *DNDCounters) Count(ctx context.Context, key string) (int, error) {
	s, err := c.rdb.Get(ctx, c.counter+key).Result()
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore.DNDCounters.Count: %w: %w", bot.ErrUnavailable, err)
	}
	n, _ := strconv.Atoi(s)
	return n, nil
}
