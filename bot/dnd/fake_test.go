package dnd_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/dnd"
)

// memStore is an in-memory dnd.Store.
type memStore struct {
	mu   sync.Mutex
	out  map[bot.PersonID]bool
	held []dnd.HeldBack
}

func newMemStore() *memStore { return &memStore{out: map[bot.PersonID]bool{}} }

func (m *memStore) SetOptOut(_ context.Context, p bot.PersonID, optedOut bool, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := m.out[p] != optedOut
	m.out[p] = optedOut
	return changed, nil
}

func (m *memStore) AnyOptedOut(_ context.Context, ps ...bot.PersonID) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ps {
		if m.out[p] {
			return true, nil
		}
	}
	return false, nil
}

func (m *memStore) OptOut(_ context.Context, p bot.PersonID) (bool, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out[p], time.Time{}, nil
}

func (m *memStore) RecordHeld(_ context.Context, h dnd.HeldBack) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// As the contract says: the newest record of the Key deferred to
	// h.At or earlier is this push come back, and is replaced.
	for i := len(m.held) - 1; h.Key != "" && i >= 0; i-- {
		if o := m.held[i]; o.Key == h.Key && !o.Until.IsZero() && !o.Until.After(h.At) {
			m.held = slices.Delete(m.held, i, i+1)
			break
		}
	}
	m.held = append(m.held, h)
	return nil
}

func (m *memStore) Held(_ context.Context, limit int) ([]dnd.HeldBack, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.held)
	slices.Reverse(out)
	return out[:min(limit, len(out))], nil
}

func (m *memStore) heldReasons() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, h := range m.held {
		out = append(out, h.Reason)
	}
	return out
}

// memCounters is an in-memory dnd.Counters (no expiry: tests move the
// clock across windows, whose keys differ).
type memCounters struct {
	mu   sync.Mutex
	n    map[string]int
	once map[string]time.Time
	now  func() time.Time
}

func newMemCounters(now func() time.Time) *memCounters {
	return &memCounters{n: map[string]int{}, once: map[string]time.Time{}, now: now}
}

func (m *memCounters) Take(_ context.Context, cs []dnd.Counter, pending []int, peek bool) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range cs {
		p := 0
		if i < len(pending) {
			p = pending[i]
		}
		if m.n[c.Key]+p >= c.Limit {
			return i, nil
		}
	}
	if !peek {
		for _, c := range cs {
			m.n[c.Key]++
		}
	}
	return -1, nil
}

func (m *memCounters) Once(_ context.Context, key string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if at, ok := m.once[key]; ok && m.now().Sub(at) < ttl {
		return false, nil
	}
	m.once[key] = m.now()
	return true, nil
}

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}()

// at returns the given wall time in Shanghai on 2026-11-26 (a Thursday)
// plus days.
func at(days, hour, minute int) time.Time {
	return time.Date(2026, 11, 26+days, hour, minute, 0, 0, shanghai)
}

const testScripts = `
rules:
  - name: hours
    match: {contains: [营业时间]}
    reply: 每天 9:00-21:00
dnd:
  quiet_hours: {from: "22:00", to: "08:00", timezone: Asia/Shanghai}
  caps: {per_person_day: 2, per_person_week: 5, per_group_minute: 3, over: {default: defer, reminder: drop}}
`

type source struct{ s *bot.Scripts }

func (s source) Scripts() *bot.Scripts { return s.s }

type fixture struct {
	store    *memStore
	counters *memCounters
	clock    *bottest.Clock
	svc      *dnd.Service
	scripts  *bot.Scripts
}

func newFixture(t testing.TB, scripts string) *fixture {
	t.Helper()
	s, err := bot.LoadScripts(fstest.MapFS{"s.yaml": {Data: []byte(scripts)}}, dnd.Section{})
	if err != nil {
		t.Fatalf("LoadScripts: %v", err)
	}
	f := &fixture{store: newMemStore(), clock: bottest.NewClock(at(0, 12, 0)), scripts: s}
	f.counters = newMemCounters(f.clock.Now)
	f.svc = dnd.New(dnd.Config{Store: f.store, Counters: f.counters, Scripts: source{s}, Now: f.clock.Now})
	return f
}

// message is a 1:1 text from user on the OA.
func message(user, text string) bot.Event {
	return bot.Event{Platform: bot.WeChat, Account: "gh_brand", Kind: bot.KindMessage, Sender: bot.UserID(user), Text: text, Time: at(0, 12, 0), DedupeKey: "m-" + user + "-" + text}
}

func push(to bot.Target, topic, text string) bot.Push {
	return bot.Push{Action: bot.Reply{To: to, Text: text}, Topic: topic}
}

func oaUser(user string) bot.Target {
	return bot.Target{Platform: bot.WeChat, Account: "gh_brand", User: bot.UserID(user)}
}
