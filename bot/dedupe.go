package bot

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// DedupeConfig tunes the Dedupe middleware.
type DedupeConfig struct {
	// TTL is how long a callback is remembered. It must outlast the
	// platforms' retries (WeChat: three within about 15 s) and the
	// adapters' replay window, or a late copy is handled twice.
	TTL time.Duration
	// Wait bounds how long a copy waits for the first handling to finish,
	// so that it can answer with the same reply; past it the copy answers
	// with nothing and leaves delivery to the first.
	Wait time.Duration
	// Poll is how often a waiting copy looks again.
	Poll time.Duration
}

func (c DedupeConfig) withDefaults() DedupeConfig {
	if c.TTL <= 0 {
		c.TTL = 2 * time.Hour
	}
	if c.Wait <= 0 {
		// Below WeChat's 5 s deadline, with room for the reply to travel.
		c.Wait = 3 * time.Second
	}
	if c.Poll <= 0 {
		c.Poll = 25 * time.Millisecond
	}
	return c
}

// Dedupe handles each callback once across retries and replicas: the first
// copy runs the wrapped handler and stores its actions; every later copy
// gets the same actions back without running it, so a retry whose first
// answer was lost is answered the same and side effects happen once.
// Callers must deliver replayed actions idempotently (Outbox keys do).
// Events without a DedupeKey pass through.
func Dedupe(d Deduper, cfg DedupeConfig, logger *slog.Logger) Middleware {
	cfg = cfg.withDefaults()
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, ev Event) ([]Action, error) {
			if ev.DedupeKey == "" {
				return next.HandleEvent(ctx, ev)
			}
			key := string(ev.Platform) + ":" + string(ev.Account) + ":" + ev.DedupeKey
			var deadline time.Time // set when a copy first has to wait
			for {
				first, result, err := d.Claim(ctx, key, cfg.TTL)
				if err != nil {
					return nil, fmt.Errorf("bot.Dedupe: %w", err)
				}
				if first {
					return handleFirst(ctx, d, cfg, logger, next, ev, key)
				}
				if result != nil {
					actions, err := UnmarshalActions(result)
					if err != nil {
						return nil, fmt.Errorf("bot.Dedupe: stored result: %w", err)
					}
					return actions, nil
				}
				if now := time.Now(); deadline.IsZero() {
					deadline = now.Add(cfg.Wait)
				} else if now.After(deadline) {
					return nil, nil
				}
				select {
				case <-ctx.Done():
					return nil, nil
				case <-time.After(cfg.Poll):
				}
			}
		})
	}
}

func handleFirst(ctx context.Context, d Deduper, cfg DedupeConfig, logger *slog.Logger, next Handler, ev Event, key string) ([]Action, error) {
	actions, err := next.HandleEvent(ctx, ev)
	if err != nil {
		// Forget the claim so the platform's retry can try again; the
		// context may be spent, so release on a fresh one.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if rerr := d.Release(rctx, key); rerr != nil {
			logger.WarnContext(ctx, "dedupe release failed", "err", rerr)
		}
		return nil, err
	}
	result, err := MarshalActions(actions)
	if err != nil {
		return nil, err
	}
	// A Deduper may queue this write rather than wait for it (Redis
	// does): a copy that arrives meanwhile polls until the result is
	// there, and the platform's own retries come seconds later.
	if err := d.Finish(ctx, key, result, cfg.TTL); err != nil {
		// The event was handled; a copy will find the claim pending and
		// answer with nothing, which is safe.
		logger.WarnContext(ctx, "dedupe finish failed", "err", err)
	}
	return actions, nil
}
