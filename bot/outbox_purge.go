package bot

import (
	"context"
	"log/slog"
	"time"
)

// Purging sent outbox rows: they answer "was it sent?" for the console
// during SIYU_OUTBOX_RETENTION, then only make every query on the table
// slower.
const (
	// purgeEvery is how often a replica purges: an hour's worth of sent
	// rows is a short purge.
	purgeEvery = time.Hour
	// purgeFirst is the wait before the first purge, so a replica's start
	// is not also its busiest minute.
	purgeFirst = time.Minute
	// purgeBatch rows per DELETE: a statement holds few locks for
	// milliseconds, so sends marked meanwhile do not wait.
	purgeBatch = 1000
)

// Locker takes a named lock shared by the replicas (redisstore.Client).
type Locker interface {
	Lock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
}

// SentPurger deletes sent rows (sqlstore.Outbox).
type SentPurger interface {
	// PurgeSent deletes rows sent before before, batch rows per
	// statement, and returns how many it deleted.
	PurgeSent(ctx context.Context, before time.Time, batch int) (int64, error)
}

// OutboxPurger deletes sent outbox rows older than Retention, hourly, on
// one replica at a time.
type OutboxPurger struct {
	Outbox    SentPurger
	Locks     Locker
	Retention time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
}

// Run purges until ctx ends.
func (p OutboxPurger) Run(ctx context.Context) {
	wait := time.NewTimer(purgeFirst)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		p.Purge(ctx)
		wait.Reset(purgeEvery)
	}
}

// Purge deletes the rows sent before the retention, unless another
// replica is doing it.
func (p OutboxPurger) Purge(ctx context.Context) {
	// Held for less than the period, so a replica that died mid-purge
	// does not stop the next one.
	release, ok, err := p.Locks.Lock(ctx, "outbox-purge", purgeEvery/2)
	if err != nil {
		p.Logger.WarnContext(ctx, "outbox purge skipped: no lock", "err", err)
		return
	}
	if !ok {
		return // another replica purges
	}
	defer release()
	n, err := p.Outbox.PurgeSent(ctx, p.Now().Add(-p.Retention), purgeBatch)
	if err != nil {
		p.Logger.WarnContext(ctx, "outbox purge stopped; the next one goes on", "purged", n, "err", err)
		return
	}
	if n > 0 {
		p.Logger.InfoContext(ctx, "outbox: sent rows purged", "rows", n, "older_than", p.Retention.String())
	}
}
