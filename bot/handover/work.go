package handover

import (
	"context"
	"time"
)

// sweepEvery is how often a replica closes the records of hand-overs
// whose quiet time passed: the pause itself ends on time in storage; only
// the record and the inbox lag, by at most this.
const sweepEvery = 30 * time.Second

// purgeEvery is how often old conversation text is purged; a day's
// retention overrun is within what "30 days" promises only if purges run
// far more often than daily.
const purgeEvery = time.Hour

// purgeBatch bounds one delete, so purging never holds the tables for
// long while callbacks write to them.
const purgeBatch = 1000

func (s *Service) runSweeper(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "handover: closing timed-out hand-overs failed; will try again", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep records the end of the hand-overs whose quiet time passed (their
// pause ran out) and returns how many it closed. Every replica may run
// it: each hand-over is closed by one.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	n := 0
	for {
		ps, err := s.cfg.Board.Expired(ctx, 100)
		if err != nil {
			return n, err
		}
		for _, p := range ps {
			if err := s.cfg.Log.Close(ctx, p.ID, EndQuiet, s.now()); err != nil {
				return n, err
			}
			n++
		}
		if len(ps) < 100 {
			return n, nil
		}
	}
}

func (s *Service) runPurger(ctx context.Context) {
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		if _, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "handover: purging old conversation text failed; will try again", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Purge deletes conversation text (and ended hand-overs) older than the
// retention, in batches, and returns how many rows it deleted.
func (s *Service) Purge(ctx context.Context) (int, error) {
	before := s.now().Add(-s.cfg.Retention)
	total := 0
	for {
		n, err := s.cfg.Purger.Purge(ctx, before, purgeBatch)
		total += n
		if err != nil || n < purgeBatch || ctx.Err() != nil {
			if total > 0 {
				s.log.InfoContext(ctx, "handover: old conversation text purged", "rows", total, "retention", s.cfg.Retention.String())
			}
			return total, err
		}
	}
}
