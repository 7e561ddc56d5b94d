package handover_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/handover"
)

// memStore is the stores in memory, on a test clock: pauses run out when
// the clock passes their deadline, as Redis keys expire.
type memStore struct {
	now func() time.Time

	mu       sync.Mutex
	pauses   map[handover.Conv]memPause
	open     map[string]handover.Conv // hand-over id → conversation, until swept
	turns    map[string]int64
	sessions map[string]handover.Session
	messages []handover.Message
	fail     error // returned by every call when set
	gets     int   // Get calls
	lists    int   // Conversations calls
}

type memPause struct {
	p        handover.Pause
	deadline time.Time
}

func newMemStore(now func() time.Time) *memStore {
	return &memStore{now: now, pauses: map[handover.Conv]memPause{}, open: map[string]handover.Conv{},
		turns: map[string]int64{}, sessions: map[string]handover.Session{}}
}

// live returns conv's pause unless it ran out. m.mu must be held.
func (m *memStore) live(conv handover.Conv) (memPause, bool) {
	mp, ok := m.pauses[conv]
	if ok && !m.now().Before(mp.deadline) {
		delete(m.pauses, conv)
		return memPause{}, false
	}
	return mp, ok
}

func (m *memStore) Get(_ context.Context, conv handover.Conv) (handover.Pause, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	if m.fail != nil {
		return handover.Pause{}, false, m.fail
	}
	mp, ok := m.live(conv)
	return mp.p, ok, nil
}

func (m *memStore) Start(_ context.Context, p handover.Pause, ttl time.Duration) (handover.Pause, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return handover.Pause{}, false, m.fail
	}
	if cur, ok := m.live(p.Conv); ok {
		return cur.p, false, nil
	}
	m.pauses[p.Conv] = memPause{p: p, deadline: m.now().Add(ttl)}
	m.open[p.ID] = p.Conv
	return p, true, nil
}

func (m *memStore) Touch(_ context.Context, conv handover.Conv, by handover.Party, at time.Time, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp, ok := m.live(conv)
	if !ok {
		return false, nil
	}
	switch by {
	case handover.Customer:
		mp.p.LastCustomer = at
		if mp.p.Waiting.IsZero() {
			mp.p.Waiting = at
		}
	case handover.Staff:
		mp.p.LastStaff, mp.p.Waiting = at, time.Time{}
	}
	mp.deadline = m.now().Add(ttl)
	m.pauses[conv] = mp
	return true, nil
}

func (m *memStore) End(_ context.Context, conv handover.Conv, id string) (handover.Pause, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp, ok := m.live(conv)
	if !ok || (id != "" && mp.p.ID != id) {
		return handover.Pause{}, false, nil
	}
	delete(m.pauses, conv)
	delete(m.open, mp.p.ID)
	return mp.p, true, nil
}

func (m *memStore) Held(_ context.Context, limit int) ([]handover.Pause, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []handover.Pause
	for conv := range m.pauses {
		if mp, ok := m.live(conv); ok && len(out) < limit {
			out = append(out, mp.p)
		}
	}
	return out, nil
}

func (m *memStore) Assign(_ context.Context, conv handover.Conv, staff string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mp, ok := m.live(conv)
	if !ok {
		return false, nil
	}
	mp.p.Assignee = staff
	m.pauses[conv] = mp
	return true, nil
}

func (m *memStore) Expired(_ context.Context, limit int) ([]handover.Pause, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []handover.Pause
	for id, conv := range m.open {
		if mp, ok := m.live(conv); ok && mp.p.ID == id {
			continue
		}
		if len(out) < limit {
			out = append(out, handover.Pause{ID: id, Conv: conv})
			delete(m.open, id)
		}
	}
	return out, nil
}

func (m *memStore) Conversations(context.Context) ([]handover.Conv, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lists++
	if m.fail != nil {
		return nil, m.fail
	}
	out := make([]handover.Conv, 0, len(m.open))
	for _, conv := range m.open {
		out = append(out, conv)
	}
	return out, nil
}

func (m *memStore) listCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lists
}

func (m *memStore) getCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets
}

// memBus is pub/sub in memory: Announce reaches every listener before it
// returns, so tests need not wait.
type memBus struct {
	mu        sync.Mutex
	listeners map[int]func(handover.Digest)
	next      int
}

func (b *memBus) Announce(_ context.Context, d handover.Digest) error {
	b.mu.Lock()
	ls := make([]func(handover.Digest), 0, len(b.listeners))
	for _, l := range b.listeners {
		ls = append(ls, l)
	}
	b.mu.Unlock()
	for _, l := range ls {
		l(d)
	}
	return nil
}

func (b *memBus) Listen(ctx context.Context, heard func(handover.Digest), listening func(bool)) {
	b.mu.Lock()
	if b.listeners == nil {
		b.listeners = map[int]func(handover.Digest){}
	}
	id := b.next
	b.next++
	b.listeners[id] = heard
	b.mu.Unlock()
	listening(true)
	<-ctx.Done()
	b.mu.Lock()
	delete(b.listeners, id)
	b.mu.Unlock()
	listening(false)
}

func (m *memStore) Next(_ context.Context, key string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.turns[key]++
	return m.turns[key], nil
}

func (m *memStore) Open(_ context.Context, s handover.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.sessions[s.ID] = s
	return nil
}

func (m *memStore) Close(_ context.Context, id, reason string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if ok && s.EndedAt.IsZero() {
		s.EndedAt, s.EndReason = at, reason
		m.sessions[id] = s
	}
	return nil
}

func (m *memStore) Replied(_ context.Context, id string, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok || !s.FirstReplyAt.IsZero() {
		return false, nil
	}
	s.FirstReplyAt = at
	m.sessions[id] = s
	return true, nil
}

func (m *memStore) Add(_ context.Context, msg handover.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.messages = append(m.messages, msg)
	return nil
}

func (m *memStore) Session(_ context.Context, id string) (handover.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return s, bot.ErrNotFound
	}
	return s, nil
}

func (m *memStore) Messages(_ context.Context, conv handover.Conv, limit int) ([]handover.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []handover.Message
	for _, msg := range m.messages {
		if msg.Conv == conv {
			out = append(out, msg)
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

func (m *memStore) Sessions(_ context.Context, since time.Time, limit int) ([]handover.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []handover.Session
	for _, s := range m.sessions {
		if !s.StartedAt.Before(since) && len(out) < limit {
			out = append(out, s)
		}
	}
	return out, nil
}

func (m *memStore) Purge(_ context.Context, before time.Time, batch int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	m.messages = slices.DeleteFunc(m.messages, func(msg handover.Message) bool {
		if n < batch && msg.At.Before(before) {
			n++
			return true
		}
		return false
	})
	return n, nil
}

// texts returns the recorded messages as "party:text" lines.
func (m *memStore) texts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(m.messages))
	for i, msg := range m.messages {
		out[i] = string(msg.From) + ":" + msg.Text
		if msg.Author != "" {
			out[i] = string(msg.From) + "(" + msg.Author + "):" + msg.Text
		}
	}
	return out
}

// sentLog is a Sender and an Enqueuer that remembers what it was given.
type sentLog struct {
	mu     sync.Mutex
	sent   []bot.Action
	queued []bot.Action
	err    error // SendNow's answer
}

func (s *sentLog) SendNow(_ context.Context, a bot.Action) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.sent = append(s.sent, a)
	return nil
}

func (s *sentLog) Enqueue(_ context.Context, _ string, actions []bot.Action) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued = append(s.queued, actions...)
	return nil
}

// describe renders actions as short strings for comparisons.
func describe(actions []bot.Action) []string {
	out := make([]string, 0, len(actions))
	for _, a := range actions {
		switch a := a.(type) {
		case bot.Handover:
			out = append(out, "handover:"+string(a.Step)+":"+a.Reason+":"+a.Agent)
		case bot.StaffAlert:
			out = append(out, "alert:"+a.Title)
		case bot.Reply:
			out = append(out, "reply:"+a.Text)
		default:
			out = append(out, "other")
		}
	}
	return out
}
