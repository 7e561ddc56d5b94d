package bot

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"
)

// ScriptSource gives the engine the reply scripts in force. A Library
// implements it and swaps scripts on reload.
type ScriptSource interface {
	Scripts() *Scripts
}

// EngineConfig holds the engine's dependencies.
type EngineConfig struct {
	Scripts ScriptSource
	Logger  *slog.Logger
	// Pick chooses one of n replies; random by default.
	Pick func(n int) int
	Now  func() time.Time
	// GroupWelcomeWindow gathers a group's new members into one welcome:
	// everyone who joins within a window is greeted once, at its end.
	GroupWelcomeWindow time.Duration
}

// Engine is the dialog engine: reply scripts turned into answers. It
// implements Handler; cross-cutting stages (dedupe, recover) wrap it as
// middleware.
type Engine struct {
	scripts ScriptSource
	logger  *slog.Logger
	pick    func(n int) int
	now     func() time.Time
	window  time.Duration
}

// NewEngine returns an engine.
func NewEngine(cfg EngineConfig) *Engine {
	e := &Engine{scripts: cfg.Scripts, logger: cfg.Logger, pick: cfg.Pick, now: cfg.Now, window: cfg.GroupWelcomeWindow}
	if e.window <= 0 {
		e.window = time.Minute // long enough to gather a burst of joins, short enough to feel personal
	}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	if e.pick == nil {
		e.pick = rand.IntN
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// HandleEvent answers one event.
func (e *Engine) HandleEvent(ctx context.Context, ev Event) ([]Action, error) {
	s := e.scripts.Scripts()
	to := ev.ReplyTarget()
	switch ev.Kind {
	case KindMessage:
		if ev.Observe {
			return nil, nil
		}
		if r, ok := s.Match(ev.Platform, ev.Text); ok {
			return []Action{Reply{To: to, Text: r.Reply(e.pick), InReplyTo: ev.MessageID}}, nil
		}
		// No fallback in groups: a bot that answers every unmatched line
		// of a group chat is spam.
		if !ev.Conversation.IsGroup() {
			if text := s.FallbackReply(e.pick); text != "" {
				return []Action{Reply{To: to, Text: text, InReplyTo: ev.MessageID}}, nil
			}
		}
	case KindMenuClick:
		if r, ok := s.MatchMenu(ev.Platform, ev.Key); ok {
			return []Action{Reply{To: to, Text: r.Reply(e.pick), InReplyTo: ev.MessageID}}, nil
		}
	case KindFollow:
		text := ""
		if ev.Channel != "" {
			if t, ch := s.ContactWelcome(ev.Channel, e.pick); ch != nil {
				text = t
			}
		}
		if text == "" {
			text = s.FollowWelcome(e.pick)
		}
		if text != "" {
			return []Action{Welcome{To: to, Text: text, Channel: ev.Channel}}, nil
		}
	case KindContactAdded:
		if text, _ := s.ContactWelcome(ev.Channel, e.pick); text != "" {
			return []Action{Welcome{To: to, Text: text, Channel: ev.Channel, WelcomeCode: ev.WelcomeCode}}, nil
		}
	case KindMemberJoined:
		// WeCom sends customer-group welcomes itself, from templates kept
		// in sync with welcome.group; a bot cannot post into those groups.
		if ev.Platform == WeCom {
			return nil, nil
		}
		if text := s.GroupWelcome(e.pick); text != "" && ev.Conversation.IsGroup() && !ev.Observe {
			end := ev.Time.Truncate(e.window).Add(e.window)
			return []Action{Batched{
				Action: Reply{To: Target{Platform: ev.Platform, Account: ev.Account, Conversation: ev.Conversation}, Text: text},
				Key:    "welcome:" + string(ev.Platform) + ":" + string(ev.Account) + ":" + string(ev.Conversation.Group) + ":" + strconv.FormatInt(end.Unix(), 10),
				SendAt: end,
			}}, nil
		}
	}
	return nil, nil
}
