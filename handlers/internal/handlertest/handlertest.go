// Package handlertest holds what the platform adapters' tests share.
package handlertest

import (
	"context"
	"io/fs"
	"sync/atomic"
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

// Engine returns an engine over scripts that always picks the first of
// several replies, so tests can expect one text.
func Engine(tb testing.TB, scripts fs.FS) *bot.Engine {
	tb.Helper()
	return bot.NewEngine(bot.EngineConfig{Scripts: Library(tb, scripts), Pick: func(int) int { return 0 }})
}

// Library loads scripts or fails tb.
func Library(tb testing.TB, scripts fs.FS) *bot.Library {
	tb.Helper()
	lib, err := bot.NewLibrary(scripts, bottest.Logger(tb))
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
