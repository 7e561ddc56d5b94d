package wecom

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// fakeArchive is the chat archive: messages by seq.
type fakeArchive struct {
	mu      sync.Mutex
	msgs    []ArchivedMessage
	fetches []uint64
}

func (f *fakeArchive) Fetch(_ context.Context, seq uint64, limit int) ([]ArchivedMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches = append(f.fetches, seq)
	var out []ArchivedMessage
	for _, m := range f.msgs {
		if m.Seq > seq && len(out) < limit {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *fakeArchive) add(m ...ArchivedMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, m...)
}

// TestArchivePoller: archived texts and joins become observe-mode
// events, once across two replicas, and the seq is kept in shared
// storage.
func TestArchivePoller(t *testing.T) {
	b := newBackends(t)
	rec := newRecorder(t)
	logger := bottest.Logger(t)
	chain := bot.Chain(rec, bot.Validate(), bot.Dedupe(redisstore.NewDeduper(b.rdb), bot.DedupeConfig{TTL: time.Hour}, logger))
	ob := bot.NewOutbox(sqlstore.NewOutbox(b.db), nil, bot.OutboxConfig{})
	src := &fakeArchive{}
	at := time.Unix(1700000000, 0)
	src.add(
		ArchivedMessage{Seq: 1, MsgID: "a1", Action: "send", Type: ArchiveText, From: "wm-a", RoomID: "wr-1", Text: "签到", Time: at},
		ArchivedMessage{Seq: 2, MsgID: "a2", Action: "send", Type: ArchiveText, From: "wm-b", Text: "你好", Time: at},
		ArchivedMessage{Seq: 3, MsgID: "a3", Action: "recall", Type: "revoke", From: "wm-a", RoomID: "wr-1", Time: at},
		ArchivedMessage{Seq: 4, MsgID: "a4", Action: "send", Type: "image", From: "wm-a", RoomID: "wr-1", Time: at},
		ArchivedMessage{Seq: 5, MsgID: "a5", Action: "send", Type: ArchiveJoin, RoomID: "wr-1", Members: []string{"wm-c", "wm-d"}, Time: at},
	)
	pollers := []*ArchivePoller{
		NewArchivePoller(ArchiveConfig{CorpID: testCorp, Limit: 2}, src, b.store, b.rdb, chain, ob, logger),
		NewArchivePoller(ArchiveConfig{CorpID: testCorp, Limit: 2}, src, b.store, b.rdb, chain, ob, logger),
	}
	poll := func() {
		var wg sync.WaitGroup
		for _, p := range pollers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := p.PollOnce(t.Context()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		for _, p := range pollers { // whoever lost the lock polls next time
			if _, err := p.PollOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	poll()
	want := []bot.Event{
		{Platform: bot.WeCom, Account: testCorp, Kind: bot.KindMessage, Conversation: bot.Conversation{Group: "wr-1"}, Sender: "wm-a", Text: "签到", MessageID: "a1", DedupeKey: "archive:a1", Observe: true, Time: at},
		{Platform: bot.WeCom, Account: testCorp, Kind: bot.KindMessage, Sender: "wm-b", Text: "你好", MessageID: "a2", DedupeKey: "archive:a2", Observe: true, Time: at},
		{Platform: bot.WeCom, Account: testCorp, Kind: bot.KindMemberJoined, Conversation: bot.Conversation{Group: "wr-1"}, Members: []bot.UserID{"wm-c", "wm-d"}, MessageID: "a5", DedupeKey: "archive:a5", Observe: true, Time: at},
	}
	got := rec.events()
	if len(got) != len(want) {
		t.Fatalf("engine got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !eventsEqual(got[i], want[i]) {
			t.Fatalf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if seq, err := b.store.Cursor(t.Context(), testCorp, cursorArchive); err != nil || seq != "5" {
		t.Fatalf("stored seq = %q, %v; want 5", seq, err)
	}
	// Observe mode: the engine answers nothing, so nothing is queued.
	if n, err := sqlstore.NewOutbox(b.db).List(t.Context(), "", 10); err != nil || len(n) != 0 {
		t.Fatalf("outbox rows = %+v, %v; want none", n, err)
	}

	// New messages are read from the stored seq.
	src.add(ArchivedMessage{Seq: 6, MsgID: "a6", Action: "send", Type: ArchiveText, From: "wm-a", RoomID: "wr-1", Text: "再签到", Time: at})
	src.mu.Lock()
	src.fetches = nil
	src.mu.Unlock()
	poll()
	if n := len(rec.events()); n != 4 {
		t.Fatalf("engine got %d events after the second poll, want 4", n)
	}
	src.mu.Lock()
	fetches := slices.Clone(src.fetches)
	src.mu.Unlock()
	if fetches[0] != 5 {
		t.Fatalf("second poll fetched after %v, want after 5", fetches)
	}
}
