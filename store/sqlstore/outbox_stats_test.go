package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func TestOutboxDepth(t *testing.T) {
	o := sqlstore.NewOutbox(storetest.SQL(t))
	ctx := t.Context()
	counts, oldest, err := o.Depth(ctx)
	if err != nil || counts[bot.OutboxPending] != 0 || !oldest.IsZero() {
		t.Fatalf("Depth of an empty outbox = %v, %v, %v; want nothing", counts, oldest, err)
	}
	before := time.Now().Add(-time.Second)
	mustEnqueue(t, o, item("a"), item("b"))
	counts, oldest, err = o.Depth(ctx)
	if err != nil || counts[bot.OutboxPending] != 2 || oldest.Before(before) || oldest.After(time.Now().Add(time.Second)) {
		t.Fatalf("Depth = %v, %v, %v; want 2 pending created just now", counts, oldest, err)
	}
	for _, it := range mustClaim(t, o, time.Now().Add(time.Hour), 10, time.Minute) {
		if err := o.Complete(ctx, it.ID); err != nil {
			t.Fatal(err)
		}
	}
	counts, oldest, err = o.Depth(ctx)
	if err != nil || counts[bot.OutboxPending] != 0 || !oldest.IsZero() {
		t.Fatalf("Depth after sending = %v, %v, %v; want none pending and no pending age", counts, oldest, err)
	}
}

// TestOutboxPurgeSent: rows sent before the cutoff go, in batches; rows
// sent since, pending rows and dead rows stay, however old.
func TestOutboxPurgeSent(t *testing.T) {
	db := storetest.SQL(t)
	o := sqlstore.NewOutbox(db)
	ctx := t.Context()
	now := time.Now()
	seedSent(t, db, 2500, now.Add(-8*24*time.Hour)) // and 20 pending rows
	old := now.Add(-30 * 24 * time.Hour)
	mustEnqueue(t, o, bot.OutboxItem{Key: "dead-old", Platform: bot.WeChat, Payload: []byte("{}"), NextAt: old})
	for _, it := range mustClaim(t, o, old.Add(time.Second), 1, time.Minute) {
		if err := o.Fail(ctx, it.ID, "gone", old, true); err != nil {
			t.Fatal(err)
		}
	}
	mustEnqueue(t, o, bot.OutboxItem{Key: "sent-now", Platform: bot.WeChat, Payload: []byte("{}"), NextAt: old})
	var sentNow int64
	for _, it := range mustClaim(t, o, old.Add(time.Second), 1, time.Minute) {
		if err := o.Complete(ctx, it.ID); err != nil {
			t.Fatal(err)
		}
		sentNow = it.ID
	}

	n, err := o.PurgeSent(ctx, now.Add(-7*24*time.Hour), 1000)
	if err != nil || n != 2500 {
		t.Fatalf("PurgeSent = %d, %v; want the 2500 rows sent 8 days ago", n, err)
	}
	counts, err := o.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[bot.OutboxSent] != 1 || counts[bot.OutboxPending] != 20 || counts[bot.OutboxDead] != 1 {
		t.Fatalf("after the purge: %v, want 1 sent (just now), 20 pending, 1 dead", counts)
	}
	// A row's sending time is when Complete ran, not when it was queued
	// or claimed.
	if n, err := o.PurgeSent(ctx, now.Add(-time.Hour), 1000); err != nil || n != 0 {
		t.Fatalf("PurgeSent an hour ago = %d, %v; want nothing (the row was sent just now)", n, err)
	}
	if n, err := o.PurgeSent(ctx, time.Now().Add(time.Hour), 1000); err != nil || n != 1 {
		t.Fatalf("PurgeSent after now = %d, %v; want the row sent just now (id %d)", n, err, sentNow)
	}
	if _, err := o.PurgeSent(ctx, now, 0); !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("PurgeSent with batch 0 = %v, want bot.ErrInvalid", err)
	}
}
