package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync/atomic"

	"github.com/labstack/echo/v4"
)

// requestKey is the context key of a request's requestInfo.
type requestKey struct{}

// requestInfo is what siyu notes about a request in its context: its id
// for every log line, and how it ended when the status does not say
// (metrics).
type requestInfo struct {
	id      string
	outcome atomic.Value // string
}

// RequestIDHeader carries the request id back to the caller, so an
// operator can find the log lines of one callback.
const RequestIDHeader = "X-Request-Id"

// RequestID gives every request an id of its own, in its context (where
// LogRequestID finds it for every log line written with that context) and
// in the response header. The id is generated here, never taken from the
// request: a header the caller sets would let anyone forge log lines'
// correlation.
func RequestID() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			var b [8]byte
			_, _ = rand.Read(b[:]) // never fails (crypto/rand docs)
			id := hex.EncodeToString(b[:])
			r := c.Request()
			c.SetRequest(r.WithContext(context.WithValue(r.Context(), requestKey{}, &requestInfo{id: id})))
			c.Response().Header().Set(RequestIDHeader, id)
			return next(c)
		}
	}
}

// RequestIDFrom returns the request id in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	if ri, ok := ctx.Value(requestKey{}).(*requestInfo); ok {
		return ri.id
	}
	return ""
}

// SetOutcome notes how the request in ctx ended where its status does
// not tell (a retry answered from a stored result); a context without a
// request ignores it.
func SetOutcome(ctx context.Context, outcome string) {
	if ri, ok := ctx.Value(requestKey{}).(*requestInfo); ok {
		ri.outcome.Store(outcome)
	}
}

// OutcomeFrom returns what SetOutcome noted, or "".
func OutcomeFrom(ctx context.Context) string {
	if ri, ok := ctx.Value(requestKey{}).(*requestInfo); ok {
		o, _ := ri.outcome.Load().(string)
		return o
	}
	return ""
}

// LogRequestID wraps a slog.Handler so that every record logged with a
// request's context carries its request_id.
func LogRequestID(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
