package handover

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// Errors of the staff side, with what staff should read. Each wraps a
// bot error kind.
var (
	// ErrWindowClosed: the platform no longer lets the brand message the
	// customer (WeChat: 48 hours after the customer's last message).
	ErrWindowClosed = fmt.Errorf("handover: the platform's reply window has closed: %w", bot.ErrConflict)
	// ErrNotHeld: the hand-over has ended; the bot answers the
	// conversation.
	ErrNotHeld = fmt.Errorf("handover: the hand-over has ended: %w", bot.ErrConflict)
	// ErrRefused: the platform refused the message for good; the error
	// says why.
	ErrRefused = fmt.Errorf("handover: the platform refused the message: %w", bot.ErrConflict)
	// ErrNoSender: siyu cannot send staff's replies here.
	ErrNoSender = fmt.Errorf("handover: replies cannot be sent from siyu: %w", bot.ErrInvalid)
)

// Conversation is a held conversation as staff see it in the inbox.
type Conversation struct {
	Pause
	// WindowEnds is when the platform stops accepting the brand's
	// messages to the customer (their last message plus the platform's
	// window); zero when the platform sets none.
	WindowEnds time.Time
}

// ReplyWindow is how long after a customer's last message platform p
// accepts customer-service messages: WeChat's and 微信客服's 48 hours,
// Douyin's 24 (window.DefaultLimits). Zero: no window siyu knows of.
func ReplyWindow(p bot.Platform) time.Duration {
	if p == bot.WeCom {
		return 48 * time.Hour // 微信客服 (kf/send_msg documentation)
	}
	return bot.PlatformWindow(p)
}

func conversationOf(p Pause) Conversation {
	c := Conversation{Pause: p}
	if w := ReplyWindow(p.To.Platform); w > 0 && !p.LastCustomer.IsZero() {
		c.WindowEnds = p.LastCustomer.Add(w)
	}
	return c
}

// maxInbox bounds the inbox: staff work the oldest first.
const maxInbox = 500

// Inbox returns the held conversations, those whose customer has waited
// longest for staff first, then those staff answered last, oldest
// hand-over first.
func (s *Service) Inbox(ctx context.Context) ([]Conversation, error) {
	ps, err := s.cfg.Board.Held(ctx, maxInbox)
	if err != nil {
		return nil, fmt.Errorf("handover.Inbox: %w", err)
	}
	slices.SortFunc(ps, func(a, b Pause) int {
		switch {
		case a.Waiting.IsZero() != b.Waiting.IsZero():
			if a.Waiting.IsZero() {
				return 1
			}
			return -1
		case !a.Waiting.Equal(b.Waiting):
			return a.Waiting.Compare(b.Waiting)
		}
		return cmp.Or(a.Since.Compare(b.Since), strings.Compare(a.ID, b.ID))
	})
	out := make([]Conversation, len(ps))
	for i, p := range ps {
		out[i] = conversationOf(p)
	}
	return out, nil
}

// Thread is one hand-over with its conversation's latest messages.
type Thread struct {
	Session Session
	// Held is true while a person holds the conversation; Conversation
	// is then the pause.
	Held         bool
	Conversation Conversation
	Messages     []Message
}

// maxThread is how many of a conversation's latest messages staff see.
const maxThread = 200

// Thread returns hand-over id with its conversation's latest messages.
// Errors: bot.ErrNotFound.
func (s *Service) Thread(ctx context.Context, id string) (Thread, error) {
	sess, p, held, err := s.lookup(ctx, id)
	if err != nil {
		return Thread{}, err
	}
	msgs, err := s.cfg.History.Messages(ctx, sess.Conv, maxThread)
	if err != nil {
		return Thread{}, fmt.Errorf("handover.Thread: %w", err)
	}
	th := Thread{Session: sess, Held: held, Messages: msgs}
	if held {
		th.Conversation = conversationOf(p)
	}
	return th, nil
}

// lookup finds hand-over id and, while it is held, its pause.
func (s *Service) lookup(ctx context.Context, id string) (Session, Pause, bool, error) {
	if id == "" || len(id) > 64 {
		return Session{}, Pause{}, false, fmt.Errorf("handover: no hand-over %q: %w", id, bot.ErrNotFound)
	}
	sess, err := s.cfg.History.Session(ctx, id)
	if err != nil {
		return Session{}, Pause{}, false, fmt.Errorf("handover %s: %w", id, err)
	}
	p, held, err := s.cfg.Pauses.Get(ctx, sess.Conv)
	if err != nil {
		return Session{}, Pause{}, false, fmt.Errorf("handover %s: %w", id, err)
	}
	return sess, p, held && p.ID == id, nil
}

// Reply sends staff's text to the customer of held hand-over id through
// the platform's customer-service API, at once, and records it. Errors:
// ErrNotHeld, ErrWindowClosed, ErrRefused (with the platform's reason),
// ErrNoSender, bot.ErrNotFound, bot.ErrInvalid for an empty text, and
// bot.ErrUnavailable when the platform could not be reached (nothing was
// recorded; staff may try again).
func (s *Service) Reply(ctx context.Context, id, staff, text string) error {
	text = strings.TrimSpace(text)
	if text == "" || len([]rune(text)) > maxText {
		return fmt.Errorf("handover.Reply: the text must have 1 to %d characters: %w", maxText, bot.ErrInvalid)
	}
	if s.cfg.Sender == nil {
		return ErrNoSender
	}
	_, p, held, err := s.lookup(ctx, id)
	if err != nil {
		return err
	}
	if !held {
		return ErrNotHeld
	}
	now := s.now()
	if c := conversationOf(p); !c.WindowEnds.IsZero() && !now.Before(c.WindowEnds) {
		return fmt.Errorf("%w: the customer last wrote at %s, and the window lasts %s", ErrWindowClosed, p.LastCustomer.Format(time.RFC3339), ReplyWindow(p.To.Platform))
	}
	if err := s.cfg.Sender.SendNow(ctx, bot.Reply{To: p.To, Text: text}); err != nil {
		if errors.Is(err, bot.ErrInvalid) {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return fmt.Errorf("handover.Reply: %w", err)
	}
	s.log.InfoContext(ctx, "handover: staff replied", "platform", p.To.Platform, "handover", id)
	return s.staffSaid(ctx, p, staff, text, now)
}

// staffWrote records what staff wrote through the platform's own tool
// (a 微信客服 servicer) in a held conversation.
func (s *Service) staffWrote(ctx context.Context, conv Conv, staff, text string) error {
	p, held, err := s.cfg.Pauses.Get(ctx, conv)
	if err != nil {
		return fmt.Errorf("handover: %w", err)
	}
	if !held {
		return nil
	}
	return s.staffSaid(ctx, p, staff, text, s.now())
}

// staffSaid records a staff message sent at at: the log, the pause's
// clock, and the first reply's wait.
func (s *Service) staffSaid(ctx context.Context, p Pause, staff, text string, at time.Time) error {
	if _, err := s.cfg.Pauses.Touch(ctx, p.Conv, Staff, at, s.settings(p.To.Route).Quiet); err != nil {
		s.log.WarnContext(ctx, "handover: pause not renewed after a staff reply", "handover", p.ID, "err", err)
	}
	if text != "" {
		if err := s.cfg.Log.Add(ctx, Message{Session: p.ID, Conv: p.Conv, From: Staff, Author: staff, Text: clip(text), At: at}); err != nil {
			return fmt.Errorf("handover: sent, but not recorded: %w", err)
		}
	}
	first, err := s.cfg.Log.Replied(ctx, p.ID, at)
	if err != nil {
		return fmt.Errorf("handover: sent, but not recorded: %w", err)
	}
	if first && s.cfg.OnFirstReply != nil {
		s.cfg.OnFirstReply(at.Sub(p.Since))
	}
	return nil
}

// Assign assigns held hand-over id to a staff member ("" for nobody).
// Errors: ErrNotHeld, bot.ErrNotFound, bot.ErrInvalid for a name over 64
// characters.
func (s *Service) Assign(ctx context.Context, id, staff string) error {
	staff = strings.TrimSpace(staff)
	if len([]rune(staff)) > 64 {
		return fmt.Errorf("handover.Assign: a name has at most 64 characters: %w", bot.ErrInvalid)
	}
	sess, _, held, err := s.lookup(ctx, id)
	if err != nil {
		return err
	}
	if !held {
		return ErrNotHeld
	}
	ok, err := s.cfg.Board.Assign(ctx, sess.Conv, staff)
	if err != nil {
		return fmt.Errorf("handover.Assign: %w", err)
	}
	if !ok {
		return ErrNotHeld
	}
	return nil
}

// End ends held hand-over id on staff's word: the bot answers the
// conversation again, and the platform is told (微信客服 ends the
// session). Errors: ErrNotHeld, bot.ErrNotFound.
func (s *Service) End(ctx context.Context, id string) error {
	sess, _, held, err := s.lookup(ctx, id)
	if err != nil {
		return err
	}
	if !held {
		return ErrNotHeld
	}
	ended, err := s.end(ctx, sess.Conv, id, EndStaff, true)
	if err != nil {
		return err
	}
	if !ended {
		return ErrNotHeld
	}
	return nil
}

// end removes conv's pause (only hand-over id's, unless id is ""),
// records why, and, when tell, queues the platform's notice. It reports
// whether there was such a pause.
func (s *Service) end(ctx context.Context, conv Conv, id, reason string, tell bool) (bool, error) {
	// Only hand-over id's: one that ended and started again meanwhile is
	// not the one staff ended.
	p, ok, err := s.cfg.Pauses.End(ctx, conv, id)
	if err != nil {
		return false, fmt.Errorf("handover.End: %w", err)
	}
	if !ok {
		return false, nil
	}
	now := s.now()
	if err := s.cfg.Log.Close(ctx, p.ID, reason, now); err != nil {
		s.log.WarnContext(ctx, "handover: end not recorded", "handover", p.ID, "err", err)
	}
	if tell && s.cfg.Outbox != nil {
		end := bot.Handover{To: p.To, Step: bot.HandoverEnd, Reason: p.Reason, Agent: p.Agent}
		if err := s.cfg.Outbox.Enqueue(ctx, "handover-end:"+p.ID, []bot.Action{end}); err != nil {
			s.log.WarnContext(ctx, "handover: the platform was not told of the end", "handover", p.ID, "err", err)
		}
	}
	s.log.InfoContext(ctx, "handover: ended; the bot answers again", "platform", p.To.Platform, "reason", reason, "handover", p.ID)
	return true, nil
}

// Hold hands a conversation to a person because the platform says one
// holds it (微信客服 refused the bot's message with 95018): the bot stays
// quiet there as it would after a hand-over. A conversation held already
// is left as it is.
func (s *Service) Hold(ctx context.Context, to bot.Target, reason string) error {
	if to.User == "" || to.Conversation.IsGroup() {
		return nil
	}
	conv := ConvOf(to.Platform, to.Account, to.User)
	now := s.now()
	p := Pause{ID: newID(), Conv: conv, To: bot.Target{Platform: to.Platform, Account: to.Account, Route: to.Route, User: to.User}, Reason: reason, Since: now}
	_, started, err := s.cfg.Pauses.Start(ctx, p, s.settings(to.Route).Quiet)
	if err != nil {
		return fmt.Errorf("handover.Hold: %w", err)
	}
	if !started {
		return nil
	}
	s.announce(ctx, conv)
	if err := s.cfg.Log.Open(ctx, Session{ID: p.ID, Conv: conv, To: p.To, Reason: reason, StartedAt: now}); err != nil {
		s.log.WarnContext(ctx, "handover: hold not recorded; it shows in the inbox without its history", "err", err)
	}
	if s.cfg.OnHandover != nil {
		s.cfg.OnHandover(reason)
	}
	s.log.InfoContext(ctx, "handover: the platform says a person holds the conversation; the bot stays quiet", "platform", to.Platform, "reason", reason, "handover", p.ID)
	return nil
}

// DayCount is one day's hand-overs.
type DayCount struct {
	Day      string         // 2006-01-02 in the asked time zone
	ByReason map[string]int // hand-overs started that day, by reason
	// Replied counts those staff answered through siyu, and WaitSum
	// their total wait to the first reply.
	Replied int
	WaitSum time.Duration
}

// maxStatsSessions bounds a stats read.
const maxStatsSessions = 100000

// Stats returns the hand-overs of the last days days (today included),
// per day in loc, oldest first.
func (s *Service) Stats(ctx context.Context, days int, loc *time.Location) ([]DayCount, error) {
	if days < 1 || days > 366 {
		return nil, fmt.Errorf("handover.Stats: days %d: want 1 to 366: %w", days, bot.ErrInvalid)
	}
	now := s.now().In(loc)
	first := time.Date(now.Year(), now.Month(), now.Day()-days+1, 0, 0, 0, 0, loc)
	sessions, err := s.cfg.History.Sessions(ctx, first, maxStatsSessions)
	if err != nil {
		return nil, fmt.Errorf("handover.Stats: %w", err)
	}
	out := make([]DayCount, days)
	index := map[string]int{}
	for i := range out {
		d := first.AddDate(0, 0, i).Format(time.DateOnly)
		out[i] = DayCount{Day: d, ByReason: map[string]int{}}
		index[d] = i
	}
	for _, se := range sessions {
		i, ok := index[se.StartedAt.In(loc).Format(time.DateOnly)]
		if !ok {
			continue
		}
		out[i].ByReason[se.Reason]++
		if !se.FirstReplyAt.IsZero() {
			out[i].Replied++
			out[i].WaitSum += se.FirstReplyAt.Sub(se.StartedAt)
		}
	}
	return out, nil
}
