package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// Depth returns the outbox's rows per status and the creation time of the
// oldest pending row (zero when none is pending), for the metrics an
// operator alerts on. Errors are bot.ErrUnavailable.
func (o *Outbox) Depth(ctx context.Context) (map[bot.OutboxStatus]int, time.Time, error) {
	counts, err := o.Counts(ctx)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sqlstore.Outbox.Depth: %w", err)
	}
	var rows []outboxRow
	err = o.db.gorm.WithContext(ctx).Select("created_at").
		Where("status = ?", string(bot.OutboxPending)).Order("created_at").Limit(1).Find(&rows).Error
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sqlstore.Outbox.Depth: %w: %w", bot.ErrUnavailable, err)
	}
	if len(rows) == 0 {
		return counts, time.Time{}, nil
	}
	return counts, rows[0].CreatedAt.UTC(), nil
}
