package wecom

import (
	"context"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// The storage the adapter needs, declared where it is used. store/sqlstore
// implements it (sqlstore.WeCom); its record types mirror the ones here
// field for field, so main adapts one to the other by conversion.

// Welcome outcomes recorded per new contact (the values sqlstore stores).
const (
	OutcomePending     = "pending"      // being sent, or the sender died before recording
	OutcomeSent        = "sent"         // send_welcome_msg succeeded
	OutcomeAlreadySent = "already_sent" // 41051: a welcome already went out with this code
	OutcomeNoCode      = "no_code"      // no welcome code: the admin console has its own welcome
	OutcomeNoText      = "no_text"      // the scripts have no welcome for this channel or by default
	OutcomeBusyGaveUp  = "busy_gave_up" // 41096 (another app sending) until the window closed
	OutcomeFailed      = "failed"       // refused by WeCom, or WeCom unreachable within the window
)

// Tag outcomes recorded per new contact whose channel has tags (the
// values sqlstore stores); "" when the channel has none.
const (
	TagsPending = "pending" // being applied, or the replica died before recording
	TagsApplied = "applied" // mark_tag succeeded with every tag of the channel
	TagsFailed  = "failed"  // not applied; TagError says why
)

// ContactRecord is a new external contact: who added which staff member
// through which channel, and what became of the welcome.
type ContactRecord struct {
	CorpID string
	// EventKey is the add event's dedupe key, the same in every retry.
	EventKey       string
	ExternalUserID string
	UserID         string // the staff member added
	State          string // the channel QR code's state
	ChannelName    string
	Tags           []string
	Outcome        string // one of the Outcome… constants
	Error          string
	AddedAt        time.Time
	WelcomeAt      time.Time // when the outcome became final; zero while pending
	TagsOutcome    string    // one of the Tags… constants; "" when the channel has no tags
	TagError       string
}

// ContactStore records new contacts.
type ContactStore interface {
	// ClaimContact records c unless its EventKey is already recorded and
	// reports whether this caller recorded it: exactly one caller across
	// retries and replicas gets true, and only it may send the welcome.
	// Errors are bot.ErrInvalid or bot.ErrUnavailable.
	ClaimContact(ctx context.Context, c ContactRecord) (bool, error)
	// ReleaseContact forgets a claim whose outcome is still pending, so
	// that WeCom's retry can claim the event afresh. Errors are
	// bot.ErrUnavailable.
	ReleaseContact(ctx context.Context, corpID, eventKey string) error
	// FinishWelcome records the final outcome of a claimed contact's
	// welcome. Errors are bot.ErrNotFound or bot.ErrUnavailable.
	FinishWelcome(ctx context.Context, corpID, eventKey, outcome, errText string, at time.Time) error
	// FinishTags records whether a claimed contact's channel tags were
	// applied in WeCom (a Tags… outcome). Errors are bot.ErrNotFound or
	// bot.ErrUnavailable.
	FinishTags(ctx context.Context, corpID, eventKey, outcome, errText string) error
}

// GroupChange is one change_external_chat event, as recorded.
type GroupChange struct {
	CorpID        string
	ChatID        string
	ChangeType    string // create, update or dismiss
	UpdateDetail  string // for update: add_member, del_member, change_owner, change_name, change_notice
	Members       []string
	JoinScene     int // 0 invited directly, 1 invited by link, 3 by QR code
	QuitScene     int // 0 left, 1 removed by the owner
	MemberVersion string
	At            time.Time
}

// GroupStore keeps customer groups and their members.
type GroupStore interface {
	// ApplyGroupChange records a change idempotently; an event older than
	// what a row already reflects does not overwrite it. Errors are
	// bot.ErrInvalid or bot.ErrUnavailable.
	ApplyGroupChange(ctx context.Context, ch GroupChange) error
}

// CursorStore keeps named positions of WeCom's pull APIs in storage that
// replicas share.
type CursorStore interface {
	// Cursor returns the position stored under name, or "". Errors are
	// bot.ErrUnavailable.
	Cursor(ctx context.Context, corpID, name string) (string, error)
	// SetCursor stores a position. Errors are bot.ErrInvalid or
	// bot.ErrUnavailable.
	SetCursor(ctx context.Context, corpID, name, value string) error
}

// Locker takes a named lock shared by all replicas, as redisstore.Client
// does: ok is false when someone else holds it; the lock expires after
// ttl if release is never called.
type Locker interface {
	Lock(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
}

// Enqueuer stores actions for durable delivery; enqueueing the same key
// twice is a no-op (bot.Outbox).
type Enqueuer interface {
	Enqueue(ctx context.Context, key string, actions []bot.Action) error
}
