package bot

import (
	"context"
	"fmt"
)

// SendNow sends one action at once through the platform's Sender, without
// queueing it, and returns the platform's answer: a staff member replying
// from the console wants to see at once whether the customer got the
// message, or why not (a closed reply window is ErrInvalid with the
// reason). It bounds the send by SendTimeout. Nothing is stored: a
// failure is the caller's to show, and retrying is the person's choice.
func (o *Outbox) SendNow(ctx context.Context, a Action) error {
	a = Unwrap(a)
	route := a.Dest().Platform
	if _, ok := a.(StaffAlert); ok {
		route = Staff
	}
	s, ok := o.senders[route]
	if !ok {
		return fmt.Errorf("bot.Outbox.SendNow: no sender for platform %q: %w", route, ErrInvalid)
	}
	sctx, cancel := context.WithTimeout(ctx, o.cfg.SendTimeout)
	defer cancel()
	if err := s.Send(sctx, a); err != nil {
		return fmt.Errorf("bot.Outbox.SendNow: %w", err)
	}
	return nil
}
