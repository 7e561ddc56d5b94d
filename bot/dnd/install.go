package dnd

import (
	"context"
	"fmt"
	"slices"
	"time"

	// The brand's time zone (dnd.quiet_hours.timezone) must load on hosts
	// and images without zoneinfo; the embedded copy is the fallback.
	_ "time/tzdata"

	"github.com/siyu-bot/siyu/bot"
)

// Install adds do-not-disturb to the stack: the dnd: section, the
// 退订/订阅 command, the middleware that checks proactive actions when the
// engine produces them, and the send gate the outbox asks before sending.
func (s *Service) Install(st *bot.Stack) error {
	st.Sections(Section{})
	s.confirm.Answers(func(sc *bot.Scripts, text string) bool { return slices.Contains(RulesOf(sc).ConfirmWords, text) })
	st.Command(s.Stage())
	st.Use(s.Middleware())
	st.WrapGate(func(next bot.SendGate) bot.SendGate { return bot.BothGates(s, next) })
	return nil
}

// Hold is one of a turn's actions that do-not-disturb would hold back.
type Hold struct {
	Index  int // in the actions explained
	Reason string
	Until  time.Time // zero when dropped
}

// ExplainHolds says which of actions do-not-disturb would hold back at
// now, by index, recording and counting nothing: the staff console's
// dry-run asks it about the actions the engine's dry-run produced.
func (s *Service) ExplainHolds(ctx context.Context, actions []bot.Action, now time.Time) ([]Hold, error) {
	var out []Hold
	tally := map[string]int{}
	for i, a := range actions {
		if !bot.IsProactive(a) {
			continue
		}
		d, err := s.check(ctx, s.config(a.Dest().Route), a, dueAt(a, now), tally, false)
		if err != nil {
			return nil, fmt.Errorf("dnd.ExplainHolds: %w", err)
		}
		if d.held {
			out = append(out, Hold{Index: i, Reason: d.record.Reason, Until: d.record.Until})
		}
	}
	return out, nil
}

// heldCounter tells OnHeld of every held-back record by its reason,
// whether the push was held when it was produced or when the outbox was
// about to send it.
type heldCounter struct {
	Store
	count func(reason string)
}

// RecordHeld implements Store.
func (h heldCounter) RecordHeld(ctx context.Context, r HeldBack) error {
	err := h.Store.RecordHeld(ctx, r)
	if err == nil {
		h.count(r.Reason)
	}
	return err
}
