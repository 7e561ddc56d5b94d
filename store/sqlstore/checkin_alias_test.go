package sqlstore_test

import (
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

const aliasCheckinYAML = `
checkin:
  keywords: [签到]
  points: 10
  streak_bonus: {3: 5}
`

// TestCheckinStreakAcrossLink: a follower's streak begun before siyu
// learnt their unionid goes on after it, and checking in under the
// platform name and then linked the same day is one check-in; on the
// database and Redis in use.
func TestCheckinStreakAcrossLink(t *testing.T) {
	type step struct {
		day    int  // days after the first
		linked bool // the event carries the unionid
		// want
		already       bool
		streak, total int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"streak begun before the link goes on", []step{
			{0, false, false, 1, 10}, {1, false, false, 2, 20}, {2, true, false, 3, 35}, {3, true, false, 4, 45},
		}},
		{"linked the same day: already", []step{
			{0, false, false, 1, 10}, {0, true, true, 1, 10}, {1, true, false, 2, 20},
		}},
		{"linked from the start", []step{
			{0, true, false, 1, 10}, {1, true, false, 2, 20},
		}},
		{"linked and unlinked days mixed: one streak", []step{
			{0, false, false, 1, 10}, {1, true, false, 2, 20}, {2, false, false, 3, 35}, {3, true, false, 4, 45},
		}},
		{"a missed day breaks the streak, the total carries", []step{
			{0, false, false, 1, 10}, {2, true, false, 1, 20}, {3, true, false, 2, 30},
		}},
	}
	scripts, err := bot.LoadScripts(fstest.MapFS{"c.yaml": {Data: []byte(aliasCheckinYAML)}}, checkin.Section{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := checkin.FromScripts(scripts)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := mustCheckins(t)
			now := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)
			at := now
			svc := checkin.New(checkin.Options{Store: store, Boards: redisstore.NewCheckinBoards(storetest.Redis(t)), Now: func() time.Time { return at }})
			for i, s := range tc.steps {
				at = now.AddDate(0, 0, s.day)
				ev := bot.Event{Platform: bot.WeChat, Account: "gh_test", Kind: bot.KindMessage, Sender: "o-1", Text: "签到", Time: at}
				if s.linked {
					ev.UnionID = "u-1"
				}
				out, err := svc.CheckIn(t.Context(), cfg, ev)
				if err != nil {
					t.Fatalf("step %d: CheckIn: %v", i, err)
				}
				if out.Already != s.already || out.Checkin.Streak != s.streak || out.Checkin.Total != s.total {
					t.Errorf("step %d: already %v streak %d total %d, want %v %d %d", i, out.Already, out.Checkin.Streak, out.Checkin.Total, s.already, s.streak, s.total)
				}
			}
		})
	}
}
