package sqlstore_test

import (
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
	if err != nil || counts[bot.OutboxSent] != 2 || counts[bot.OutboxPending] != 0 || !oldest.IsZero() {
		t.Fatalf("Depth after sending = %v, %v, %v; want 2 sent and no pending age", counts, oldest, err)
	}
}
