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
// messages fell to the fallback, coupons refused for want of stock. The
// counts gathered meanwhile are one HINCRBY a field; reading a day is
// one HGETALL.
type DailyCounts struct{ c *Client }

// NewDailyCounts returns the day counters kept in c.
func NewDailyCounts(c *Client) *DailyCounts { return &DailyCounts{c: c} }

func (d *DailyCounts) key(day string) string { return d.c.key("daily", day) }

// Add adds each field's count on day ("20261126").
func (d *DailyCounts) Add(ctx context.Context, day string, counts map[string]int) error {
	if len(counts) == 0 {
		return nil
	}
	k := d.key(day)
	_, err := d.c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for f, n := range counts {
			p.HIncrBy(ctx, k, f, int64(n))
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
