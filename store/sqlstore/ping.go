package sqlstore

import (
	"context"
	"fmt"

	"github.com/siyu-bot/siyu/bot"
)

// Ping reports whether the database answers; /readyz asks it. Errors wrap
// bot.ErrUnavailable.
func (db *DB) Ping(ctx context.Context) error {
	sqlDB, err := db.gorm.DB()
	if err == nil {
		err = sqlDB.PingContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("sqlstore.Ping: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}
