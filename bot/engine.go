package bot

import (
	"context"
	"fmt"
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

// RoutedScripts is a ScriptSource with scripts per brand and account:
// ScriptsFor returns those answering a route (a Library's scopes).
type RoutedScripts interface {
	ScriptSource
	ScriptsFor(r Route) *Scripts
}

// ScriptsFor returns the scripts src has for route r: src.ScriptsFor(r)
// when src has scripts per route (RoutedScripts), else src.Scripts().
// Code outside a turn (the send gate, a renderer) uses it with the route
// of the action's target; nil src gives nil.
func ScriptsFor(src ScriptSource, r Route) *Scripts {
	switch s := src.(type) {
	case nil:
		return nil
	case RoutedScripts:
		return s.ScriptsFor(r)
	}
	return src.Scripts()
}

// EngineConfig holds the engine's dependencies. The stage lists fill the
// layers of the stack documented in stage.go, each in the order given.
type EngineConfig struct {
	Scripts ScriptSource
	Logger  *slog.Logger
	// Understand classifies a message once (layer 1).
	Understand []Analyzer
	// Observe sees every event and never takes it (layer 2).
	Observe []Stage
	// Commands may take a message before the keyword rules (layer 3).
	Commands []Stage
	// Meaning answers after intent rules, before the fallback (layer 5).
	Meaning []Stage
	// OnTurn, when set, is told every finished turn (metrics count the
	// answering stage and the risks hit). It must not keep t.
	OnTurn func(t *Turn)
	// Pick chooses one of n replies; random by default.
	Pick func(n int) int
	Now  func() time.Time
	// GroupWelcomeWindow gathers a group's new members into one welcome:
	// everyone who joins within a window is greeted once, at its end.
	GroupWelcomeWindow time.Duration
}

// Engine is the dialog engine: the stack of stages in stage.go over the
// reply scripts. It implements Handler; cross-cutting stages (dedupe,
// recover, do-not-disturb) wrap it as middleware.
type Engine struct {
	cfg    EngineConfig
	routed RoutedScripts // cfg.Scripts when it has scripts per route
	logger *slog.Logger
	pick   func(n int) int
	now    func() time.Time
	window time.Duration
}

// NewEngine returns an engine.
func NewEngine(cfg EngineConfig) *Engine {
	e := &Engine{cfg: cfg, logger: cfg.Logger, pick: cfg.Pick, now: cfg.Now, window: cfg.GroupWelcomeWindow}
	e.routed, _ = cfg.Scripts.(RoutedScripts)
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
	t, err := e.Run(ctx, ev, false)
	if err != nil {
		return nil, err
	}
	if e.cfg.OnTurn != nil {
		e.cfg.OnTurn(t)
	}
	return t.Actions, nil
}

// Run takes one event through the stack and returns the whole turn: its
// actions and which stage answered. With dryRun, stages say what they
// would do without writing anything (the staff console's dry-run). The
// scripts are those of the event's route when the source has scripts per
// route (a Library: the account's, else its brand's, else the base).
func (e *Engine) Run(ctx context.Context, ev Event, dryRun bool) (*Turn, error) {
	return e.RunWith(ctx, ev, e.scriptsFor(ev.Route), dryRun)
}

// scriptsFor is the scripts answering route r.
func (e *Engine) scriptsFor(r Route) *Scripts {
	if e.routed != nil && !r.IsZero() {
		return e.routed.ScriptsFor(r)
	}
	return e.cfg.Scripts.Scripts()
}

// RunWith is Run over scripts s instead of those in force: the staff
// console dry-runs a draft that is not saved yet. Every stage reads the
// turn's scripts, so the whole stack answers as it would once s is saved.
func (e *Engine) RunWith(ctx context.Context, ev Event, s *Scripts, dryRun bool) (*Turn, error) {
	t := &Turn{Event: ev, Scripts: s, DryRun: dryRun}
	if ev.Kind == KindMessage {
		t.Text = Normalize(ev.Text)
		for _, a := range e.cfg.Understand {
			if err := a.Analyze(ctx, t); err != nil {
				return nil, fmt.Errorf("bot.Engine understand: %w", err)
			}
		}
	}
	for _, s := range e.cfg.Observe {
		if _, err := s.HandleTurn(ctx, t); err != nil {
			return nil, fmt.Errorf("bot.Engine observe: %w", err)
		}
	}
	if ev.Observe {
		return t, nil
	}
	for _, s := range e.cfg.Commands {
		taken, err := s.HandleTurn(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("bot.Engine command: %w", err)
		}
		if taken {
			return t, nil
		}
	}
	if ev.Kind == KindMessage && t.Barred() {
		return t, nil
	}
	if e.rules(t) {
		return t, nil
	}
	if ev.Kind != KindMessage {
		return t, nil
	}
	if r, ok := t.Scripts.MatchIntent(ev.Platform, t.Intent, t.Confidence); ok && t.Intent != "" {
		t.ReplyText(r.Reply(e.pick))
		t.Answer = Answer{Stage: "intent", Rule: r.Name, Intent: t.Intent, Confidence: t.Confidence, File: r.File, Line: r.Line}
		return t, nil
	}
	for _, s := range e.cfg.Meaning {
		taken, err := s.HandleTurn(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("bot.Engine meaning: %w", err)
		}
		if taken {
			return t, nil
		}
	}
	// No fallback in groups: a bot that answers every unmatched line of a
	// group chat is spam.
	if !ev.Conversation.IsGroup() {
		if text := t.Scripts.FallbackReply(e.pick); text != "" {
			t.ReplyText(text)
			t.Answer = Answer{Stage: "fallback", Intent: t.Intent, Confidence: t.Confidence}
			t.Answer.File, t.Answer.Line = t.Scripts.definedAt("fallback")
		}
	}
	return t, nil
}

// rules is layer 4: keyword rules and welcomes. It reports whether it
// took the event.
func (e *Engine) rules(t *Turn) bool {
	ev, s := t.Event, t.Scripts
	to := ev.ReplyTarget()
	switch ev.Kind {
	case KindMessage:
		if r, ok := s.Match(ev.Platform, ev.Text); ok {
			t.ReplyText(r.Reply(e.pick))
			t.Answer = Answer{Stage: "rule", Rule: r.Name, Intent: t.Intent, Confidence: t.Confidence, File: r.File, Line: r.Line}
			return true
		}
	case KindMenuClick:
		if r, ok := s.MatchMenu(ev.Platform, ev.Key); ok {
			t.ReplyText(r.Reply(e.pick))
			t.Answer = Answer{Stage: "menu", Rule: r.Name, File: r.File, Line: r.Line}
			return true
		}
	case KindFollow:
		text, at := "", "welcome.follow"
		var ch *Channel
		if ev.Channel != "" {
			var txt string
			if txt, ch = s.ContactWelcome(ev.Channel, e.pick); ch != nil {
				text = txt
			}
		}
		if text == "" {
			text = s.FollowWelcome(e.pick)
		} else {
			at = s.contactWelcomeAt(ch)
		}
		if text != "" {
			t.Add(Welcome{To: to, Text: text, Channel: ev.Channel})
			t.Answer = Answer{Stage: "welcome", Rule: ev.Channel}
			t.Answer.File, t.Answer.Line = s.welcomeOrigin(at, ch)
			return true
		}
	case KindContactAdded:
		if text, ch := s.ContactWelcome(ev.Channel, e.pick); text != "" {
			t.Add(Welcome{To: to, Text: text, Channel: ev.Channel, WelcomeCode: ev.WelcomeCode})
			t.Answer = Answer{Stage: "welcome", Rule: ev.Channel}
			t.Answer.File, t.Answer.Line = s.welcomeOrigin(s.contactWelcomeAt(ch), ch)
			return true
		}
	case KindMemberJoined:
		// WeCom sends customer-group welcomes itself, from templates kept
		// in sync with welcome.group; a bot cannot post into those groups.
		if ev.Platform == WeCom {
			return false
		}
		if text := s.GroupWelcome(e.pick); text != "" && ev.Conversation.IsGroup() {
			end := ev.Time.Truncate(e.window).Add(e.window)
			t.Add(Batched{
				Action: Reply{To: Target{Platform: ev.Platform, Account: ev.Account, Route: ev.Route, Conversation: ev.Conversation}, Text: text},
				Key:    "welcome:" + string(ev.Platform) + ":" + string(ev.Account) + ":" + string(ev.Conversation.Group) + ":" + strconv.FormatInt(end.Unix(), 10),
				SendAt: end,
			})
			t.Answer = Answer{Stage: "welcome"}
			t.Answer.File, t.Answer.Line = s.definedAt("welcome.group")
			return true
		}
	}
	return false
}
