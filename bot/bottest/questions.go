package bottest

import (
	"context"
	"sync"
	"time"
)

// Questions is an in-memory bot.QuestionStore on a Clock, for the tests
// of the capabilities that ask confirming questions. It keeps the
// store's contract: a question is claimed by one message, and by that
// message again; it expires after its TTL (or keep, once claimed).
type Questions struct {
	Clock *Clock

	mu sync.Mutex
	m  map[string]*question
	// Puts counts the questions stored.
	Puts int
}

type question struct {
	q       []byte
	by      string
	expires time.Time
}

// NewQuestions returns an empty store on clock.
func NewQuestions(clock *Clock) *Questions {
	return &Questions{Clock: clock, m: map[string]*question{}}
}

// Put implements bot.QuestionStore.
func (s *Questions) Put(_ context.Context, key string, q []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = &question{q: append([]byte(nil), q...), expires: s.Clock.Now().Add(ttl)}
	s.Puts++
	return nil
}

// Claim implements bot.QuestionStore.
func (s *Questions) Claim(_ context.Context, key, msg string, keep time.Duration) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Clock.Now()
	q, ok := s.m[key]
	if !ok || !now.Before(q.expires) {
		delete(s.m, key)
		return nil, false, nil
	}
	if q.by != "" && q.by != msg {
		return nil, false, nil
	}
	if q.by == "" {
		q.by = msg
		if until := now.Add(keep); until.After(q.expires) {
			q.expires = until
		}
	}
	return append([]byte(nil), q.q...), true, nil
}

// Open reports whether key holds a question nobody has claimed.
func (s *Questions) Open(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.m[key]
	return ok && q.by == "" && s.Clock.Now().Before(q.expires)
}
