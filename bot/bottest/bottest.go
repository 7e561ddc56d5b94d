// Package bottest holds the test doubles every package's tests share: a
// settable clock and loggers. It imports only the standard library, so
// that package bot's own tests can use it without an import cycle.
package bottest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Clock is a settable time that the goroutines of engines, replicas,
// senders and outboxes may share. Pass its Now method value wherever a
// func() time.Time is injected. The zero Clock reads the zero time.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, backwards if need be.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Logger returns a logger that writes warnings and errors to tb's log, so
// a failing test shows what the code under test complained about and a
// passing one stays quiet. Records logged after tb has finished (by a
// goroutine still shutting down) are dropped instead of panicking.
func Logger(tb testing.TB) *slog.Logger {
	w := &tbWriter{tb: tb}
	tb.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tbWriter struct {
	tb   testing.TB
	done atomic.Bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.tb.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// Discard returns a logger that drops everything: for benchmarks, whose
// loops must not pay for logging.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Logs collects what is written to it, for tests that assert on what was
// logged. It is safe for concurrent use: background goroutines may log
// while the test reads. The zero Logs is empty and ready.
type Logs struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // closed at the next write, when someone waits
}

// Logger returns a text logger that writes the records at level and
// above to l.
func (l *Logs) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level}))
}

// Write appends p and wakes whoever waits on Next.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.written != nil {
		close(l.written)
		l.written = nil
	}
	return l.buf.Write(p)
}

// Next returns a channel closed at the next write. Take it before
// checking String, so that no write between the two is missed.
func (l *Logs) Next() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.written == nil {
		l.written = make(chan struct{})
	}
	return l.written
}

// String returns everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Len returns the number of bytes written so far.
func (l *Logs) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}
