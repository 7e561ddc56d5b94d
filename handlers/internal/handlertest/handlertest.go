// Package handlertest holds what the platform adapters' tests share.
package handlertest

import (
	"log/slog"
	"strings"
	"testing"
)

// Logger returns a logger that writes warnings and errors to tb's log, so
// a failing test shows what the handler said and a passing one stays quiet.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(writer{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type writer struct{ tb testing.TB }

func (w writer) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
