package redisstore_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func TestDNDCountersTake(t *testing.T) {
	c := redisstore.NewDNDCounters(storetest.Redis(t))
	ctx := t.Context()
	day := dnd.Counter{Key: "pd:p:20261126", Limit: 2, TTL: time.Hour}
	week := dnd.Counter{Key: "pw:p:20261123", Limit: 3, TTL: time.Hour}
	steps := []struct {
		name     string
		counters []dnd.Counter
		pending  []int
		peek     bool
		want     int
	}{
		{"peek on nothing", []dnd.Counter{day, week}, nil, true, -1},
		{"peek with pending at the limit", []dnd.Counter{day, week}, []int{2, 0}, true, 0},
		{"take one", []dnd.Counter{day, week}, nil, false, -1},
		{"take two", []dnd.Counter{day, week}, nil, false, -1},
		{"day full", []dnd.Counter{day, week}, nil, false, 0},
		{"week alone still has one", []dnd.Counter{week}, nil, false, -1},
		{"week full", []dnd.Counter{week}, nil, true, 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, err := c.Take(ctx, st.counters, st.pending, st.peek)
			if err != nil {
				t.Fatal(err)
			}
			if got != st.want {
				t.Errorf("Take = %d, want %d", got, st.want)
			}
		})
	}
	// A full day took nothing from the week: all or none.
	if n, _ := c.Count(ctx, week.Key); n != 3 {
		t.Errorf("week count = %d, want 3", n)
	}
}

// TestDNDCountersTakeConcurrent: replicas racing for a cap never pass it.
func TestDNDCountersTakeConcurrent(t *testing.T) {
	rc := storetest.Redis(t)
	a, b := redisstore.NewDNDCounters(rc), redisstore.NewDNDCounters(rc)
	ctx := t.Context()
	gm := dnd.Counter{Key: "gm:g:1", Limit: 5, TTL: time.Minute}
	var granted atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() {
			full, err := c.Take(ctx, []dnd.Counter{gm}, nil, false)
			if err != nil {
				t.Errorf("Take: %v", err)
			}
			if full < 0 {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if got := granted.Load(); got != 5 {
		t.Fatalf("granted = %d, want the cap 5", got)
	}
}

func TestDNDCountersOnce(t *testing.T) {
	rc := storetest.Redis(t)
	c := redisstore.NewDNDCounters(rc)
	ctx := t.Context()
	for i, want := range []bool{true, false} {
		got, err := c.Once(ctx, "confirm:x", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Once #%d = %v, want %v", i+1, got, want)
		}
	}
}

// BenchmarkDNDCountersTake: one gate decision's counting (a person's day
// and week caps) in one script round trip.
func BenchmarkDNDCountersTake(b *testing.B) {
	c := redisstore.NewDNDCounters(storetest.Redis(b))
	counters := []dnd.Counter{
		{Key: "pd:p:20261126", Limit: 1 << 30, TTL: time.Hour},
		{Key: "pw:p:20261123", Limit: 1 << 30, TTL: time.Hour},
	}
	b.ReportAllocs()
	for b.Loop() {
		if full, err := c.Take(b.Context(), counters, nil, false); err != nil || full >= 0 {
			b.Fatal(full, err)
		}
	}
}
