// Package handlertest holds what the platform adapters' tests share.
package handlertest

import (
	"context"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
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

// Engine returns an engine over scripts that always picks the first of
// several replies, so tests can expect one text.
func Engine(tb testing.TB, scripts fs.FS) *bot.Engine {
	tb.Helper()
	return bot.NewEngine(bot.EngineConfig{Scripts: Library(tb, scripts), Pick: func(int) int { return 0 }})
}

// Library loads scripts or fails tb.
func Library(tb testing.TB, scripts fs.FS) *bot.Library {
	tb.Helper()
	lib, err := bot.NewLibrary(scripts, Logger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return lib
}

// Counting wraps h and counts the events that reach it: how often a
// callback was really handled.
func Counting(n *atomic.Int32, h bot.Handler) bot.Handler {
	return bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		n.Add(1)
		return h.HandleEvent(ctx, ev)
	})
}

// Clock is a settable time that the goroutines of replicas, senders and
// outboxes may share.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock reading now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
