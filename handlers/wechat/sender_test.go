package wechat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func reply(user, text string) bot.Action {
	return bot.Reply{To: bot.Target{Platform: bot.WeChat, Account: testAppID, User: bot.UserID(user)}, Text: text}
}

func TestOutboxRetriesUntilDelivered(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	clk := bottest.NewClock(time.Now())
	ob := bot.NewOutbox(sqlstore.NewOutbox(b.db), map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b)},
		bot.OutboxConfig{Now: clk.Now, Backoff: time.Second, MaxAttempts: 8})
	api.failNext(-1, -1, 45009) // system busy twice, then rate-limited
	if err := ob.Enqueue(t.Context(), "ev-1", []bot.Action{reply("o-a", "您好")}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := ob.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Minute) // past any backoff
	}
	got := api.messages()
	if len(got) != 1 || got[0] != (sentMessage{ToUser: "o-a", MsgType: "text", Text: "您好"}) {
		t.Fatalf("delivered %+v, want one 您好 to o-a", got)
	}
	if api.sendAttempt != 4 {
		t.Fatalf("send attempts = %d, want 4 (3 failures + 1 success)", api.sendAttempt)
	}
}

func TestOutboxEnqueueIsIdempotent(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	ob := bot.NewOutbox(sqlstore.NewOutbox(b.db), map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b)}, bot.OutboxConfig{})
	for range 3 { // a callback retried three times enqueues three times
		if err := ob.Enqueue(t.Context(), "ev-dup", []bot.Action{reply("o-b", "一"), reply("o-b", "二")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ob.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := api.messages(); len(got) != 2 {
		t.Fatalf("delivered %d messages, want 2: %+v", len(got), got)
	}
}

func TestOutboxDeadLetters(t *testing.T) {
	tests := []struct {
		name     string
		failures []int64
		wantSent int
		wantDead int
	}{
		{"follower left: dead at once", []int64{43004}, 0, 1},
		{"48-hour window closed: dead at once", []int64{45015}, 0, 1},
		{"keeps failing: dead after max attempts", []int64{-1, -1, -1}, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			b := newBackends(t)
			clk := bottest.NewClock(time.Now())
			store := sqlstore.NewOutbox(b.db)
			ob := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b)}, bot.OutboxConfig{Now: clk.Now, MaxAttempts: 3})
			api.failNext(tc.failures...)
			if err := ob.Enqueue(t.Context(), "ev-dead", []bot.Action{reply("o-c", "hi")}); err != nil {
				t.Fatal(err)
			}
			for range 6 {
				if _, err := ob.RunOnce(t.Context()); err != nil {
					t.Fatal(err)
				}
				clk.Add(time.Hour)
			}
			dead, err := store.List(t.Context(), bot.OutboxDead, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(api.messages()) != tc.wantSent || len(dead) != tc.wantDead {
				t.Fatalf("sent %d, dead %d; want %d, %d", len(api.messages()), len(dead), tc.wantSent, tc.wantDead)
			}
			if dead[0].LastError == "" {
				t.Fatal("dead row has no last error")
			}
			// Staff put it back; the platform now accepts it.
			if err := store.Requeue(t.Context(), dead[0].ID, clk.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := ob.RunOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
			if len(api.messages()) != 1 {
				t.Fatalf("after requeue sent %d, want 1", len(api.messages()))
			}
		})
	}
}

// TestOutboxSurvivesRestart: rows enqueued before a restart (the database
// closed and opened again, with new workers) are delivered after it.
func TestOutboxSurvivesRestart(t *testing.T) {
	api := newFakeAPI(t)
	cfg := storetest.SQLConfig(t)
	rdb := storetest.Redis(t)
	db1, err := sqlstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	api.failNext(-1) // the first attempt fails before the restart
	b1 := backends{db: db1, rdb: rdb}
	ob1 := bot.NewOutbox(sqlstore.NewOutbox(db1), map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b1)}, bot.OutboxConfig{Backoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if err := ob1.Enqueue(t.Context(), "ev-restart", []bot.Action{reply("o-r", "一"), reply("o-r", "二")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ob1.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db1.Close(); err != nil {
		t.Fatal(err)
	}

	db2, err := sqlstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	b2 := backends{db: db2, rdb: rdb}
	// The restarted replica's clock is past the failed attempt's backoff,
	// so the row is due at once.
	later := func() time.Time { return time.Now().Add(time.Minute) }
	ob2 := bot.NewOutbox(sqlstore.NewOutbox(db2), map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b2)}, bot.OutboxConfig{Now: later})
	for range 3 {
		if n, err := ob2.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		} else if n == 0 {
			break
		}
	}
	if got := api.messages(); len(got) != 2 {
		t.Fatalf("after restart delivered %+v, want both messages", got)
	}
}

// TestOutboxWorkersNeverSendARowTwice runs two replicas' workers on one
// table of 200 rows at once.
func TestOutboxWorkersNeverSendARowTwice(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	sender := newTestSender(t, b)
	newOutbox := func() *bot.Outbox {
		return bot.NewOutbox(sqlstore.NewOutbox(b.db), map[bot.Platform]bot.Sender{bot.WeChat: sender}, bot.OutboxConfig{Batch: 7})
	}
	w1, w2 := newOutbox(), newOutbox()
	const n = 200
	for i := range n {
		if err := w1.Enqueue(t.Context(), fmt.Sprintf("ev-%d", i), []bot.Action{reply("o-w", fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range []*bot.Outbox{w1, w2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && len(api.messages()) < n {
				if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, m := range api.messages() {
		seen[m.Text]++
	}
	for i := range n {
		if c := seen[fmt.Sprint(i)]; c != 1 {
			t.Fatalf("row %d sent %d times, want 1", i, c)
		}
	}
}

// TestSenderRefreshesRevokedToken: a token the platform rejects (40001) is
// dropped from the shared cache and fetched again once.
func TestSenderRefreshesRevokedToken(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	s := newTestSender(t, b)
	if err := s.Send(t.Context(), reply("o-t", "一")); err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	api.token = "TOKEN-2" // the platform revoked TOKEN-1
	api.mu.Unlock()
	if err := s.Send(t.Context(), reply("o-t", "二")); err != nil {
		t.Fatalf("Send after revocation = %v, want success after refresh", err)
	}
	if api.tokenCalls != 2 {
		t.Fatalf("token fetched %d times, want 2", api.tokenCalls)
	}
	// A second replica sharing Redis uses the cached token.
	other := newTestSender(t, backends{db: b.db, rdb: b.rdb})
	if err := other.Send(t.Context(), reply("o-t", "三")); err != nil {
		t.Fatal(err)
	}
	if api.tokenCalls != 2 {
		t.Fatalf("second replica fetched its own token: %d fetches, want 2", api.tokenCalls)
	}
}

// TestSenderErrorsHideTheToken: a transport failure quotes the URL, which
// carries the access token; the error stored on the outbox row must not.
func TestSenderErrorsHideTheToken(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	s := newTestSender(t, b)
	if err := s.Send(t.Context(), reply("o-x", "一")); err != nil { // caches TOKEN-1
		t.Fatal(err)
	}
	api.Close() // the platform becomes unreachable
	err := s.Send(t.Context(), reply("o-x", "二"))
	if err == nil {
		t.Fatal("Send to a closed server succeeded")
	}
	if strings.Contains(err.Error(), "TOKEN-1") {
		t.Fatalf("error leaks the access token: %v", err)
	}
	if !errors.Is(err, bot.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable (retried)", err)
	}
}
