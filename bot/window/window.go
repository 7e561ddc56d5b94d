// Package window holds the rules of 1:1 reply windows: platforms that let
// an account message a customer only for a while after the customer
// wrote (Douyin), and only so many times. Adapters check a message
// against them before sending; store/redisstore keeps the state shared
// by replicas.
package window

import (
	"context"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// Limits are Douyin's limits on messages to one customer in a 1:1 chat.
// Douyin has no passive reply: every message goes through /im/send/msg/
// and must name what it answers.
//
// Sources. The official send-message page was not in the material
// searched; the numbers are those several independent third-party
// clients quote from it, and they agree: a reply (scene im_reply_msg)
// may answer a customer's message for 24 hours, at most 6 times until the
// customer writes again; after the customer opens the chat
// (im_enter_direct_msg) the account may send at most 3 messages within 30
// seconds. One client reports 48 hours for the enterprise-account web
// console; siyu takes the stricter 24. Proactive messages (scene
// im_authorize_message) need the customer's authorization and are capped
// at once a day, at most 3 messages
// (…/dop/ability/interaction-management/im); siyu does not send them.
type Limits struct {
	ReplyWindow       time.Duration
	RepliesPerMessage int
	EnterWindow       time.Duration
	EnterReplies      int
}

// DefaultLimits returns the limits documented above.
func DefaultLimits() Limits {
	return Limits{ReplyWindow: 24 * time.Hour, RepliesPerMessage: 6, EnterWindow: 30 * time.Second, EnterReplies: 3}
}

// WithDefaults fills unset limits from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.ReplyWindow <= 0 {
		l.ReplyWindow = d.ReplyWindow
	}
	if l.RepliesPerMessage <= 0 {
		l.RepliesPerMessage = d.RepliesPerMessage
	}
	if l.EnterWindow <= 0 {
		l.EnterWindow = d.EnterWindow
	}
	if l.EnterReplies <= 0 {
		l.EnterReplies = d.EnterReplies
	}
	return l
}

// Recorder keeps what webhooks say about 1:1 conversations, in storage
// shared by all replicas. Every method is idempotent, since Douyin
// retries webhooks. Errors wrap bot.ErrUnavailable.
type Recorder interface {
	// RecordMessage notes a customer message: it opens the reply window
	// and resets the reply count, unless a newer message is already
	// recorded.
	RecordMessage(ctx context.Context, account bot.AccountID, user bot.UserID, conversation, messageID string, at time.Time) error
	// RecordEnter notes that the customer opened the chat.
	RecordEnter(ctx context.Context, account bot.AccountID, user bot.UserID, conversation, messageID string, at time.Time) error
	// MarkRecalled notes that user recalled messageID: a reply to it
	// that is still queued is not sent.
	MarkRecalled(ctx context.Context, account bot.AccountID, user bot.UserID, messageID string) error
	// IsRecalled reports whether messageID was recalled.
	IsRecalled(ctx context.Context, account bot.AccountID, messageID string) (bool, error)
}

// Grant allows one 1:1 message: the scene and the ids Douyin wants with
// it.
type Grant struct {
	Scene          string
	ReplyTo        string // server_message_id answered
	ConversationID string
	// Counted is the id whose quota the grant took: the customer's
	// latest message, or the chat opening. It differs from ReplyTo when
	// the reply answers an earlier message.
	Counted string
}

// Windows decides whether a 1:1 message may be sent now.
type Windows interface {
	// Reserve takes one message from the open window and returns what
	// to send it with.
	//
	// replyTo is the id of the customer message the reply answers, ""
	// when unknown. When given, a recalled replyTo is refused, and the
	// grant answers replyTo when it is the latest recorded message or
	// its own reply window is still open; otherwise (an unrecorded or
	// expired replyTo) it falls back to what an unknown replyTo gets:
	// the customer's latest message while its window is open, then the
	// chat opening. Either way the reply counts against the latest
	// message's quota, so answering older messages does not raise the
	// conversation's limit.
	//
	// A message the limits forbid is refused with an error wrapping
	// bot.ErrInvalid that says why (recalled, outside the window, quota
	// used, nothing to reply to); storage failures wrap
	// bot.ErrUnavailable.
	Reserve(ctx context.Context, account bot.AccountID, user bot.UserID, replyTo string, now time.Time) (Grant, error)
	// Release gives back a reservation whose message Douyin refused, so
	// it does not count against the quota.
	Release(ctx context.Context, account bot.AccountID, user bot.UserID, g Grant) error
}
