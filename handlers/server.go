// Package handlers holds what every platform adapter shares: the Echo
// server, its error handler and middleware. Each platform's adapter lives
// in its own subpackage.
package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/siyu-bot/siyu/bot"
)

// NewEcho returns an Echo instance with siyu's error handler and the
// middleware every route needs. trustedProxies are the networks of the
// reverse proxies in front of siyu, whose X-Forwarded-For is believed for
// the client address that is logged; with none, it is the connection's
// remote address.
func NewEcho(logger *slog.Logger, trustedProxies ...*net.IPNet) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = ErrorHandler(logger)
	e.IPExtractor = ipExtractor(trustedProxies)
	// The SDK and encoding/xml may panic on odd input; one request must
	// not take the replica down.
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
		logger.ErrorContext(c.Request().Context(), "panic in request", "path", c.Path(), "err", err, "stack", string(stack))
		return err
	}}))
	// Every request gets an id first, so every log line about it can
	// carry it.
	e.Use(RequestID())
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	return e
}

// StatusOf returns the HTTP status for err: an echo.HTTPError's code, or
// the status of the bot error kind it wraps (500 for none). Handlers that
// render errors their own way (the admin API's JSON) use it so the
// mapping stays in one place.
func StatusOf(err error) int { return statusOf(err) }

// ipExtractor tells the client's address for c.RealIP(). Echo's default
// believes X-Forwarded-For and X-Real-IP from anyone, so an attacker could
// write any address into the log; here a header counts only when it comes
// from a configured proxy, and only the part such proxies appended.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	// Echo trusts loopback, link-local and private addresses by default;
	// only the configured networks are proxies here.
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// ErrStaleTimestamp is what a callback outside the replay window is
// refused with, inside its 401 (StaleTimestamp), so metrics can tell it
// from a bad signature.
var ErrStaleTimestamp = errors.New("handlers: timestamp outside the replay window")

// StaleTimestamp is the answer to a callback whose signed timestamp is
// outside the replay window.
func StaleTimestamp() *echo.HTTPError {
	return echo.NewHTTPError(http.StatusUnauthorized, "stale timestamp").SetInternal(ErrStaleTimestamp)
}

// statusOf maps bot error kinds to HTTP status codes, in one place.
func statusOf(err error) int {
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		return he.Code
	case errors.Is(err, context.Canceled):
		return 499 // client went away; nobody reads the answer
	case errors.Is(err, bot.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, bot.ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, bot.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, bot.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, bot.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// ErrorHandler renders errors returned by handlers: the status from the
// error's kind, a short public message, and one log line for server-side
// failures (client errors are logged where they are detected, with the
// reason).
func ErrorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code := statusOf(err)
		msg := http.StatusText(code)
		var he *echo.HTTPError
		if errors.As(err, &he) {
			if s, ok := he.Message.(string); ok {
				msg = s
			}
		}
		if code >= 500 {
			logger.ErrorContext(c.Request().Context(), "request failed", "method", c.Request().Method, "path", c.Path(), "status", code, "err", err)
		}
		if code == 499 {
			return
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(code)
			return
		}
		_ = c.String(code, msg)
	}
}
