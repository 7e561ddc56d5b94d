package bot_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

// memOutbox is an in-process bot.OutboxStore with the lease semantics of
// the SQL one, for the Outbox's own tests; sqlstore is tested against the
// databases in store/sqlstore.
type memOutbox struct {
	mu     sync.Mutex
	rows   []bot.OutboxItem
	nextID int64
	// failComplete makes that many Complete calls fail first.
	failComplete int
	// extended, when set, gets each successful Extend's count.
	extended chan int
	// sending marks rows claimed whose outcome is not recorded yet.
	sending map[int64]bool
}

func (m *memOutbox) Enqueue(_ context.Context, items []bot.OutboxItem) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, it := range items {
		m.nextID++
		it.ID, it.Status = m.nextID, bot.OutboxPending
		m.rows = append(m.rows, it)
	}
	return nil
}

func (m *memOutbox) Claim(_ context.Context, now time.Time, limit int, lease time.Duration) ([]bot.OutboxItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []bot.OutboxItem
	for i := range m.rows {
		r := &m.rows[i]
		if len(out) == limit || r.Status != bot.OutboxPending || r.NextAt.After(now) {
			continue
		}
		r.NextAt, r.Attempts = now.Add(lease), r.Attempts+1
		if m.sending == nil {
			m.sending = map[int64]bool{}
		}
		r.Unfinished = m.sending[r.ID]
		if r.Unfinished {
			r.AmbiguousResends++
		}
		m.sending[r.ID] = true
		out = append(out, *r)
	}
	return out, nil
}

func (m *memOutbox) row(id int64) *bot.OutboxItem {
	for i := range m.rows {
		if m.rows[i].ID == id {
			return &m.rows[i]
		}
	}
	return nil
}

func (m *memOutbox) Extend(_ context.Context, claimed []bot.OutboxItem, until time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range claimed {
		if r := m.row(c.ID); r != nil && r.Status == bot.OutboxPending && r.Attempts == c.Attempts {
			r.NextAt = until
			n++
		}
	}
	if m.extended != nil {
		select {
		case m.extended <- n:
		default:
		}
	}
	return n, nil
}

func (m *memOutbox) Release(_ context.Context, claimed []bot.OutboxItem, next time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range claimed {
		if r := m.row(c.ID); r != nil && r.Status == bot.OutboxPending && r.Attempts == c.Attempts {
			r.NextAt = next
			delete(m.sending, r.ID)
			n++
		}
	}
	return n, nil
}

func (m *memOutbox) Complete(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failComplete > 0 {
		m.failComplete--
		return fmt.Errorf("memOutbox: too many connections: %w", bot.ErrUnavailable)
	}
	m.row(id).Status = bot.OutboxSent
	delete(m.sending, id)
	return nil
}

func (m *memOutbox) Fail(_ context.Context, id int64, lastErr string, next time.Time, dead bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.row(id)
	r.LastError, r.NextAt = lastErr, next
	delete(m.sending, id)
	if dead {
		r.Status = bot.OutboxDead
	}
	return nil
}

func (m *memOutbox) Defer(_ context.Context, id int64, note string, next time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.row(id)
	r.LastError, r.NextAt, r.Attempts = note, next, max(r.Attempts-1, 0)
	delete(m.sending, id)
	return nil
}

func (m *memOutbox) get(id int64) bot.OutboxItem {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.row(id)
}

func newTestClock() *bottest.Clock {
	return bottest.NewClock(time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC))
}
func reply(user string) bot.Action {
	return bot.Reply{To: bot.Target{Platform: bot.WeChat, Account: "a", User: bot.UserID(user)}, Text: "你好"}
}
func countingSender(n *atomic.Int32) bot.Sender {
	return bot.SenderFunc(func(context.Context, bot.Action) error { n.Add(1); return nil })
}

// TestOutboxOutageDelaysNotKills (issue 18 item 7): an hour's outage of
// the platform delays a message (backing off, with jitter, up to the
// maximum) instead of dead-lettering it after eight tries; it is
// dead-lettered only once its next try would fall past the platform's
// window.
func TestOutboxOutageDelaysNotKills(t *testing.T) {
	clk := newTestClock()
	store := &memOutbox{}
	var down atomic.Bool
	down.Store(true)
	var sent atomic.Int32
	sender := bot.SenderFunc(func(context.Context, bot.Action) error {
		if down.Load() {
			return fmt.Errorf("fake: platform down: %w", bot.ErrUnavailable)
		}
		sent.Add(1)
		return nil
	})
	o := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.WeChat: sender}, bot.OutboxConfig{Now: clk.Now})
	if err := o.Enqueue(t.Context(), "k", []bot.Action{reply("u")}); err != nil {
		t.Fatal(err)
	}
	if got := store.get(1).ExpiresAt; !got.Equal(clk.Now().Add(48 * time.Hour)) {
		t.Fatalf("ExpiresAt = %v, want WeChat's 48 h window from now", got)
	}
	// An hour of outage, looking every minute.
	for range 60 {
		if _, err := o.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Minute)
	}
	row := store.get(1)
	if row.Status != bot.OutboxPending || row.Attempts <= 8 {
		t.Fatalf("after an hour's outage: status %s after %d attempts, want pending after more than 8", row.Status, row.Attempts)
	}
	if wait := row.NextAt.Sub(clk.Now()); wait > 6*time.Minute {
		t.Fatalf("next try in %v, want within the 5 min (±20%%) maximum backoff", wait)
	}
	down.Store(false)
	clk.Add(6 * time.Minute)
	if _, err := o.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if row := store.get(1); row.Status != bot.OutboxSent || sent.Load() != 1 {
		t.Fatalf("after the outage: status %s, %d sent; want sent once", row.Status, sent.Load())
	}

	// Past the window: dead.
	down.Store(true)
	if err := o.Enqueue(t.Context(), "k2", []bot.Action{reply("u")}); err != nil {
		t.Fatal(err)
	}
	clk.Add(48*time.Hour - time.Second) // the first retry (2 s ±20%) would come after it
	if _, err := o.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if row := store.get(2); row.Status != bot.OutboxDead {
		t.Fatalf("a failure whose retry falls past the window: status %s, want dead", row.Status)
	}
}

// TestOutboxCompleteRetried (issue 18 item 5): a failed mark-as-sent
// (the database refusing connections) is tried again within the lease,
// so the row is not sent a second time.
func TestOutboxCompleteRetried(t *testing.T) {
	clk := newTestClock()
	store := &memOutbox{failComplete: 2}
	var sent atomic.Int32
	o := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.WeChat: countingSender(&sent)}, bot.OutboxConfig{Now: clk.Now})
	if err := o.Enqueue(t.Context(), "k", []bot.Action{reply("u")}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if row := store.get(1); row.Status != bot.OutboxSent {
		t.Fatalf("status after two failed marks = %s, want sent", row.Status)
	}
	clk.Add(time.Hour)
	if _, err := o.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := sent.Load(); n != 1 {
		t.Fatalf("sent %d times, want 1", n)
	}
}

// TestOutboxLeaseRenewedWhileWorking (issue 18 item 6): the lease is
// short, and renewed for the rows a worker still has, so a slow batch
// keeps its rows while a dead worker's rows come free within one lease.
func TestOutboxLeaseRenewedWhileWorking(t *testing.T) {
	clk := newTestClock()
	store := &memOutbox{extended: make(chan int, 1)}
	var sent atomic.Int32
	sender := bot.SenderFunc(func(ctx context.Context, a bot.Action) error {
		if sent.Add(1) == 1 {
			// The first send holds the batch until the rows' lease was
			// renewed.
			select {
			case n := <-store.extended:
				if n != 2 {
					return fmt.Errorf("renewal kept %d rows, want 2", n)
				}
			case <-ctx.Done():
				return errors.New("no renewal during the send")
			}
		}
		return nil
	})
	const lease = 1500 * time.Millisecond
	o := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.WeChat: sender}, bot.OutboxConfig{Now: clk.Now, Lease: lease, Concurrency: 1})
	if err := o.Enqueue(t.Context(), "k", []bot.Action{reply("u1"), reply("u2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 2; id++ {
		if row := store.get(id); row.Status != bot.OutboxSent {
			t.Fatalf("row %d: %s (%s), want sent", id, row.Status, row.LastError)
		}
	}
}

// TestOutboxDefaultLeaseIsShort: with the defaults a dead replica's rows
// come free in seconds, and a send ends well within its lease.
func TestOutboxDefaultLeaseIsShort(t *testing.T) {
	clk := newTestClock()
	store := &memOutbox{}
	var deadline time.Time
	sender := bot.SenderFunc(func(ctx context.Context, a bot.Action) error {
		deadline, _ = ctx.Deadline()
		return nil
	})
	o := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.WeChat: sender}, bot.OutboxConfig{Now: clk.Now})
	if err := o.Enqueue(t.Context(), "k", []bot.Action{reply("u")}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := o.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if lease := store.get(1).NextAt.Sub(clk.Now()); lease > 15*time.Second {
		t.Errorf("lease %v, want seconds", lease)
	}
	if budget := deadline.Sub(before); budget > 5*time.Second {
		t.Errorf("send deadline %v away, want a short send timeout", budget)
	}
}

// TestOutboxCountsAmbiguousSends (issue 18 item 8): a send that timed out
// may have been delivered; it is retried, and counted so metrics can
// show how often that happens.
func TestOutboxCountsAmbiguousSends(t *testing.T) {
	clk := newTestClock()
	store := &memOutbox{}
	sender := bot.SenderFunc(func(ctx context.Context, a bot.Action) error {
		<-ctx.Done() // the platform delivers, then hangs
		return fmt.Errorf("fake: %w", ctx.Err())
	})
	o := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.WeChat: sender}, bot.OutboxConfig{Now: clk.Now, SendTimeout: time.Millisecond})
	if err := o.Enqueue(t.Context(), "k", []bot.Action{reply("u")}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := o.Stats().AmbiguousSends; got != 1 {
		t.Fatalf("AmbiguousSends = %d, want 1", got)
	}
	if row := store.get(1); row.Status != bot.OutboxPending {
		t.Fatalf("status %s, want pending (retried)", row.Status)
	}
}

// deadStore is one replica's link to a shared OutboxStore; after die,
// every call fails, as for a process that was killed: no renewal, no
// outcome recorded.
type deadStore struct {
	bot.OutboxStore
	dead atomic.Bool
}

func (d *deadStore) die() { d.dead.Store(true) }

func (d *deadStore) check() error {
	if d.dead.Load() {
		return fmt.Errorf("deadStore: the replica is gone: %w", bot.ErrUnavailable)
	}
	return nil
}

func (d *deadStore) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]bot.OutboxItem, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	return d.OutboxStore.Claim(ctx, now, limit, lease)
}

func (d *deadStore) Extend(ctx context.Context, claimed []bot.OutboxItem, until time.Time) (int, error) {
	if err := d.check(); err != nil {
		return 0, err
	}
	return d.OutboxStore.Extend(ctx, claimed, until)
}

func (d *deadStore) Complete(ctx context.Context, id int64) error {
	if err := d.check(); err != nil {
		return err
	}
	return d.OutboxStore.Complete(ctx, id)
}

func (d *deadStore) Fail(ctx context.Context, id int64, lastErr string, next time.Time, dead bool) error {
	if err := d.check(); err != nil {
		return err
	}
	return d.OutboxStore.Fail(ctx, id, lastErr, next, dead)
}

// TestOutboxResendAfterWorkerDiedIsAmbiguous (issue 28 cause B): replica
// A's worker sends a row and dies before it records the send; once its
// lease runs out replica B's worker sends the row again. The platform
// may now have it twice (no idempotency key exists), so B counts the
// resend as ambiguous, reports it and logs outbox_ambiguous_send. A row
// whose send was recorded, or failed, is not.
func TestOutboxResendAfterWorkerDiedIsAmbiguous(t *testing.T) {
	clk := newTestClock()
	shared := &memOutbox{}
	storeA := &deadStore{OutboxStore: shared}
	var delivered atomic.Int32
	dying := make(chan struct{})
	t.Cleanup(func() { close(dying) })
	// A's send reaches the platform; then the process is killed.
	senderA := bot.SenderFunc(func(context.Context, bot.Action) error {
		delivered.Add(1)
		storeA.die()
		<-dying
		return nil
	})
	a := bot.NewOutbox(storeA, map[bot.Platform]bot.Sender{bot.WeChat: senderA}, bot.OutboxConfig{Now: clk.Now})
	var logs bottest.Logs
	var results []string
	b := bot.NewOutbox(shared, map[bot.Platform]bot.Sender{bot.WeChat: countingSender(&delivered)}, bot.OutboxConfig{
		Now: clk.Now, Logger: logs.Logger(slog.LevelInfo),
		OnResult: func(p bot.Platform, r string) { results = append(results, r) },
	})
	if err := a.Enqueue(t.Context(), "k", []bot.Action{reply("u")}); err != nil {
		t.Fatal(err)
	}
	go a.RunOnce(context.WithoutCancel(t.Context())) // never returns: A is dead
	for delivered.Load() == 0 {
		runtime.Gosched()
	}
	clk.Add(time.Minute) // past A's lease
	if n, err := b.RunOnce(t.Context()); err != nil || n != 1 {
		t.Fatalf("B's RunOnce = %d, %v; want the row claimed", n, err)
	}
	if n := delivered.Load(); n != 2 {
		t.Fatalf("platform got the message %d times, want 2 (A's send, B's resend)", n)
	}
	if got := b.Stats().AmbiguousSends; got != 1 {
		t.Fatalf("B's AmbiguousSends = %d, want 1", got)
	}
	if !slices.Equal(results, []string{"ambiguous", "sent"}) {
		t.Fatalf("B's results = %v, want [ambiguous sent]", results)
	}
	if !strings.Contains(logs.String(), "event=outbox_ambiguous_send") {
		t.Fatalf("B's logs have no outbox_ambiguous_send:\n%s", logs.String())
	}
	if row := shared.get(1); row.Status != bot.OutboxSent || row.AmbiguousResends != 1 {
		t.Fatalf("row = %s with %d ambiguous resends, want sent with 1", row.Status, row.AmbiguousResends)
	}

	// A send whose outcome was recorded is not counted again when the
	// row is claimed again: a failure, once; a timeout, once, when it
	// timed out.
	for _, tc := range []struct {
		name          string
		send          error
		wantAmbiguous uint64
	}{
		{"failed send, retried", fmt.Errorf("fake: system busy"), 0},
		{"timed-out send, retried", fmt.Errorf("fake: %w", context.DeadlineExceeded), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &memOutbox{}
			calls := 0
			o := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.WeChat: bot.SenderFunc(func(context.Context, bot.Action) error {
				if calls++; calls == 1 {
					return tc.send
				}
				return nil
			})}, bot.OutboxConfig{Now: clk.Now})
			if err := o.Enqueue(t.Context(), "k", []bot.Action{reply("u")}); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := o.RunOnce(t.Context()); err != nil {
					t.Fatal(err)
				}
				clk.Add(time.Hour)
			}
			if got := o.Stats().AmbiguousSends; calls != 2 || got != tc.wantAmbiguous {
				t.Fatalf("%d sends, %d ambiguous; want 2 sends, %d ambiguous", calls, got, tc.wantAmbiguous)
			}
		})
	}
}

// TestOutboxStopReleasesUnstartedRows (issue 17 item 3): when the worker
// is told to stop mid-batch, the send under way finishes and is recorded
// (its context is not cut), and the rows it claimed but had not started
// are due again at once, for any replica, instead of after the lease.
func TestOutboxStopReleasesUnstartedRows(t *testing.T) {
	tests := []struct {
		name string
		run  func(ctx context.Context, o *bot.Outbox)
	}{
		{"RunOnce", func(ctx context.Context, o *bot.Outbox) { _, _ = o.RunOnce(ctx) }},
		{"Run", func(ctx context.Context, o *bot.Outbox) { o.Run(ctx) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newTestClock()
			store := &memOutbox{}
			started, release := make(chan struct{}), make(chan struct{})
			var sent atomic.Int32
			sender := bot.SenderFunc(func(ctx context.Context, a bot.Action) error {
				if sent.Add(1) == 1 {
					close(started)
					<-release
				}
				return ctx.Err() // a cut send would fail here
			})
			o := bot.NewOutbox(store, map[bot.Platform]bot.Sender{bot.WeChat: sender}, bot.OutboxConfig{Now: clk.Now, Concurrency: 1})
			if err := o.Enqueue(t.Context(), "k", []bot.Action{reply("u1"), reply("u2"), reply("u3")}); err != nil {
				t.Fatal(err)
			}
			ctx, stop := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); tc.run(ctx, o) }()
			<-started
			stop()
			close(release)
			<-done

			if got := sent.Load(); got != 1 {
				t.Fatalf("sent %d rows, want the 1 under way", got)
			}
			if row := store.get(1); row.Status != bot.OutboxSent {
				t.Errorf("row under way: %s (%s), want sent", row.Status, row.LastError)
			}
			for id := int64(2); id <= 3; id++ {
				row := store.get(id)
				if row.Status != bot.OutboxPending || !row.NextAt.Equal(clk.Now()) {
					t.Errorf("row %d not started: %s due %v, want pending and due now (%v), not after the lease",
						id, row.Status, row.NextAt, clk.Now())
				}
			}
		})
	}
}
