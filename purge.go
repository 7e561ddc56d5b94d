package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/siyu-bot/siyu/store/sqlstore"
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

// locker takes a named lock shared by the replicas (redisstore.Client).
type locker interface {
	Lock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
}

// outboxPurger deletes sent outbox rows older than retention, hourly, on
// one replica at a time.
type outboxPurger struct {
	outbox    *sqlstore.Outbox
	locks     locker
	retention time.Duration
	now       func() time.Time
	logger    *slog.Logger
}

// run purges until ctx ends.
func (p outboxPurger) run(ctx context.Context) {
	wait := time.NewTimer(purgeFirst)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		p.purge(ctx)
		wait.Reset(purgeEvery)
	}
}

// purge deletes the rows sent before the retention, unless another
// replica is doing it.
func (p outboxPurger) purge(ctx context.Context) {
	// Held for less than the period, so a replica that died mid-purge
	// does not stop the next one.
	release, ok, err := p.locks.Lock(ctx, "outbox-purge", purgeEvery/2)
	if err != nil {
		p.logger.WarnContext(ctx, "outbox purge skipped: no lock", "err", err)
		return
	}
	if !ok {
		return // another replica purges
	}
	defer release()
	n, err := p.outbox.PurgeSent(ctx, p.now().Add(-p.retention), purgeBatch)
	if err != nil {
		p.logger.WarnContext(ctx, "outbox purge stopped; the next one goes on", "purged", n, "err", err)
		return
	}
	if n > 0 {
		p.logger.InfoContext(ctx, "outbox: sent rows purged", "rows", n, "older_than", p.retention.String())
	}
}
