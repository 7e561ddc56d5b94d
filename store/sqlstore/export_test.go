package sqlstore

import (
	"context"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// ClaimConditional returns o's claim by conditional UPDATE, the SQLite
// path, so tests can run it on MySQL too, where connections really run
// in parallel.
func ClaimConditional(o *Outbox) func(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]bot.OutboxItem, error) {
	return func(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]bot.OutboxItem, error) {
		return o.claim(ctx, now, limit, lease, false)
	}
}

// LinkedInBatches is s.Linked reading batch rows per query, so tests
// cross batches with a few rows.
func LinkedInBatches(s *Identities, batch int) func(ctx context.Context, fn func(bot.Platform, bot.AccountID, bot.UserID)) error {
	return func(ctx context.Context, fn func(bot.Platform, bot.AccountID, bot.UserID)) error {
		return s.linked(ctx, batch, fn)
	}
}
