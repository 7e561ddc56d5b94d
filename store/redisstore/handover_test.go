package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/handover"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// secondClient connects another client to c's Redis with c's prefix: a
// second replica, or the same one after a restart.
func secondClient(t *testing.T, c *redisstore.Client) *redisstore.Client {
	t.Helper()
	return storetest.RedisReplica(t, c)
}

func testPause(id, user string, since time.Time) handover.Pause {
	to := bot.Target{Platform: bot.WeChat, Account: "wxapp", User: bot.UserID(user)}
	return handover.Pause{ID: id, Conv: handover.ConvOf(to.Platform, to.Account, to.User), To: to, Reason: "keyword",
		Agent: "kf1@gh_x", Since: since, Waiting: since, LastCustomer: since}
}

func TestHandoverPauses(t *testing.T) {
	c := storetest.Redis(t)
	h := redisstore.NewHandovers(c)
	ctx := t.Context()
	since := time.UnixMilli(time.Now().UnixMilli())
	p := testPause("00aa11bb22cc33dd", "o-user-1", since)
	// The account's route comes back with the pause: staff's replies go
	// out through that account, under its scripts' settings.
	p.To.Route = bot.Route{Brand: "shancha", Name: "oa-main"}

	if _, ok, err := h.Get(ctx, p.Conv); err != nil || ok {
		t.Fatalf("Get before Start = %v, %v; want none", ok, err)
	}
	cur, started, err := h.Start(ctx, p, time.Hour)
	if err != nil || !started || cur.ID != p.ID {
		t.Fatalf("Start = %+v, %v, %v; want started", cur, started, err)
	}
	// Another replica reads it: everything as stored.
	h2 := redisstore.NewHandovers(secondClient(t, c))
	got, ok, err := h2.Get(ctx, p.Conv)
	if err != nil || !ok || got != p {
		t.Fatalf("Get from another client = %+v, %v, %v; want %+v", got, ok, err, p)
	}
	// A second hand-over of the same conversation finds the first.
	other := testPause("99aa11bb22cc33dd", "o-user-1", since.Add(time.Second))
	cur, started, err = h2.Start(ctx, other, time.Hour)
	if err != nil || started || cur != p {
		t.Fatalf("second Start = %+v, %v, %v; want the first pause, not started", cur, started, err)
	}

	steps := []struct {
		name        string
		by          handover.Party
		wantWaiting time.Time
	}{
		{"staff answer: no longer waiting", handover.Staff, time.Time{}},
		{"the customer writes: waiting since then", handover.Customer, since.Add(2 * time.Minute)},
		{"the customer writes again: still waiting since the first", handover.Customer, since.Add(2 * time.Minute)},
	}
	for i, st := range steps {
		at := since.Add(time.Duration(i+1) * time.Minute)
		if ok, err := h.Touch(ctx, p.Conv, st.by, at, time.Hour); err != nil || !ok {
			t.Fatalf("%s: Touch = %v, %v", st.name, ok, err)
		}
		got, _, _ := h.Get(ctx, p.Conv)
		if !got.Waiting.Equal(st.wantWaiting) {
			t.Errorf("%s: waiting = %v, want %v", st.name, got.Waiting, st.wantWaiting)
		}
	}
	if ok, err := h.Assign(ctx, p.Conv, "小王"); err != nil || !ok {
		t.Fatalf("Assign = %v, %v", ok, err)
	}
	held, err := h.Held(ctx, 10)
	if err != nil || len(held) != 1 || held[0].Assignee != "小王" || !held[0].LastStaff.Equal(since.Add(time.Minute)) {
		t.Fatalf("Held = %+v, %v; want the pause, assigned", held, err)
	}

	if _, ok, err := h.End(ctx, p.Conv, "ffffffffffffffff"); err != nil || ok {
		t.Fatalf("End of another hand-over's id = %v, %v; want nothing ended", ok, err)
	}
	ended, ok, err := h.End(ctx, p.Conv, p.ID)
	if err != nil || !ok || ended.ID != p.ID {
		t.Fatalf("End = %+v, %v, %v", ended, ok, err)
	}
	if ok, err := h.Touch(ctx, p.Conv, handover.Customer, since, time.Hour); err != nil || ok {
		t.Fatalf("Touch after End = %v, %v; want nothing touched", ok, err)
	}
	if _, ok, _ := h.Get(ctx, p.Conv); ok {
		t.Fatal("a touch after the end brought the pause back")
	}
	if ok, _ := h.Assign(ctx, p.Conv, "小王"); ok {
		t.Fatal("Assign after End succeeded")
	}
	if held, _ := h.Held(ctx, 10); len(held) != 0 {
		t.Fatalf("Held after End = %+v", held)
	}
	if exp, _ := h.Expired(ctx, 10); len(exp) != 0 {
		t.Fatalf("Expired after End = %+v, want none (ended, not expired)", exp)
	}
}

// TestHandoverPauseExpires: a pause lasts its ttl after its last touch;
// the sweepers of two replicas then get the expired hand-over once.
func TestHandoverPauseExpires(t *testing.T) {
	c := storetest.Redis(t)
	h := redisstore.NewHandovers(c)
	ctx := t.Context()
	p := testPause("0123456789abcdef", "o-user-2", time.Now())
	if _, _, err := h.Start(ctx, p, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	elapse(t, c, time.Second)
	if ok, err := h.Touch(ctx, p.Conv, handover.Customer, time.Now(), 1500*time.Millisecond); err != nil || !ok {
		t.Fatalf("Touch = %v, %v", ok, err)
	}
	elapse(t, c, time.Second)
	if _, ok, _ := h.Get(ctx, p.Conv); !ok {
		t.Fatal("pause gone 1 s after a touch with 1.5 s to live")
	}
	if exp, _ := h.Expired(ctx, 10); len(exp) != 0 {
		t.Fatalf("Expired while held = %+v", exp)
	}
	elapse(t, c, time.Second)
	if _, ok, _ := h.Get(ctx, p.Conv); ok {
		t.Fatal("pause still there 2 s after its last touch")
	}
	h2 := redisstore.NewHandovers(secondClient(t, c))
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got []handover.Pause
	)
	for _, s := range []*redisstore.Handovers{h, h2, h, h2} {
		wg.Go(func() {
			exp, err := s.Expired(ctx, 10)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			got = append(got, exp...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(got) != 1 || got[0].ID != p.ID || got[0].Conv != p.Conv {
		t.Fatalf("Expired across sweepers = %+v, want the hand-over once", got)
	}
}

func TestHandoverTurns(t *testing.T) {
	c := storetest.Redis(t)
	h, h2 := redisstore.NewHandovers(c), redisstore.NewHandovers(secondClient(t, c))
	var got []int64
	for _, s := range []*redisstore.Handovers{h, h2, h} {
		n, err := s.Next(t.Context(), "agents:wecom:corp")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("Next = %v, want 1 2 3 across replicas", got)
	}
}

// BenchmarkHandoverGet is the pause read every 1:1 message costs, for a
// conversation nobody holds (the common case): serially one round trip;
// from 64 callers it rides the batcher's pipelines.
func BenchmarkHandoverGet(b *testing.B) {
	conv := handover.ConvOf(bot.WeChat, "wxapp", "o-nobody")
	b.Run("serial", func(b *testing.B) {
		h := redisstore.NewHandovers(storetest.Redis(b))
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			if _, held, err := h.Get(ctx, conv); err != nil || held {
				b.Fatal(held, err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		h := redisstore.NewHandovers(storetest.Redis(b))
		ctx := b.Context()
		b.ReportAllocs()
		b.SetParallelism(32) // × GOMAXPROCS(2) = 64 callers
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, held, err := h.Get(ctx, conv); err != nil || held {
					b.Fatal(held, err)
				}
			}
		})
	})
}

func TestHandoverConversations(t *testing.T) {
	c := storetest.Redis(t)
	h := redisstore.NewHandovers(c)
	ctx := t.Context()
	now := time.Now()
	for i, u := range []string{"o-a", "o-b"} {
		if _, _, err := h.Start(ctx, testPause(fmt.Sprintf("%016x", i+1), u, now.Add(time.Duration(i)*time.Second)), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	got, err := h.Conversations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []handover.Conv{handover.ConvOf(bot.WeChat, "wxapp", "o-a"), handover.ConvOf(bot.WeChat, "wxapp", "o-b")}
	if !slices.Equal(got, want) {
		t.Errorf("Conversations = %q, want %q", got, want)
	}
}

// TestHandoverAnnouncements: an announcement from one replica reaches
// another's listener, as the conversation's digest only.
func TestHandoverAnnouncements(t *testing.T) {
	c := storetest.Redis(t)
	listener, speaker := redisstore.NewHandoverAnnouncements(c), redisstore.NewHandoverAnnouncements(secondClient(t, c))
	ctx, cancel := context.WithCancel(t.Context())
	heard := make(chan handover.Digest, 10)
	up := make(chan bool, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		listener.Listen(ctx, func(d handover.Digest) { heard <- d }, func(b bool) { up <- b })
	}()
	defer func() { cancel(); <-done }()
	select {
	case b := <-up:
		if !b {
			t.Fatal("listening(false) before listening(true)")
		}
	case <-time.After(hangGuard):
		t.Fatal("never subscribed")
	}
	d := handover.DigestOf(handover.ConvOf(bot.WeChat, "wxapp", "o-announced"))
	if err := speaker.Announce(ctx, d); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-heard:
		if got != d {
			t.Errorf("heard %s, want %s", got, d)
		}
	case <-time.After(hangGuard):
		t.Fatal("the announcement was not heard")
	}
}
