package bot

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
)

// Handler turns an event into the actions to take. It is shaped like
// net/http's Handler: the Engine implements it, middleware wraps it, and
// platform adapters depend only on it.
//
// HandleEvent returns ErrInvalid for an event it cannot accept and
// ErrUnavailable when a dependency failed and the platform should retry.
// It has no other effect on the caller's side: delivering the actions is
// the caller's job.
type Handler interface {
	HandleEvent(ctx context.Context, ev Event) ([]Action, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, ev Event) ([]Action, error)

// HandleEvent calls f.
func (f HandlerFunc) HandleEvent(ctx context.Context, ev Event) ([]Action, error) {
	return f(ctx, ev)
}

// Middleware wraps a Handler with a cross-cutting stage.
type Middleware func(Handler) Handler

// Chain wraps h in middleware, the first outermost: Chain(h, a, b) runs a,
// then b, then h.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// Recover turns a panic inside the wrapped handler into an error, so one
// bad event cannot take a replica down.
func Recover(logger *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, ev Event) (actions []Action, err error) {
			defer func() {
				if r := recover(); r != nil {
					logger.ErrorContext(ctx, "panic in event handler",
						"platform", ev.Platform, "kind", ev.Kind, "panic", r, "stack", string(debug.Stack()))
					actions, err = nil, fmt.Errorf("bot.Recover: panic: %v", r)
				}
			}()
			return next.HandleEvent(ctx, ev)
		})
	}
}

// Validate rejects incomplete events with ErrInvalid before they reach
// anything with side effects.
func Validate() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, ev Event) ([]Action, error) {
			if err := ev.Validate(); err != nil {
				return nil, err
			}
			return next.HandleEvent(ctx, ev)
		})
	}
}
