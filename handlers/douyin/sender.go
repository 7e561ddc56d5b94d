package douyin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/window"
)

// SenderConfig holds a Sender's dependencies.
type SenderConfig struct {
	API     *Client
	Tokens  TokenSource
	Windows window.Windows
	Now     func() time.Time
	Logger  *slog.Logger
}

// Sender delivers Reply and Welcome actions through Douyin's OpenAPI: to
// one customer with /im/send/msg/, into a fan group with
// /im/send/msg/group/. 1:1 messages are checked against the limits
// (window.Windows) before any call, so what Douyin forbids is refused with
// bot.ErrInvalid and the reason, and the outbox dead-letters it instead
// of retrying.
type Sender struct {
	api     *Client
	tokens  TokenSource
	windows window.Windows
	now     func() time.Time
	logger  *slog.Logger
}

// Interface guard.
var _ bot.Sender = (*Sender)(nil)

// NewSender returns a Sender.
func NewSender(cfg SenderConfig) *Sender {
	s := &Sender{api: cfg.API, tokens: cfg.Tokens, windows: cfg.Windows, now: cfg.Now, logger: cfg.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// Send implements bot.Sender. Refusals (the limits, a recalled message,
// an action Douyin cannot carry, a permanent platform error) wrap
// bot.ErrInvalid; everything else is retried by the outbox.
func (s *Sender) Send(ctx context.Context, a bot.Action) error {
	const op = "douyin.Send"
	if _, ok := a.(bot.Handover); ok {
		// Douyin has no staff tool siyu can hand a conversation to: staff
		// answer from siyu's inbox, through this sender.
		return nil
	}
	text, ok := bot.TextOf(a)
	if !ok {
		return fmt.Errorf("%s: %T cannot be sent on Douyin: %w", op, a, bot.ErrInvalid)
	}
	to := a.Dest()
	switch {
	case to.Platform != bot.Douyin:
		return fmt.Errorf("%s: action for %q: %w", op, to.Platform, bot.ErrInvalid)
	case to.Account == "":
		return fmt.Errorf("%s: no account open_id to send from: %w", op, bot.ErrInvalid)
	case text == "":
		return fmt.Errorf("%s: empty text: %w", op, bot.ErrInvalid)
	}
	if to.Conversation.IsGroup() {
		// Douyin documents no reply window for fan groups.
		return classify(op, s.withToken(ctx, func(tok string) error {
			return s.api.SendGroup(ctx, tok, to.Account, to.Conversation.Group, text)
		}))
	}
	if to.User == "" {
		return fmt.Errorf("%s: no customer to send to: %w", op, bot.ErrInvalid)
	}
	var replyTo string // a Welcome answers no message
	if r, ok := a.(bot.Reply); ok {
		replyTo = r.InReplyTo
	}
	g, err := s.windows.Reserve(ctx, to.Account, to.User, replyTo, s.now())
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err = s.withToken(ctx, func(tok string) error {
		return s.api.SendPrivate(ctx, tok, to.Account, PrivateMessage{
			To: to.User, ConversationID: g.ConversationID, ReplyTo: g.ReplyTo, Scene: g.Scene, Text: text,
		})
	})
	if err != nil {
		// Give the quota back. After a transport error the message may
		// in fact have gone out; counting it anyway would let a network
		// outage use up a conversation's replies, while Douyin itself
		// refuses a 7th (28003070, dead-lettered), so undercounting is
		// the safer error. The send's context may be spent: one second
		// is ample for one Redis round trip.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if rerr := s.windows.Release(rctx, to.Account, to.User, g); rerr != nil {
			s.logger.WarnContext(ctx, "douyin: quota release failed; one reply of this window stays counted", "err", rerr)
		}
	}
	return classify(op, err)
}

// withToken calls call with a token, and once more with a fresh one when
// Douyin rejects the token as expired or invalid: a cached token can be
// revoked before its TTL runs out.
func (s *Sender) withToken(ctx context.Context, call func(token string) error) error {
	tok, err := s.tokens.Token(ctx)
	if err != nil {
		return err
	}
	err = call(tok)
	var ae *APIError
	if !errors.As(err, &ae) || !ae.TokenRejected() {
		return err
	}
	if ierr := s.tokens.Invalidate(ctx, tok); ierr != nil {
		return fmt.Errorf("%w (and dropping the token failed: %v)", err, ierr)
	}
	if tok, err = s.tokens.Token(ctx); err != nil {
		return err
	}
	return call(tok)
}

// classify marks permanent platform refusals with bot.ErrInvalid so the
// outbox dead-letters them; other errors are retried.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Permanent() {
		return fmt.Errorf("%s: %w: %w", op, bot.ErrInvalid, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
