package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/cache"
	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// hangGuard bounds the polls for a write that lands in the background:
// only a broken test should reach it, not a loaded CI machine under -race
// (a one- or two-second bound is a timing assumption).
const hangGuard = 30 * time.Second

// elapse lets d pass on the server: the embedded miniredis only expires
// keys when its clock is moved; a real Redis needs real time.
func elapse(tb testing.TB, c *redisstore.Client, d time.Duration) {
	tb.Helper()
	if m := c.Miniredis(); m != nil {
		m.FastForward(d)
		return
	}
	time.Sleep(d)
}

func TestDeduper(t *testing.T) {
	c := storetest.Redis(t)
	d := redisstore.NewDeduper(c)
	ctx := t.Context()
	const ttl = time.Hour

	type step struct {
		name      string
		do        func() error // nil: Claim
		wantFirst bool
		want      []byte
	}
	steps := []step{
		{name: "first claim", wantFirst: true},
		{name: "second claim while pending"},
		{name: "finish", do: func() error { return d.Finish(ctx, "k", []byte("result"), ttl) }},
		{name: "claim after finish", want: []byte("result")},
		{name: "release", do: func() error { return d.Release(ctx, "k", "tok") }},
		{name: "claim after release keeps the result", want: []byte("result")},
		{name: "finish empty", do: func() error { return d.Finish(ctx, "k", nil, ttl) }},
		{name: "claim after empty finish", want: []byte(redisstore.EmptyResult)},
		{name: "release unknown key", do: func() error { return d.Release(ctx, "unknown", "tok") }},
		{name: "finish again", do: func() error { return d.Finish(ctx, "k", []byte("passive"), ttl) }},
		// A copy swaps what its claim read (Finish is queued: the claim,
		// pipelined after it, is what makes it visible).
		{name: "claim after finishing again", want: []byte("passive")},
		{name: "swap the result read", do: func() error { return swap(d, "k", "passive", "queueing", true, "") }},
		{name: "claim after the swap", want: []byte("queueing")},
		{name: "swap a result another copy changed", do: func() error { return swap(d, "k", "passive", "mine", false, "queueing") }},
		{name: "claim after the lost swap", want: []byte("queueing")},
		{name: "swap a key that is gone", do: func() error { return swap(d, "gone", "passive", "mine", false, "") }},
		{name: "swap a key claimed again", do: func() error {
			if _, _, err := d.Claim(ctx, "k2", "tok2", ttl); err != nil {
				return err
			}
			return swap(d, "k2", "passive", "mine", false, "")
		}},
	}
	for _, s := range steps {
		if s.do != nil {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			continue
		}
		first, result, err := d.Claim(ctx, "k", "tok", ttl)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if first != s.wantFirst || string(result) != string(s.want) || (s.want == nil) != (result == nil) {
			t.Errorf("%s: Claim=(%v, %q), want (%v, %q)", s.name, first, result, s.wantFirst, s.want)
		}
	}
}

// swap calls Swap and checks whether it swapped, and what it says the
// key holds when it did not ("" for nothing).
func swap(d *redisstore.Deduper, key, old, result string, want bool, wantCurrent string) error {
	cur, got, err := d.Swap(context.Background(), key, []byte(old), []byte(result), time.Hour)
	if err == nil && (got != want || string(cur) != wantCurrent) {
		err = fmt.Errorf("Swap(%s: %q → %q) = %q, %v; want %q, %v", key, old, result, cur, got, wantCurrent, want)
	}
	return err
}

func TestDeduperInvalidTTL(t *testing.T) {
	d := redisstore.NewDeduper(storetest.Redis(t))
	if _, _, err := d.Claim(t.Context(), "k", "tok", 0); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("Claim(ttl 0) err=%v, want ErrInvalid", err)
	}
	if err := d.Finish(t.Context(), "k", []byte("x"), 0); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("Finish(ttl 0) err=%v, want ErrInvalid", err)
	}
}

// Dedupe keys of events hold the customer's openid, and these errors end
// up in logs.
func TestDeduperErrorsHideKey(t *testing.T) {
	const openid = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
	const key = "wechat:gh_1:ev:" + openid + ":1348831860:subscribe"
	c, err := redisstore.Open(t.Context(), os.Getenv("REDIS_URL"), nil, append(storetest.RedisOptions(), redisstore.WithPrefix("siyu:t:hidekey:"))...)
	if err != nil {
		t.Fatal(err)
	}
	d := redisstore.NewDeduper(c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"claim, bad ttl", func() error { _, _, err := d.Claim(t.Context(), key, "tok", 0); return err }, bot.ErrInvalid},
		{"claim, closed", func() error { _, _, err := d.Claim(t.Context(), key, "tok", time.Hour); return err }, bot.ErrUnavailable},
		{"finish, bad ttl", func() error { return d.Finish(t.Context(), key, []byte("x"), 0) }, bot.ErrInvalid},
		{"finish, closed", func() error { return d.Finish(t.Context(), key, []byte("x"), time.Hour) }, bot.ErrUnavailable},
		{"release, closed", func() error { return d.Release(t.Context(), key, "tok") }, bot.ErrUnavailable},
		{"renew, bad lease", func() error { _, err := d.Renew(t.Context(), key, "tok", 0); return err }, bot.ErrInvalid},
		{"renew, closed", func() error { _, err := d.Renew(t.Context(), key, "tok", time.Hour); return err }, bot.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), openid) {
				t.Errorf("error names the customer: %v", err)
			}
			if fp := bot.Fingerprint(key); !strings.Contains(err.Error(), fp) {
				t.Errorf("error %q lacks the key's fingerprint %s", err, fp)
			}
		})
	}
}

func TestDeduperTTL(t *testing.T) {
	c := storetest.Redis(t)
	d := redisstore.NewDeduper(c)
	ctx := t.Context()
	// Short enough to wait for on a real Redis, long enough that the
	// second claim lands inside it.
	const ttl = 300 * time.Millisecond
	for _, finish := range []bool{false, true} {
		key := fmt.Sprint("ttl-", finish)
		if first, _, err := d.Claim(ctx, key, "tok", ttl); err != nil || !first {
			t.Fatalf("first Claim=(%v, %v), want (true, nil)", first, err)
		}
		if finish {
			if err := d.Finish(ctx, key, []byte("r"), ttl); err != nil {
				t.Fatal(err)
			}
		}
		if first, _, _ := d.Claim(ctx, key, "tok", ttl); first {
			t.Fatalf("finish=%v: claim inside the TTL was first, want not", finish)
		}
		elapse(t, c, ttl+100*time.Millisecond)
		if first, result, err := d.Claim(ctx, key, "tok", ttl); err != nil || !first || result != nil {
			t.Errorf("finish=%v: Claim after TTL=(%v, %q, %v), want (true, nil, nil)", finish, first, result, err)
		}
	}
}

func TestDeduperConcurrentClaims(t *testing.T) {
	d := redisstore.NewDeduper(storetest.Redis(t))
	const goroutines = 50
	var (
		firsts atomic.Int32
		wg     sync.WaitGroup
	)
	for range goroutines {
		wg.Go(func() {
			first, result, err := d.Claim(t.Context(), "one", "tok", time.Minute)
			if err != nil {
				t.Errorf("Claim: %v", err)
			}
			if !first && result != nil {
				t.Errorf("Claim result=%q, want nil while pending", result)
			}
			if first {
				firsts.Add(1)
			}
		})
	}
	wg.Wait()
	if n := firsts.Load(); n != 1 {
		t.Errorf("%d claims were first, want 1", n)
	}
}

func TestDeduperUnavailable(t *testing.T) {
	c, err := redisstore.Open(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := redisstore.NewDeduper(c)
	c.Close()
	if _, _, err := d.Claim(t.Context(), "k", "tok", time.Minute); !errors.Is(err, bot.ErrUnavailable) {
		t.Errorf("Claim on a closed client err=%v, want ErrUnavailable", err)
	}
}

func TestKeyPrefix(t *testing.T) {
	c := storetest.Redis(t)
	if !strings.HasPrefix(c.Prefix(), "siyu:t:") {
		t.Fatalf("Prefix()=%q, want siyu:t:…", c.Prefix())
	}
	if first, _, err := redisstore.NewDeduper(c).Claim(t.Context(), "k", "tok", time.Minute); err != nil || !first {
		t.Fatalf("Claim=(%v, %v)", first, err)
	}
	if err := redisstore.NewTokenCache(c).Set("t", "v", time.Minute); err != nil {
		t.Fatal(err)
	}
	got := storetest.Keys(t, c)
	want := map[string]bool{c.Prefix() + "dedupe:k": true, c.Prefix() + "token:t": true}
	if len(got) != len(want) || !want[got[0]] || !want[got[1]] {
		t.Errorf("keys=%v, want %v", got, want)
	}
}

func TestTokenCache(t *testing.T) {
	c := storetest.Redis(t)
	tc := redisstore.NewTokenCache(c)
	ctx := t.Context()

	// The SDK type-asserts val.(string) and treats nil as a miss.
	if v := tc.Get("missing"); v != nil {
		t.Errorf("Get(miss)=%#v, want untyped nil", v)
	}
	if v := cache.GetContext(ctx, tc, "missing"); v != nil {
		t.Errorf("GetContext(miss)=%#v, want untyped nil", v)
	}
	if tc.IsExist("missing") {
		t.Errorf("IsExist(miss)=true, want false")
	}

	tests := []struct {
		name string
		val  any
		want string
	}{
		{"string", "ACCESS_TOKEN", "ACCESS_TOKEN"},
		{"bytes", []byte("TICKET"), "TICKET"},
	}
	for _, tc2 := range tests {
		t.Run(tc2.name, func(t *testing.T) {
			if err := tc.Set(tc2.name, tc2.val, time.Hour); err != nil {
				t.Fatal(err)
			}
			v, ok := tc.Get(tc2.name).(string)
			if !ok || v != tc2.want {
				t.Errorf("Get=%#v, want string %q", tc.Get(tc2.name), tc2.want)
			}
			if !tc.IsExist(tc2.name) {
				t.Errorf("IsExist=false, want true")
			}
			if err := tc.Delete(tc2.name); err != nil {
				t.Fatal(err)
			}
			if v := tc.Get(tc2.name); v != nil {
				t.Errorf("Get after Delete=%#v, want nil", v)
			}
		})
	}

	// Context variants, through the SDK's helpers as the SDK calls them.
	if err := cache.SetContext(ctx, tc, "ctx", "v", time.Hour); err != nil {
		t.Fatal(err)
	}
	if v := cache.GetContext(ctx, tc, "ctx"); v != "v" {
		t.Errorf("GetContext=%#v, want \"v\"", v)
	}
	if !cache.IsExistContext(ctx, tc, "ctx") {
		t.Errorf("IsExistContext=false, want true")
	}
	if err := cache.DeleteContext(ctx, tc, "ctx"); err != nil {
		t.Fatal(err)
	}
	if cache.IsExistContext(ctx, tc, "ctx") {
		t.Errorf("IsExistContext after delete=true, want false")
	}
	if err := tc.Delete("never-set"); err != nil {
		t.Errorf("Delete(missing)=%v, want nil", err)
	}

	// The timeout is the TTL.
	if err := tc.Set("short", "v", 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	elapse(t, c, 400*time.Millisecond)
	if v := tc.Get("short"); v != nil {
		t.Errorf("Get after timeout=%#v, want nil", v)
	}

	for name, err := range map[string]error{
		"no timeout":    tc.Set("k", "v", 0),
		"negative":      tc.Set("k", "v", -time.Second),
		"non-string":    tc.Set("k", 42, time.Hour),
		"struct value":  tc.Set("k", struct{}{}, time.Hour),
		"nil value":     tc.Set("k", nil, time.Hour),
		"ctx no expiry": tc.SetContext(ctx, "k", "v", 0),
	} {
		if !errors.Is(err, bot.ErrInvalid) {
			t.Errorf("Set(%s) err=%v, want ErrInvalid", name, err)
		}
	}
}

func TestTokenCacheErrorsAreMisses(t *testing.T) {
	c, err := redisstore.Open(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := redisstore.NewTokenCache(c)
	if err := tc.Set("k", "v", time.Hour); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if v := tc.Get("k"); v != nil {
		t.Errorf("Get on a closed client=%#v, want nil", v)
	}
	if tc.IsExist("k") {
		t.Errorf("IsExist on a closed client=true, want false")
	}
	if err := tc.Set("k", "v", time.Hour); !errors.Is(err, bot.ErrUnavailable) {
		t.Errorf("Set on a closed client err=%v, want ErrUnavailable", err)
	}
}

func TestLock(t *testing.T) {
	c := storetest.Redis(t)
	ctx := t.Context()
	const ttl = 300 * time.Millisecond

	release, ok, err := c.Lock(ctx, "cursor", ttl)
	if err != nil || !ok {
		t.Fatalf("Lock=(%v, %v), want (true, nil)", ok, err)
	}
	if _, ok, err := c.Lock(ctx, "cursor", ttl); err != nil || ok {
		t.Fatalf("second Lock=(%v, %v), want (false, nil)", ok, err)
	}
	if _, ok, _ := c.Lock(ctx, "other", ttl); !ok {
		t.Errorf("Lock(other)=false, want true")
	}
	release()
	release2, ok, err := c.Lock(ctx, "cursor", ttl)
	if err != nil || !ok {
		t.Fatalf("Lock after release=(%v, %v), want (true, nil)", ok, err)
	}
	// A stale holder's release must not free its successor's lock.
	release()
	if _, ok, _ := c.Lock(ctx, "cursor", ttl); ok {
		t.Fatalf("Lock after a stale release=true, want false")
	}
	release2()

	// The lock expires on its own.
	if _, ok, _ := c.Lock(ctx, "expiring", ttl); !ok {
		t.Fatal("Lock(expiring)=false")
	}
	elapse(t, c, ttl+100*time.Millisecond)
	if _, ok, _ := c.Lock(ctx, "expiring", ttl); !ok {
		t.Errorf("Lock after the TTL=false, want true")
	}
	if _, _, err := c.Lock(ctx, "k", 0); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("Lock(ttl 0) err=%v, want ErrInvalid", err)
	}
}

func TestOpenInvalidURL(t *testing.T) {
	_, err := redisstore.Open(t.Context(), "http://user:secret@host", nil)
	if !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("Open err=%v, want ErrInvalid", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("Open err=%q leaks the password", err)
	}
}

func BenchmarkDedupeClaim(b *testing.B) {
	c := storetest.Redis(b)
	d := redisstore.NewDeduper(c)
	ctx := b.Context()
	i := 0
	for b.Loop() {
		i++
		if _, _, err := d.Claim(ctx, "bench:"+fmt.Sprint(i), "tok", time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDedupeClaimParallel claims fresh keys from 64 goroutines, as a
// replica does under load: the batcher pipelines them.
func BenchmarkDedupeClaimParallel(b *testing.B) {
	c := storetest.Redis(b)
	d := redisstore.NewDeduper(c)
	ctx := b.Context()
	var n atomic.Int64
	b.SetParallelism(32) // × GOMAXPROCS(2) = 64 callers
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := d.Claim(ctx, "pbench:"+strconv.FormatInt(n.Add(1), 10), "tok", time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDedupeClaimFinishParallel is a callback's whole dedupe traffic
// (a claim, then its result) from 64 goroutines, as a replica under load.
func BenchmarkDedupeClaimFinishParallel(b *testing.B) {
	c := storetest.Redis(b)
	d := redisstore.NewDeduper(c)
	ctx := b.Context()
	result := bytes.Repeat([]byte("x"), 300)
	var n atomic.Int64
	b.SetParallelism(32) // × GOMAXPROCS(2) = 64 callers
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := "pfbench:" + strconv.FormatInt(n.Add(1), 10)
			if _, _, err := d.Claim(ctx, key, "tok", time.Minute); err != nil {
				b.Fatal(err)
			}
			if err := d.Finish(ctx, key, result, time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reportCPU adds the process's CPU time per op (user and system, all
// threads) to a benchmark's figures: with Redis on the same cores, wall
// time per op says little about the client's own cost.
func reportCPU(b *testing.B) func() {
	start := processCPU(b)
	return func() {
		b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestDedupeBatchedClaims: many callers at once, through the batcher, get
// exactly one first per key and every other caller sees the claim.
func TestDedupeBatchedClaims(t *testing.T) {
	c := storetest.Redis(t)
	d := redisstore.NewDeduper(c)
	const keys, callers = 20, 10
	var firsts [keys]atomic.Int32
	var wg sync.WaitGroup
	for k := range keys {
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, _, err := d.Claim(t.Context(), "batched:"+strconv.Itoa(k), "tok", time.Minute)
				if err != nil {
					t.Error(err)
				}
				if first {
					firsts[k].Add(1)
				}
			}()
		}
	}
	wg.Wait()
	for k := range keys {
		if got := firsts[k].Load(); got != 1 {
			t.Errorf("key %d had %d first claims, want 1", k, got)
		}
	}
}

// TestDeduperFinishOutlivesCaller: the result is queued, so the callback's
// context may end before it is written; the write must still land.
func TestDeduperFinishOutlivesCaller(t *testing.T) {
	d := redisstore.NewDeduper(storetest.Redis(t))
	if first, _, err := d.Claim(t.Context(), "outlive", "tok", time.Hour); err != nil || !first {
		t.Fatalf("Claim = %v, %v, want first", first, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := d.Finish(ctx, "outlive", []byte("answer"), time.Hour); err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(hangGuard)
	for {
		_, result, err := d.Claim(t.Context(), "outlive", "tok", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if string(result) == "answer" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored result = %q after the caller's context ended, want %q", result, "answer")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDeduperLease (issue 10 item 1): a claim is a lease held under a
// token; renewals and releases act only on the caller's own lease, and a
// lease nobody renews expires so the next caller takes the key.
func TestDeduperLease(t *testing.T) {
	c := storetest.Redis(t)
	d := redisstore.NewDeduper(c)
	ctx := t.Context()
	// Short enough to wait for on a real Redis.
	const lease = 300 * time.Millisecond
	claim := func(token string) (bool, []byte) {
		t.Helper()
		first, result, err := d.Claim(ctx, "lease", token, lease)
		if err != nil {
			t.Fatal(err)
		}
		return first, result
	}
	renew := func(token string) bool {
		t.Helper()
		held, err := d.Renew(ctx, "lease", token, lease)
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	if first, _ := claim("a"); !first {
		t.Fatal("first claim: not first")
	}
	if !renew("a") {
		t.Error("holder's renewal: not held")
	}
	if renew("b") {
		t.Error("renewal under another token: held, want not")
	}
	if first, result := claim("b"); first || result != nil {
		t.Errorf("claim during a's lease = (%v, %q), want pending", first, result)
	}
	elapse(t, c, lease+100*time.Millisecond)
	if first, _ := claim("b"); !first {
		t.Fatal("claim after a's lease ran out: not first")
	}
	if renew("a") {
		t.Error("a renewed b's lease")
	}
	if err := d.Release(ctx, "lease", "a"); err != nil {
		t.Fatal(err)
	}
	if first, _ := claim("c"); first {
		t.Error("a's release freed b's claim")
	}
	if err := d.Release(ctx, "lease", "b"); err != nil {
		t.Fatal(err)
	}
	if first, _ := claim("c"); !first {
		t.Error("b's release did not free its claim")
	}
	// A lease that expired with nobody taking it is taken again.
	elapse(t, c, lease+100*time.Millisecond)
	if !renew("c") {
		t.Error("renewal of an expired, untaken lease: not held")
	}
	if first, _ := claim("d"); first {
		t.Error("claim after the renewal took the key again: first")
	}
	// A finished key keeps its result and TTL.
	if err := d.Finish(ctx, "lease", []byte("r"), time.Hour); err != nil {
		t.Fatal(err)
	}
	waitResult(t, d, "lease", "r")
	if renew("c") {
		t.Error("renewal after Finish: held, want not")
	}
	elapse(t, c, lease+100*time.Millisecond)
	if _, result := claim("d"); string(result) != "r" {
		t.Errorf("result after a lease's time = %q, want it kept", result)
	}
}

// waitResult waits for a queued Finish to land.
func waitResult(t *testing.T, d *redisstore.Deduper, key, want string) {
	t.Helper()
	for deadline := time.Now().Add(hangGuard); time.Now().Before(deadline); {
		_, result, err := d.Claim(t.Context(), key, "waiter", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if string(result) == want {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("result of %s never became %q within %v", key, want, hangGuard)
}

// TestEmbeddedNeedsPassword: the embedded Redis listens on a loopback TCP
// port; another local process that connects without its random password
// can read or write nothing.
func TestEmbeddedNeedsPassword(t *testing.T) {
	c, err := redisstore.Open(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	if err := c.Redis().Set(ctx, "siyu:token:k", "secret-token", time.Minute).Err(); err != nil {
		t.Fatalf("siyu's own client: %v", err)
	}
	stranger := redis.NewClient(&redis.Options{Addr: c.Miniredis().Addr()})
	defer stranger.Close()
	if v, err := stranger.Get(ctx, "siyu:token:k").Result(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("a client without the password read %q, %v; want NOAUTH", v, err)
	}
	if err := stranger.Set(ctx, "siyu:dedupe:x", "forged", 0).Err(); err == nil {
		t.Fatal("a client without the password wrote a key")
	}
	opts, err := redis.ParseURL(c.EmbeddedURL())
	if err != nil {
		t.Fatal(err)
	}
	second := redis.NewClient(opts)
	defer second.Close()
	if v, err := second.Get(ctx, "siyu:token:k").Result(); err != nil || v != "secret-token" {
		t.Fatalf("a client of this process through EmbeddedURL = %q, %v", v, err)
	}
}
