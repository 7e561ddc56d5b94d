package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// t0 has a sub-second part, to check that precision survives a round trip.
var t0 = time.Date(2025, 3, 1, 9, 30, 0, 123456000, time.UTC)

func storetestUsesMySQL() bool { return os.Getenv("MYSQL_DSN") != "" }

func item(key string) bot.OutboxItem {
	return bot.OutboxItem{Key: key, Platform: bot.WeChat, Payload: []byte(`{"k":"` + key + `"}`), NextAt: t0}
}

func mustEnqueue(tb testing.TB, o *sqlstore.Outbox, items ...bot.OutboxItem) {
	tb.Helper()
	if err := o.Enqueue(tb.Context(), items); err != nil {
		tb.Fatalf("Enqueue: %v", err)
	}
}

func mustClaim(tb testing.TB, o *sqlstore.Outbox, now time.Time, limit int, lease time.Duration) []bot.OutboxItem {
	tb.Helper()
	items, err := o.Claim(tb.Context(), now, limit, lease)
	if err != nil {
		tb.Fatalf("Claim: %v", err)
	}
	return items
}

func keys(items []bot.OutboxItem) []string {
	var ks []string
	for _, it := range items {
		ks = append(ks, it.Key)
	}
	return ks
}

func TestOpenDialect(t *testing.T) {
	db := storetest.SQL(t)
	want := sqlstore.DialectSQLite
	if storetestUsesMySQL() {
		want = sqlstore.DialectMySQL
	}
	if got := db.Dialect(); got != want {
		t.Errorf("Dialect()=%q, want %q", got, want)
	}
}

func TestOpenInvalid(t *testing.T) {
	_, err := sqlstore.Open(t.Context(), sqlstore.Config{})
	if !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("Open(empty config) err=%v, want ErrInvalid", err)
	}
}

func TestEnqueueIdempotentByKey(t *testing.T) {
	o := sqlstore.NewOutbox(storetest.SQL(t))
	first := item("a")
	mustEnqueue(t, o, first, item("b"))
	dup := item("a")
	dup.Payload = []byte("other")
	// A duplicate in a later batch and one inside the same batch; keys
	// are case-sensitive, as platform IDs are.
	mustEnqueue(t, o, dup, item("c"), item("c"), item("A"))

	got := mustClaim(t, o, t0, 10, time.Minute)
	if ks := keys(got); !slices.Equal(ks, []string{"a", "b", "c", "A"}) {
		t.Fatalf("claimed keys=%v, want [a b c A]", ks)
	}
	if p := string(got[0].Payload); p != string(first.Payload) {
		t.Errorf("payload of a=%q, want the first enqueued %q", p, first.Payload)
	}
	it := got[0]
	if it.Status != bot.OutboxPending || it.Platform != bot.WeChat || it.Attempts != 1 {
		t.Errorf("claimed item=%+v, want pending wechat with 1 attempt", it)
	}
	if !it.NextAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("NextAt=%v, want %v", it.NextAt, t0.Add(time.Minute))
	}
}

func TestEnqueueInvalid(t *testing.T) {
	const openid = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
	o := sqlstore.NewOutbox(storetest.SQL(t))
	tests := []struct {
		name string
		it   bot.OutboxItem
	}{
		{"no key", bot.OutboxItem{Platform: bot.WeChat}},
		{"key too long", bot.OutboxItem{Key: strings.Repeat("k", sqlstore.MaxOutboxKeyLen+1), Platform: bot.WeChat}},
		{"no platform", bot.OutboxItem{Key: "msg:" + openid}},
		{"key too long, with an openid", bot.OutboxItem{Key: "ev:" + openid + strings.Repeat("k", sqlstore.MaxOutboxKeyLen), Platform: bot.WeChat}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := o.Enqueue(t.Context(), []bot.OutboxItem{tc.it})
			if !errors.Is(err, bot.ErrInvalid) {
				t.Fatalf("Enqueue err=%v, want ErrInvalid", err)
			}
			// Keys are built from customers' ids; errors end up in logs.
			if strings.Contains(err.Error(), openid) {
				t.Errorf("error names the customer: %v", err)
			}
		})
	}
	// The longest key and a Chinese key fit.
	mustEnqueue(t, o, item(strings.Repeat("键", sqlstore.MaxOutboxKeyLen)))
}

func TestEnqueueDefaultsNextAtToNow(t *testing.T) {
	now := t0
	cfg := storetest.SQLConfig(t)
	cfg.Now = func() time.Time { return now }
	db, err := sqlstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	o := sqlstore.NewOutbox(db)
	it := item("a")
	it.NextAt = time.Time{}
	mustEnqueue(t, o, it)
	if got := mustClaim(t, o, t0.Add(-time.Millisecond), 10, time.Minute); len(got) != 0 {
		t.Errorf("claimed %v before now, want nothing", keys(got))
	}
	got := mustClaim(t, o, t0, 10, time.Minute)
	if len(got) != 1 || !got[0].CreatedAt.Equal(t0) {
		t.Fatalf("claimed %+v, want a with CreatedAt %v", got, t0)
	}
}

func TestClaimDueOrderAndLimit(t *testing.T) {
	o := sqlstore.NewOutbox(storetest.SQL(t))
	var items []bot.OutboxItem
	for i, d := range []time.Duration{3, 1, 2, 10} {
		it := item(fmt.Sprint("k", i))
		it.NextAt = t0.Add(d * time.Second)
		items = append(items, it)
	}
	mustEnqueue(t, o, items...)
	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{"none due", t0, 10, nil},
		{"oldest first, limited", t0.Add(5 * time.Second), 2, []string{"k1", "k2"}},
		{"rest due", t0.Add(5 * time.Second), 10, []string{"k0"}},
		{"later", t0.Add(10 * time.Second), 10, []string{"k3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := keys(mustClaim(t, o, tc.now, tc.limit, time.Hour)); !slices.Equal(got, tc.want) {
				t.Errorf("claimed %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClaimLease(t *testing.T) {
	o := sqlstore.NewOutbox(storetest.SQL(t))
	mustEnqueue(t, o, item("a"))
	lease := 30 * time.Second
	tests := []struct {
		name         string
		now          time.Time
		wantAttempts int // 0: nothing claimed
	}{
		{"first claim", t0, 1},
		{"within the lease", t0.Add(lease - time.Millisecond), 0},
		{"after the lease", t0.Add(lease), 2},
		{"within the second lease", t0.Add(lease + time.Second), 0},
	}
	for _, tc := range tests {
		got := mustClaim(t, o, tc.now, 10, lease)
		switch {
		case tc.wantAttempts == 0 && len(got) != 0:
			t.Errorf("%s: claimed %+v, want nothing", tc.name, got)
		case tc.wantAttempts != 0 && (len(got) != 1 || got[0].Attempts != tc.wantAttempts):
			t.Errorf("%s: claimed %+v, want a with attempts %d", tc.name, got, tc.wantAttempts)
		}
	}
}

type claimFunc func(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]bot.OutboxItem, error)

func TestClaimConcurrent(t *testing.T) {
	tests := []struct {
		name  string
		claim func(*sqlstore.Outbox) claimFunc
	}{
		{"Claim", func(o *sqlstore.Outbox) claimFunc { return o.Claim }},
		// On SQLite Claim is the conditional path already; on MySQL this
		// runs it over parallel connections.
		{"conditional", func(o *sqlstore.Outbox) claimFunc { return sqlstore.ClaimConditional(o) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := sqlstore.NewOutbox(storetest.SQL(t))
			testClaimConcurrent(t, o, tc.claim(o))
		})
	}
}

func testClaimConcurrent(t *testing.T, o *sqlstore.Outbox, claim claimFunc) {
	const rows, workers = 200, 8
	var items []bot.OutboxItem
	for i := range rows {
		items = append(items, item(fmt.Sprint("k", i)))
	}
	mustEnqueue(t, o, items...)

	var (
		mu   sync.Mutex
		seen = map[int64]int{}
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			// A worker stops when a claim comes back empty: either no row
			// is left, or another worker won the race for them and claims
			// again itself.
			for {
				got, err := claim(t.Context(), t0, 7, time.Hour)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, it := range got {
					seen[it.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != rows {
		t.Errorf("claimed %d distinct rows, want %d", len(seen), rows)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("row %d claimed %d times, want 1", id, n)
		}
	}
	if got := mustClaim(t, o, t0, rows, time.Hour); len(got) != 0 {
		t.Errorf("claimed %d more rows, want 0", len(got))
	}
}

// TestLogsNoValues checks that a failed statement is logged without its
// parameters, which hold customers' personal data.
func TestLogsNoValues(t *testing.T) {
	var logs bottest.Logs
	cfg := storetest.SQLConfig(t)
	cfg.Logger = logs.Logger(slog.LevelInfo)
	db, err := sqlstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := sqlstore.NewOutbox(db)
	if err := db.Gorm().Exec("DROP TABLE outbox").Error; err != nil {
		t.Fatal(err)
	}
	it := item("secret-openid")
	it.Payload = []byte("secret-payload")
	err = o.Enqueue(t.Context(), []bot.OutboxItem{it})
	if !errors.Is(err, bot.ErrUnavailable) {
		t.Errorf("Enqueue without a table err=%v, want ErrUnavailable", err)
	}
	db.Close()
	logged := logs.String()
	if !strings.Contains(logged, "INSERT INTO") {
		t.Errorf("log=%q, want the failed statement", logged)
	}
	if strings.Contains(logged, "secret") {
		t.Errorf("log=%q holds a value", logged)
	}
}

func TestCompleteFailDead(t *testing.T) {
	o := sqlstore.NewOutbox(storetest.SQL(t))
	mustEnqueue(t, o, item("sent"), item("retry"), item("dead"))
	ids := map[string]int64{}
	for _, it := range mustClaim(t, o, t0, 10, time.Minute) {
		ids[it.Key] = it.ID
	}
	ctx := t.Context()
	if err := o.Complete(ctx, ids["sent"]); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	backoff := t0.Add(10 * time.Second)
	longErr := strings.Repeat("错", sqlstore.MaxLastErrorLen+50)
	if err := o.Fail(ctx, ids["retry"], longErr, backoff, false); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	if err := o.Fail(ctx, ids["dead"], "refused", backoff, true); err != nil {
		t.Fatalf("Fail dead: %v", err)
	}

	if got := mustClaim(t, o, backoff.Add(-time.Millisecond), 10, time.Minute); len(got) != 0 {
		t.Errorf("claimed %v before the backoff, want nothing", keys(got))
	}
	got := mustClaim(t, o, backoff, 10, time.Minute)
	if len(got) != 1 || got[0].Key != "retry" || got[0].Attempts != 2 {
		t.Fatalf("claimed %+v after the backoff, want retry with attempts 2", got)
	}
	if n := len([]rune(got[0].LastError)); n != sqlstore.MaxLastErrorLen {
		t.Errorf("len(LastError)=%d, want %d", n, sqlstore.MaxLastErrorLen)
	}

	counts, err := o.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[bot.OutboxStatus]int{bot.OutboxPending: 1, bot.OutboxSent: 1, bot.OutboxDead: 1, bot.OutboxStandby: 0}
	if !maps.Equal(counts, want) {
		t.Errorf("Counts()=%v, want %v", counts, want)
	}

	for name, err := range map[string]error{
		"Complete": o.Complete(ctx, 999999),
		"Fail":     o.Fail(ctx, 999999, "x", t0, false),
	} {
		if !errors.Is(err, bot.ErrNotFound) {
			t.Errorf("%s(missing) err=%v, want ErrNotFound", name, err)
		}
	}
	// Completing twice is harmless (MySQL counts matched rows, not
	// changed ones).
	if err := o.Complete(ctx, ids["sent"]); err != nil {
		t.Errorf("second Complete: %v", err)
	}
}

func TestListAndRequeue(t *testing.T) {
	o := sqlstore.NewOutbox(storetest.SQL(t))
	mustEnqueue(t, o, item("a"), item("b"), item("c"))
	claimed := mustClaim(t, o, t0, 10, time.Minute)
	ids := map[string]int64{}
	for _, it := range claimed {
		ids[it.Key] = it.ID
	}
	ctx := t.Context()
	for _, k := range []string{"a", "c"} {
		if err := o.Fail(ctx, ids[k], "boom", t0, true); err != nil {
			t.Fatal(err)
		}
	}

	lists := []struct {
		name   string
		status bot.OutboxStatus
		limit  int
		want   []string
	}{
		{"dead, newest first", bot.OutboxDead, 10, []string{"c", "a"}},
		{"pending", bot.OutboxPending, 10, []string{"b"}},
		{"all, limited", "", 2, []string{"c", "b"}},
		{"sent", bot.OutboxSent, 10, nil},
	}
	for _, tc := range lists {
		t.Run(tc.name, func(t *testing.T) {
			got, err := o.List(ctx, tc.status, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if ks := keys(got); !slices.Equal(ks, tc.want) {
				t.Errorf("List(%q, %d)=%v, want %v", tc.status, tc.limit, ks, tc.want)
			}
		})
	}
	for _, bad := range []struct {
		status bot.OutboxStatus
		limit  int
	}{{"", 0}, {"", sqlstore.MaxListLimit + 1}, {"bogus", 10}} {
		if _, err := o.List(ctx, bad.status, bad.limit); !errors.Is(err, bot.ErrInvalid) {
			t.Errorf("List(%q, %d) err=%v, want ErrInvalid", bad.status, bad.limit, err)
		}
	}

	now := t0.Add(time.Hour)
	if err := o.Requeue(ctx, ids["a"], now); err != nil {
		t.Fatalf("Requeue: %v", err)
	}
	for name, id := range map[string]int64{"pending row": ids["b"], "requeued row": ids["a"], "missing row": 999999} {
		if err := o.Requeue(ctx, id, now); !errors.Is(err, bot.ErrNotFound) {
			t.Errorf("Requeue(%s) err=%v, want ErrNotFound", name, err)
		}
	}
	got := mustClaim(t, o, now, 10, time.Minute)
	// b's lease ran out too; a is due again with its attempts reset.
	if ks := keys(got); !slices.Equal(ks, []string{"b", "a"}) {
		t.Fatalf("claimed %v, want [b a]", ks)
	}
	if a := got[1]; a.Attempts != 1 || a.LastError != "boom" {
		t.Errorf("requeued a=%+v, want attempts 1 and the old last error", a)
	}
}

func TestRestartSurvival(t *testing.T) {
	cfg := storetest.SQLConfig(t)
	db, err := sqlstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := sqlstore.NewOutbox(db)
	mustEnqueue(t, o, item("a"), item("b"))
	mustClaim(t, o, t0, 1, time.Minute) // a is leased when the "replica" dies
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = sqlstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	o = sqlstore.NewOutbox(db)
	mustEnqueue(t, o, item("a")) // still deduplicated after the restart
	if got := keys(mustClaim(t, o, t0, 10, time.Minute)); !slices.Equal(got, []string{"b"}) {
		t.Errorf("claimed %v after restart, want [b]", got)
	}
	got := mustClaim(t, o, t0.Add(time.Minute), 10, time.Minute)
	if len(got) != 2 || got[0].Key != "a" || got[0].Attempts != 2 {
		t.Errorf("claimed %+v after the leases, want a (attempts 2) and b", got)
	}
}

// TestExtendFenced (issue 18 item 6): a worker extends the lease of the
// rows it still holds, and not of a row another worker claimed after its
// lease ran out.
func TestExtendFenced(t *testing.T) {
	o := sqlstore.NewOutbox(storetest.SQL(t))
	mustEnqueue(t, o, item("a"), item("b"))
	const lease = 10 * time.Second
	mine := mustClaim(t, o, t0, 10, lease)
	if len(mine) != 2 {
		t.Fatalf("claimed %d rows, want 2", len(mine))
	}
	n, err := o.Extend(t.Context(), mine, t0.Add(lease+5*time.Second))
	if err != nil || n != 2 {
		t.Fatalf("Extend = %d, %v; want 2", n, err)
	}
	if got := mustClaim(t, o, t0.Add(lease), 10, lease); len(got) != 0 {
		t.Fatalf("claimed %v within the extended lease, want nothing", keys(got))
	}
	// The lease runs out; another worker claims both.
	theirs := mustClaim(t, o, t0.Add(lease+5*time.Second), 10, lease)
	if len(theirs) != 2 {
		t.Fatalf("claimed %d rows after the lease, want 2", len(theirs))
	}
	if n, err := o.Extend(t.Context(), mine, t0.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("stale Extend = %d, %v; want 0", n, err)
	}
	if err := o.Complete(t.Context(), theirs[0].ID); err != nil {
		t.Fatal(err)
	}
	if n, err := o.Extend(t.Context(), theirs, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("Extend after one was sent = %d, %v; want 1", n, err)
	}
	if n, err := o.Extend(t.Context(), nil, t0); err != nil || n != 0 {
		t.Fatalf("Extend(nothing) = %d, %v", n, err)
	}
}

// TestReleaseFenced (issue 17 item 3): a stopping worker gives back the
// rows it claimed but did not start: they are due at once, for any
// worker. A row another worker claimed since, or one already sent, is
// left alone.
func TestReleaseFenced(t *testing.T) {
	o := sqlstore.NewOutbox(storetest.SQL(t))
	mustEnqueue(t, o, item("a"), item("b"), item("c"))
	const lease = 10 * time.Second
	mine := mustClaim(t, o, t0, 10, lease)
	if len(mine) != 3 {
		t.Fatalf("claimed %d rows, want 3", len(mine))
	}
	if err := o.Complete(t.Context(), mine[0].ID); err != nil {
		t.Fatal(err)
	}
	n, err := o.Release(t.Context(), mine, t0.Add(time.Second))
	if err != nil || n != 2 {
		t.Fatalf("Release = %d, %v; want 2 (the sent row stays sent)", n, err)
	}
	if got := mustClaim(t, o, t0, 10, lease); len(got) != 0 {
		t.Fatalf("claimed %v before the release's due time, want nothing", keys(got))
	}
	theirs := mustClaim(t, o, t0.Add(time.Second), 10, lease)
	if got := keys(theirs); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("claimed %v after the release, want [b c] at once, well within the lease", got)
	}
	for _, it := range theirs {
		if it.Attempts != 2 {
			t.Errorf("%s: attempts %d after a released claim and a new one, want 2 (attempts fence claims: they only grow)", it.Key, it.Attempts)
		}
	}
	// The first worker's claim is stale now: its release changes nothing.
	if n, err := o.Release(t.Context(), mine, t0); err != nil || n != 0 {
		t.Fatalf("stale Release = %d, %v; want 0", n, err)
	}
	if got := mustClaim(t, o, t0.Add(2*time.Second), 10, lease); len(got) != 0 {
		t.Fatalf("claimed %v within the other worker's lease, want nothing", keys(got))
	}
	if n, err := o.Release(t.Context(), nil, t0); err != nil || n != 0 {
		t.Fatalf("Release(nothing) = %d, %v", n, err)
	}
}

// TestExpiresAtRoundTrip: the platform's deadline is stored with the row;
// rows without one read back as zero.
func TestExpiresAtRoundTrip(t *testing.T) {
	o := sqlstore.NewOutbox(storetest.SQL(t))
	withDeadline := item("a")
	withDeadline.ExpiresAt = t0.Add(48 * time.Hour)
	mustEnqueue(t, o, withDeadline, item("b"))
	got := mustClaim(t, o, t0, 10, time.Minute)
	if len(got) != 2 || !got[0].ExpiresAt.Equal(withDeadline.ExpiresAt) || !got[1].ExpiresAt.IsZero() {
		t.Fatalf("claimed %+v, want a's deadline kept and b's zero", got)
	}
}

// TestOpenBoundsConnections (issue 18 item 5): a MySQL pool has a cap, so
// a burst queues for connections instead of reaching MariaDB's limit.
func TestOpenBoundsConnections(t *testing.T) {
	db := storetest.SQL(t)
	sqlDB, err := db.Gorm().DB()
	if err != nil {
		t.Fatal(err)
	}
	want := 1 // SQLite: one writer
	if db.Dialect() == sqlstore.DialectMySQL {
		want = sqlstore.DefaultMaxOpenConns
	}
	if got := sqlDB.Stats().MaxOpenConnections; got != want {
		t.Fatalf("MaxOpenConnections = %d, want %d", got, want)
	}
}

// TestClaimMarksSending (issue 28 cause B): a claim marks its rows as
// being sent, in the claim itself; a later claim that finds the mark (the
// worker died or lost the row mid-send) returns the row Unfinished and
// counts an ambiguous resend. A recorded outcome clears the mark, on
// both claim paths.
func TestClaimMarksSending(t *testing.T) {
	const lease = 10 * time.Second
	outcomes := []struct {
		name           string
		record         func(o *sqlstore.Outbox, it bot.OutboxItem) error // nil: the worker died
		wantUnfinished bool
	}{
		{"worker died", nil, true},
		{"failed", func(o *sqlstore.Outbox, it bot.OutboxItem) error {
			return o.Fail(t.Context(), it.ID, "busy", t0, false)
		}, false},
		{"deferred", func(o *sqlstore.Outbox, it bot.OutboxItem) error {
			return o.Defer(t.Context(), it.ID, "quiet hours", t0)
		}, false},
		{"released", func(o *sqlstore.Outbox, it bot.OutboxItem) error {
			_, err := o.Release(t.Context(), []bot.OutboxItem{it}, t0)
			return err
		}, false},
	}
	for _, path := range []struct {
		name  string
		claim func(*sqlstore.Outbox) claimFunc
	}{
		{"Claim", func(o *sqlstore.Outbox) claimFunc { return o.Claim }},
		{"conditional", func(o *sqlstore.Outbox) claimFunc { return sqlstore.ClaimConditional(o) }},
	} {
		for _, tc := range outcomes {
			t.Run(path.name+"/"+tc.name, func(t *testing.T) {
				o := sqlstore.NewOutbox(storetest.SQL(t))
				claim := path.claim(o)
				mustEnqueue(t, o, item("a"))
				first, err := claim(t.Context(), t0, 10, lease)
				if err != nil || len(first) != 1 || first[0].Unfinished {
					t.Fatalf("first claim = %+v, %v; want the row, not unfinished", first, err)
				}
				if tc.record != nil {
					if err := tc.record(o, first[0]); err != nil {
						t.Fatal(err)
					}
				}
				again, err := claim(t.Context(), t0.Add(time.Hour), 10, lease)
				if err != nil || len(again) != 1 {
					t.Fatalf("second claim = %+v, %v; want the row", again, err)
				}
				wantResends := 0
				if tc.wantUnfinished {
					wantResends = 1
				}
				if got := again[0]; got.Unfinished != tc.wantUnfinished || got.AmbiguousResends != wantResends {
					t.Fatalf("second claim: unfinished %v with %d ambiguous resends, want %v with %d", got.Unfinished, got.AmbiguousResends, tc.wantUnfinished, wantResends)
				}
				if err := o.Complete(t.Context(), again[0].ID); err != nil {
					t.Fatal(err)
				}
				rows, err := o.List(t.Context(), bot.OutboxSent, 10)
				if err != nil || len(rows) != 1 || rows[0].AmbiguousResends != wantResends {
					t.Fatalf("sent rows = %+v, %v; want the row with %d ambiguous resends", rows, err, wantResends)
				}
			})
		}
	}
}
