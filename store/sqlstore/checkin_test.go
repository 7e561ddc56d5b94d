package sqlstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func mustCheckins(tb testing.TB) *sqlstore.Checkins {
	tb.Helper()
	db := storetest.SQL(tb)
	if sqlDB, err := db.Gorm().DB(); err == nil {
		sqlDB.SetMaxOpenConns(16) // the shared test server's connections are few
	}
	s, err := sqlstore.NewCheckins(tb.Context(), db)
	if err != nil {
		tb.Fatalf("NewCheckins: %v", err)
	}
	return s
}

var ciT0 = time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)

func row(person string, day checkin.Day, streak, points, total int) checkin.Checkin {
	return checkin.Checkin{Scope: "douyin:acct:g1", Person: person, Day: day, Week: day.Week(), Streak: streak, Points: points, Total: total, WeekPoints: points, At: ciT0}
}

func TestCheckinsNewTwiceMigrates(t *testing.T) {
	db := storetest.SQL(t)
	for i := range 2 {
		if _, err := sqlstore.NewCheckins(t.Context(), db); err != nil {
			t.Fatalf("NewCheckins #%d: %v", i+1, err)
		}
	}
}

// TestCheckinsInsertOnce: many callers racing to record one person's
// check-in of one day: exactly one succeeds, the rest get ErrConflict.
func TestCheckinsInsertOnce(t *testing.T) {
	s := mustCheckins(t)
	const racers = 20
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		ok, confl int
	)
	for range racers {
		wg.Go(func() {
			_, err := s.Insert(t.Context(), row("p1", 20261126, 1, 10, 10), nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, bot.ErrConflict):
				confl++
			default:
				t.Errorf("Insert: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || confl != racers-1 {
		t.Errorf("inserts ok=%d conflicts=%d, want 1 and %d", ok, confl, racers-1)
	}
	if n, err := s.CountDay(t.Context(), "douyin:acct:g1", 20261126); err != nil || n != 1 {
		t.Errorf("CountDay = %d, %v, want 1", n, err)
	}
}

func TestCheckinsLatestRankAndStandings(t *testing.T) {
	s := mustCheckins(t)
	ctx := t.Context()
	scope := "douyin:acct:g1"
	ins := func(c checkin.Checkin) checkin.Checkin {
		t.Helper()
		c, err := s.Insert(ctx, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ins(row("a", 20261124, 1, 10, 10)) // Tuesday
	ins(row("a", 20261125, 2, 10, 20))
	b := ins(row("b", 20261126, 1, 10, 10))
	a := ins(row("a", 20261126, 3, 15, 35))
	ins(row("c", 20261120, 1, 10, 10)) // the week before

	tests := []struct {
		name    string
		person  string
		day     checkin.Day
		want    int // streak; 0 for not found
		wantDay checkin.Day
	}{
		{"today's", "a", 20261126, 3, 20261126},
		{"before a day", "a", 20261125, 2, 20261125},
		{"none yet", "b", 20261125, 0, 0},
		{"an older one", "c", 20261126, 1, 20261120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.Latest(ctx, scope, tc.person, tc.day)
			if tc.want == 0 {
				if !errors.Is(err, bot.ErrNotFound) {
					t.Fatalf("Latest = %+v, %v, want ErrNotFound", c, err)
				}
				return
			}
			if err != nil || c.Streak != tc.want || c.Day != tc.wantDay {
				t.Fatalf("Latest = streak %d day %v (%v), want %d %v", c.Streak, c.Day, err, tc.want, tc.wantDay)
			}
		})
	}
	if r, err := s.Rank(ctx, b); err != nil || r != 1 {
		t.Errorf("Rank(b) = %d, %v, want 1", r, err)
	}
	if r, err := s.Rank(ctx, a); err != nil || r != 2 {
		t.Errorf("Rank(a) = %d, %v, want 2", r, err)
	}

	st, err := s.Standings(ctx, scope, 20261126)
	if err != nil {
		t.Fatal(err)
	}
	find := func(p checkin.Period, person string) checkin.Score {
		for _, sc := range st[p] {
			if sc.Person == person {
				return sc
			}
		}
		return checkin.Score{}
	}
	for _, tc := range []struct {
		period         checkin.Period
		person         string
		points, streak int
	}{
		{checkin.Today, "a", 15, 3}, {checkin.Today, "c", 0, 0},
		{checkin.Week, "a", 35, 3}, {checkin.Week, "c", 0, 0},
		{checkin.All, "a", 35, 3}, {checkin.All, "c", 10, 1},
	} {
		if got := find(tc.period, tc.person); got.Points != tc.points || got.Streak != tc.streak {
			t.Errorf("%s %s = %d points %d streak, want %d %d", tc.period, tc.person, got.Points, got.Streak, tc.points, tc.streak)
		}
	}
	if got := find(checkin.Today, "b").ID; got != b.ID {
		t.Errorf("today's id of b = %d, want %d (the day's order)", got, b.ID)
	}

	h, err := s.History(ctx, scope, "a", 10)
	if err != nil || len(h) != 3 || h[0].Day != 20261126 || h[0].Total != 35 {
		t.Errorf("History(a) = %+v, %v, want 3 days, newest first with total 35", h, err)
	}
	sc, err := s.Scopes(ctx, 20261126)
	if err != nil || len(sc) != 1 || sc[0].Scope != scope || sc[0].Checkins != 2 {
		t.Errorf("Scopes = %+v, %v, want one scope with 2 today", sc, err)
	}
}

func TestCheckinsRewardsGivenOnce(t *testing.T) {
	s := mustCheckins(t)
	ctx := t.Context()
	m := checkin.Milestone{Scope: "douyin:acct:g1", Person: "a", Streak: 7, StartDay: 20261120, Day: 20261126}
	if _, err := s.Insert(ctx, row("a", 20261126, 7, 30, 90), []checkin.Milestone{m}); err != nil {
		t.Fatal(err)
	}
	// A conflicting insert records no second milestone either.
	if _, err := s.Insert(ctx, row("a", 20261126, 7, 30, 90), []checkin.Milestone{m}); !errors.Is(err, bot.ErrConflict) {
		t.Fatalf("second Insert = %v, want ErrConflict", err)
	}
	pending, err := s.PendingRewards(ctx, m.Scope, m.Person, m.Day)
	if err != nil || len(pending) != 1 || pending[0] != m {
		t.Fatalf("PendingRewards = %+v, %v, want the milestone", pending, err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		mines int
	)
	for range 10 {
		wg.Go(func() {
			mine, err := s.FinishReward(ctx, m)
			if err != nil {
				t.Error(err)
			}
			if mine {
				mu.Lock()
				mines++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if mines != 1 {
		t.Errorf("FinishReward winners = %d, want 1", mines)
	}
	if pending, _ := s.PendingRewards(ctx, m.Scope, m.Person, m.Day); len(pending) != 0 {
		t.Errorf("PendingRewards after = %+v, want none", pending)
	}
}

func TestCheckinsWindowAndUnsent(t *testing.T) {
	s := mustCheckins(t)
	ctx := t.Context()
	for i := range 5 {
		c := row(fmt.Sprintf("p%d", i), 20261126, 1, 10, 10)
		c.At = ciT0.Add(time.Duration(i) * 10 * time.Second) // 0s…40s
		c.Name = fmt.Sprintf("名字%d", i)
		if _, err := s.Insert(ctx, c, nil); err != nil {
			t.Fatal(err)
		}
	}
	list, n, err := s.Window(ctx, "douyin:acct:g1", 20261126, ciT0, ciT0.Add(30*time.Second), 2)
	if err != nil || n != 3 || len(list) != 2 || list[0].Person != "p0" || list[1].Name != "名字1" {
		t.Errorf("Window = %+v, %d, %v; want the first 2 of 3 in order", list, n, err)
	}
	names, err := s.Names(ctx, "douyin:acct:g1", []string{"p1", "p4", "nobody"})
	if err != nil || len(names) != 2 || names["p4"] != "名字4" {
		t.Errorf("Names = %v, %v", names, err)
	}
	u := checkin.Unsent{Scope: "wecom:corp:g", Day: 20261126, WindowEnd: ciT0.Add(30 * time.Second), Reason: "no bot messages"}
	for range 3 {
		if err := s.RecordUnsent(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Unsent(ctx, 10)
	if err != nil || len(got) != 1 || got[0].Reason != u.Reason || !got[0].WindowEnd.Equal(u.WindowEnd) {
		t.Errorf("Unsent = %+v, %v, want the one window with its reason", got, err)
	}
}
