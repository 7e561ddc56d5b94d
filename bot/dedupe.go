package bot

import (
	"bytes"
	"context"
	"errors"
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
	// Overlap is how long before a callback's arrival another handling's
	// passive answer may have been written for the two to count as copies
	// the platform sent together, either of whose answers it may take
	// (AnswerWindow). An answer written earlier is one the platform did
	// not take: it retries only when it got no answer.
	Overlap time.Duration
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
	if c.Overlap <= 0 {
		// Copies the platform delivers together come within milliseconds
		// of each other; WeChat retries 5 s after an attempt it got no
		// answer to, and so after any answer written for that attempt.
		c.Overlap = time.Second
	}
	return c
}

// Stored results. outboxResult: the callback was delivered through the
// outbox, whose rows exist; a retry needs no actions, only to
// acknowledge. A passive delivery is 'p' and its answerTimes (Unix
// nanoseconds, sealed then arrived, 0 when not known, separated by ','),
// '|' and the MarshalActions JSON. A retry that takes a passive delivery
// over to the outbox stores the same with 'q' (queueing): the rows may not
// exist yet, and whoever reads it with its window closed queues them again
// (idempotent) before it stores outboxResult. Results stored before the
// times were kept are the bare JSON ('[').
const (
	outboxResult = "o"
	passiveMark  = 'p'
	queueingMark = 'q'
)

// answerTimes are when a handling's attempt arrived and when its passive
// answer was sealed (zero when not known).
type answerTimes struct {
	arrived, sealed time.Time
}

// passiveResult encodes a result marked mark (passiveMark or
// queueingMark).
func passiveResult(mark byte, at answerTimes, actions []Action) ([]byte, error) {
	b := make([]byte, 0, 128*len(actions)+48)
	b = append(b, mark)
	b = strconv.AppendInt(b, at.sealed.UnixNano(), 10)
	b = append(b, ',')
	var arrived int64
	if !at.arrived.IsZero() {
		arrived = at.arrived.UnixNano()
	}
	b = strconv.AppendInt(b, arrived, 10)
	b = append(b, '|')
	return appendActions(b, actions)
}

// Dedupe handles each callback once across retries and replicas: the first
// copy claims it with a short lease, renewed while the wrapped handler
// runs, and stores its result when done; every later copy gets the same
// actions back without running it (none when they went through the
// outbox), so a retry whose first answer was lost is answered the same and
// side effects happen once. A claim whose holder dies expires within
// cfg.Lease and a later copy handles the callback afresh. Callers must
// deliver replayed actions idempotently (Outbox keys do). Events without a
// DedupeKey pass through.
//
// With an AnswerWindow in the context (an adapter that answers passively),
// Dedupe also settles how each copy delivers (see AnswerWindow): a copy
// whose window closed has its actions queued through the window before
// "delivered through the outbox" is stored, so that nothing says the rows
// exist before they do.
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
			w := AnswerWindowFrom(ctx)
			var deadline time.Time // set when a copy first has to wait
			for {
				first, result, err := d.Claim(ctx, key, token, cfg.Lease)
				if err != nil {
					return nil, fmt.Errorf("bot.Dedupe: %w", err)
				}
				if first {
					w.claimed()
					return handleFirst(ctx, d, cfg, logger, next, ev, key, token)
				}
				if result != nil {
					if cfg.OnHit != nil {
						cfg.OnHit(ctx)
					}
					actions, err := replay(ctx, d, cfg, logger, w, ev, key, result)
					if errors.Is(err, errChanged) {
						continue
					}
					return actions, err
				}
				w.waiting()
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

// decodeResult reads a stored result: its actions, its mark (passiveMark
// for bare JSON), and when a passive answer's attempt arrived and the
// answer was sealed (zero when not known).
func decodeResult(result []byte) (actions []Action, mark byte, at answerTimes, err error) {
	if string(result) == outboxResult {
		return nil, outboxResult[0], at, nil // nothing to answer with
	}
	mark = passiveMark
	if len(result) > 0 && (result[0] == passiveMark || result[0] == queueingMark) {
		mark = result[0]
		head, rest, ok := bytes.Cut(result[1:], []byte{'|'})
		sealed, arrived, ok2 := bytes.Cut(head, []byte{','})
		s, err1 := strconv.ParseInt(string(sealed), 10, 64)
		a, err2 := strconv.ParseInt(string(arrived), 10, 64)
		if !ok || !ok2 || err1 != nil || err2 != nil {
			return nil, 0, at, fmt.Errorf("bot.Dedupe: stored result: bad times: %w", ErrInvalid)
		}
		at.sealed = time.Unix(0, s)
		if a != 0 {
			at.arrived = time.Unix(0, a)
		}
		result = rest
	}
	actions, err = UnmarshalActions(result)
	if err != nil {
		return nil, 0, answerTimes{}, fmt.Errorf("bot.Dedupe: stored result: %w", err)
	}
	return actions, mark, at, nil
}

// errChanged: the stored result changed while a copy decided on it (a
// Swap lost); the copy reads it again.
var errChanged = errors.New("bot.Dedupe: result changed")

// replay answers a copy with another handling's stored result.
//
// A copy whose window is still open answers with it, passively, and
// records its own answer in the result (in one step with reading it), so
// that a copy deciding later with its window closed knows of it; if
// another copy took the reply over to the outbox meanwhile, it answers
// without the reply instead. One whose window closed (it answered without
// the reply) queues the actions, unless another answer carries the reply
// (AnswerWindow); to queue the reply, it first swaps the passive result
// for the queueing mark, so that a copy reading it meanwhile does not
// answer passively too, and afterwards stores outboxResult, so that a
// later retry does not either.
func replay(ctx context.Context, d Deduper, cfg DedupeConfig, logger *slog.Logger, w *AnswerWindow, ev Event, key string, result []byte) ([]Action, error) {
	for {
		actions, mark, other, err := decodeResult(result)
		if err != nil {
			return nil, err
		}
		switch mark {
		case outboxResult[0]:
			w.setRole(roleCopy)
			w.Seal()
			return nil, nil // the rows exist: outboxResult is stored only after them
		case queueingMark:
			w.setRole(roleCopy)
			if w.Seal() == DeliveryPassive {
				return nil, nil // the outbox sends the reply
			}
			// The copy that marked it may have died before the rows:
			// queue them again (the same keys: nothing twice).
			return queueReplay(ctx, d, cfg, logger, w, ev, key, actions)
		}
		w.replayed(other.sealed, cfg.Overlap)
		if w.Seal() == DeliveryPassive {
			mine, err := passiveResult(passiveMark, answerTimes{arrived: w.arrivedAt(), sealed: time.Now()}, actions)
			if err != nil {
				return nil, err
			}
			cur, swapped, err := d.Swap(ctx, key, result, mine, cfg.TTL)
			switch {
			case err != nil:
				logger.WarnContext(ctx, "dedupe: this answer not recorded", "key", Fingerprint(key), "err", err)
			case !swapped && cur != nil && (string(cur) == outboxResult || cur[0] == queueingMark):
				return nil, nil // taken over to the outbox meanwhile: answer without the reply
			}
			return actions, nil
		}
		if owner := w.replyOwner(other, cfg.Overlap); owner != ReplyHere {
			if err := w.Queue(ctx, actions, owner); err != nil {
				return nil, fmt.Errorf("bot.Dedupe %s: queue: %w", Fingerprint(key), err)
			}
			return actions, nil
		}
		queueing, err := passiveResult(queueingMark, answerTimes{arrived: w.arrivedAt(), sealed: time.Now()}, actions)
		if err != nil {
			return nil, err
		}
		cur, swapped, err := d.Swap(ctx, key, result, queueing, cfg.TTL)
		switch {
		case err != nil:
			return nil, fmt.Errorf("bot.Dedupe %s: %w", Fingerprint(key), err)
		case !swapped && cur == nil:
			return nil, errChanged // claimed again, or gone: start over
		case !swapped:
			result = cur // changed meanwhile: decide on what is there now
			continue
		}
		logger.InfoContext(ctx, "dedupe: the platform retried a callback whose passive answer did not arrive; this attempt answered without the reply, so it goes through the outbox",
			"key", Fingerprint(key), "platform", ev.Platform, "kind", ev.Kind)
		return queueReplay(ctx, d, cfg, logger, w, ev, key, actions)
	}
}

// queueReplay queues a closed copy's actions and records the callback as
// delivered through the outbox.
func queueReplay(ctx context.Context, d Deduper, cfg DedupeConfig, logger *slog.Logger, w *AnswerWindow, ev Event, key string, actions []Action) ([]Action, error) {
	if err := w.Queue(ctx, actions, ReplyHere); err != nil {
		return nil, fmt.Errorf("bot.Dedupe %s: queue: %w", Fingerprint(key), err)
	}
	if err := d.Finish(ctx, key, []byte(outboxResult), cfg.TTL); err != nil {
		// The queueing mark stays: later copies answer without the reply,
		// and closed ones queue the rows again, which changes nothing.
		logger.WarnContext(ctx, "dedupe finish failed", "key", Fingerprint(key), "err", err)
	}
	return actions, nil
}

func handleFirst(ctx context.Context, d Deduper, cfg DedupeConfig, logger *slog.Logger, next Handler, ev Event, key, token string) ([]Action, error) {
	r := renewLease(ctx, d, cfg.Lease, logger, key, token)
	// Deferred: a panic below must stop the renewals too, so the lease
	// runs out and the platform's retry is handled afresh.
	defer r.stop()
	release := func() {
		r.stop()
		// Forget the claim so the platform's retry can try again; the
		// context may be spent, so release on a fresh one.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if rerr := d.Release(rctx, key, token); rerr != nil {
			logger.WarnContext(ctx, "dedupe release failed; the claim expires on its own", "key", Fingerprint(key), "err", rerr)
		}
	}
	actions, err := next.HandleEvent(ctx, ev)
	if err != nil {
		release()
		return nil, err
	}
	w := AnswerWindowFrom(ctx)
	var result []byte
	if w.Seal() == DeliveryOutbox {
		// The rows first, under the lease: stored before them, "delivered
		// through the outbox" would be all a death in between left, and
		// every later copy would believe it.
		if err := w.Queue(ctx, actions, ReplyHere); err != nil {
			release()
			return nil, fmt.Errorf("bot.Dedupe %s: queue: %w", Fingerprint(key), err)
		}
		result = []byte(outboxResult)
	} else if result, err = passiveResult(passiveMark, answerTimes{arrived: w.arrivedAt(), sealed: time.Now()}, actions); err != nil {
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
