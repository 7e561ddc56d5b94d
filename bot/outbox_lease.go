package bot

import (
	"context"
	"sync"
	"time"
)

// releaseUnstarted gives back claimed rows a stopping worker will not
// send. A failure is logged: the rows then go out after their lease.
func (o *Outbox) releaseUnstarted(ctx context.Context, items []OutboxItem, l *rowLeases) {
	for _, it := range items {
		l.release(it.ID) // no more renewals for them
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := o.store.Release(rctx, items, o.cfg.Now())
	if err != nil {
		o.cfg.Logger.WarnContext(ctx, "outbox release failed; the rows go out after their lease", "rows", len(items), "err", err)
		return
	}
	o.cfg.Logger.InfoContext(ctx, "outbox stopping: claimed rows released", "rows", len(items), "released", n)
}

// rowLeases renews the lease of claimed rows that are still being worked
// on, and knows until when each is surely this worker's. Rows claimed at
// different times (Run claims as slots free) share one renewal timer.
type rowLeases struct {
	o    *Outbox
	ctx  context.Context
	mu   sync.Mutex
	held map[int64]heldRow
	t    *time.Timer
	done bool
}

type heldRow struct {
	it  OutboxItem
	end time.Time // the lease end last written, by the Outbox's clock
}

func (o *Outbox) holdLease(ctx context.Context) *rowLeases {
	l := &rowLeases{o: o, ctx: context.WithoutCancel(ctx), held: map[int64]heldRow{}}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t = time.AfterFunc(o.cfg.Lease/3, l.renew)
	return l
}

// add holds newly claimed rows, whose lease ends at end.
func (l *rowLeases) add(items []OutboxItem, end time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, it := range items {
		l.held[it.ID] = heldRow{it: it, end: end}
	}
}

func (l *rowLeases) renew() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	defer l.t.Reset(l.o.cfg.Lease / 3)
	if len(l.held) == 0 {
		return
	}
	items := make([]OutboxItem, 0, len(l.held))
	for _, h := range l.held {
		items = append(items, h.it)
	}
	end := l.o.cfg.Now().Add(l.o.cfg.Lease)
	ctx, cancel := context.WithTimeout(l.ctx, l.o.cfg.Lease/3)
	n, err := l.o.store.Extend(ctx, items, end)
	cancel()
	if err != nil {
		l.o.cfg.Logger.WarnContext(l.ctx, "outbox lease renewal failed; will try again", "rows", len(items), "err", err)
		return
	}
	if n < len(items) {
		// Rows that left pending meanwhile (marked elsewhere) or were
		// claimed by another worker after this lease ran out.
		l.o.cfg.Logger.WarnContext(l.ctx, "outbox lease renewal kept fewer rows than held", "held", len(items), "kept", n)
	}
	for id, h := range l.held {
		h.end = end
		l.held[id] = h
	}
}

// remaining is how long row id is surely this worker's.
func (l *rowLeases) remaining(id int64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.held[id]
	if !ok {
		return 0
	}
	return h.end.Sub(l.o.cfg.Now())
}

func (l *rowLeases) release(id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.held, id)
}

func (l *rowLeases) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	l.t.Stop()
}

// leaseMargin is kept between the end of a send (or of recording its
// outcome) and the end of the lease: the clocks of the database and of
// the replicas differ a little, and the next claim must not see the row
// as due. A tenth of the lease, at most a second.
func (o *Outbox) leaseMargin() time.Duration { return min(time.Second, o.cfg.Lease/10) }
