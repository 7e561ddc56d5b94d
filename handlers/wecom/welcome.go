package wecom

import (
	"context"
	"errors"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// WelcomeAPI sends a new contact's welcome with its one-shot code; Client
// implements it. Errors carry WeCom's errcode (ErrCode) when it answered
// with one.
type WelcomeAPI interface {
	SendWelcome(ctx context.Context, welcomeCode, text string) error
}

// welcomeMargin is kept free at the end of the welcome window, so that
// the last attempt reaches WeCom before the code expires.
const welcomeMargin = time.Second

// maxWelcomeBackoff caps the wait between attempts: 41096 means another
// app is sending right now, so its outcome is known within a second or
// two, and the window is only 20 s.
const maxWelcomeBackoff = 2 * time.Second

// deliverWelcome sends w until WeCom settles its welcome code or the
// deadline passes, and returns the outcome and the last error. It makes
// at least one attempt even past the deadline: only WeCom knows whether
// the code is still good.
//
//   - success: OutcomeSent;
//   - 41051, delivered already: OutcomeAlreadySent at once;
//   - 41096, another app is sending: retried quickly, OutcomeBusyGaveUp
//     when the window closes first;
//   - WeCom unreachable: retried, OutcomeFailed when the window closes;
//   - any other refusal: OutcomeFailed at once.
func deliverWelcome(ctx context.Context, api WelcomeAPI, w bot.Welcome, deadline time.Time, backoff time.Duration, now func() time.Time) (string, error) {
	for {
		err := api.SendWelcome(ctx, w.WelcomeCode, w.Text)
		if err == nil {
			return OutcomeSent, nil
		}
		code, _ := ErrCode(err)
		var giveUp string
		switch {
		case code == codeWelcomeDelivered:
			return OutcomeAlreadySent, err
		case code == codeWelcomeBusy:
			giveUp = OutcomeBusyGaveUp
		case errors.Is(err, bot.ErrUnavailable) || code == -1: // -1: WeCom busy
			giveUp = OutcomeFailed
		default:
			return OutcomeFailed, err
		}
		if now().Add(backoff).After(deadline) {
			return giveUp, err
		}
		select {
		case <-ctx.Done():
			return giveUp, err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxWelcomeBackoff)
	}
}
