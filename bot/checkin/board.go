package checkin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/siyu-bot/siyu/bot"
)

// Period is a leaderboard's span.
type Period string

// Periods of the leaderboards. By points a board sums the points earned
// in the period; by streak it shows the longest streak reached in it
// (today: today's streaks).
const (
	Today Period = "today"
	Week  Period = "week"
	All   Period = "all"
)

// Periods lists every Period.
func Periods() []Period { return []Period{Today, Week, All} }

// ParsePeriod returns the Period named s ("" is Today).
func ParsePeriod(s string) (Period, error) {
	switch p := Period(s); p {
	case "":
		return Today, nil
	case Today, Week, All:
		return p, nil
	}
	return "", fmt.Errorf("checkin.ParsePeriod %q: want today, week or all: %w", s, bot.ErrInvalid)
}

// Score is one person's standing on a board.
type Score struct {
	Person string
	Points int
	Streak int
	// ID is the person's first check-in's ID in the period: today's
	// order of check-in.
	ID int64
}

// Standings are every person's scores in a scope, by period.
type Standings map[Period][]Score

// Entry is one line of a board.
type Entry struct {
	Rank   int // from 1
	Person string
	Name   string
	Points int
	Streak int
}

// Board is a scope's top entries for a period by points and by streak,
// with the asker's own entries (Rank 0 when they are not on the board).
type Board struct {
	Scope    string
	Period   Period
	ByPoints []Entry
	ByStreak []Entry
	MeByPoints,
	MeByStreak Entry
}

// Boards keeps leaderboards as sorted sets (Redis). The Store is the
// truth: Boards may be emptied at any time and are rebuilt from it.
type Boards interface {
	// Add puts a new check-in's scores on the boards of its scope and
	// returns its rank of the day (by ID). Scores are absolute and only
	// rise, so adding twice or out of order is harmless. rank is 0 when
	// the scope's boards are not built (never, or Redis was emptied): the
	// caller rebuilds them with Load.
	Add(ctx context.Context, c Checkin) (rank int, err error)
	// Top returns the top n of scope's boards of period on day, ranked by
	// score then by person (descending both), with person's entries.
	// built is false when the scope's boards are not built.
	Top(ctx context.Context, scope string, period Period, day Day, n int, person string) (b Board, built bool, err error)
	// Load merges the standings that load returns (as of day) into
	// scope's boards and marks them built. It returns an error wrapping
	// bot.ErrConflict, without calling load, when another caller (in any
	// replica) is loading them.
	Load(ctx context.Context, scope string, day Day, load func(context.Context) (Standings, error)) error
}

// Rank orders scores as the boards do: by value descending, ties by
// person descending (Redis's ZREVRANGE order), and returns the top n
// entries and person's own (Rank 0 when absent). by is "points" or
// "streak". Equal values share a rank and the next value's rank skips
// past them (1, 1, 3), as sports tables do: listing order among equals is
// no achievement.
func Rank(scores []Score, by string, n int, person string) (top []Entry, me Entry) {
	val := func(s Score) int {
		if by == "streak" {
			return s.Streak
		}
		return s.Points
	}
	sorted := slices.Clone(scores)
	slices.SortFunc(sorted, func(a, b Score) int {
		if c := cmp.Compare(val(b), val(a)); c != 0 {
			return c
		}
		return strings.Compare(b.Person, a.Person)
	})
	rank := 0
	for i, s := range sorted {
		if i == 0 || val(s) != val(sorted[i-1]) {
			rank = i + 1
		}
		e := Entry{Rank: rank, Person: s.Person, Points: s.Points, Streak: s.Streak}
		if i < n {
			top = append(top, e)
		}
		if s.Person == person {
			me = e
		}
	}
	return top, me
}

// ShareTies gives entries listed by value descending (by is "points" or
// "streak") the ranks Rank gives: equal values share the first one's.
// Boards kept elsewhere (Redis) list in order; this ranks them alike.
func ShareTies(entries []Entry, by string) {
	val := func(e Entry) int {
		if by == "streak" {
			return e.Streak
		}
		return e.Points
	}
	for i := 1; i < len(entries); i++ {
		if val(entries[i]) == val(entries[i-1]) {
			entries[i].Rank = entries[i-1].Rank
		}
	}
}

// BoardSize is how many people a board shows.
const BoardSize = 10

// Board returns scope's boards of period today, with person's own
// entries and names filled in. Boards are read from Boards, rebuilt from
// the Store when they were emptied, and computed from the Store alone
// when Boards fails.
func (s *Service) Board(ctx context.Context, scope string, period Period, person string) (Board, error) {
	day := s.Today()
	b, err := s.top(ctx, scope, period, day, person)
	if err != nil {
		return Board{}, fmt.Errorf("checkin.Board: %w", err)
	}
	persons := make([]string, 0, 2*BoardSize+1)
	for _, e := range append(append(b.ByPoints, b.ByStreak...), b.MeByPoints) {
		if e.Person != "" && !slices.Contains(persons, e.Person) {
			persons = append(persons, e.Person)
		}
	}
	names, err := s.store.Names(ctx, scope, persons)
	if err != nil {
		return Board{}, fmt.Errorf("checkin.Board: %w", err)
	}
	for _, list := range [][]Entry{b.ByPoints, b.ByStreak} {
		for i := range list {
			list[i].Name = displayName(names[list[i].Person], list[i].Person)
		}
	}
	b.MeByPoints.Name = displayName(names[b.MeByPoints.Person], b.MeByPoints.Person)
	b.MeByStreak.Name = b.MeByPoints.Name
	return b, nil
}

func (s *Service) top(ctx context.Context, scope string, period Period, day Day, person string) (Board, error) {
	if s.boards != nil {
		b, built, err := s.boards.Top(ctx, scope, period, day, BoardSize, person)
		if err == nil && built {
			return b, nil
		}
		if err == nil {
			var st Standings
			err := s.boards.Load(ctx, scope, day, func(ctx context.Context) (Standings, error) {
				st, err = s.store.Standings(ctx, scope, day)
				return st, err
			})
			if err == nil {
				return boardOf(scope, period, st, person), nil
			}
			if !errors.Is(err, bot.ErrConflict) {
				s.log.WarnContext(ctx, "checkin: rebuilding boards failed", "err", err)
			}
			// Being rebuilt elsewhere: read the database meanwhile.
		}
		if !errors.Is(err, bot.ErrUnavailable) {
			return Board{}, err
		}
		s.log.WarnContext(ctx, "checkin: boards unavailable; reading the database", "err", err)
	}
	st, err := s.store.Standings(ctx, scope, day)
	if err != nil {
		return Board{}, err
	}
	return boardOf(scope, period, st, person), nil
}

// boardOf computes a Board from standings, as Boards would rank them.
func boardOf(scope string, period Period, st Standings, person string) Board {
	b := Board{Scope: scope, Period: period}
	b.ByPoints, b.MeByPoints = Rank(st[period], "points", BoardSize, person)
	b.ByStreak, b.MeByStreak = Rank(st[period], "streak", BoardSize, person)
	if b.MeByPoints.Rank == 0 {
		b.MeByPoints.Person = person
	}
	if b.MeByStreak.Rank == 0 {
		b.MeByStreak.Person = person
	}
	return b
}

func (s *Service) boardTurn(ctx context.Context, cfg *Config, t *bot.Turn) error {
	t.Answer = bot.Answer{Stage: "command:checkin", Rule: "board", Intent: t.Intent, Confidence: t.Confidence}
	scope := cfg.ScopeOf(t.Event)
	person := s.personIn(ctx, cfg, scope, t.Event)
	var sb strings.Builder
	for i, p := range Periods() {
		b, err := s.Board(ctx, scope, p, person)
		if err != nil {
			return err
		}
		if i > 0 {
			sb.WriteString("\n\n")
		}
		writeBoard(&sb, b)
	}
	if t.Event.Conversation.IsGroup() && !CanPostToGroup(t.Event.Platform) {
		// No bot can answer in the group: answer the asker 1:1.
		to := t.Event.ReplyTarget()
		to.Conversation = bot.Conversation{}
		t.Add(bot.Reply{To: to, Text: sb.String()})
		return nil
	}
	t.ReplyText(sb.String())
	return nil
}

// writeBoard writes a board as text for a chat.
func writeBoard(sb *strings.Builder, b Board) {
	name := map[Period]string{Today: "今日", Week: "本周", All: "总"}[b.Period]
	fmt.Fprintf(sb, "【%s积分榜】", name)
	if len(b.ByPoints) == 0 {
		sb.WriteString("\n暂无签到")
	}
	for _, e := range b.ByPoints {
		fmt.Fprintf(sb, "\n%d. %s %d分", e.Rank, e.Name, e.Points)
	}
	fmt.Fprintf(sb, "\n【%s连续签到榜】", name)
	for _, e := range b.ByStreak {
		fmt.Fprintf(sb, "\n%d. %s %d天", e.Rank, e.Name, e.Streak)
	}
	if b.MeByPoints.Rank > 0 {
		fmt.Fprintf(sb, "\n你：积分第 %d 名（%d分），连续签到第 %d 名（%d天）", b.MeByPoints.Rank, b.MeByPoints.Points, b.MeByStreak.Rank, b.MeByStreak.Streak)
	} else {
		sb.WriteString("\n你还没有上榜，发送「签到」加入吧～")
	}
}
