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

func (d *memDeduper) Swap(_ context.Context, key string, old, result []byte, ttl time.Duration) ([]byte, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.get(key); !ok || e.result == nil || string(e.result) != string(old) {
		return e.result, false, nil
	}
	d.m[key] = memEntry{result: result, expires: d.now.Add(ttl)}
	return nil, true, nil
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

// window is an AnswerWindow for tests: it records its early answer and
// what Dedupe queued through it.
type window struct {
	*bot.AnswerWindow
	answered chan struct{}
	mu       sync.Mutex
	queued   [][]bot.Action
	elsewh   []bool
	owners   []bot.ReplyOwner
	// onQueue, when set, runs before each queueing is recorded.
	onQueue func()
	// refuse: its early answer is a refusal (the callback could not be
	// stored).
	refuse bool
}

func newWindow(arrived time.Time, answerBy time.Duration) *window {
	w := &window{answered: make(chan struct{})}
	w.AnswerWindow = bot.NewAnswerWindow(arrived, answerBy, w)
	return w
}

func (w *window) AnswerEarly() (time.Time, bool) {
	at := time.Now()
	close(w.answered)
	return at, !w.refuse
}

func (w *window) QueueLate(_ context.Context, actions []bot.Action, reply bot.ReplyOwner) error {
	elsewhere := reply != bot.ReplyHere
	if w.onQueue != nil {
		w.onQueue()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queued, w.elsewh, w.owners = append(w.queued, actions), append(w.elsewh, elsewhere), append(w.owners, reply)
	return nil
}

func (w *window) ctx(t *testing.T) context.Context {
	return bot.WithAnswerWindow(t.Context(), w.AnswerWindow)
}

func (w *window) early() bool {
	select {
	case <-w.answered:
		return true
	default:
		return false
	}
}

// TestDedupeRecordsDelivery (issue 18 item 3, issue 28 cause C): a result
// delivered through the outbox (the reply budget ran out first) is
// replayed to a retry as nothing to answer with, and is stored only once
// its actions were queued; one answered passively is replayed as is.
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
			w := newWindow(time.Now(), time.Hour)
			h := bot.Dedupe(d, bot.DedupeConfig{Poll: time.Millisecond}, bottest.Logger(t))(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
				if tc.late {
					w.Expire() // the budget runs out while the handling runs
				}
				return []bot.Action{bot.Reply{To: ev.ReplyTarget(), Text: "hi"}}, nil
			}))
			ev := bot.Event{Platform: bot.WeChat, Account: "a", Kind: bot.KindMessage, Sender: "u", Time: time.Now(), DedupeKey: "m"}
			w.onQueue = func() {
				d.mu.Lock()
				defer d.mu.Unlock()
				if e, _ := d.get(dedupeKeyOf(ev)); e.result != nil {
					t.Errorf("result %q stored before the actions were queued", e.result)
				}
			}
			got, err := h.HandleEvent(w.ctx(t), ev)
			if err != nil || len(got) != 1 {
				t.Fatalf("first = %v, %v", got, err)
			}
			if w.early() != tc.late || (len(w.queued) == 1) != tc.late {
				t.Fatalf("first: answered early %v, queued %d times; want %v and as many", w.early(), len(w.queued), tc.late)
			}
			rw := newWindow(time.Now(), time.Hour)
			retry, err := bot.Dedupe(d, bot.DedupeConfig{Poll: time.Millisecond}, bottest.Logger(t))(nil).HandleEvent(rw.ctx(t), ev)
			if err != nil || len(retry) != tc.wantN {
				t.Fatalf("retry = %v, %v; want %d actions", retry, err, tc.wantN)
			}
			if rw.early() || len(rw.queued) != 0 {
				t.Fatalf("retry within its budget answered early (%v) or queued (%d), want neither", rw.early(), len(rw.queued))
			}
		})
	}
}

// TestDedupeRetryOfLostPassiveAnswer (issue 28 cause A): an attempt that
// replays another handling's passive result delivers the reply itself
// when that answer cannot have been the one the platform took: it was
// written before this attempt came (the platform retried, so it did not
// arrive), or after this attempt answered early. It answers passively
// when it can; once its budget ran out (or its claim came back after the
// deadline), it answers early and queues the reply. An attempt whose
// answer overlaps the other's answers as it does, whatever its budget, and
// one that answered early just after the other queues nothing.
func TestDedupeRetryOfLostPassiveAnswer(t *testing.T) {
	const overlap = time.Second
	const (
		inBudget    = iota
		pastBudget  // its budget ran out before its claim came back
		earlyBefore // and its deadline too, before the other answer was written (Redis stalled)
		earlyAfter  // its deadline came just after the other answer was written
		earlyRetry  // it answered early before the other attempt even came: that one is the platform's retry
		refused     // its budget ran out and its early answer was a refusal: the platform retries
	)
	tests := []struct {
		name string
		// arrived is when the attempt came, relative to the first
		// handling's answer.
		arrived       time.Duration
		budget        int
		wantEarly     bool
		wantQueued    int
		wantElsewhere bool
		wantStored    string // the stored result afterwards: "o" or "p"
	}{
		{"retry within its budget answers passively", 5 * time.Second, inBudget, false, 0, false, "p"},
		{"retry past its budget goes through the outbox", 5 * time.Second, pastBudget, true, 1, false, "o"},
		{"overlapping copy past its budget answers as the other", -10 * time.Millisecond, pastBudget, false, 0, false, "p"},
		{"copy answered early before the other's answer: queues the reply", -10 * time.Millisecond, earlyBefore, true, 1, false, "o"},
		{"copy answered early after the other's answer: the other came first", -10 * time.Millisecond, earlyAfter, true, 1, true, "p"},
		{"answered early, then the platform retried: the retry's answer is the one", -10 * time.Millisecond, earlyRetry, true, 1, true, "p"},
		{"retry that refused the callback leaves the reply to the next retry", 5 * time.Second, refused, true, 1, true, "p"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newMemDeduper()
			cfg := bot.DedupeConfig{Poll: time.Millisecond, Overlap: overlap}
			ev := bot.Event{Platform: bot.WeChat, Account: "a", Kind: bot.KindMessage, Sender: "u", Time: time.Now(), DedupeKey: "m"}
			reply := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
				return []bot.Action{bot.Reply{To: ev.ReplyTarget(), Text: "hi"}}, nil
			})
			answerBy := time.Hour
			if tc.budget >= earlyBefore {
				answerBy = 0 // its claim is stuck (Redis stalled) past its deadline
			}
			w := newWindow(time.Now().Add(tc.arrived), answerBy)
			w.refuse = tc.budget == refused
			if tc.budget == earlyBefore || tc.budget == earlyRetry {
				w.Expire()
				<-w.answered
			}
			firstCtx := t.Context()
			if tc.budget == earlyRetry {
				firstCtx = newWindow(time.Now(), time.Hour).ctx(t) // it came after w's answer
			}
			if _, err := bot.Dedupe(d, cfg, bottest.Logger(t))(reply).HandleEvent(firstCtx, ev); err != nil {
				t.Fatal(err)
			}
			if tc.budget == pastBudget || tc.budget == earlyAfter || tc.budget == refused {
				w.Expire()
			}
			if tc.budget == earlyAfter {
				<-w.answered
			}
			got, err := bot.Dedupe(d, cfg, bottest.Logger(t))(nil).HandleEvent(w.ctx(t), ev)
			if err != nil || len(got) != 1 {
				t.Fatalf("attempt = %v, %v; want the reply", got, err)
			}
			if w.early() != tc.wantEarly || len(w.queued) != tc.wantQueued {
				t.Fatalf("answered early %v, queued %d times; want %v, %d", w.early(), len(w.queued), tc.wantEarly, tc.wantQueued)
			}
			if tc.wantQueued > 0 && w.elsewh[0] != tc.wantElsewhere {
				t.Fatalf("queued with the reply's owner %v, want it elsewhere: %v", w.owners[0], tc.wantElsewhere)
			}
			if tc.budget == refused && w.owners[0] != bot.ReplyRetried {
				t.Fatalf("queued with the reply's owner %v, want ReplyRetried (no placeholder: the retry delivers it)", w.owners[0])
			}
			wantDelivery := bot.DeliveryPassive
			if tc.wantEarly {
				wantDelivery = bot.DeliveryOutbox
			}
			if got := w.Seal(); got != wantDelivery {
				t.Fatalf("delivery = %v, want %v", got, wantDelivery)
			}
			d.mu.Lock()
			e, _ := d.get(dedupeKeyOf(ev))
			d.mu.Unlock()
			if !strings.HasPrefix(string(e.result), tc.wantStored) {
				t.Fatalf("stored result %q, want it to start with %q", e.result, tc.wantStored)
			}
		})
	}
}

// TestDedupeQueueingMark (issue 28 cause A): a retry that takes a lost
// passive answer over to the outbox marks the result first, so that a
// copy reading it while the rows are being written answers without the
// reply (the outbox sends it), and a closed copy, or the retry's own
// stored late copy should it die, queues the rows again (the same keys)
// and records the delivery.
func TestDedupeQueueingMark(t *testing.T) {
	d := newMemDeduper()
	cfg := bot.DedupeConfig{Poll: time.Millisecond, Overlap: time.Second}
	ev := bot.Event{Platform: bot.WeChat, Account: "a", Kind: bot.KindMessage, Sender: "u", Time: time.Now(), DedupeKey: "m"}
	h := bot.Dedupe(d, cfg, bottest.Logger(t))(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		return []bot.Action{bot.Reply{To: ev.ReplyTarget(), Text: "hi"}}, nil
	}))
	if _, err := h.HandleEvent(t.Context(), ev); err != nil { // answered passively, then lost
		t.Fatal(err)
	}
	stored := func() string {
		d.mu.Lock()
		defer d.mu.Unlock()
		e, _ := d.get(dedupeKeyOf(ev))
		return string(e.result)
	}
	// The retry past its budget is queueing the reply.
	retry := newWindow(time.Now().Add(5*time.Second), time.Hour)
	retry.Expire()
	queueing, release := make(chan struct{}), make(chan struct{})
	retry.onQueue = func() { close(queueing); <-release }
	done := make(chan error, 1)
	go func() { _, err := h.HandleEvent(retry.ctx(t), ev); done <- err }()
	<-queueing
	if got := stored(); !strings.HasPrefix(got, "q") {
		t.Fatalf("stored %q while the retry queues, want the queueing mark", got)
	}
	open := newWindow(time.Now().Add(6*time.Second), time.Hour)
	if got, err := h.HandleEvent(open.ctx(t), ev); err != nil || len(got) != 0 {
		t.Fatalf("copy with its window open = %v, %v; want no reply to answer with (the outbox sends it)", got, err)
	}
	closed := newWindow(time.Now(), 0) // its Redis stalled past its deadline
	closed.Expire()
	<-closed.answered
	if got, err := h.HandleEvent(closed.ctx(t), ev); err != nil || len(got) != 1 || len(closed.queued) != 1 || closed.elsewh[0] {
		t.Fatalf("closed copy = %v, %v, queued %v (elsewhere %v); want the reply queued again", got, err, closed.queued, closed.elsewh)
	}
	if got := stored(); got != "o" {
		t.Fatalf("stored %q after the closed copy, want o", got)
	}
	close(release)
	if err := <-done; err != nil || len(retry.queued) != 1 {
		t.Fatalf("retry = %v, queued %d times; want once", err, len(retry.queued))
	}
}

// racingDeduper runs race once, at the start of the first Swap: another
// copy acting between this copy's read of the result and its swap.
type racingDeduper struct {
	*memDeduper
	race func()
	once sync.Once
}

func (r *racingDeduper) Swap(ctx context.Context, key string, old, result []byte, ttl time.Duration) ([]byte, bool, error) {
	r.once.Do(r.race)
	return r.memDeduper.Swap(ctx, key, old, result, ttl)
}

// TestDedupeOpenCopyLosesTheRace (issue 28 cause A): two retries read the
// same lost passive answer at once (Redis came back from a stall): one
// whose window closed takes the reply over to the outbox, the other is
// about to answer passively. The one that swaps the result first decides:
// here the closed one, so the open one answers without the reply.
func TestDedupeOpenCopyLosesTheRace(t *testing.T) {
	mem := newMemDeduper()
	d := &racingDeduper{memDeduper: mem}
	cfg := bot.DedupeConfig{Poll: time.Millisecond, Overlap: time.Second}
	ev := bot.Event{Platform: bot.WeChat, Account: "a", Kind: bot.KindMessage, Sender: "u", Time: time.Now(), DedupeKey: "m"}
	h := bot.Dedupe(d, cfg, bottest.Logger(t))(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		return []bot.Action{bot.Reply{To: ev.ReplyTarget(), Text: "hi"}}, nil
	}))
	if _, err := h.HandleEvent(t.Context(), ev); err != nil { // answered passively, then lost
		t.Fatal(err)
	}
	closed := newWindow(time.Now().Add(5*time.Second), time.Hour)
	closed.Expire()
	d.race = func() {
		if got, err := bot.Dedupe(mem, cfg, bottest.Logger(t))(nil).HandleEvent(closed.ctx(t), ev); err != nil || len(closed.queued) != 1 || closed.elsewh[0] {
			t.Errorf("closed retry = %v, %v, queued %v; want the reply queued", got, err, closed.queued)
		}
	}
	open := newWindow(time.Now().Add(5*time.Second), time.Hour)
	if got, err := h.HandleEvent(open.ctx(t), ev); err != nil || len(got) != 0 {
		t.Fatalf("open retry = %v, %v; want no reply to answer with (the outbox sends it)", got, err)
	}
}
