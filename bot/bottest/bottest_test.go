package bottest_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot/bottest"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	c := bottest.NewClock(t0)
	now := c.Now // the method value is what code under test receives
	steps := []struct {
		name string
		move func()
		want time.Time
	}{
		{"starts where it was set", func() {}, t0},
		{"Add moves it on", func() { c.Add(time.Minute) }, t0.Add(time.Minute)},
		{"Set moves it back", func() { c.Set(t0.Add(-time.Hour)) }, t0.Add(-time.Hour)},
	}
	for _, st := range steps {
		st.move()
		if got := now(); !got.Equal(st.want) {
			t.Errorf("%s: Now() = %v, want %v", st.name, got, st.want)
		}
	}
}

// TestClockShared is for -race: goroutines may move and read one clock.
func TestClockShared(t *testing.T) {
	var c bottest.Clock
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Add(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), (time.Time{}).Add(800*time.Second); !got.Equal(want) {
		t.Errorf("Now() = %v, want %v", got, want)
	}
}

func TestLogs(t *testing.T) {
	var logs bottest.Logs
	logger := logs.Logger(slog.LevelInfo)
	next := logs.Next()
	logger.Debug("below the level")
	select {
	case <-next:
		t.Fatal("Next closed without a write")
	default:
	}
	if logs.Len() != 0 {
		t.Errorf("logs = %q, want nothing below the level", logs.String())
	}
	go logger.Warn("from a goroutine", "k", "v")
	<-next
	if got := logs.String(); !strings.Contains(got, `level=WARN msg="from a goroutine" k=v`) {
		t.Errorf("logs = %q, want the warning", got)
	}
}

// recTB records what Logger writes to a test's log and runs its cleanups
// when told, standing in for a test that ends.
type recTB struct {
	testing.TB
	logged   []string
	cleanups []func()
}

func (r *recTB) Log(args ...any)  { r.logged = append(r.logged, fmt.Sprint(args...)) }
func (r *recTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recTB) end() {
	for _, f := range r.cleanups {
		f()
	}
}

// TestLoggerAfterTest: Logger writes warnings to the test's log, not
// below, and drops a record logged once the test is over, where tb.Log
// would panic ("Log in goroutine after Test… has completed").
func TestLoggerAfterTest(t *testing.T) {
	tb := &recTB{TB: t}
	logger := bottest.Logger(tb)
	logger.Info("below the level")
	logger.Warn("during the test")
	tb.end()
	logger.Error("after the test")
	if len(tb.logged) != 1 || !strings.Contains(tb.logged[0], `msg="during the test"`) {
		t.Errorf("logged %q, want only the warning during the test", tb.logged)
	}
}
