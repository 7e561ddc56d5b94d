package redisstore

import (
	"context"
	"fmt"

	"github.com/siyu-bot/siyu/bot"
)

// Ping reports whether Redis answers; /readyz asks it. Errors wrap
// bot.ErrUnavailable.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore.Ping: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}
