package sqlstore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

func TestWeComNewContactsByDay(t *testing.T) {
	s := mustWeCom(t)
	shanghai := time.FixedZone("CST", 8*3600)
	now := time.Now().UTC().Truncate(time.Hour)
	// 16:30 UTC is 00:30 the next day in Shanghai: the day is cut in the
	// report's zone, not the database's.
	late := time.Date(now.Year(), now.Month(), now.Day(), 16, 30, 0, 0, time.UTC).Add(-48 * time.Hour)
	adds := []struct {
		state, outcome string
		at             time.Time
	}{
		{"store-01", sqlstore.WelcomeSent, late},
		{"store-01", sqlstore.WelcomeSent, late.Add(time.Minute)},
		{"store-01", sqlstore.WelcomeFailed, late.Add(2 * time.Minute)},
		{"event-02", sqlstore.WelcomeSent, late.Add(-10 * time.Hour)},
		{"store-01", sqlstore.WelcomeSent, now.Add(-60 * 24 * time.Hour)}, // before the report starts
	}
	for i, a := range adds {
		_, err := s.ClaimContact(t.Context(), sqlstore.WeComContact{
			CorpID: corp, EventKey: fmt.Sprintf("add:%d", i), ExternalUserID: fmt.Sprintf("wm-%d", i), UserID: "staff",
			State: a.state, ChannelName: "渠道" + a.state, Outcome: a.outcome, AddedAt: a.at,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.NewContactsByDay(t.Context(), now.Add(-30*24*time.Hour), shanghai)
	if err != nil {
		t.Fatal(err)
	}
	day := late.In(shanghai).Format(time.DateOnly)
	before := late.Add(-10 * time.Hour).In(shanghai).Format(time.DateOnly)
	want := []sqlstore.WeComContactDay{
		{Day: before, State: "event-02", ChannelName: "渠道event-02", Outcome: sqlstore.WelcomeSent, Count: 1},
		{Day: day, State: "store-01", ChannelName: "渠道store-01", Outcome: sqlstore.WelcomeFailed, Count: 1},
		{Day: day, State: "store-01", ChannelName: "渠道store-01", Outcome: sqlstore.WelcomeSent, Count: 2},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("NewContactsByDay = %+v, want %+v", got, want)
	}

	if _, err := s.NewContactsByDay(t.Context(), now.Add(-200*24*time.Hour), shanghai); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("a 200-day report: err = %v, want ErrInvalid", err)
	}
}
