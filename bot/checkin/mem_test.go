package checkin_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
)

// memStore is an in-memory checkin.Store, the test double of the
// database (whose own tests live in store/sqlstore).
type memStore struct {
	mu       sync.Mutex
	rows     []checkin.Checkin // in insertion order
	rewards  map[checkin.Milestone]bool
	unsent   []checkin.Unsent
	inserts  int
	failNext error
}

var _ checkin.Store = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{rewards: map[checkin.Milestone]bool{}} }

func (m *memStore) Latest(_ context.Context, scope, person string, day checkin.Day) (checkin.Checkin, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	best := -1
	for i, r := range m.rows {
		if r.Scope == scope && r.Person == person && r.Day <= day && (best < 0 || r.Day > m.rows[best].Day) {
			best = i
		}
	}
	if best < 0 {
		return checkin.Checkin{}, fmt.Errorf("mem.Latest: %w", bot.ErrNotFound)
	}
	return m.rows[best], nil
}

func (m *memStore) Insert(_ context.Context, c checkin.Checkin, ms []checkin.Milestone) (checkin.Checkin, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failNext; err != nil {
		m.failNext = nil
		return checkin.Checkin{}, err
	}
	for _, r := range m.rows {
		if r.Scope == c.Scope && r.Day == c.Day && r.Person == c.Person {
			return checkin.Checkin{}, fmt.Errorf("mem.Insert: %w", bot.ErrConflict)
		}
	}
	m.inserts++
	c.ID, c.Rewards = int64(len(m.rows)+1), len(ms)
	m.rows = append(m.rows, c)
	for _, ms := range ms {
		if _, ok := m.rewards[ms]; !ok {
			m.rewards[ms] = false
		}
	}
	return c, nil
}

func (m *memStore) Rank(_ context.Context, c checkin.Checkin) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.rows {
		if r.Scope == c.Scope && r.Day == c.Day && r.ID <= c.ID {
			n++
		}
	}
	return n, nil
}

func (m *memStore) PendingRewards(_ context.Context, scope, person string, day checkin.Day) ([]checkin.Milestone, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []checkin.Milestone
	for ms, given := range m.rewards {
		if !given && ms.Scope == scope && ms.Person == person && ms.Day == day {
			out = append(out, ms)
		}
	}
	slices.SortFunc(out, func(a, b checkin.Milestone) int { return a.Streak - b.Streak })
	return out, nil
}

func (m *memStore) FinishReward(_ context.Context, ms checkin.Milestone) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if given, ok := m.rewards[ms]; !ok || given {
		return false, nil
	}
	m.rewards[ms] = true
	return true, nil
}

func (m *memStore) Window(_ context.Context, scope string, day checkin.Day, from, to time.Time, limit int) ([]checkin.Checkin, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []checkin.Checkin
	n := 0
	for _, r := range m.rows {
		if r.Scope == scope && r.Day == day && !r.At.Before(from) && r.At.Before(to) {
			n++
			if len(out) < limit {
				out = append(out, r)
			}
		}
	}
	return out, n, nil
}

func (m *memStore) CountDay(_ context.Context, scope string, day checkin.Day) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.rows {
		if r.Scope == scope && r.Day == day {
			n++
		}
	}
	return n, nil
}

func (m *memStore) Standings(_ context.Context, scope string, day checkin.Day) (checkin.Standings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	agg := func(keep func(checkin.Checkin) bool) []checkin.Score {
		by := map[string]*checkin.Score{}
		var order []string
		for _, r := range m.rows {
			if r.Scope != scope || r.Day > day || !keep(r) {
				continue
			}
			s, ok := by[r.Person]
			if !ok {
				s = &checkin.Score{Person: r.Person, ID: r.ID}
				by[r.Person] = s
				order = append(order, r.Person)
			}
			s.Points += r.Points
			s.Streak = max(s.Streak, r.Streak)
		}
		out := make([]checkin.Score, len(order))
		for i, p := range order {
			out[i] = *by[p]
		}
		return out
	}
	return checkin.Standings{
		checkin.Today: agg(func(r checkin.Checkin) bool { return r.Day == day }),
		checkin.Week:  agg(func(r checkin.Checkin) bool { return r.Week == day.Week() }),
		checkin.All:   agg(func(checkin.Checkin) bool { return true }),
	}, nil
}

func (m *memStore) Names(_ context.Context, scope string, persons []string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for _, r := range m.rows {
		if r.Scope == scope && r.Name != "" && slices.Contains(persons, r.Person) {
			out[r.Person] = r.Name
		}
	}
	return out, nil
}

func (m *memStore) RecordUnsent(_ context.Context, u checkin.Unsent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.ContainsFunc(m.unsent, func(o checkin.Unsent) bool { return o.Scope == u.Scope && o.WindowEnd.Equal(u.WindowEnd) }) {
		m.unsent = append(m.unsent, u)
	}
	return nil
}

// fakeCoupons records claims, idempotent on the trigger as bot/coupon is.
type fakeCoupons struct {
	mu     sync.Mutex
	claims map[string]int // trigger → calls
	issued map[string]bool
}

func (f *fakeCoupons) ClaimReward(_ context.Context, campaign string, ev bot.Event, trigger string) ([]bot.Action, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.claims == nil {
		f.claims, f.issued = map[string]int{}, map[string]bool{}
	}
	f.claims[trigger]++
	f.issued[campaign+"|"+trigger] = true
	return []bot.Action{bot.Push{Topic: "coupon", Action: bot.Reply{To: ev.ReplyTarget(), Text: "券已到账：" + campaign}}}, nil
}

func (f *fakeCoupons) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.issued)
}
