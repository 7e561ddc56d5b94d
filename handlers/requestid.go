package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"

	"github.com/labstack/echo/v4"
)

// requestIDKey is the context key of a request's id.
type requestIDKey struct{}

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
			c.SetRequest(r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
			c.Response().Header().Set(RequestIDHeader, id)
			return next(c)
		}
	}
}

// RequestIDFrom returns the request id in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
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
