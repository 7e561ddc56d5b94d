package handover

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/siyu-bot/siyu/bot"
)

// Where the hand-over sits in the stack, and why:
//
// The pause is a command stage (layer 3), not middleware. Middleware wraps
// the whole engine: it could only let every stage run or none, or strip
// answers afterwards without knowing which stage gave them. As a command,
// placed in the capabilities' list after do-not-disturb and check-ins and
// before coupons, a held conversation's message still reaches what must
// keep working — risk (an observer, layer 2, sees every message), 退订/订阅
// and 签到 (commands listed earlier) — and stops before everything that
// would talk over the person: coupons' 领券, keyword rules, intent rules,
// the FAQ, the hand-over stage of the intents capability and the fallback.
//
// The middleware does what concerns the whole event: it reads the pause
// once (the stage gets it through the context), starts a pause for any
// stage's bot.Handover, whichever capability raised it, and records the
// held conversation's text afterwards, whichever stage answered.

// stateKey carries a turn's pause from the middleware to the stage.
type stateKey struct{}

type turnState struct {
	held  bool
	pause Pause
}

// handleTurn is the command stage: it takes every message and menu click
// of a held conversation, forwarding messages to the person, and hands
// over on the section's keywords, menu keys and risks.
func (s *Service) handleTurn(ctx context.Context, t *bot.Turn) (bool, error) {
	ev := t.Event
	if !eligible(ev) || (ev.Kind != bot.KindMessage && ev.Kind != bot.KindMenuClick && ev.Kind != bot.KindMedia) {
		return false, nil
	}
	st, _ := ctx.Value(stateKey{}).(*turnState)
	if st == nil && s.cfg.Pauses != nil {
		// Run without the middleware (the console's dry-run): look.
		p, held, err := s.cfg.Pauses.Get(ctx, ConvOf(ev.Platform, ev.Account, ev.Sender))
		if err != nil {
			return false, fmt.Errorf("handover: %w", err)
		}
		st = &turnState{held: held, pause: p}
	}
	if st != nil && st.held {
		if ev.Kind != bot.KindMenuClick {
			t.Add(bot.Handover{To: ev.ReplyTarget(), Step: bot.HandoverForward, Reason: st.pause.Reason, Agent: st.pause.Agent})
		}
		t.Answer = bot.Answer{Stage: "handover:held", Intent: t.Intent, Confidence: t.Confidence}
		return true, nil
	}
	if t.Barred() {
		// Spam, fraud and poaching are not handed over: risk tells staff
		// about them, once.
		return false, nil
	}
	set := settingsOf(t.Scripts)
	reason := set.matches(ev, t.Text, t.Risks)
	if reason == "" {
		return false, nil
	}
	to := ev.ReplyTarget()
	t.Add(bot.Handover{To: to, Step: bot.HandoverStart, Reason: reason})
	alert := ev.Text
	if ev.Kind == bot.KindMenuClick {
		alert = "（点击菜单）"
	}
	t.Add(bot.StaffAlert{To: to, Title: set.AlertTitle, Text: alert})
	if text := set.reply(reason, nil); text != "" {
		t.ReplyText(text)
	}
	t.Answer = bot.Answer{Stage: "handover", Rule: reason, Intent: t.Intent, Confidence: t.Confidence}
	return true, nil
}

// eligible reports whether ev is of a 1:1 conversation that can be
// handed over: not a group, not seen after the fact.
func eligible(ev bot.Event) bool {
	return !ev.Observe && !ev.Conversation.IsGroup() && ev.Sender != ""
}

// middleware starts pauses, records held conversations' text and ends
// pauses the platform reports closed.
func (s *Service) middleware(next bot.Handler) bot.Handler {
	return bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		if !eligible(ev) {
			return next.HandleEvent(ctx, ev)
		}
		conv := ConvOf(ev.Platform, ev.Account, ev.Sender)
		switch ev.Kind {
		case bot.KindSessionClosed:
			if _, err := s.end(ctx, conv, "", EndPlatform, false); err != nil {
				return nil, err
			}
			return nil, nil
		case bot.KindStaffMessage:
			return nil, s.staffWrote(ctx, conv, "", ev.Text)
		case bot.KindMessage, bot.KindMenuClick, bot.KindMedia:
		default:
			return next.HandleEvent(ctx, ev)
		}
		var p Pause
		held := false
		if s.mayHold(conv) {
			var err error
			if p, held, err = s.cfg.Pauses.Get(ctx, conv); err != nil {
				return nil, fmt.Errorf("handover: %w", err)
			}
		}
		actions, err := next.HandleEvent(context.WithValue(ctx, stateKey{}, &turnState{held: held, pause: p}), ev)
		if err != nil {
			return nil, err
		}
		if held {
			s.customerWrote(ctx, p, ev, actions)
			return actions, nil
		}
		for i, a := range actions {
			if h, ok := a.(bot.Handover); ok && h.Step == bot.HandoverStart && h.To.User == ev.Sender {
				return s.start(ctx, conv, ev, actions, i)
			}
		}
		return actions, nil
	})
}

// start starts the pause for the hand-over actions[i] asks for, records
// it, and returns the actions with the platform-side agent filled in.
// Errors leave no pause behind, so the platform's retry starts afresh.
func (s *Service) start(ctx context.Context, conv Conv, ev bot.Event, actions []bot.Action, i int) ([]bot.Action, error) {
	h := actions[i].(bot.Handover)
	set := s.settings(ev.Route)
	if h.Agent == "" {
		h.Agent = s.pickAgent(ctx, ev.Platform, ev.Account, set)
	}
	now := s.now()
	p := Pause{
		ID: newID(), Conv: conv, To: bot.Target{Platform: ev.Platform, Account: ev.Account, Route: ev.Route, User: ev.Sender},
		Reason: h.Reason, Agent: h.Agent, Since: now, Waiting: now, LastCustomer: now,
	}
	cur, started, err := s.cfg.Pauses.Start(ctx, p, set.Quiet)
	if err != nil {
		return nil, fmt.Errorf("handover.start: %w", err)
	}
	out := append([]bot.Action(nil), actions...)
	if !started {
		// Another replica handed the conversation over meanwhile: the
		// same person takes this message.
		h.Agent = cur.Agent
		out[i] = h
		s.customerWrote(ctx, cur, ev, out)
		return out, nil
	}
	if err := s.cfg.Log.Open(ctx, Session{ID: p.ID, Conv: conv, To: p.To, Reason: p.Reason, StartedAt: now}); err != nil {
		// Without its record staff could not see the conversation: undo
		// the pause and let the platform retry.
		if _, _, uerr := s.cfg.Pauses.End(context.WithoutCancel(ctx), conv, p.ID); uerr != nil {
			s.log.WarnContext(ctx, "handover: pause not undone after a failed start; it ends after its quiet time", "err", uerr)
		}
		return nil, fmt.Errorf("handover.start: %w", err)
	}
	out[i] = h
	s.announce(ctx, conv)
	s.record(ctx, p, ev, out)
	if s.cfg.OnHandover != nil {
		s.cfg.OnHandover(p.Reason)
	}
	s.log.InfoContext(ctx, "handover: conversation handed to a person", "platform", ev.Platform, "reason", p.Reason, "handover", p.ID)
	return out, nil
}

// pickAgent chooses the platform-side person from the scripts' agents, in
// turn across replicas; "" lets the platform choose.
func (s *Service) pickAgent(ctx context.Context, p bot.Platform, account bot.AccountID, set *Settings) string {
	agents := set.Agents[p]
	switch {
	case len(agents) == 0:
		return ""
	case len(agents) == 1 || s.cfg.Turns == nil:
		return agents[0]
	}
	n, err := s.cfg.Turns.Next(ctx, "agents:"+string(p)+":"+string(account))
	if err != nil {
		s.log.WarnContext(ctx, "handover: round-robin count unavailable; the first agent takes it", "err", err)
		return agents[0]
	}
	return agents[int((n-1)%int64(len(agents)))]
}

// customerWrote records a customer's message of a held conversation and
// what siyu answered it with, and keeps the pause from running out.
// Failures are logged: the customer's message is handled either way.
func (s *Service) customerWrote(ctx context.Context, p Pause, ev bot.Event, actions []bot.Action) {
	now := s.now()
	if _, err := s.cfg.Pauses.Touch(ctx, p.Conv, Customer, now, s.settings(ev.Route).Quiet); err != nil {
		s.log.WarnContext(ctx, "handover: pause not renewed", "err", err)
	}
	s.record(ctx, p, ev, actions)
}

// record adds the customer's message and siyu's answers to the log.
func (s *Service) record(ctx context.Context, p Pause, ev bot.Event, actions []bot.Action) {
	now := s.now()
	msgs := make([]Message, 0, 2)
	switch {
	case ev.Kind == bot.KindMessage && ev.Text != "":
		msgs = append(msgs, Message{Session: p.ID, Conv: p.Conv, From: Customer, Text: clip(ev.Text), At: now})
	case ev.Kind == bot.KindMenuClick:
		msgs = append(msgs, Message{Session: p.ID, Conv: p.Conv, From: Customer, Text: "（点击菜单）", At: now})
	case ev.Kind == bot.KindMedia:
		msgs = append(msgs, Message{Session: p.ID, Conv: p.Conv, From: Customer, Text: mediaText(ev.Key), At: now})
	}
	for _, a := range actions {
		if a == nil || bot.IsProactive(a) || a.Dest().User != ev.Sender {
			continue
		}
		if text, ok := bot.TextOf(a); ok && text != "" {
			msgs = append(msgs, Message{Session: p.ID, Conv: p.Conv, From: Bot, Text: clip(text), At: now})
		}
	}
	for _, m := range msgs {
		if err := s.cfg.Log.Add(ctx, m); err != nil {
			s.log.WarnContext(ctx, "handover: message not recorded", "handover", p.ID, "err", err)
			return
		}
	}
}

// mediaText stands for what a customer sent that is not text: staff see
// it in the platform's own tool, siyu keeps no media.
func mediaText(kind string) string {
	switch kind {
	case "image":
		return "（图片）"
	case "voice":
		return "（语音）"
	case "video", "shortvideo":
		return "（视频）"
	case "location":
		return "（位置）"
	case "link":
		return "（链接）"
	case "file":
		return "（文件）"
	}
	return "（非文字消息）"
}

// maxText bounds a recorded message: platforms cap a message near 2,000
// characters, and the log is for reading, not archiving.
const maxText = 2000

func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxText {
		return s
	}
	return string([]rune(s)[:maxText]) + "…"
}
