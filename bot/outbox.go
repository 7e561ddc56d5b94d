package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
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
	// MaxAttempts, when positive, dead-letters a row after that many
	// sends. Zero (the default) retries until the row's window closes.
	MaxAttempts int
	// Backoff is the wait after the first failure; it doubles per
	// attempt up to MaxBackoff, with jitter.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Windows is how long each platform accepts an action after it is
	// queued (PlatformWindow fills the ones not given); a row still
	// unsent then is dead-lettered. DefaultWindow covers the rest.
	Windows       map[Platform]time.Duration
	DefaultWindow time.Duration
	// Lease is how long a claimed row is reserved for its worker; it is
	// renewed every third of it while the worker still has the row, so a
	// worker that dies mid-send frees its rows within one Lease.
	Lease time.Duration
	// Poll is how often an idle worker looks for due rows; rows enqueued
	// by this replica wake it at once.
	Poll time.Duration
	// Batch is how many rows one claim takes at most.
	Batch int
	// Concurrency is how many sends run at once. Run keeps that many in
	// flight while rows are due: it claims more as sends end, so one slow
	// send holds one slot, not a whole batch.
	Concurrency int
	// AccountSlots, when set, is how many of the Concurrency sends one
	// circuit (a platform's configured account) may hold at once: below
	// Concurrency, the slots a hung account holds until its sends time
	// out and its circuit opens leave some for the other accounts. Its
	// rows beyond that are put back for a Poll.
	AccountSlots int
	// CircuitThreshold is how many sends in a row to one platform may
	// time out or fail before its circuit opens: its rows are then put
	// back (not counted as attempts) until a probe send succeeds,
	// so a hung platform holds no send slots that other platforms' rows
	// need. CircuitCooldown is how long the circuit first stays open; it
	// is the time between probes, doubled once while probes fail.
	CircuitThreshold int
	CircuitCooldown  time.Duration
	// SendTimeout bounds one send; it must stay well under Lease, so a
	// send never outlives its lease (then another worker could send the
	// row too).
	SendTimeout time.Duration
	// Gate, when set, admits each Push at send time (do-not-disturb).
	Gate SendGate
	// Renderers build Render actions at send time, by Render.Renderer.
	Renderers map[string]Renderer
	// OnResult, when set, is told each delivery's result by platform:
	// "sent", "retry", "dead", "deferred" (by the Gate, or by the
	// platform's open circuit), "held_back" or "ambiguous" (a send the
	// platform may have delivered although siyu does not know it: one
	// that timed out, "retry" or "dead" follows it; or a row claimed
	// again after its worker died or lost it mid-send, which is sent
	// again). Metrics count them.
	OnResult func(p Platform, result string)
	Now      func() time.Time
	Logger   *slog.Logger
}

// PlatformWindow is how long platform p accepts what siyu queues for a
// customer, or zero when it sets no limit. WeChat accepts customer-service
// messages for 48 hours after the customer's last message; Douyin's reply
// window is 24 hours by its documentation (window.DefaultLimits).
func PlatformWindow(p Platform) time.Duration {
	switch p {
	case WeChat:
		return 48 * time.Hour
	case Douyin:
		return 24 * time.Hour
	}
	return 0
}

func (c OutboxConfig) withDefaults() OutboxConfig {
	if c.Backoff <= 0 {
		c.Backoff = 2 * time.Second
	}
	if c.MaxBackoff <= 0 {
		// An outage of an hour delays messages by at most this past its
		// end, and a down platform sees 12 tries an hour per row.
		c.MaxBackoff = 5 * time.Minute
	}
	windows := make(map[Platform]time.Duration, 2+len(c.Windows))
	for _, p := range []Platform{WeChat, Douyin} {
		windows[p] = PlatformWindow(p)
	}
	maps.Copy(windows, c.Windows)
	c.Windows = windows
	if c.DefaultWindow <= 0 {
		// Platforms without a window of their own (WeCom, staff alerts):
		// as long as WeChat's, so an outage delays rather than drops.
		c.DefaultWindow = 48 * time.Hour
	}
	if c.Lease <= 0 {
		// A dead replica's rows go out again within seconds; renewals
		// every 4 s keep a live worker's rows through a 4 s database
		// stall.
		c.Lease = 12 * time.Second
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
	if c.CircuitThreshold <= 0 {
		// Fewer than Concurrency: a hung platform opens its circuit
		// before it holds every send slot.
		c.CircuitThreshold = 3
	}
	if c.CircuitCooldown <= 0 {
		// Short: a probe every second or so finds a recovered platform
		// soon, and costs one send while it is still down.
		c.CircuitCooldown = time.Second
	}
	if c.SendTimeout <= 0 {
		// The platforms answer in well under a second. The shorter a
		// send may hang, the fewer sends time out after the platform
		// delivered them (no idempotency key exists for these APIs), and
		// it stays below a third of the lease.
		c.SendTimeout = 4 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Renderers = maps.Clone(c.Renderers) // SetRenderer must not write to the caller's map
	return c
}

// OutboxStats are the Outbox's counters since it was made, for metrics.
type OutboxStats struct {
	// AmbiguousSends counts sends the platform may have delivered
	// without siyu knowing, so that the retry may deliver them again:
	// sends that timed out, and rows claimed again after their worker
	// died or lost them mid-send (OutboxItem.Unfinished). WeChat's and
	// Douyin's customer-service APIs have no idempotency key.
	AmbiguousSends uint64
}

// Outbox makes delivery durable: actions are written to an OutboxStore and
// sent by workers in any replica, with backoff, until they succeed or are
// dead-lettered. Nothing accepted is lost when a replica restarts.
type Outbox struct {
	store     OutboxStore
	senders   map[Platform]Sender
	cfg       OutboxConfig
	kick      chan struct{}
	ambiguous atomic.Uint64
	circuits  circuits
}

func (o *Outbox) result(p Platform, r string) {
	if o.cfg.OnResult != nil {
		o.cfg.OnResult(p, r)
	}
}

// Stats returns the Outbox's counters.
func (o *Outbox) Stats() OutboxStats {
	return OutboxStats{AmbiguousSends: o.ambiguous.Load()}
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

// SetRenderer registers r for Render actions naming name, beside
// OutboxConfig.Renderers, for an adapter built after the outbox. Call it
// before Run.
func (o *Outbox) SetRenderer(name string, r Renderer) {
	if o.cfg.Renderers == nil {
		o.cfg.Renderers = map[string]Renderer{}
	}
	o.cfg.Renderers[name] = r
}

// Enqueue stores actions for delivery. key identifies their origin (the
// event's dedupe key); each action's row is keyed by key and its index
// (a Batched action by its batch key, a Reply by its OutboxKey when it
// has one), and enqueueing the same key again is a no-op, so a retried
// callback never queues its actions twice; a standby row of that key
// becomes pending. A nil action is skipped but keeps its index: an
// adapter that answers one action in the callback itself passes nil in
// its place, so every action has the same row key however it was
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
		if r, ok := a.(Reply); ok && r.OutboxKey != "" {
			itemKey = r.OutboxKey // its row may be on standby already
		}
		payload, err := MarshalAction(a)
		if err != nil {
			return fmt.Errorf("bot.Outbox.Enqueue: %w", err)
		}
		route := a.Dest().Platform
		if _, ok := Unwrap(a).(StaffAlert); ok {
			route = Staff // alerts reach staff wherever the conversation was
		}
		items = append(items, OutboxItem{Key: itemKey, Platform: route, Payload: payload, NextAt: due, ExpiresAt: due.Add(o.window(route))})
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

// Run sends due rows until ctx is done, keeping up to Concurrency sends
// in flight: whenever send slots are free it claims that many due rows
// (at most Batch), so a backlog drains at Concurrency sends at a time
// even while some sends hang, instead of a whole batch waiting for its
// slowest send. One lease holder renews every row still being worked on.
// When ctx ends, sends under way finish and are recorded (as in RunOnce),
// rows claimed but not started are released for other workers, and Run
// returns after that.
func (o *Outbox) Run(ctx context.Context) {
	t := time.NewTicker(o.cfg.Poll)
	defer t.Stop()
	l := o.holdLease(ctx)
	defer l.stop()
	sendCtx := context.WithoutCancel(ctx)
	slots := make(chan struct{}, o.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		// Wait for one free slot, then take every other free one.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	grab:
		for n < min(o.cfg.Batch, o.cfg.Concurrency) {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break grab
			}
		}
		now := o.cfg.Now()
		items, err := o.store.Claim(ctx, now, n, o.cfg.Lease)
		if err != nil && ctx.Err() == nil {
			o.cfg.Logger.WarnContext(ctx, "outbox claim failed", "err", err)
		}
		o.countUnfinished(ctx, items)
		l.add(items, now.Add(o.cfg.Lease))
		if ctx.Err() != nil && len(items) > 0 {
			o.releaseUnstarted(sendCtx, items, l)
			items = nil
		}
		for _, it := range items {
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				o.deliver(sendCtx, it, l)
				l.release(it.ID)
			}()
		}
		for range n - len(items) {
			<-slots // unused slots
		}
		if len(items) == n {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-o.kick:
		}
	}
}

// window returns how long platform p accepts an action.
func (o *Outbox) window(p Platform) time.Duration {
	if w, ok := o.cfg.Windows[p]; ok && w > 0 {
		return w
	}
	return o.cfg.DefaultWindow
}

// RunOnce claims one batch of due rows, sends them and records the
// outcomes. While rows of the batch are still being worked on, their
// lease is renewed. It returns how many rows it claimed.
//
// When ctx ends (the replica shuts down), sends already started run to
// their end, bounded by SendTimeout, and their outcome is recorded:
// cutting one short could not take back what the platform received, and
// would only leave it unknown. Rows not started yet are released at once
// (OutboxStore.Release), so another replica sends them now instead of
// after the lease.
func (o *Outbox) RunOnce(ctx context.Context) (int, error) {
	now := o.cfg.Now()
	items, err := o.store.Claim(ctx, now, o.cfg.Batch, o.cfg.Lease)
	if err != nil {
		return 0, fmt.Errorf("bot.Outbox.RunOnce: %w", err)
	}
	if len(items) == 0 {
		return 0, nil
	}
	o.countUnfinished(ctx, items)
	l := o.holdLease(ctx)
	defer l.stop()
	l.add(items, now.Add(o.cfg.Lease))
	sendCtx := context.WithoutCancel(ctx)
	sem := make(chan struct{}, o.cfg.Concurrency)
	var wg sync.WaitGroup
	var unstarted []OutboxItem
	for i, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil { // either case: select picks at random
			unstarted = items[i:]
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			o.deliver(sendCtx, it, l)
			l.release(it.ID)
		}()
	}
	if len(unstarted) > 0 {
		o.releaseUnstarted(sendCtx, unstarted, l)
	}
	wg.Wait()
	return len(items), nil
}

func (o *Outbox) deliver(ctx context.Context, it OutboxItem, l *rowLeases) {
	log := o.cfg.Logger.With("outbox_id", it.ID, "platform", it.Platform, "attempt", it.Attempts)
	// Record the outcome even when ctx is ending: the send happened.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	// A row past its window is still tried once: the sender or the
	// platform refuses it with the precise reason (ErrInvalid), and a
	// transient failure then dead-letters it below.
	if until, reason, held := o.admit(ctx, it); held {
		if until.IsZero() {
			if ferr := o.store.Fail(rctx, it.ID, reason, o.cfg.Now(), true); ferr != nil {
				log.ErrorContext(ctx, "outbox fail record failed", "err", ferr)
			}
			log.InfoContext(ctx, "outbox push held back for good", "reason", reason)
			o.result(it.Platform, "held_back")
			return
		}
		o.result(it.Platform, "deferred")
		if derr := o.store.Defer(rctx, it.ID, reason, until); derr != nil {
			log.ErrorContext(ctx, "outbox defer failed", "err", derr)
		}
		return
	}
	// A send must end while the row is surely ours, or another worker
	// may claim and send it too.
	budget := min(o.cfg.SendTimeout, l.remaining(it.ID)-o.leaseMargin())
	if budget <= 0 {
		// Given back unsent, so the next claim does not take it for a
		// send cut short.
		l.release(it.ID)
		if _, rerr := o.store.Release(rctx, []OutboxItem{it}, o.cfg.Now()); rerr != nil {
			log.WarnContext(ctx, "outbox release failed; the row goes out after its lease", "err", rerr)
		}
		log.WarnContext(ctx, "outbox lease too short to send; the row is given back unsent")
		return
	}
	circuit := circuitKey(it)
	if !o.circuits.enter(circuit, o.cfg.AccountSlots) {
		o.result(it.Platform, "deferred")
		if derr := o.store.Defer(rctx, it.ID, "account's sends already hold their share of send slots", o.cfg.Now().Add(o.cfg.Poll)); derr != nil {
			log.ErrorContext(ctx, "outbox defer failed", "err", derr)
		}
		return
	}
	defer o.circuits.leave(circuit)
	probe, until, ok := o.circuits.allow(circuit, o.cfg.Now(), o.cfg)
	if !ok {
		// The platform's recent sends timed out or failed: put the row
		// back without counting an attempt, and keep the slot for rows
		// of platforms that answer.
		o.result(it.Platform, "deferred")
		if derr := o.store.Defer(rctx, it.ID, "platform circuit open: its recent sends failed", until); derr != nil {
			log.ErrorContext(ctx, "outbox defer failed", "err", derr)
		}
		return
	}
	reached, err := o.send(ctx, it, budget)
	o.circuits.record(circuit, probe, reached, err, o.cfg.Now(), o.cfg)
	if err == nil {
		o.result(it.Platform, "sent")
		o.complete(ctx, it, l, log)
		return
	}
	if isTimeout(err) {
		o.ambiguous.Add(1)
		o.result(it.Platform, "ambiguous")
		log.WarnContext(ctx, "outbox send timed out; the platform may have delivered it, and the retry may deliver it again",
			"event", "outbox_ambiguous_send", "err", err)
	}
	next := o.cfg.Now().Add(o.backoff(it.Attempts))
	var dead bool
	switch {
	case errors.Is(err, ErrInvalid):
		dead = true // refused for good
	case o.cfg.MaxAttempts > 0 && it.Attempts >= o.cfg.MaxAttempts:
		dead = true
	case !it.ExpiresAt.IsZero() && !next.Before(it.ExpiresAt):
		dead = true // the next try would come after the platform's window
	}
	// A context of its own: the send may have used up rctx's time, and a
	// row left marked as being sent is taken for a send cut short.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer fcancel()
	if ferr := o.store.Fail(fctx, it.ID, err.Error(), next, dead); ferr != nil {
		log.ErrorContext(ctx, "outbox fail record failed", "err", ferr)
	}
	if dead {
		o.result(it.Platform, "dead")
		log.ErrorContext(ctx, "outbox row dead-lettered", "err", err)
	} else {
		o.result(it.Platform, "retry")
		log.WarnContext(ctx, "outbox send failed; will retry", "err", err, "next", next)
	}
}

// complete marks a sent row sent, trying again while the lease lasts: a
// row left pending goes out a second time once its lease runs out.
func (o *Outbox) complete(ctx context.Context, it OutboxItem, l *rowLeases, log *slog.Logger) {
	wait := 50 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(l.remaining(it.ID)-o.leaseMargin(), 100*time.Millisecond))
		err := o.store.Complete(cctx, it.ID)
		cancel()
		if err == nil || errors.Is(err, ErrNotFound) {
			return
		}
		if l.remaining(it.ID)-o.leaseMargin() < wait {
			log.ErrorContext(ctx, "outbox complete failed; the row may be sent again after its lease", "err", err)
			return
		}
		log.WarnContext(ctx, "outbox complete failed; retrying within the lease", "err", err)
		t := time.NewTimer(wait)
		<-t.C
		wait *= 2
	}
}

// countUnfinished counts, logs and reports as ambiguous each claimed row
// whose previous claim never recorded how its send ended: that worker
// died or lost the row mid-send, so the platform may have the message,
// and this claim sends it again (no platform API takes an idempotency
// key). Counted once, here, whatever this claim then does with the row.
func (o *Outbox) countUnfinished(ctx context.Context, items []OutboxItem) {
	for _, it := range items {
		if !it.Unfinished {
			continue
		}
		o.ambiguous.Add(1)
		o.result(it.Platform, "ambiguous")
		o.cfg.Logger.WarnContext(ctx, "outbox row claimed again after a send whose outcome was never recorded (its worker died or lost the row mid-send, or could not record it); the platform may have it already and this resend may deliver it twice",
			"event", "outbox_ambiguous_send", "outbox_id", it.ID, "platform", it.Platform, "attempt", it.Attempts, "ambiguous_resends", it.AmbiguousResends)
	}
}

// isTimeout reports whether a send failed by running out of time, when
// the platform may have received it.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
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

// send renders and sends the row. reached reports whether the
// platform's Sender was called, so that only the platform's own answers
// move its circuit (not a renderer's).
func (o *Outbox) send(ctx context.Context, it OutboxItem, timeout time.Duration) (reached bool, err error) {
	a, err := UnmarshalAction(it.Payload)
	if err != nil {
		return false, err
	}
	a = Unwrap(a)
	if r, ok := a.(Render); ok {
		rd, ok := o.cfg.Renderers[r.Renderer]
		if !ok {
			return false, fmt.Errorf("bot.Outbox: no renderer %q: %w", r.Renderer, ErrInvalid)
		}
		if a, err = rd.Render(ctx, r); err != nil {
			return false, fmt.Errorf("bot.Outbox: render %s: %w", r.Renderer, err)
		}
		if a == nil {
			return false, nil // nothing to say
		}
	}
	s, ok := o.senders[it.Platform]
	if !ok {
		return false, fmt.Errorf("bot.Outbox: no sender for platform %q: %w", it.Platform, ErrInvalid)
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return true, s.Send(sctx, a)
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
