package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestCouponConstraints: the database refuses what would oversell, pass
// the limit, claim a trigger twice or repeat a code, and says which.
func TestCouponConstraints(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.NewCoupons(ctx, storetest.SQL(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	n := 0
	claim := func(person, trigger string, seq, slot int, code string) coupon.Claim {
		n++
		return coupon.Claim{ID: "id" + string(rune('a'+n)), Campaign: "c", Person: bot.PersonID(person), Trigger: trigger, Seq: seq, Slot: slot,
			Code: code, To: bot.Target{Platform: bot.WeChat, User: "u"}, Message: "{{code}}", CreatedAt: now}
	}
	msg := func(c coupon.Claim) bot.OutboxItem {
		return bot.OutboxItem{Key: "batch:coupon:" + c.ID, Platform: bot.WeChat, Payload: []byte("{}"), NextAt: now}
	}
	tests := []struct {
		name     string
		claim    coupon.Claim
		wantErr  error
		wantSlot int
	}{
		{"first", claim("p1", "t1", 1, 1, "A"), nil, 1},
		{"same trigger", claim("p1", "t1", 2, 2, "B"), coupon.ErrTriggerTaken, 0},
		{"seq taken", claim("p2", "t2", 1, 1, "C"), coupon.ErrSeqTaken, 0},
		{"code taken", claim("p2", "t2", 2, 1, "A"), coupon.ErrCodeTaken, 0},
		{"slot taken moves to a free one", claim("p1", "t3", 3, 1, "D"), nil, 2},
		{"no slot left", claim("p1", "t4", 4, 1, "E"), coupon.ErrLimit, 0},
		{"another person", claim("p2", "t5", 4, 1, "E"), nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.Insert(ctx, tc.claim, 2, msg(tc.claim))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Insert err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && got.Slot != tc.wantSlot {
				t.Errorf("slot = %d, want %d", got.Slot, tc.wantSlot)
			}
		})
	}
	if n, _ := store.Issued(ctx, "c"); n != 3 {
		t.Errorf("issued = %d, want 3", n)
	}
	snap, err := store.Snapshot(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Seqs) != 3 || snap.Seqs[0] != 1 || snap.Seqs[2] != 4 || snap.Persons["p1"] != 2 || snap.Persons["p2"] != 1 {
		t.Errorf("snapshot = %+v, want seqs 1,3,4 and p1:2, p2:1", snap)
	}
}

// TestStandbyMessage (issue 28 cause D): a claim whose message the
// callback's answer carries writes it on standby: never claimed by an
// outbox worker, until the message is enqueued again under its key (the
// answer did not carry it), which makes it pending, due then. Enqueueing
// a pending or sent row's key changes nothing.
func TestStandbyMessage(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQL(t)
	store, err := sqlstore.NewCoupons(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	o := sqlstore.NewOutbox(db)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := coupon.Claim{ID: "standby1", Campaign: "c", Person: "p1", Trigger: "t1", Seq: 1, Slot: 1, Code: "S1",
		To: bot.Target{Platform: bot.WeChat, User: "u"}, Message: "{{code}}", CreatedAt: now}
	key := "batch:coupon:" + c.ID
	msg := bot.OutboxItem{Key: key, Platform: bot.WeChat, Payload: []byte(`{"row":"claim"}`), NextAt: now, Status: bot.OutboxStandby}
	if _, err := store.Insert(ctx, c, 1, msg); err != nil {
		t.Fatal(err)
	}
	if got := mustClaim(t, o, now.Add(time.Hour), 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed %v on standby, want nothing", keys(got))
	}
	again := bot.OutboxItem{Key: key, Platform: bot.WeChat, Payload: []byte(`{"row":"late"}`), NextAt: now.Add(2 * time.Hour)}
	mustEnqueue(t, o, again)
	if got := mustClaim(t, o, now.Add(time.Hour), 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed %v before the enqueued time, want nothing", keys(got))
	}
	got := mustClaim(t, o, now.Add(2*time.Hour), 10, time.Minute)
	if len(got) != 1 || got[0].Key != key || string(got[0].Payload) != `{"row":"claim"}` {
		t.Fatalf("claimed %+v, want the claim's own row, now pending", got)
	}
	if err := o.Complete(ctx, got[0].ID); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, o, again) // a sent row stays sent
	if got := mustClaim(t, o, now.Add(3*time.Hour), 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed %v after it was sent, want nothing", keys(got))
	}
	counts, err := o.Counts(ctx)
	if err != nil || counts[bot.OutboxSent] != 1 || counts[bot.OutboxStandby] != 0 {
		t.Fatalf("counts = %v, %v; want the row sent", counts, err)
	}
}

// TestCouponReports: the console's figures count a campaign's claims by
// channel and its codes, and its claims page lists the newest first, at
// most the limit, ties broken the same way on every call.
func TestCouponReports(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.NewCoupons(ctx, storetest.SQL(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	claims := []struct {
		id, channel string
		at          time.Time
	}{
		{"a", "", now.Add(-2 * time.Hour)},
		{"b", "poster", now},
		{"c", "poster", now.Add(-time.Hour)},
		{"d", "qr", now}, // same time as b
	}
	for i, c := range claims {
		cl := coupon.Claim{ID: c.id, Campaign: "c", Person: bot.PersonID("p" + c.id), Trigger: "t" + c.id, Seq: i + 1, Slot: 1,
			Channel: c.channel, To: bot.Target{Platform: bot.WeChat, User: "u"}, Message: "m", CreatedAt: c.at}
		if _, err := store.Insert(ctx, cl, 1, bot.OutboxItem{Key: "coupon:" + c.id, Platform: bot.WeChat, Payload: []byte("{}"), NextAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.ImportCodes(ctx, "c", []string{"X1", "X2", "X3", "X4", "X5"}, nil); err != nil {
		t.Fatal(err)
	}
	stats, err := store.Stats(ctx, []string{"c", "none"})
	if err != nil {
		t.Fatal(err)
	}
	if st := stats["c"]; st.Issued != 4 || st.Codes != 5 || st.PerChannel[""] != 1 || st.PerChannel["poster"] != 2 || st.PerChannel["qr"] != 1 {
		t.Errorf("stats[c] = %+v, want 4 issued (1 none, 2 poster, 1 qr), 5 codes", st)
	}
	if st, ok := stats["none"]; !ok || st.Issued != 0 || st.PerChannel == nil {
		t.Errorf("stats[none] = %+v, %v, want zero figures", st, ok)
	}
	tests := []struct {
		name  string
		limit int
		want  string
	}{
		{"all, newest first, ties by id descending", 10, "dbca"},
		{"the limit", 2, "db"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := store.Claims(ctx, "c", tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, c := range list {
				got += c.ID
			}
			if got != tc.want {
				t.Errorf("claims = %q, want %q", got, tc.want)
			}
		})
	}
}
