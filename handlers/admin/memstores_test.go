package admin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// In-memory staff, sessions, audit log and people directory with the
// contracts of the interfaces (store/sqlstore and store/redisstore
// implement them for real).

type memStaff struct {
	mu sync.Mutex
	m  map[string]StaffMember
}

func (s *memStaff) Staff(_ context.Context, name string) (StaffMember, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.m[name]
	if !ok {
		return StaffMember{}, fmt.Errorf("memStaff %s: %w", name, bot.ErrNotFound)
	}
	return m, nil
}

func (s *memStaff) ListStaff(context.Context) ([]StaffMember, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []StaffMember
	for _, m := range s.m {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b StaffMember) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *memStaff) AddStaff(_ context.Context, m StaffMember) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[m.Name]; ok {
		return fmt.Errorf("memStaff %s: %w", m.Name, bot.ErrConflict)
	}
	s.m[m.Name] = m
	return nil
}

func (s *memStaff) UpdateStaff(_ context.Context, m StaffMember) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[m.Name]; !ok {
		return fmt.Errorf("memStaff %s: %w", m.Name, bot.ErrNotFound)
	}
	s.m[m.Name] = m
	return nil
}

func (s *memStaff) RemoveStaff(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[name]; !ok {
		return fmt.Errorf("memStaff %s: %w", name, bot.ErrNotFound)
	}
	delete(s.m, name)
	return nil
}

type memSessions struct {
	mu sync.Mutex
	m  map[string]Session
}

func (s *memSessions) PutSession(_ context.Context, ss Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[ss.ID] = ss
	return nil
}

func (s *memSessions) Session(_ context.Context, id string) (Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	if !ok {
		return Session{}, fmt.Errorf("memSessions: %w", bot.ErrNotFound)
	}
	return ss, nil
}

func (s *memSessions) DeleteSession(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
	return nil
}

func (s *memSessions) DeleteSessionsOf(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ss := range s.m {
		if ss.Name == name {
			delete(s.m, id)
		}
	}
	return nil
}

type memAudit struct {
	mu sync.Mutex
	e  []AuditEntry
}

func (a *memAudit) Record(_ context.Context, e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	e.ID = int64(len(a.e) + 1)
	a.e = append(a.e, e)
	return nil
}

func (a *memAudit) Audit(_ context.Context, before int64, limit int) ([]AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []AuditEntry
	for i := len(a.e) - 1; i >= 0 && len(out) < limit; i-- {
		if before == 0 || a.e[i].ID < before {
			out = append(out, a.e[i])
		}
	}
	return out, nil
}

func (a *memAudit) Recent(_ context.Context, actions []string, limit int) ([]AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []AuditEntry
	for i := len(a.e) - 1; i >= 0 && len(out) < limit; i-- {
		if slices.Contains(actions, a.e[i].Action) {
			out = append(out, a.e[i])
		}
	}
	return out, nil
}

func (a *memAudit) entries() []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.e)
}

type memPeople struct {
	mu sync.Mutex
	m  map[string]bool
}

func newMemPeople() *memPeople { return &memPeople{m: map[string]bool{}} }

func (p *memPeople) Remember(_ context.Context, persons []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range persons {
		p.m[x] = true
	}
	return nil
}

func (p *memPeople) FindPeople(_ context.Context, fpPrefix, idSuffix string, limit int) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for x := range p.m {
		fp := strings.TrimPrefix(bot.Fingerprint(x), "#")
		if fpPrefix != "" && strings.HasPrefix(fp, fpPrefix) || fpPrefix == "" && strings.HasSuffix(x, ":"+idSuffix) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out[:min(limit, len(out))], nil
}

// staffFixture is staff accounts over the in-memory stores: an admin,
// an operator and a viewer, each with password "password-" + name.
type staffFixture struct {
	staff    *memStaff
	sessions *memSessions
	audit    *memAudit
}

func newStaffFixture(t testing.TB) *staffFixture {
	t.Helper()
	f := &staffFixture{staff: &memStaff{m: map[string]StaffMember{}}, sessions: &memSessions{m: map[string]Session{}}, audit: &memAudit{}}
	for _, m := range []struct {
		name string
		role Role
	}{{"amy", RoleAdmin}, {"otto", RoleOperator}, {"vic", RoleViewer}} {
		hash := fixtureHash(t, "password-"+m.name)
		now := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
		if err := f.staff.AddStaff(t.Context(), StaffMember{Name: m.name, Role: m.role, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// fixtureHashes caches the fixture's password hashes: each costs 19 MiB
// and tens of milliseconds, and every test site has the same three.
var fixtureHashes sync.Map

func fixtureHash(t testing.TB, pw string) string {
	t.Helper()
	if h, ok := fixtureHashes.Load(pw); ok {
		return h.(string)
	}
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	fixtureHashes.Store(pw, h)
	return h
}

func (f *staffFixture) config() StaffConfig {
	return StaffConfig{Staff: f.staff, Sessions: f.sessions, Audit: f.audit}
}
