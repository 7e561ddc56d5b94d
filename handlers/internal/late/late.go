// Package late keeps a platform callback that was answered before its
// handling finished from being lost. WeChat and WeCom hang up at 5 s; an
// adapter whose reply budget runs out answers at once and lets the
// handling go on, and the platform will not retry what was answered. So:
//
//   - before answering, the adapter stores the callback in the outbox as a
//     Render row of this package's renderer (Callbacks.Persist): if its
//     replica dies first, the outbox of any replica handles the callback
//     again when the row comes due (Callbacks.Render); if it cannot be
//     stored, the adapter refuses the callback instead (the platform
//     retries it);
//   - a handling that fails after the answer is handled again, with
//     backoff, until the adapter's deadline (Callbacks.Retry).
//
// When the stored copy comes due: a callback that Dedupe guards
// (Spec.Guarded) runs through Dedupe, whose claim the first handling
// holds as a lease renewed while it runs. So its copy may come due as
// soon as that lease would have run out had the replica died at the
// answer (Policy.Delay, over the lease), rather than after the longest the
// handling could take (Policy.ProcessTimeout). The copy then finds either
// the stored result (the handling finished: it sends nothing more, as the
// actions are queued under the callback's outbox key), the claim expired
// (the replica died: it handles the callback afresh, once), or the claim
// still renewed (the handling runs on: Dedupe answers "still being
// handled" with bot.ErrUnavailable, and the outbox tries the copy again
// with backoff). A handling that failed released its claim, and either
// Retry or the copy claims it first, never both. A callback nothing guards
// that way keeps the long delay, ProcessTimeout + grace: by then the
// replica that answered has finished it or died.
package late

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

const (
	// grace is how long after ProcessTimeout an unguarded callback's
	// stored copy comes due: by then the replica that answered has
	// handled it or died.
	grace = 30 * time.Second
	// maxBackoff caps the wait between Retry's attempts: a store that
	// comes back is used within seconds.
	maxBackoff = 5 * time.Second
	// persistTimeout bounds Persist: the answer must still reach the
	// platform within its 5 s.
	persistTimeout = 500 * time.Millisecond
)

// Enqueuer stores actions for durable delivery; enqueueing the same key
// twice is a no-op (bot.Outbox).
type Enqueuer interface {
	Enqueue(ctx context.Context, key string, actions []bot.Action) error
}

// Spec is what differs between platforms. T is what a stored copy holds:
// a bot.Event (WeChat) or the parsed callback (WeCom), stored as JSON, so
// it must hold only what handling it again needs.
type Spec[T any] struct {
	// Platform and Noun begin log lines and errors: "wechat: late event …".
	Platform, Noun string
	// Renderer is the name the outbox knows the renderer by
	// (bot.Outbox.SetRenderer).
	Renderer string
	// KeyPrefix begins the stored copies' batch keys: "wechat-late:".
	KeyPrefix string
	// Identity returns what names v's stored copy, given v and its JSON:
	// copies of one callback (the platform's retries, other replicas) have
	// the same identity, so one outbox row.
	Identity func(v T, data []byte) string
	// To is the stored copy's destination: it routes the row; nothing is
	// sent to it.
	To func(v T) bot.Target
	// Guarded reports whether Dedupe alone decides whether v runs again,
	// so that its copy may come due after Policy.Delay (see the package
	// doc).
	Guarded func(v T) bool
	// Attrs returns what log lines say about v: never personal data.
	Attrs func(v T) []any
	// Run handles a stored copy again and queues its actions in the
	// outbox. Render returns its error as it is; the outbox retries it
	// (bot.ErrInvalid: never).
	Run func(ctx context.Context, v T) error
}

// Policy is the timing, from the adapter's Config.
type Policy struct {
	// Delay is how long after the answer a guarded callback's stored copy
	// comes due. It must exceed the dedupe lease (bot.DedupeConfig.Lease).
	Delay time.Duration
	// ProcessTimeout is the longest a handling may take, retries
	// included.
	ProcessTimeout time.Duration
	// RetryBackoff is Retry's first wait; it doubles up to 5 s.
	RetryBackoff time.Duration
	Now          func() time.Time
}

// Callbacks stores, renders and retries one adapter's late callbacks. It
// is the bot.Renderer of its stored copies.
type Callbacks[T any] struct {
	spec   Spec[T]
	policy Policy
	outbox Enqueuer
	log    *slog.Logger
	what   string // "wechat: late event"
}

// Interface guards
var _ bot.Renderer = (*Callbacks[bot.Event])(nil)

// New returns the late callbacks of one adapter. A nil logger discards.
func New[T any](spec Spec[T], p Policy, outbox Enqueuer, logger *slog.Logger) *Callbacks[T] {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Callbacks[T]{spec: spec, policy: p, outbox: outbox, log: logger, what: spec.Platform + ": late " + spec.Noun}
}

// due is how long after now v's stored copy comes due.
func (c *Callbacks[T]) due(v T) time.Duration {
	if c.spec.Guarded(v) {
		return c.policy.Delay
	}
	return c.policy.ProcessTimeout + grace
}

// Persist stores v, a callback about to be answered before its handling
// finished, as a row that comes due later (see the package doc). It is
// bounded to 500 ms. A failure is logged and returned: the adapter must
// then not acknowledge the callback, so that the platform retries it,
// since a death of this replica would lose it (the in-process Retry
// still applies).
func (c *Callbacks[T]) Persist(ctx context.Context, v T) error {
	data, err := json.Marshal(v)
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, persistTimeout)
		defer cancel()
		sum := sha256.Sum256([]byte(c.spec.Identity(v, data)))
		err = c.outbox.Enqueue(pctx, "", []bot.Action{bot.Batched{
			Key:    c.spec.KeyPrefix + hex.EncodeToString(sum[:16]),
			SendAt: c.policy.Now().Add(c.due(v)),
			Action: bot.Render{To: c.spec.To(v), Renderer: c.spec.Renderer, Key: string(data)},
		}})
	}
	if err != nil {
		c.log.WarnContext(ctx, c.what+" not stored; refused, so that the platform retries it", append(c.spec.Attrs(v), "err", err)...)
		return fmt.Errorf("%s: %w", c.what, err)
	}
	return nil
}

// Placeholder returns a row of this renderer that renders nothing: put in
// the place of an action that must not be queued, it still holds that
// action's outbox key, so a later handling cannot queue the action.
func (c *Callbacks[T]) Placeholder(to bot.Target) bot.Action {
	return bot.Render{To: to, Renderer: c.spec.Renderer} // no Key: nothing to render
}

// Render handles a stored copy (Persist) again through Spec.Run, which
// queues its actions; it sends nothing itself. A Placeholder renders
// nothing; an unreadable copy is bot.ErrInvalid.
func (c *Callbacks[T]) Render(ctx context.Context, a bot.Render) (bot.Action, error) {
	if a.Key == "" {
		return nil, nil
	}
	var v T
	if err := json.Unmarshal([]byte(a.Key), &v); err != nil {
		return nil, fmt.Errorf("%s: stored late %s: %w: %w", c.spec.Platform, c.spec.Noun, bot.ErrInvalid, err)
	}
	return nil, c.spec.Run(ctx, v)
}

// Retry finishes v, whose callback was answered before its handling
// finished, until ctx is done: nothing accepted may be dropped. err is
// the first handling's outcome; handle runs it again (Dedupe released the
// failed handling's claim), and queue queues what the last successful
// handling returned (nil when handle queues too). A handling refused with
// bot.ErrInvalid ends it; a failed queueing is always tried again. The
// waits start at Policy.RetryBackoff and double up to 5 s; the outbox keys
// make repeats harmless.
func (c *Callbacks[T]) Retry(ctx context.Context, v T, err error, handle, queue func(context.Context) error) {
	handled := err == nil
	wait := c.policy.RetryBackoff
	for attempt := 1; ; attempt++ {
		if handled {
			if queue == nil {
				return
			}
			if err = queue(ctx); err == nil {
				return
			}
		} else if errors.Is(err, bot.ErrInvalid) {
			c.log.WarnContext(ctx, c.what+" refused", append(c.spec.Attrs(v), "err", err)...)
			return
		}
		c.log.WarnContext(ctx, c.what+" not delivered yet; retrying",
			append(c.spec.Attrs(v), "handled", handled, "attempt", attempt, "err", err)...)
		select {
		case <-ctx.Done():
			c.log.ErrorContext(ctx, c.what+" lost: answered, but not handled and queued in time",
				append(c.spec.Attrs(v), "handled", handled, "attempts", attempt, "err", err)...)
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, maxBackoff)
		if !handled {
			err = handle(ctx)
			handled = err == nil
		}
	}
}
