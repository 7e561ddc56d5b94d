package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"gorm.io/gorm"
)

// MaxDepthCount bounds each count Depth makes: past it the figure only
// says "at least this many", which is all an alert needs, and a scrape
// never walks more of the index than that however far the outbox falls
// behind.
const MaxDepthCount = 100_000

// Depth returns the outbox's pending and dead rows (each counted up to
// MaxDepthCount) and the creation time of the oldest pending row (zero
// when none is pending), for the metrics an operator alerts on. Sent rows
// are not counted: there are as many as a retention's worth of traffic
// (the metrics count sends as they happen instead). Each count is a range
// of the (status, next_at) index. Errors are bot.ErrUnavailable.
func (o *Outbox) Depth(ctx context.Context) (map[bot.OutboxStatus]int, time.Time, error) {
	counts := map[bot.OutboxStatus]int{}
	for _, s := range []bot.OutboxStatus{bot.OutboxPending, bot.OutboxDead} {
		var n int64
		err := o.db.gorm.WithContext(ctx).
			Raw("SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE status = ? LIMIT ?) AS t", string(s), MaxDepthCount).
			Scan(&n).Error
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("sqlstore.Outbox.Depth: %w: %w", bot.ErrUnavailable, err)
		}
		counts[s] = int(n)
	}
	var rows []outboxRow
	err := o.db.gorm.WithContext(ctx).Select("created_at").
		Where("status = ?", string(bot.OutboxPending)).Order("created_at").Limit(1).Find(&rows).Error
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sqlstore.Outbox.Depth: %w: %w", bot.ErrUnavailable, err)
	}
	if len(rows) == 0 {
		return counts, time.Time{}, nil
	}
	return counts, rows[0].CreatedAt.UTC(), nil
}

// PurgeSent deletes the rows sent before before, batch rows per
// statement so that no statement holds many locks or a long undo log,
// until none is left or ctx ends, and returns how many it deleted. A sent
// row's next_at is when it was sent (Complete; rows sent before that
// kept their claim's lease end, seconds later), so each batch is a range
// of the (status, next_at) index. Standby rows written before before go
// too: their callback's answer carried them, and the platform's retries
// that could have asked for them ended long ago. Pending and dead rows
// are never purged: they still need sending or a person's look. Errors
// are bot.ErrInvalid (batch < 1) or bot.ErrUnavailable.
func (o *Outbox) PurgeSent(ctx context.Context, before time.Time, batch int) (int64, error) {
	if batch < 1 {
		return 0, fmt.Errorf("sqlstore.Outbox.PurgeSent: batch %d: %w", batch, bot.ErrInvalid)
	}
	before = dbTime(before)
	var total int64
	for {
		n, err := o.purgeBatch(ctx, before, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("sqlstore.Outbox.PurgeSent: %w: %w", bot.ErrUnavailable, err)
		}
		if n < int64(batch) {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("sqlstore.Outbox.PurgeSent: %w: %w", bot.ErrUnavailable, err)
		}
	}
}

func (o *Outbox) purgeBatch(ctx context.Context, before time.Time, batch int) (int64, error) {
	if o.db.dialect != DialectMySQL {
		// SQLite's DELETE takes no LIMIT unless built for it.
		res := o.db.gorm.WithContext(ctx).Exec("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status IN (?, ?) AND next_at < ? ORDER BY next_at LIMIT ?)",
			string(bot.OutboxSent), string(bot.OutboxStandby), before, batch)
		return res.RowsAffected, res.Error
	}
	var n int64
	err := o.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec("DELETE FROM outbox WHERE status IN (?, ?) AND next_at < ? ORDER BY next_at, id LIMIT ?", string(bot.OutboxSent), string(bot.OutboxStandby), before, batch)
		n = res.RowsAffected
		return res.Error
		// READ COMMITTED: no gap locks on the index range, so rows being
		// marked sent meanwhile are not held up.
	}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	return n, err
}
