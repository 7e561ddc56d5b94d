package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Sender delivers actions on one platform. Send returns an error wrapping
// ErrInvalid when retrying cannot help (the platform refused the action for
// good); any other error is retried with backoff.
type Sender interface {
	Send(ctx context.Context, a Action) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, a Action) error

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, a Action) error { return f(ctx, a) }

// OutboxConfig tunes the Outbox.
type OutboxConfig struct {
	// MaxAttempts is how many sends are tried before a row is dead.
	MaxAttempts int
	// Backoff is the wait after the first failure; it doubles per
	// attempt up to MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Lease is how long a claimed row is reserved for its worker; a worker
	// that dies mid-send releases it by letting the lease run out.
	Lease time.Duration
	// Poll is how often an idle worker looks for due rows; rows enqueued
	// by this replica wake it at once.
	Poll time.Duration
	// Batch is how many rows one claim takes.
	Batch int
	// Concurrency is how many sends of a batch run at once.
	Concurrency int
	// SendTimeout bounds one send.
	SendTimeout time.Duration
	// Gate, when set, admits each Push at send time (do-not-disturb).
	Gate SendGate
	// Renderers build Render actions at send time, by Render.Renderer.
	Renderers map[string]Renderer
	Now       func() time.Time
	Logger    *slog.Logger
}

func (c OutboxConfig) withDefaults() OutboxConfig {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8 // with doubling from 2 s, about 4 minutes of trying
	}
	if c.Backoff <= 0 {
		c.Backoff = 2 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	if c.Lease <= 0 {
		c.Lease = time.Minute // well above SendTimeout
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 32
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 15 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Outbox makes delivery durable: actions are written to an OutboxStore and
// sent by workers in any replica, with backoff, until they succeed or are
// dead-lettered. Nothing accepted is lost when a replica restarts.
type Outbox struct {
	store   OutboxStore
	senders map[Platform]Sender
	cfg     OutboxConfig
	kick    chan struct{}
}

// NewOutbox returns an Outbox sending through senders by platform.
func NewOutbox(store OutboxStore, senders map[Platform]Sender, cfg OutboxConfig) *Outbox {
	if senders == nil {
		senders = map[Platform]Sender{}
	}
	return &Outbox{store: store, senders: senders, cfg: cfg.withDefaults(), kick: make(chan struct{}, 1)}
}

// SetSender routes a platform's actions to s. Call it before Run.
func (o *Outbox) SetSender(p Platform, s Sender) { o.senders[p] = s }

// Enqueue stores actions for delivery. key identifies their origin (the
// event's dedupe key); each action's row is keyed by key and its index,
// and enqueueing the same key again is a no-op, so a retried callback
// never queues its actions twice. A nil action is skipped but keeps its
// index: an adapter that answers one action in the callback itself passes
// nil in its place, so every action has the same row key however it was
// delivered.
func (o *Outbox) Enqueue(ctx context.Context, key string, actions []Action) error {
	if len(actions) == 0 {
		return nil
	}
	now := o.cfg.Now()
	items := make([]OutboxItem, 0, len(actions))
	for i, a := range actions {
		if a == nil {
			continue
		}
		itemKey := key + "#" + strconv.Itoa(i)
		if key == "" {
			itemKey = randomKey()
		}
		due := now
		if b, ok := a.(Batched); ok {
			// One row per batch key: later members of the batch are
			// skipped by Enqueue's idempotency.
			a, itemKey, due = b.Action, "batch:"+b.Key, b.SendAt
		}
		payload, err := MarshalAction(a)
		if err != nil {
			return fmt.Errorf("bot.Outbox.Enqueue: %w", err)
		}
		route := a.Dest().Platform
		if _, ok := Unwrap(a).(StaffAlert); ok {
			route = Staff // alerts reach staff wherever the conversation was
		}
		items = append(items, OutboxItem{Key: itemKey, Platform: route, Payload: payload, NextAt: due})
	}
	if len(items) == 0 {
		return nil
	}
	if err := o.store.Enqueue(ctx, items); err != nil {
		return fmt.Errorf("bot.Outbox.Enqueue: %w", err)
	}
	select {
	case o.kick <- struct{}{}:
	default:
	}
	return nil
}

func randomKey() string {
	return "r" + strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36)
}

// Run sends due rows until ctx is done.
func (o *Outbox) Run(ctx context.Context) {
	t := time.NewTicker(o.cfg.Poll)
	defer t.Stop()
	for {
		n, err := o.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			o.cfg.Logger.WarnContext(ctx, "outbox claim failed", "err", err)
		}
		if n == o.cfg.Batch {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.kick:
		}
	}
}

// RunOnce claims one batch of due rows, sends them and records the
// outcomes. It returns how many rows it claimed.
func (o *Outbox) RunOnce(ctx context.Context) (int, error) {
	items, err := o.store.Claim(ctx, o.cfg.Now(), o.cfg.Batch, o.cfg.Lease)
	if err != nil {
		return 0, fmt.Errorf("bot.Outbox.RunOnce: %w", err)
	}
	sem := make(chan struct{}, o.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			o.deliver(ctx, it)
		}()
	}
	wg.Wait()
	return len(items), nil
}

func (o *Outbox) deliver(ctx context.Context, it OutboxItem) {
	log := o.cfg.Logger.With("outbox_id", it.ID, "platform", it.Platform, "attempt", it.Attempts)
	// Record the outcome even when ctx is ending: the send happened.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if until, reason, held := o.admit(ctx, it); held {
		if until.IsZero() {
			if ferr := o.store.Fail(rctx, it.ID, reason, o.cfg.Now(), true); ferr != nil {
				log.ErrorContext(ctx, "outbox fail record failed", "err", ferr)
			}
			log.InfoContext(ctx, "outbox push held back for good", "reason", reason)
			return
		}
		if derr := o.store.Defer(rctx, it.ID, reason, until); derr != nil {
			log.ErrorContext(ctx, "outbox defer failed", "err", derr)
		}
		return
	}
	err := o.send(ctx, it)
	if err == nil {
		if cerr := o.store.Complete(rctx, it.ID); cerr != nil {
			log.ErrorContext(ctx, "outbox complete failed; the row may be sent again after its lease", "err", cerr)
		}
		return
	}
	dead := errors.Is(err, ErrInvalid) || it.Attempts >= o.cfg.MaxAttempts
	next := o.cfg.Now().Add(o.backoff(it.Attempts))
	if ferr := o.store.Fail(rctx, it.ID, err.Error(), next, dead); ferr != nil {
		log.ErrorContext(ctx, "outbox fail record failed", "err", ferr)
	}
	if dead {
		log.ErrorContext(ctx, "outbox row dead-lettered", "err", err)
	} else {
		log.WarnContext(ctx, "outbox send failed; will retry", "err", err, "next", next)
	}
}

// admit asks the Gate about a Push. held is true when the push must not
// go now: until is when to try again, or zero to drop it for good;
// reason says why.
func (o *Outbox) admit(ctx context.Context, it OutboxItem) (until time.Time, reason string, held bool) {
	if o.cfg.Gate == nil {
		return time.Time{}, "", false
	}
	a, err := UnmarshalAction(it.Payload)
	if err != nil {
		return time.Time{}, "", false // send reports the bad payload
	}
	p, ok := a.(Push)
	if !ok {
		return time.Time{}, "", false
	}
	now := o.cfg.Now()
	until, err = o.cfg.Gate.Admit(ctx, p, now)
	switch {
	case errors.Is(err, ErrInvalid):
		return time.Time{}, "held back: " + err.Error(), true
	case err != nil:
		// The gate could not decide (its store is down): wait rather
		// than risk sending to someone who opted out.
		return now.Add(o.cfg.Backoff), "gate unavailable: " + err.Error(), true
	case until.After(now):
		return until, "deferred by do-not-disturb", true
	}
	return time.Time{}, "", false
}

func (o *Outbox) send(ctx context.Context, it OutboxItem) error {
	a, err := UnmarshalAction(it.Payload)
	if err != nil {
		return err
	}
	a = Unwrap(a)
	if r, ok := a.(Render); ok {
		rd, ok := o.cfg.Renderers[r.Renderer]
		if !ok {
			return fmt.Errorf("bot.Outbox: no renderer %q: %w", r.Renderer, ErrInvalid)
		}
		if a, err = rd.Render(ctx, r); err != nil {
			return fmt.Errorf("bot.Outbox: render %s: %w", r.Renderer, err)
		}
		if a == nil {
			return nil // nothing to say
		}
	}
	s, ok := o.senders[it.Platform]
	if !ok {
		return fmt.Errorf("bot.Outbox: no sender for platform %q: %w", it.Platform, ErrInvalid)
	}
	sctx, cancel := context.WithTimeout(ctx, o.cfg.SendTimeout)
	defer cancel()
	return s.Send(sctx, a)
}

// backoff doubles from Backoff per attempt, capped, with ±20% jitter so
// rows that failed together do not retry in lockstep.
func (o *Outbox) backoff(attempt int) time.Duration {
	d := o.cfg.Backoff
	for i := 1; i < attempt && d < o.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.cfg.MaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
