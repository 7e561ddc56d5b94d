package sqlstore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/handover"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func newHandovers(t *testing.T) *sqlstore.Handovers {
	t.Helper()
	h, err := sqlstore.NewHandovers(t.Context(), storetest.SQL(t))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHandoverLog(t *testing.T) {
	h := newHandovers(t)
	ctx := t.Context()
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	// The configured account is kept with the hand-over: the console
	// shows it to its brand's staff only.
	to := bot.Target{Platform: bot.WeCom, Account: "ww1/kf/wkAJ2GCAAASSm4", User: "wmAJ2GCAAAme1XQRC", Route: bot.Route{Brand: "山茶", Name: "kf-main"}}
	conv := handover.ConvOf(to.Platform, to.Account, to.User)
	se := handover.Session{ID: "0123456789abcdef", Conv: conv, To: to, Reason: handover.ReasonIntent, StartedAt: start}
	if err := h.Open(ctx, se); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Session(ctx, "nope"); !errors.Is(err, bot.ErrNotFound) {
		t.Fatalf("Session(nope) = %v, want ErrNotFound", err)
	}
	for i, want := range []bool{true, false} {
		first, err := h.Replied(ctx, se.ID, start.Add(time.Duration(i+1)*time.Minute))
		if err != nil || first != want {
			t.Fatalf("Replied #%d = %v, %v; want %v", i+1, first, err, want)
		}
	}
	for i := range 2 {
		if err := h.Close(ctx, se.ID, []string{handover.EndStaff, handover.EndQuiet}[i], start.Add(time.Duration(10+i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := h.Session(ctx, se.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := se
	want.FirstReplyAt, want.EndedAt, want.EndReason = start.Add(time.Minute), start.Add(10*time.Minute), handover.EndStaff
	if got != want {
		t.Fatalf("Session = %+v, want %+v (the first reply and the first end kept)", got, want)
	}

	for i, party := range []handover.Party{handover.Customer, handover.Bot, handover.Staff, handover.Customer} {
		m := handover.Message{Session: se.ID, Conv: conv, From: party, Text: fmt.Sprintf("第%d条 🙂", i+1), At: start.Add(time.Duration(i) * time.Second)}
		if party == handover.Staff {
			m.Author = "小王"
		}
		if err := h.Add(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Add(ctx, handover.Message{Conv: "wechat:a:other", From: handover.Customer, Text: "别人", At: start}); err != nil {
		t.Fatal(err)
	}
	msgs, err := h.Messages(ctx, conv, 3)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, m := range msgs {
		lines = append(lines, string(m.From)+"/"+m.Author+"/"+m.Text)
	}
	if wantLines := []string{"bot//第2条 🙂", "staff/小王/第3条 🙂", "customer//第4条 🙂"}; !slices.Equal(lines, wantLines) {
		t.Errorf("Messages = %q, want the latest three, oldest first: %q", lines, wantLines)
	}
	if !msgs[0].At.Equal(start.Add(time.Second)) || msgs[0].Session != se.ID {
		t.Errorf("message = %+v, want its time and session", msgs[0])
	}

	if err := h.Open(ctx, handover.Session{ID: "fedcba9876543210", Conv: "wechat:a:u2", To: bot.Target{Platform: bot.WeChat, Account: "a", User: "u2"}, Reason: "keyword", StartedAt: start.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ss, err := h.Sessions(ctx, start.Add(time.Hour), 10)
	if err != nil || len(ss) != 1 || ss[0].ID != "fedcba9876543210" {
		t.Fatalf("Sessions since = %+v, %v; want the later one", ss, err)
	}
}

// TestHandoverPurge: messages older than the cut go in batches; ended
// hand-overs older than it go too; open ones and newer text stay.
func TestHandoverPurge(t *testing.T) {
	h := newHandovers(t)
	ctx := t.Context()
	old := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	cut := old.Add(24 * time.Hour)
	for i := range 5 {
		if err := h.Add(ctx, handover.Message{Conv: "wechat:a:u", From: handover.Customer, Text: "旧", At: old.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Add(ctx, handover.Message{Conv: "wechat:a:u", From: handover.Customer, Text: "新", At: cut.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"} {
		if err := h.Open(ctx, handover.Session{ID: id, Conv: "wechat:a:u", To: bot.Target{Platform: bot.WeChat}, Reason: "keyword", StartedAt: old}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(ctx, "aaaaaaaaaaaaaaaa", handover.EndStaff, old.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var counts []int
	for {
		n, err := h.Purge(ctx, cut, 2)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, n)
		if n == 0 {
			break
		}
	}
	if want := []int{3, 2, 1, 0}; !slices.Equal(counts, want) {
		t.Errorf("purged per batch = %v, want %v (5 messages and 1 ended hand-over, 2 of each per batch)", counts, want)
	}
	msgs, _ := h.Messages(ctx, "wechat:a:u", 10)
	if len(msgs) != 1 || msgs[0].Text != "新" {
		t.Errorf("left %+v, want only the newer message", msgs)
	}
	if _, err := h.Session(ctx, "aaaaaaaaaaaaaaaa"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("ended hand-over: %v, want purged", err)
	}
	if _, err := h.Session(ctx, "bbbbbbbbbbbbbbbb"); err != nil {
		t.Errorf("open hand-over: %v, want kept", err)
	}
}
