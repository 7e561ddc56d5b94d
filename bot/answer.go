package bot

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Delivery says how a handled callback's actions reached the platform.
// Dedupe stores it with the result so that a retry never delivers them a
// second way.
type Delivery uint8

const (
	// DeliveryPassive: the callback's answer carried the reply (the rest
	// went to the outbox under the event's key). A retry means the answer
	// did not arrive, so the retry delivers the same actions again.
	DeliveryPassive Delivery = iota
	// DeliveryOutbox: every action went to the outbox; the callback was
	// only acknowledged. A retry gets no actions and only acknowledges.
	DeliveryOutbox
)

// Answerer is the adapter's side of an AnswerWindow.
type Answerer interface {
	// AnswerEarly answers the callback at once without its reply and
	// returns when it began to write that answer. It acknowledges the
	// callback (acked) only once it stored what finishing it needs should
	// this replica die; if it could not, it refuses it (an HTTP error),
	// and the platform retries. The window calls it at most once, when
	// it closes, from whichever goroutine closes it.
	AnswerEarly() (at time.Time, acked bool)
	// QueueLate queues the actions of an attempt whose answer carries
	// none of them; who delivers its reply says what to do with the
	// reply (the other actions were queued under the event's key, and
	// queueing them again changes nothing). It may retry; it returns an
	// error only when it gives up.
	QueueLate(ctx context.Context, actions []Action, reply ReplyOwner) error
}

// ReplyOwner says who delivers a closed attempt's reply (AnswerWindow).
type ReplyOwner uint8

const (
	// ReplyHere: this attempt does; queue every action.
	ReplyHere ReplyOwner = iota
	// ReplyAnswered: another handling's answer carries it. Hold the
	// reply's outbox key with something that sends nothing, so that a
	// handling that no longer knows (Redis forgot the result) cannot
	// queue it.
	ReplyAnswered
	// ReplyRetried: this attempt refused the callback (its early answer
	// was not an acknowledgement), so the platform retries it and the
	// retry delivers the reply: queue the rest only, holding nothing.
	ReplyRetried
)

// AnswerWindow settles, once, how one attempt of a callback delivers its
// actions: in its answer (the window is sealed: a passive reply) or, once
// its reply budget ran out, by answering at once without them and
// queueing them in the outbox (the window is closed). An adapter that can
// answer passively puts one in the context (WithAnswerWindow); Dedupe
// tells it what this attempt is, seals it, and queues through it.
//
// What the budget does depends on what Dedupe found:
//   - this attempt handles the callback, or replays the stored passive
//     result of a handling whose answer was written before this attempt
//     came (a retry: the platform got no answer, so that one did not
//     arrive): the budget closes the window, and the reply goes through
//     the outbox;
//   - another handling's answer overlaps this attempt (the platform sent
//     both; its answer may be the one taken): the budget is ignored and
//     this attempt answers as that handling did, so that whichever answer
//     the platform takes, the reply arrives once;
//   - not known yet (the dedupe claim is slow: Redis stalled): the budget
//     waits for Dedupe until the deadline the adapter gives, then closes.
//
// A closed attempt that then replays another handling's passive result
// queues the reply, unless that answer was written between this
// attempt's arrival and its own early answer (the platform took it
// first), or that handling's attempt came after this one's answer (a
// retry: this answer did not arrive), or this attempt's early answer was
// a refusal (the platform retries). See ReplyOwner.
type AnswerWindow struct {
	arrived  time.Time
	deadline time.Time
	a        Answerer

	mu       sync.Mutex
	role     answerRole
	due      bool // the budget ran out
	timer    *time.Timer
	closed   bool
	refused  bool // the early answer was a refusal: the platform retries
	sealed   bool
	queued   bool
	answered time.Time     // when the early answer was written
	written  chan struct{} // made when the window closes, closed once answered is set
}

type answerRole uint8

const (
	roleUnknown answerRole = iota
	roleFirst              // this attempt handles the callback
	roleRetry              // it replays a result written before it came
	roleCopy               // it waits for, or replays, an answer that overlaps it
)

// NewAnswerWindow returns the window of an attempt that arrived at
// arrived and must be answered within answerBy of it whatever Dedupe
// finds, answered early and queued by a.
func NewAnswerWindow(arrived time.Time, answerBy time.Duration, a Answerer) *AnswerWindow {
	w := new(AnswerWindow)
	w.Init(arrived, answerBy, a)
	return w
}

// Init readies a zero window as NewAnswerWindow does, for an adapter that
// keeps it in its own per-callback value (one allocation for both).
func (w *AnswerWindow) Init(arrived time.Time, answerBy time.Duration, a Answerer) {
	w.arrived, w.deadline, w.a = arrived, arrived.Add(answerBy), a
}

// ClosedAnswerWindow returns the window of an attempt that arrived at
// arrived and was answered early at answered: a late callback's stored
// copy, handled again where that attempt left off. a's AnswerEarly is
// never called.
func ClosedAnswerWindow(arrived, answered time.Time, a Answerer) *AnswerWindow {
	w := &AnswerWindow{arrived: arrived, a: a, closed: true, answered: answered, written: make(chan struct{})}
	close(w.written)
	return w
}

// Expire is called when the attempt's reply budget runs out: it closes
// the window, unless the attempt answers as another handling does or is
// sealed already. While Dedupe has not said which it is, the window
// closes when it does, or at the deadline.
func (w *AnswerWindow) Expire() {
	w.mu.Lock()
	if w.closed || w.sealed {
		w.mu.Unlock()
		return
	}
	// Kept, so that a copy that takes the callback over (its holder's
	// claim ran out) closes as it takes it.
	w.due = true
	switch w.role {
	case roleCopy:
		w.mu.Unlock()
	case roleUnknown:
		w.timer = time.AfterFunc(time.Until(w.deadline), w.deadlineReached)
		w.mu.Unlock()
	default:
		w.closeLocked()
	}
}

// deadlineReached closes a window whose attempt is still not known to
// Dedupe: the platform hangs up soon.
func (w *AnswerWindow) deadlineReached() {
	w.mu.Lock()
	if w.closed || w.sealed || w.role != roleUnknown {
		w.mu.Unlock()
		return
	}
	w.closeLocked()
}

// closeLocked closes the window, unlocks it and answers early.
func (w *AnswerWindow) closeLocked() {
	w.closed = true
	w.written = make(chan struct{})
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	at, acked := w.a.AnswerEarly()
	w.mu.Lock()
	w.answered, w.refused = at, !acked
	close(w.written)
	w.mu.Unlock()
}

// setRole records what Dedupe found, and closes the window if the budget
// ran out meanwhile and the attempt is one the budget closes.
func (w *AnswerWindow) setRole(r answerRole) {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.role = r
	if w.closed || w.sealed || !w.due || r == roleCopy {
		w.mu.Unlock()
		return
	}
	w.closeLocked()
}

// claimed: this attempt handles the callback.
func (w *AnswerWindow) claimed() { w.setRole(roleFirst) }

// waiting: another handling holds the callback; this attempt answers as it
// does, or takes over when that one's claim runs out (claimed).
func (w *AnswerWindow) waiting() {
	if w == nil {
		return
	}
	w.mu.Lock()
	first := w.role == roleUnknown
	w.mu.Unlock()
	if first {
		w.setRole(roleCopy)
	}
}

// replayed: Dedupe found the result of another handling, whose passive
// answer was written at sealedAt (zero when unknown, or for a result
// delivered through the outbox). An answer written more than overlap
// before this attempt came is one the platform did not take: it retried.
func (w *AnswerWindow) replayed(sealedAt time.Time, overlap time.Duration) {
	if w == nil {
		return
	}
	if !sealedAt.IsZero() && sealedAt.Before(w.arrived.Add(-overlap)) {
		w.setRole(roleRetry)
		return
	}
	w.setRole(roleCopy)
}

// replyOwner says who delivers the reply of this closed attempt, which
// replays the stored result of another handling whose passive answer's
// times are other: the platform's retry, if this attempt refused the
// callback; else another handling (answeredElsewhere), or this attempt.
func (w *AnswerWindow) replyOwner(other answerTimes, overlap time.Duration) ReplyOwner {
	w.mu.Lock()
	refused := w.refused
	w.mu.Unlock()
	switch {
	case refused:
		return ReplyRetried
	case w.answeredElsewhere(other, overlap):
		return ReplyAnswered
	}
	return ReplyHere
}

// answeredElsewhere reports whether this closed attempt must leave the
// reply to another handling, whose passive answer's times are other:
//   - that answer was written between this attempt's arrival (less
//     overlap) and its early answer: the platform took it first;
//   - that handling's attempt arrived after this one answered: the
//     platform retried, so this attempt's answer did not arrive, and the
//     reply is that handling's to deliver (or a later retry's).
//
// Otherwise (that answer was written before this attempt came, so it did
// not arrive; or after this attempt answered, to an attempt sent along
// with it) this attempt's answer is the one taken, and it delivers the
// reply. Unknown times count as answered elsewhere, as before they were
// kept (results, and stored late copies, written by an older siyu).
func (w *AnswerWindow) answeredElsewhere(other answerTimes, overlap time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if other.sealed.IsZero() || w.arrived.IsZero() {
		return true
	}
	if other.sealed.Before(w.arrived.Add(-overlap)) {
		return false
	}
	return !other.sealed.After(w.answered) || other.arrived.After(w.answered)
}

// arrivedAt is when the attempt arrived; zero for a nil window.
func (w *AnswerWindow) arrivedAt() time.Time {
	if w == nil {
		return time.Time{}
	}
	return w.arrived
}

// Seal settles the delivery: DeliveryOutbox if the window was closed
// (once the early answer is written), else DeliveryPassive, after which
// it never closes. Later calls return the same. A nil window seals as
// DeliveryPassive.
func (w *AnswerWindow) Seal() Delivery {
	if w == nil {
		return DeliveryPassive
	}
	w.mu.Lock()
	if w.closed {
		written := w.written
		w.mu.Unlock()
		<-written
		return DeliveryOutbox
	}
	w.sealed = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	return DeliveryPassive
}

// Open reports whether the callback may still be answered with its
// reply: an adapter that answers passively gave the window, and it has
// not closed. It may close later, and then the actions are queued; a
// message written ahead as a standby outbox row (OutboxStandby) is sent
// then, because the late delivery queues it under the row's key.
func (w *AnswerWindow) Open() bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.closed
}

// Queue queues a closed attempt's actions through the adapter
// (Answerer.QueueLate) and records that it did (Queued).
func (w *AnswerWindow) Queue(ctx context.Context, actions []Action, reply ReplyOwner) error {
	if w.a == nil {
		return fmt.Errorf("bot.AnswerWindow.Queue: no Answerer: %w", ErrInvalid)
	}
	if err := w.a.QueueLate(ctx, actions, reply); err != nil {
		return err
	}
	w.mu.Lock()
	w.queued = true
	w.mu.Unlock()
	return nil
}

// Queued reports whether the actions were queued through the window
// (Dedupe does, for a closed attempt of a callback with a dedupe key), so
// that the adapter queues them itself only when they were not.
func (w *AnswerWindow) Queued() bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queued
}

type answerWindowKey struct{}

// WithAnswerWindow returns ctx carrying w, for Dedupe.
func WithAnswerWindow(ctx context.Context, w *AnswerWindow) context.Context {
	return context.WithValue(ctx, answerWindowKey{}, w)
}

// AnswerWindowFrom returns the window in ctx, or nil.
func AnswerWindowFrom(ctx context.Context) *AnswerWindow {
	w, _ := ctx.Value(answerWindowKey{}).(*AnswerWindow)
	return w
}
