package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot"
)

// dailyTTL keeps a day's counts for a week after it: the console shows
// today against the days before.
const dailyTTL = 8 * 24 * time.Hour

// DailyCounts counts named events per day in one Redis hash a day,
// shared by every replica: which rules and intents answered, how many
// messages fell to the fallback, coupons refused for want of stock. A
// count is one HINCRBY; reading a day is one HGETALL.
type DailyCounts struct{ c *Client }

// NewDailyCounts returns the day counters kept in c.
func NewDailyCounts(c *Client) *DailyCounts { return &DailyCounts{c: c} }

func (d *DailyCounts) key(day string) string { return d.c.key("daily", day) }

// Add counts n under each field on day ("20261126").
func (d *DailyCounts) Add(ctx context.Context, day string, fields ...string) error {
	if len(fields) == 0 {
		return nil
	}
	k := d.key(day)
	_, err := d.c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, f := range fields {
			p.HIncrBy(ctx, k, f, 1)
		}
		p.Expire(ctx, k, dailyTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore.DailyCounts.Add: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// Day returns day's counts by field.
func (d *DailyCounts) Day(ctx context.Context, day string) (map[string]int, error) {
	m, err := d.c.rdb.HGetAll(ctx, d.key(day)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore.DailyCounts.Day: %w: %w", bot.ErrUnavailable, err)
	}
	out := make(map[string]int, len(m))
	for f, v := range m {
		n, _ := strconv.Atoi(v)
		out[f] = n
	}
	return out, nil
}
