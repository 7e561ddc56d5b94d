package redisstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func standings(st checkin.Standings) func(context.Context) (checkin.Standings, error) {
	return func(context.Context) (checkin.Standings, error) { return st, nil }
}

func TestCheckinBoards(t *testing.T) {
	ctx := t.Context()
	b := redisstore.NewCheckinBoards(storetest.Redis(t))
	const scope, day = "douyin:acct:g1", checkin.Day(20261126)
	ci := func(id int64, person string, points, streak, total int) checkin.Checkin {
		return checkin.Checkin{ID: id, Scope: scope, Person: person, Day: day, Week: day.Week(), Points: points, WeekPoints: points, Total: total, Streak: streak}
	}

	// Not built: Add still records, but cannot vouch for a rank.
	if rank, err := b.Add(ctx, ci(5, "early", 10, 1, 10)); err != nil || rank != 0 {
		t.Fatalf("Add before Load = %d, %v, want 0 (unbuilt)", rank, err)
	}
	if _, built, err := b.Top(ctx, scope, checkin.Today, day, 10, "x"); err != nil || built {
		t.Fatalf("Top before Load = built %v, %v, want unbuilt", built, err)
	}
	// Load what the database knows: an earlier check-in (id 3) and the
	// one added above. A lower stale score must not win over Add's.
	err := b.Load(ctx, scope, day, standings(checkin.Standings{
		checkin.Today: {{Person: "first", Points: 10, Streak: 1, ID: 3}, {Person: "early", Points: 10, Streak: 1, ID: 5}},
		checkin.All:   {{Person: "first", Points: 100, Streak: 9}, {Person: "early", Points: 1, Streak: 1}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		c        checkin.Checkin
		wantRank int
	}{
		{"third of the day", ci(7, "b", 15, 3, 35), 3},
		{"fourth", ci(9, "a", 15, 3, 35), 4},
		{"added again", ci(9, "a", 15, 3, 35), 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if rank, err := b.Add(ctx, tc.c); err != nil || rank != tc.wantRank {
				t.Fatalf("Add = %d, %v, want %d", rank, err, tc.wantRank)
			}
		})
	}
	got, built, err := b.Top(ctx, scope, checkin.All, day, 3, "early")
	if err != nil || !built {
		t.Fatalf("Top = built %v, %v", built, err)
	}
	// Ties (a and b at 35) are listed by person, descending, and share a
	// rank, as checkin.Rank does.
	want := []string{"first", "b", "a"}
	wantRank := []int{1, 2, 2}
	for i, e := range got.ByPoints {
		if e.Person != want[i] || e.Rank != wantRank[i] {
			t.Errorf("by points #%d = %+v, want %s ranked %d", i+1, e, want[i], wantRank[i])
		}
	}
	if tied, _, _ := b.Top(ctx, scope, checkin.All, day, 3, "a"); tied.MeByPoints.Rank != 2 {
		t.Errorf("a's own rank = %d, want 2 (tied with b)", tied.MeByPoints.Rank)
	}
	if len(got.ByPoints) != 3 || got.ByPoints[0].Points != 100 || got.ByPoints[0].Streak != 9 {
		t.Errorf("by points = %+v, want 3 entries with both scores", got.ByPoints)
	}
	if got.MeByPoints.Rank != 4 || got.MeByPoints.Points != 10 {
		t.Errorf("own entry = %+v, want rank 4 with 10 points (Add's 10 beat the stale 1)", got.MeByPoints)
	}
	if got.ByStreak[0].Person != "first" || got.ByStreak[0].Streak != 9 {
		t.Errorf("by streak = %+v, want first with 9", got.ByStreak)
	}
	none, _, _ := b.Top(ctx, scope, checkin.Today, day, 10, "nobody")
	if none.MeByPoints.Rank != 0 {
		t.Errorf("absent person's rank = %d, want 0", none.MeByPoints.Rank)
	}
}

func TestCheckinBoardsLoadOneAtATime(t *testing.T) {
	ctx := t.Context()
	b := redisstore.NewCheckinBoards(storetest.Redis(t))
	var inner error
	err := b.Load(ctx, "s", 20261126, func(ctx context.Context) (checkin.Standings, error) {
		inner = b.Load(ctx, "s", 20261126, standings(nil))
		return checkin.Standings{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, bot.ErrConflict) {
		t.Errorf("a Load during a Load = %v, want ErrConflict", inner)
	}
}
