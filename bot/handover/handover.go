// Package handover is the hand-over to a person: when a customer asks for
// one (the 人工 keyword, the human_agent intent, a risk the scripts name),
// the conversation goes to the brand's staff, and the bot pauses in that
// conversation until staff end it, the platform reports the session
// closed, or nobody has written for the scripts' quiet time.
//
// It owns four things:
//
//   - the pause: which 1:1 conversations a person holds, in storage shared
//     by replicas that survives their restarts (Pauses, on Redis);
//   - a command stage that, in a held conversation, takes every message
//     and menu click before the keyword rules, intents, FAQ and fallback
//     (commands listed before it in the stack, 退订 and 签到, still work,
//     and risk, an observer, still reads every message), and that hands
//     over on the handover: section's keywords, menu keys and risks;
//   - a middleware that starts a pause for any stage's bot.Handover (the
//     intents capability raises one for human_agent), records the
//     conversation's text for staff (Log), and ends pauses the platform
//     reports closed;
//   - the staff side: the inbox (conversations waiting, oldest first),
//     replies through the platform's customer-service API inside its
//     window, assignment, the end of a hand-over, and the counts.
//
// How a platform hands over is its adapter's business (see bot.Handover).
package handover

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// Reasons a conversation was handed over, as recorded and counted.
const (
	ReasonKeyword  = "keyword"  // the handover: section's keywords or menu keys
	ReasonIntent   = "intent"   // the classifier read the hand-over intent
	ReasonRisk     = "risk"     // a risk category the section names
	ReasonPlatform = "platform" // the platform said a person holds the session
)

// Reasons a hand-over ended, as recorded.
const (
	EndStaff    = "staff"    // ended from the console
	EndPlatform = "platform" // the platform's staff tool closed the session
	EndQuiet    = "quiet"    // nobody wrote for the quiet time
)

// Conv names one 1:1 conversation: "<platform>:<account>:<user>". It
// holds a customer's id: never log it.
type Conv string

// ConvOf returns the conversation of a user with an account.
func ConvOf(p bot.Platform, account bot.AccountID, user bot.UserID) Conv {
	return Conv(string(p) + ":" + string(account) + ":" + string(user))
}

// Party is who wrote a message of a held conversation.
type Party string

// Parties.
const (
	Customer Party = "customer"
	Staff    Party = "staff"
	Bot      Party = "bot" // siyu itself: the hand-over's reply, commands that still answer
)

// Pause is a conversation a person holds. Its times are the service
// clock's.
type Pause struct {
	// ID names the hand-over: staff's reference to it (in URLs, never
	// the customer's id) and the Log's key.
	ID     string
	Conv   Conv
	To     bot.Target // the customer: platform, account, user
	Reason string
	// Agent is the platform-side person the scripts chose ("" when the
	// platform chooses).
	Agent string
	Since time.Time
	// Waiting is when the oldest customer message no staff reply has
	// answered arrived; zero when staff wrote last.
	Waiting      time.Time
	LastCustomer time.Time
	LastStaff    time.Time
	// Assignee is the staff member the conversation is assigned to in
	// the console ("" when nobody).
	Assignee string
}

// Pauses keeps which conversations a person holds, in storage every
// replica shares and that outlives replicas' restarts. A pause lasts its
// ttl after its last activity (Start, Touch); then it is gone and the bot
// answers again. Errors wrap bot.ErrUnavailable.
type Pauses interface {
	// Get returns the conversation's pause, and false when the bot
	// answers it.
	Get(ctx context.Context, conv Conv) (Pause, bool, error)
	// Start stores p unless the conversation is held already; it then
	// returns the pause in force and started false.
	Start(ctx context.Context, p Pause, ttl time.Duration) (cur Pause, started bool, err error)
	// Touch records a message by the customer (the wait starts unless it
	// has) or by staff (the wait ends) at at, and makes the pause last ttl
	// from now. It reports false, and creates nothing, when the
	// conversation has no pause.
	Touch(ctx context.Context, conv Conv, by Party, at time.Time, ttl time.Duration) (bool, error)
	// End removes the conversation's pause and returns it, if it is
	// hand-over id's (any hand-over's when id is ""); false when there was
	// no such pause.
	End(ctx context.Context, conv Conv, id string) (Pause, bool, error)
}

// Board is the staff's view of the pauses. Errors wrap
// bot.ErrUnavailable.
type Board interface {
	// Held returns up to limit pauses in force, in no particular order.
	Held(ctx context.Context, limit int) ([]Pause, error)
	// Assign sets who a held conversation is assigned to; false when it
	// has no pause.
	Assign(ctx context.Context, conv Conv, staff string) (bool, error)
	// Expired forgets up to limit hand-overs whose pause ran out (its
	// quiet time passed) and returns their ids and conversations. Each
	// expired hand-over is returned to one caller only, in any replica.
	Expired(ctx context.Context, limit int) ([]Pause, error)
	// Conversations lists every conversation a person may hold: those
	// held, and those whose pause ran out and Expired has not returned
	// yet (replicas load their index of hand-overs from it).
	Conversations(ctx context.Context) ([]Conv, error)
}

// Turns counts in storage shared by replicas, for round-robin choices.
type Turns interface {
	// Next returns the next number of key's count, from 1. Errors wrap
	// bot.ErrUnavailable.
	Next(ctx context.Context, key string) (int64, error)
}

// Session is one hand-over as the Log keeps it.
type Session struct {
	ID        string
	Conv      Conv
	To        bot.Target
	Reason    string
	StartedAt time.Time
	// FirstReplyAt is when staff first wrote through siyu (the console,
	// 微信客服's client); zero until then.
	FirstReplyAt time.Time
	EndedAt      time.Time // zero while held
	EndReason    string
}

// Message is one message of a held conversation.
type Message struct {
	Session string // the hand-over's id
	Conv    Conv
	From    Party
	// Author names the staff member who wrote it ("" for the customer
	// and the bot).
	Author string
	Text   string
	At     time.Time
}

// Log keeps each hand-over and its conversation's text, durably, for
// staff and counts. Errors wrap bot.ErrUnavailable.
type Log interface {
	// Open records a hand-over that started.
	Open(ctx context.Context, s Session) error
	// Close records that a hand-over ended at at, for reason, unless it
	// is recorded ended already.
	Close(ctx context.Context, id, reason string, at time.Time) error
	// Replied records staff's reply at at and reports whether it was the
	// hand-over's first.
	Replied(ctx context.Context, id string, at time.Time) (first bool, err error)
	// Add records one message.
	Add(ctx context.Context, m Message) error
}

// History is what staff read from the Log.
type History interface {
	// Session returns a hand-over; bot.ErrNotFound when there is none
	// (or it was purged).
	Session(ctx context.Context, id string) (Session, error)
	// Messages returns up to limit of the conversation's latest
	// messages, oldest first.
	Messages(ctx context.Context, conv Conv, limit int) ([]Message, error)
	// Sessions returns the hand-overs started at or after since, up to
	// limit.
	Sessions(ctx context.Context, since time.Time, limit int) ([]Session, error)
}

// Purger deletes what the retention no longer allows.
type Purger interface {
	// Purge deletes up to batch messages, and ended hand-overs, older
	// than before, and returns how many rows it deleted.
	Purge(ctx context.Context, before time.Time, batch int) (int, error)
}

// Sender sends one action now and returns the platform's answer
// (bot.Outbox.SendNow): a refusal for good wraps bot.ErrInvalid.
type Sender interface {
	SendNow(ctx context.Context, a bot.Action) error
}

// Enqueuer queues actions for durable delivery (bot.Outbox).
type Enqueuer interface {
	Enqueue(ctx context.Context, key string, actions []bot.Action) error
}

// Config holds the Service's dependencies. Pauses, Board, Log and History
// are required for anything but loading scripts (check-scripts builds
// the capability without stores).
type Config struct {
	Pauses  Pauses
	Board   Board
	Turns   Turns // nil: the first of the scripts' agents
	Log     Log
	History History
	Purger  Purger
	// Sender sends staff's replies; nil refuses them.
	Sender Sender
	// Outbox tells the platform that staff ended a hand-over; nil tells
	// it nothing.
	Outbox Enqueuer
	// Announcer carries hand-overs between replicas, so that each keeps
	// an index of them and reads the pause only of the conversations in
	// it (index.go); nil reads the pause of every message.
	Announcer Announcer
	Scripts   bot.ScriptSource
	// Retention is how long conversation text is kept: 30 days by
	// default.
	Retention time.Duration
	// OnHandover, when set, is told each hand-over that starts, by
	// reason; OnFirstReply each first staff reply with the wait since the
	// hand-over. Metrics count them.
	OnHandover   func(reason string)
	OnFirstReply func(wait time.Duration)
	Logger       *slog.Logger
	Now          func() time.Time
}

// DefaultRetention is how long conversation text is kept by default.
const DefaultRetention = 30 * 24 * time.Hour

func (c Config) withDefaults() Config {
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Service is the hand-over capability.
type Service struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	index *heldIndex // nil without an Announcer
}

// New returns the capability.
func New(cfg Config) *Service {
	cfg = cfg.withDefaults()
	s := &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if cfg.Announcer != nil && cfg.Pauses != nil {
		s.index = &heldIndex{}
	}
	return s
}

// Install adds the hand-over to the stack: the handover: section, the
// command stage (placed by the stack's list: after the commands that must
// still work in a held conversation, 退订 and 签到, before the rest), the
// middleware, and the background work that keeps the replica's index of
// hand-overs, closes hand-overs whose quiet time passed and purges old
// conversation text.
func (s *Service) Install(st *bot.Stack) error {
	st.Sections(Section{})
	st.Command(bot.StageFunc(s.handleTurn))
	if s.cfg.Pauses == nil {
		return nil // scripts only
	}
	if s.cfg.Board == nil || s.cfg.Log == nil || s.cfg.History == nil {
		return fmt.Errorf("handover.Install: Pauses, Board, Log and History go together: %w", bot.ErrInvalid)
	}
	st.Use(s.middleware)
	st.Work(s.runSweeper)
	if s.index != nil {
		st.Work(s.Run)
	}
	if s.cfg.Purger != nil {
		st.Work(s.runPurger)
	}
	return nil
}

// settings returns the handover: section in force for the scripts of
// route r (the conversation's: its account's, its brand's or the base
// scripts, bot.ScriptsFor).
func (s *Service) settings(r bot.Route) *Settings {
	if s.cfg.Scripts == nil {
		return DefaultSettings()
	}
	return settingsOf(bot.ScriptsFor(s.cfg.Scripts, r))
}

// newID returns a hand-over id: 16 random hex digits, which name no
// customer.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand docs)
	return hex.EncodeToString(b[:])
}
