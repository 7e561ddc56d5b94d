package bot

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// DedupeConfig tunes the Dedupe middleware.
type DedupeConfig struct {
	// TTL is how long a handled callback's result is remembered. It must
	// outlast the platforms' retries (WeChat: three within about 15 s) and
	// the adapters' replay window, or a late copy is handled twice.
	TTL time.Duration
	// Lease is how long a claim lives unless renewed; it is renewed every
	// third of it while the handling runs. A replica that dies mid-callback
	// leaves a claim that expires within Lease, so the platform's next
	// retry is handled afresh.
	Lease time.Duration
	// Wait bounds how long a copy waits for the first handling to finish,
	// so that it can answer with the same reply; past it the copy fails
	// with ErrUnavailable and the platform retries.
	Wait time.Duration
	// Poll is how often a waiting copy looks again.
	Poll time.Duration
	// OnHit, when set, is told of every copy answered from a stored
	// result, with the copy's context (metrics).
	OnHit func(ctx context.Context)
}

func (c DedupeConfig) withDefaults() DedupeConfig {
	if c.TTL <= 0 {
		c.TTL = 2 * time.Hour
	}
	if c.Lease <= 0 {
		// WeChat retries every 5 s: a dead replica's claim is gone by the
		// next retry or while it waits (Wait), and renewals every 2 s ride
		// out a Redis stall of up to 4 s.
		c.Lease = 6 * time.Second
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

// Delivery says how a handled callback's actions reached the platform.
// Dedupe stores it with the result so that a retry never delivers them a
// second way.
type Delivery uint8

const (
	// DeliveryPassive: the callback's answer carried the reply (the rest
	// went to the outbox under the event's key). A retry means the answer
	// was lost, so it gets the same actions to answer with again.
	DeliveryPassive Delivery = iota
	// DeliveryOutbox: every action went to the outbox; the callback was
	// only acknowledged. A retry gets no actions and only acknowledges.
	DeliveryOutbox
)

// AnswerWindow settles, once, a race between a callback's reply budget
// and its handling: either the budget runs out first (Close: the adapter
// acknowledges at once and sends everything through the outbox) or the
// handling finishes first (Seal: the answer carries the reply). An adapter
// that can answer passively puts one in the context with WithAnswerWindow;
// Dedupe seals it just before it stores the result, so the stored result
// says how it was delivered. The zero value is ready; nil seals as
// DeliveryPassive.
type AnswerWindow struct {
	mu     sync.Mutex
	closed bool
	sealed bool
	// replayed: Dedupe answered with another handling's stored result,
	// which that handling's own callback answer carried.
	replayed bool
}

// replayPassive records that Dedupe answered the callback with the stored
// result of another handling delivered DeliveryPassive.
func (w *AnswerWindow) replayPassive() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.replayed = true
}

// AnsweredElsewhere reports whether Dedupe gave this callback the stored
// result of another handling whose own callback answer carried the reply
// (DeliveryPassive). An adapter whose window closed meanwhile (it
// acknowledged without the reply) must not send that reply another way:
// the other answer has it, and a platform that lost that answer retries.
// The other actions went to the outbox under the event's key, so queueing
// them again is harmless.
func (w *AnswerWindow) AnsweredElsewhere() bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.replayed
}

// Close ends the window because the budget ran out. It reports whether it
// did: false when the handling was sealed first, and the adapter is about
// to answer with its reply.
func (w *AnswerWindow) Close() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sealed {
		return false
	}
	w.closed = true
	return true
}

// Seal settles the delivery: DeliveryOutbox if the window was closed,
// else DeliveryPassive, after which Close reports false. Later calls
// return the same.
func (w *AnswerWindow) Seal() Delivery {
	if w == nil {
		return DeliveryPassive
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return DeliveryOutbox
	}
	w.sealed = true
	return DeliveryPassive
}

type answerWindowKey struct{}

// WithAnswerWindow returns ctx carrying w, for Dedupe to seal.
func WithAnswerWindow(ctx context.Context, w *AnswerWindow) context.Context {
	return context.WithValue(ctx, answerWindowKey{}, w)
}

// AnswerWindowFrom returns the window in ctx, or nil.
func AnswerWindowFrom(ctx context.Context) *AnswerWindow {
	w, _ := ctx.Value(answerWindowKey{}).(*AnswerWindow)
	return w
}

// outboxResult is the stored result of a callback delivered through the
// outbox: a retry needs no actions, only to acknowledge. Results of
// passive deliveries are MarshalActions JSON, which never starts with 'o'.
const outboxResult = "o"

// Dedupe handles each callback once across retries and replicas: the first
// copy claims it with a short lease, renewed while the wrapped handler
// runs, and stores its result when done; every later copy gets the same
// actions back without running it (none when they went through the
// outbox), so a retry whose first answer was lost is answered the same and
// side effects happen once. A claim whose holder dies expires within
// cfg.Lease and a later copy handles the callback afresh. Callers must
// deliver replayed actions idempotently (Outbox keys do). Events without a
// DedupeKey pass through.
func Dedupe(d Deduper, cfg DedupeConfig, logger *slog.Logger) Middleware {
	cfg = cfg.withDefaults()
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, ev Event) ([]Action, error) {
			if ev.DedupeKey == "" {
				return next.HandleEvent(ctx, ev)
			}
			key := string(ev.Platform) + ":" + string(ev.Account) + ":" + ev.DedupeKey
			// The token tells this handling's lease from a later one's, so
			// a renewal or release never touches a claim it lost.
			token := strconv.FormatUint(rand.Uint64(), 36)
			var deadline time.Time // set when a copy first has to wait
			for {
				first, result, err := d.Claim(ctx, key, token, cfg.Lease)
				if err != nil {
					return nil, fmt.Errorf("bot.Dedupe: %w", err)
				}
				if first {
					return handleFirst(ctx, d, cfg, logger, next, ev, key, token)
				}
				if result != nil {
					if string(result) != outboxResult {
						AnswerWindowFrom(ctx).replayPassive()
					}
					if cfg.OnHit != nil {
						cfg.OnHit(ctx)
					}
					return decodeResult(result)
				}
				if now := time.Now(); deadline.IsZero() {
					deadline = now.Add(cfg.Wait)
				} else if now.After(deadline) {
					// The holder is alive (it renews its lease) but slow;
					// failing makes the platform retry, and a retry after
					// the holder died is handled afresh.
					logger.WarnContext(ctx, "dedupe: gave up waiting for another handling of the callback; the platform will retry",
						"key", Fingerprint(key), "platform", ev.Platform, "kind", ev.Kind, "waited", cfg.Wait)
					return nil, fmt.Errorf("bot.Dedupe %s: still being handled elsewhere: %w", Fingerprint(key), ErrUnavailable)
				}
				select {
				case <-ctx.Done():
					logger.WarnContext(ctx, "dedupe: gave up waiting for another handling of the callback: context ended",
						"key", Fingerprint(key), "platform", ev.Platform, "kind", ev.Kind)
					return nil, fmt.Errorf("bot.Dedupe %s: %w: %w", Fingerprint(key), ErrUnavailable, ctx.Err())
				case <-time.After(cfg.Poll):
				}
			}
		})
	}
}

func decodeResult(result []byte) ([]Action, error) {
	if string(result) == outboxResult {
		return nil, nil // delivered through the outbox: nothing to answer with
	}
	actions, err := UnmarshalActions(result)
	if err != nil {
		return nil, fmt.Errorf("bot.Dedupe: stored result: %w", err)
	}
	return actions, nil
}

func handleFirst(ctx context.Context, d Deduper, cfg DedupeConfig, logger *slog.Logger, next Handler, ev Event, key, token string) ([]Action, error) {
	r := renewLease(ctx, d, cfg.Lease, logger, key, token)
	// Deferred: a panic below must stop the renewals too, so the lease
	// runs out and the platform's retry is handled afresh.
	defer r.stop()
	actions, err := next.HandleEvent(ctx, ev)
	if err != nil {
		r.stop()
		// Forget the claim so the platform's retry can try again; the
		// context may be spent, so release on a fresh one.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if rerr := d.Release(rctx, key, token); rerr != nil {
			logger.WarnContext(ctx, "dedupe release failed; the claim expires on its own", "key", Fingerprint(key), "err", rerr)
		}
		return nil, err
	}
	var result []byte
	if AnswerWindowFrom(ctx).Seal() == DeliveryOutbox {
		result = []byte(outboxResult)
	} else if result, err = MarshalActions(actions); err != nil {
		return nil, err
	}
	// A Deduper may queue this write rather than wait for it (Redis
	// does): a copy that arrives meanwhile polls until the result is
	// there, and the platform's own retries come seconds later.
	if err := d.Finish(ctx, key, result, cfg.TTL); err != nil {
		// The event was handled. The lease expires, and a later copy
		// handles it again; the outbox keys keep its sends once.
		logger.WarnContext(ctx, "dedupe finish failed", "key", Fingerprint(key), "err", err)
	}
	return actions, nil
}

// lease renews a claim every third of its length until stopped.
type lease struct {
	d      Deduper
	ctx    context.Context
	log    *slog.Logger
	key    string
	token  string
	length time.Duration

	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

func renewLease(ctx context.Context, d Deduper, length time.Duration, logger *slog.Logger, key, token string) *lease {
	l := &lease{d: d, ctx: ctx, log: logger, key: key, token: token, length: length}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t = time.AfterFunc(length/3, l.renew)
	return l
}

func (l *lease) renew() {
	// Held across the round trip, so that once stop returns no renewal is
	// in flight: one landing after a Release would take the key again.
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	// The handling's context may end (a request's); its lease must not.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), l.length/3)
	held, err := l.d.Renew(ctx, l.key, l.token, l.length)
	cancel()
	switch {
	case err != nil:
		l.log.WarnContext(l.ctx, "dedupe lease renewal failed; will try again", "key", Fingerprint(l.key), "err", err)
	case !held:
		// Someone else may be handling the callback now; this handling
		// goes on (stopping halfway is worse), and says so.
		l.log.WarnContext(l.ctx, "dedupe lease lost while handling; the callback may be handled twice", "key", Fingerprint(l.key))
		return
	}
	l.t.Reset(l.length / 3)
}

func (l *lease) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	l.t.Stop()
}
