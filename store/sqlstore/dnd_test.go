package sqlstore_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func mustDND(tb testing.TB) *sqlstore.DND {
	tb.Helper()
	s, err := sqlstore.NewDND(tb.Context(), storetest.SQL(tb))
	if err != nil {
		tb.Fatalf("NewDND: %v", err)
	}
	return s
}

func TestDNDOptOut(t *testing.T) {
	s := mustDND(t)
	ctx := t.Context()
	t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	const p = bot.PersonID("union:un-1")
	steps := []struct {
		name        string
		optOut      bool
		wantChanged bool
	}{
		{"opting in someone never out changes nothing", false, false},
		{"opt out", true, true},
		{"opt out again", true, false},
		{"opt back in", false, true},
		{"opt out once more", true, true},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			at := t0.Add(time.Duration(i) * time.Hour)
			changed, err := s.SetOptOut(ctx, p, st.optOut, at)
			if err != nil {
				t.Fatal(err)
			}
			if changed != st.wantChanged {
				t.Errorf("changed = %v, want %v", changed, st.wantChanged)
			}
			out, since, err := s.OptOut(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if out != st.optOut {
				t.Errorf("opted out = %v, want %v", out, st.optOut)
			}
			if st.wantChanged && !since.Equal(at) {
				t.Errorf("since = %v, want %v", since, at)
			}
			anyOut, err := s.AnyOptedOut(ctx, "wechat:gh:o-1", p)
			if err != nil || anyOut != st.optOut {
				t.Errorf("AnyOptedOut = %v, %v, want %v", anyOut, err, st.optOut)
			}
		})
	}
	if _, err := s.SetOptOut(ctx, "", true, t0); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("SetOptOut(\"\") err = %v, want ErrInvalid", err)
	}
}

// TestDNDOptOutConcurrent: replicas opting the same person out at once
// leave one row, opted out.
func TestDNDOptOutConcurrent(t *testing.T) {
	s := mustDND(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.SetOptOut(ctx, "douyin:acc:u", true, time.Now()); err != nil {
				t.Errorf("SetOptOut: %v", err)
			}
		})
	}
	wg.Wait()
	if out, _, err := s.OptOut(ctx, "douyin:acc:u"); err != nil || !out {
		t.Fatalf("OptOut = %v, %v, want true", out, err)
	}
}

func TestDNDHeld(t *testing.T) {
	s := mustDND(t)
	ctx := t.Context()
	t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	recs := []dnd.HeldBack{
		{Person: "union:un-1", Platform: bot.WeCom, Topic: "coupon", Reason: dnd.ReasonOptedOut, Action: "reply", At: t0},
		{Person: "group:douyin:dy:g", Platform: bot.Douyin, Topic: "digest", Reason: dnd.ReasonQuietHours, Action: "render", Until: t0.Add(8 * time.Hour), At: t0.Add(time.Minute)},
	}
	for _, r := range recs {
		if err := s.RecordHeld(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Held(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Held = %d records, want 2", len(got))
	}
	if got[0] != recs[1] || got[1] != recs[0] {
		t.Errorf("Held = %+v, want newest first %+v", got, []dnd.HeldBack{recs[1], recs[0]})
	}
	if !got[1].Dropped() || got[0].Dropped() {
		t.Errorf("Dropped = %v, %v, want false, true", got[0].Dropped(), got[1].Dropped())
	}
	if _, err := s.Held(ctx, 0); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("Held(0) err = %v, want ErrInvalid", err)
	}
}

// TestDNDHeldOncePerPush: a push held again when it comes back due is
// one record (the latest); the same text held while an earlier copy still
// waits, or without a key, is a record of its own.
func TestDNDHeldOncePerPush(t *testing.T) {
	s := mustDND(t)
	ctx := t.Context()
	t0 := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC) // 23:00 in Shanghai
	morning := t0.Add(9 * time.Hour)
	steps := []dnd.HeldBack{
		{Key: "k1", Person: "wechat:gh:o-1", Platform: bot.WeChat, Topic: "coupon", Reason: dnd.ReasonQuietHours, Action: "reply", Until: morning, At: t0},
		{Key: "k1", Person: "wechat:gh:o-1", Platform: bot.WeChat, Topic: "coupon", Reason: dnd.ReasonQuietHours, Action: "reply", Until: morning, At: t0.Add(time.Minute)},
		{Key: "k1", Person: "wechat:gh:o-1", Platform: bot.WeChat, Topic: "coupon", Reason: dnd.ReasonOptedOut, Action: "reply", At: morning},
		{Person: "wechat:gh:o-2", Platform: bot.WeChat, Topic: "coupon", Reason: dnd.ReasonOptedOut, Action: "reply", At: morning.Add(time.Minute)},
	}
	for _, r := range steps {
		if err := s.RecordHeld(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Held(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	// The second k1 was held while the first still waited: two pushes.
	// The third is one of them come back at 08:00: it replaces the newest.
	want := []dnd.HeldBack{steps[3], steps[2], steps[0]}
	if len(got) != len(want) {
		t.Fatalf("Held = %d records %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Held[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
