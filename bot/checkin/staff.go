package checkin

import (
	"context"
	"fmt"
	"slices"

	"github.com/siyu-bot/siyu/bot"
)

// Install adds check-ins to the stack: the checkin: section, the observer
// of archived group messages, the 签到/排行榜 command and the digest
// renderer.
func (s *Service) Install(st *bot.Stack) error {
	st.Sections(Section{})
	s.asker.Answers(func(sc *bot.Scripts, text string) bool {
		c := FromScripts(sc)
		return c != nil && slices.Contains(c.Keywords, text)
	})
	st.Observe(s.Observer())
	st.Command(s)
	return st.Render(DigestRenderer, s)
}

// Records are the reads staff need beyond Store. sqlstore.Checkins
// implements them.
type Records interface {
	// History returns a person's check-ins in scope, newest first, up to
	// limit.
	History(ctx context.Context, scope, person string, limit int) ([]Checkin, error)
	// Unsent lists the latest digests a platform would not take, newest
	// first.
	Unsent(ctx context.Context, limit int) ([]Unsent, error)
	// Scopes lists every scope with check-ins and how many people checked
	// in to each on day, busiest first.
	Scopes(ctx context.Context, day Day) ([]ScopeCount, error)
}

// ScopeCount is a scope and how many checked in to it on a day.
type ScopeCount struct {
	Scope    string
	Checkins int
}

// History is a person's check-ins in a scope as staff see them.
type History struct {
	Person string
	Total  int // points in all
	// Streak is the current streak: 0 once a day was missed.
	Streak int
	Days   []Checkin // newest first
}

// historyDays bounds a history: a year of days is enough for staff.
const historyDays = 366

// History returns a person's check-ins in scope. Errors: bot.ErrInvalid
// without a scope or a person.
func (s *Service) History(ctx context.Context, scope, person string) (History, error) {
	if scope == "" || person == "" {
		return History{}, fmt.Errorf("checkin.History: scope and person required: %w", bot.ErrInvalid)
	}
	rows, err := s.records().History(ctx, scope, person, historyDays)
	if err != nil {
		return History{}, err
	}
	h := History{Person: person, Days: rows}
	if len(rows) > 0 {
		h.Total = rows[0].Total
		// A streak is still alive today, and yesterday while it awaits
		// today's check-in.
		if rows[0].Day >= s.Today().AddDays(-1) {
			h.Streak = rows[0].Streak
		}
	}
	return h, nil
}

// Unsent lists the latest digests a platform would not take.
func (s *Service) Unsent(ctx context.Context, limit int) ([]Unsent, error) {
	return s.records().Unsent(ctx, limit)
}

// ScopesToday lists every scope with check-ins and today's count.
func (s *Service) ScopesToday(ctx context.Context) ([]ScopeCount, error) {
	return s.records().Scopes(ctx, s.Today())
}

// StaffBoard is Board for staff: a scope is required.
func (s *Service) StaffBoard(ctx context.Context, scope string, period Period) (Board, error) {
	if scope == "" {
		return Board{}, fmt.Errorf("checkin boards: scope missing: %w", bot.ErrInvalid)
	}
	return s.Board(ctx, scope, period, "")
}

func (s *Service) records() Records {
	if s.rec == nil {
		return noRecords{}
	}
	return s.rec
}

// noRecords answers staff when no Records were given.
type noRecords struct{}

func (noRecords) History(context.Context, string, string, int) ([]Checkin, error) { return nil, nil }
func (noRecords) Unsent(context.Context, int) ([]Unsent, error)                   { return nil, nil }
func (noRecords) Scopes(context.Context, Day) ([]ScopeCount, error)               { return nil, nil }
