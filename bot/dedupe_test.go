package bot_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

// memDeduper is an in-process bot.Deduper with leases on a settable
// clock, for middleware tests; the Redis one is tested against Redis in
// store/redisstore.
type memDeduper struct {
	mu  sync.Mutex
	now time.Time
	m   map[string]memEntry
	// renewed, when set, gets the token of every successful renewal.
	renewed chan string
}

type memEntry struct {
	token   string // set while a handling holds the lease
	result  []byte
	expires time.Time
}

func newMemDeduper() *memDeduper {
	return &memDeduper{now: time.Unix(1700000000, 0), m: map[string]memEntry{}}
}

func (d *memDeduper) advance(dt time.Duration) { d.mu.Lock(); d.now = d.now.Add(dt); d.mu.Unlock() }

func (d *memDeduper) get(key string) (memEntry, bool) {
	e, ok := d.m[key]
	if ok && !d.now.Before(e.expires) {
		delete(d.m, key)
		return memEntry{}, false
	}
	return e, ok
}

func (d *memDeduper) Claim(_ context.Context, key, token string, lease time.Duration) (bool, []byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.get(key); ok {
		return false, e.result, nil
	}
	d.m[key] = memEntry{token: token, expires: d.now.Add(lease)}
	return true, nil, nil
}

func (d *memDeduper) Renew(_ context.Context, key, token string, lease time.Duration) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.get(key)
	if ok && (e.result != nil || e.token != token) {
		return false, nil
	}
	d.m[key] = memEntry{token: token, expires: d.now.Add(lease)}
	if d.renewed != nil {
		select {
		case d.renewed <- token:
		default:
		}
	}
	return true, nil
}

func (d *memDeduper) Finish(_ context.Context, key string, result []byte, ttl time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[key] = memEntry{result: result, expires: d.now.Add(ttl)}
	return nil
}

func (d *memDeduper) Release(_ context.Context, key, token string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.get(key); ok && e.result == nil && e.token == token {
		delete(d.m, key)
	}
	return nil
}

func (d *memDeduper) held(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.get(key)
	return ok
}

func TestDedupe(t *testing.T) {
	d := newMemDeduper()
	var calls atomic.Int32
	fail := atomic.Bool{}
	inner := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
		if fail.Load() {
			return nil, bot.ErrUnavailable
		}
		return []bot.Action{bot.Reply{To: ev.ReplyTarget(), Text: "once"}}, nil
	})
	h := bot.Dedupe(d, bot.DedupeConfig{Poll: time.Millisecond}, bottest.Logger(t))(inner)
	ev := bot.Event{Platform: bot.WeChat, Kind: bot.KindMessage, Sender: "u", Time: time.Now(), DedupeKey: "m1"}

	// Concurrent copies: one runs, all get its answer.
	var wg sync.WaitGroup
	results := make([][]bot.Action, 5)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = h.HandleEvent(t.Context(), ev)
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times for 5 copies, want 1", n)
	}
	for i, r := range results {
		if len(r) != 1 || r[0].(bot.Reply).Text != "once" {
			t.Fatalf("copy %d got %#v", i, r)
		}
	}

	// A failed handling is released, so the platform's retry runs again.
	fail.Store(true)
	ev.DedupeKey = "m2"
	if _, err := h.HandleEvent(t.Context(), ev); err == nil {
		t.Fatal("want the handler's error")
	}
	fail.Store(false)
	if got, err := h.HandleEvent(t.Context(), ev); err != nil || len(got) != 1 {
		t.Fatalf("retry after failure = %v, %v; want the reply", got, err)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("handler ran %d times, want 3", n)
	}

	// No key: no dedupe.
	ev.DedupeKey = ""
	h.HandleEvent(t.Context(), ev)
	h.HandleEvent(t.Context(), ev)
	if n := calls.Load(); n != 5 {
		t.Fatalf("handler ran %d times, want 5", n)
	}
}

func dedupeKeyOf(ev bot.Event) string {
	return string(ev.Platform) + ":" + string(ev.Account) + ":" + ev.DedupeKey
}

// TestDedupeClaimOfDeadReplicaExpires (issue 10 item 1): a replica that
// claimed a callback and died leaves a claim that expires with its lease,
// not the result's TTL, and the platform's retry is then handled afresh.
func TestDedupeClaimOfDeadReplicaExpires(t *testing.T) {
	d := newMemDeduper()
	cfg := bot.DedupeConfig{TTL: time.Hour, Lease: 5 * time.Second, Wait: time.Millisecond, Poll: time.Millisecond}
	var calls atomic.Int32
	h := bot.Dedupe(d, cfg, bottest.Logger(t))(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		calls.Add(1)
		return []bot.Action{bot.Reply{To: ev.ReplyTarget(), Text: "hi"}}, nil
	}))
	ev := bot.Event{Platform: bot.WeChat, Account: "a", Kind: bot.KindMessage, Sender: "u", Time: time.Now(), DedupeKey: "m1"}
	// The dead replica's claim: never renewed, never finished.
	if first, _, err := d.Claim(t.Context(), dedupeKeyOf(ev), "dead", cfg.Lease); err != nil || !first {
		t.Fatalf("Claim = %v, %v", first, err)
	}
	if _, err := h.HandleEvent(t.Context(), ev); !errors.Is(err, bot.ErrUnavailable) {
		t.Fatalf("copy during the dead replica's lease: err=%v, want ErrUnavailable (the platform retries)", err)
	}
	d.advance(cfg.Lease)
	got, err := h.HandleEvent(t.Context(), ev)
	if err != nil || len(got) != 1 {
		t.Fatalf("retry after the lease = %v, %v; want the reply", got, err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
	d.advance(cfg.Lease)
	if !d.held(dedupeKeyOf(ev)) {
		t.Fatal("the result expired with the lease, want it kept for the TTL")
	}
}

// TestDedupeRenewsLeaseWhileHandling: a handling longer than the lease
// keeps its claim, so no copy starts a second handling meanwhile.
func TestDedupeRenewsLeaseWhileHandling(t *testing.T) {
	d := newMemDeduper()
	d.renewed = make(chan string, 1)
	cfg := bot.DedupeConfig{TTL: time.Hour, Lease: 30 * time.Millisecond, Wait: time.Millisecond, Poll: time.Millisecond}
	ev := bot.Event{Platform: bot.WeChat, Account: "a", Kind: bot.KindMessage, Sender: "u", Time: time.Now(), DedupeKey: "slow"}
	var calls atomic.Int32
	h := bot.Dedupe(d, cfg, bottest.Logger(t))(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		if calls.Add(1) > 1 {
			return nil, errors.New("handled twice")
		}
		for range 2 {
			<-d.renewed
			// Each renewal outlives the lease it replaced: move the
			// store's clock past the old one.
			d.advance(cfg.Lease - time.Millisecond)
		}
		// A copy now finds the claim held.
		if _, err := bot.Dedupe(d, cfg, bottest.Logger(t))(bot.HandlerFunc(func(context.Context, bot.Event) ([]bot.Action, error) {
			calls.Add(1)
			return nil, nil
		})).HandleEvent(ctx, ev); !errors.Is(err, bot.ErrUnavailable) {
			return nil, errors.New("a copy was not kept out")
		}
		return []bot.Action{bot.Reply{To: ev.ReplyTarget(), Text: "slow"}}, nil
	}))
	got, err := h.HandleEvent(t.Context(), ev)
	if err != nil || len(got) != 1 {
		t.Fatalf("HandleEvent = %v, %v", got, err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
}

// TestDedupeGivingUpIsLogged: a copy that stops waiting says so, naming
// the callback by fingerprint only (the key holds the customer's id).
func TestDedupeGivingUpIsLogged(t *testing.T) {
	d := newMemDeduper()
	var logs bottest.Logs
	logger := logs.Logger(slog.LevelInfo)
	cfg := bot.DedupeConfig{Lease: time.Minute, Wait: time.Millisecond, Poll: time.Millisecond}
	ev := bot.Event{Platform: bot.WeChat, Account: "a", Kind: bot.KindMessage, Sender: "o-secret-openid", Time: time.Now(), DedupeKey: "msg:o-secret-openid:1"}
	if _, _, err := d.Claim(t.Context(), dedupeKeyOf(ev), "other", cfg.Lease); err != nil {
		t.Fatal(err)
	}
	h := bot.Dedupe(d, cfg, logger)(bot.HandlerFunc(func(context.Context, bot.Event) ([]bot.Action, error) {
		t.Error("handler ran while another holds the claim")
		return nil, nil
	}))
	if _, err := h.HandleEvent(t.Context(), ev); !errors.Is(err, bot.ErrUnavailable) {
		t.Fatalf("err=%v, want ErrUnavailable", err)
	}
	out := logs.String()
	if !strings.Contains(out, "gave up waiting") || !strings.Contains(out, bot.Fingerprint(dedupeKeyOf(ev))) {
		t.Errorf("log = %q, want a give-up line with the key's fingerprint", out)
	}
	if strings.Contains(out, "o-secret-openid") {
		t.Errorf("log = %q names the customer", out)
	}
}

// TestDedupeReleaseKeepsOthersClaim: a handling that failed after losing
// its lease does not free the claim of the handling that took over.
func TestDedupeReleaseKeepsOthersClaim(t *testing.T) {
	d := newMemDeduper()
	cfg := bot.DedupeConfig{Lease: time.Second, Wait: time.Millisecond, Poll: time.Millisecond}
	ev := bot.Event{Platform: bot.WeChat, Account: "a", Kind: bot.KindMessage, Sender: "u", Time: time.Now(), DedupeKey: "m"}
	h := bot.Dedupe(d, cfg, bottest.Logger(t))(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		d.advance(cfg.Lease) // this handling's lease runs out…
		if first, _, _ := d.Claim(ctx, dedupeKeyOf(ev), "other", time.Hour); !first {
			return nil, errors.New("lease did not run out")
		}
		return nil, bot.ErrUnavailable // …and it fails after another took over
	}))
	if _, err := h.HandleEvent(t.Context(), ev); !errors.Is(err, bot.ErrUnavailable) {
		t.Fatalf("err=%v", err)
	}
	if !d.held(dedupeKeyOf(ev)) {
		t.Fatal("the failed handling released the other handling's claim")
	}
}

// TestDedupeRecordsDelivery (issue 18 item 3): a result delivered through
// the outbox (the reply budget ran out first) is replayed to a retry as
// nothing to answer with; one answered passively is replayed as is.
func TestDedupeRecordsDelivery(t *testing.T) {
	for _, tc := range []struct {
		name  string
		late  bool
		wantN int
	}{
		{"answered passively", false, 1},
		{"delivered through the outbox", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newMemDeduper()
			var w bot.AnswerWindow
			h := bot.Dedupe(d, bot.DedupeConfig{Poll: time.Millisecond}, bottest.Logger(t))(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
				if tc.late && !w.Close() {
					return nil, errors.New("window sealed before the handling finished")
				}
				return []bot.Action{bot.Reply{To: ev.ReplyTarget(), Text: "hi"}}, nil
			}))
			ev := bot.Event{Platform: bot.WeChat, Account: "a", Kind: bot.KindMessage, Sender: "u", Time: time.Now(), DedupeKey: "m"}
			got, err := h.HandleEvent(bot.WithAnswerWindow(t.Context(), &w), ev)
			if err != nil || len(got) != 1 {
				t.Fatalf("first = %v, %v", got, err)
			}
			if !tc.late && w.Close() {
				t.Fatal("Close after the handling sealed the window reported true")
			}
			if w.AnsweredElsewhere() {
				t.Fatal("the first handling's window says it was answered elsewhere")
			}
			var rw bot.AnswerWindow
			retry, err := h.HandleEvent(bot.WithAnswerWindow(t.Context(), &rw), ev)
			if err != nil || len(retry) != tc.wantN {
				t.Fatalf("retry = %v, %v; want %d actions", retry, err, tc.wantN)
			}
			// A retry replaying a passive answer is told so, so that, if
			// its own window closed, it does not send the reply again.
			if got, want := rw.AnsweredElsewhere(), !tc.late; got != want {
				t.Fatalf("retry's AnsweredElsewhere = %v, want %v", got, want)
			}
		})
	}
}
