package bot

import (
	"context"
	"time"
)

// Deduper remembers which callbacks were handled and what they answered, in
// storage shared by all replicas, so a platform's retries and copies that
// reach two replicas are handled once.
//
// A claim is a short lease, renewed while the handling runs, that becomes
// the long-lived result only when the handling finishes: a claim whose
// holder died (or whose write reached the store after its caller gave up)
// expires in seconds, and the platform's next retry is handled afresh.
type Deduper interface {
	// Claim atomically takes key for lease, held under token, unless it is
	// taken. Exactly one caller gets first=true while the lease (or the
	// result) lasts. Every other caller gets first=false and the result
	// stored by Finish, or a nil result while the holder is still working.
	// Errors are ErrUnavailable, or ErrInvalid for a lease under a
	// millisecond.
	Claim(ctx context.Context, key, token string, lease time.Duration) (first bool, result []byte, err error)
	// Renew extends the lease held under token to lease from now, or
	// takes the key again if the lease expired and nobody took it. It
	// reports false when someone else holds the key or it was finished.
	Renew(ctx context.Context, key, token string, lease time.Duration) (bool, error)
	// Finish replaces the claim with the result of the handling, kept for
	// ttl. It may return before the result is visible (a write queued to be
	// pipelined); callers meanwhile see the claim as pending.
	Finish(ctx context.Context, key string, result []byte, ttl time.Duration) error
	// Release forgets a claim held under token whose handling failed, so
	// that the platform's retry can handle the callback afresh. A claim
	// held by someone else is left alone.
	Release(ctx context.Context, key, token string) error
	// Swap replaces the stored result old (as Claim returned it) with
	// result, kept for ttl, if the key still holds old, in one step. It
	// reports whether it did; when it did not (another copy changed the
	// result first), current is the result the key holds now, or nil if
	// it holds none (it is gone, or claimed again).
	Swap(ctx context.Context, key string, old, result []byte, ttl time.Duration) (current []byte, swapped bool, err error)
}

// OutboxStatus is the state of an outbox row.
type OutboxStatus string

// Outbox states. A row moves pending → sent, or pending → dead when the
// platform refuses it for good or its window closes; a dead row can be
// put back to pending by staff. A standby row is the safety net of a
// message the callback's own answer carries (a coupon's code, written
// with its claim): it is never sent unless the message is enqueued again
// under its key, which makes it pending (the answer did not carry it
// after all: its window closed, or the platform retried).
const (
	OutboxPending OutboxStatus = "pending"
	OutboxSent    OutboxStatus = "sent"
	OutboxDead    OutboxStatus = "dead"
	OutboxStandby OutboxStatus = "standby"
)

// OutboxItem is one action waiting to be sent, stored durably.
type OutboxItem struct {
	ID int64
	// Key makes enqueueing idempotent: a second Enqueue with the same key
	// is ignored, so a retried callback cannot queue its actions twice.
	Key      string
	Platform Platform
	// Payload is the action, encoded by MarshalAction.
	Payload  []byte
	Status   OutboxStatus
	Attempts int
	NextAt   time.Time
	// ExpiresAt is when the platform stops accepting the action (WeChat's
	// 48-hour customer-service window): retries back off until then, and
	// a row still unsent is dead-lettered. Zero means no deadline.
	ExpiresAt time.Time
	LastError string
	// Unfinished is set on a claimed item whose previous claim left it
	// marked as being sent and never recorded how the send ended: that
	// worker died or lost the row mid-send, so the platform may have the
	// message already and sending it again is an ambiguous resend.
	Unfinished bool
	// AmbiguousResends counts the claims that found the item unfinished.
	AmbiguousResends int
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// OutboxStore persists actions until they are delivered.
type OutboxStore interface {
	// Enqueue stores items as pending, due at their NextAt (now when
	// zero). Items whose Key is already stored are skipped silently,
	// except that a standby row becomes pending, due at the item's
	// NextAt.
	Enqueue(ctx context.Context, items []OutboxItem) error
	// Claim leases up to limit pending items due at or before now to the
	// caller: their NextAt moves to now+lease and Attempts grows by one,
	// so no other worker (in any replica) claims them until the lease
	// runs out. A worker that dies mid-send loses its lease and the item
	// is retried. In the same step each item is marked as being sent,
	// until Complete, Fail, Defer or Release records what became of it;
	// an item a claim finds still marked is returned Unfinished, and its
	// AmbiguousResends grows by one.
	Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]OutboxItem, error)
	// Extend moves the lease of claimed items that are still this
	// worker's (same ID and Attempts, still pending) to until, so a send
	// that runs long keeps its row and a dead worker's rows come free
	// within one short lease. It returns how many were extended.
	Extend(ctx context.Context, claimed []OutboxItem, until time.Time) (int, error)
	// Release gives back claimed items that are still this worker's
	// (fenced like Extend) and whose send never started: they are due
	// again at next. A worker that stops uses it, so its rows go out from
	// another replica at once rather than after the lease. Attempts is
	// left as the claim made it: it only ever grows with claims, which is
	// what fences a stale worker's Extend and Release. It returns how many
	// were released.
	Release(ctx context.Context, claimed []OutboxItem, next time.Time) (int, error)
	// Complete marks a claimed item sent.
	Complete(ctx context.Context, id int64) error
	// Fail records a failed attempt: the item is due again at next, or
	// dead when dead is true. (A send that timed out is counted as
	// ambiguous by the Outbox when it times out, not by the next claim.)
	Fail(ctx context.Context, id int64, lastErr string, next time.Time, dead bool) error
	// Defer puts a claimed item back, due at next, without counting the
	// claim as an attempt: a SendGate held it back (quiet hours, a cap),
	// it did not fail. note says why, for staff.
	Defer(ctx context.Context, id int64, note string, next time.Time) error
}

// SendGate decides, when the outbox is about to send a proactive action
// (a Push), whether it may go out now. Do-not-disturb implements it, so
// an opt-out that arrives while a message waits still stops it.
type SendGate interface {
	// Admit returns the zero time to send now, or a later time to defer
	// the push to (quiet hours, a cap that resets). An error wrapping
	// ErrInvalid drops the push for good and says why (the person opted
	// out); any other error defers it briefly.
	Admit(ctx context.Context, p Push, now time.Time) (deferUntil time.Time, err error)
}
