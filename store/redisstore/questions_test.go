package redisstore_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func TestQuestions(t *testing.T) {
	q := redisstore.NewQuestions(storetest.Redis(t))
	ctx := t.Context()
	type step struct {
		name   string
		put    string // a question to put first, "" none
		msg    string // the message that claims
		want   string // the question it gets, "" none
		wantOK bool
	}
	steps := []step{
		{name: "nothing open", msg: "m0"},
		{name: "the first message gets the question", put: "q1", msg: "m1", want: "q1", wantOK: true},
		{name: "and gets it again (a retry)", msg: "m1", want: "q1", wantOK: true},
		{name: "another message does not", msg: "m2"},
		{name: "a new question replaces the answered one", put: "q2", msg: "m2", want: "q2", wantOK: true},
		{name: "whose retry still gets it", msg: "m2", want: "q2", wantOK: true},
		{name: "and the first message gets nothing now", msg: "m1"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.put != "" {
				if err := q.Put(ctx, "u1", []byte(st.put), time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			got, ok, err := q.Claim(ctx, "u1", st.msg, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != st.want || ok != st.wantOK {
				t.Errorf("Claim = %q, %v, want %q, %v", got, ok, st.want, st.wantOK)
			}
		})
	}
}

// TestQuestionsExpire: a question lives for its TTL, and a claimed one at
// least keep more, in Redis' own clock (read back as the key's TTL, not
// waited for).
func TestQuestionsExpire(t *testing.T) {
	rc := storetest.Redis(t)
	q := redisstore.NewQuestions(rc)
	ctx := t.Context()
	key := rc.Prefix() + "confirm:u1"
	if err := q.Put(ctx, "u1", []byte("q"), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	ttl := rc.Redis().PTTL(ctx, key).Val()
	if ttl <= 4*time.Minute || ttl > 5*time.Minute {
		t.Errorf("TTL after Put = %v, want about 5m", ttl)
	}
	// Claimed with a keep longer than what is left: the retries of its
	// message get the keep.
	if err := q.Put(ctx, "u1", []byte("q"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := q.Claim(ctx, "u1", "m1", 2*time.Minute); err != nil || !ok {
		t.Fatalf("Claim = %v, %v", ok, err)
	}
	if ttl := rc.Redis().PTTL(ctx, key).Val(); ttl <= time.Minute || ttl > 2*time.Minute {
		t.Errorf("TTL after Claim = %v, want about 2m", ttl)
	}
	if err := q.Put(ctx, "u1", []byte("q"), 0); err == nil {
		t.Errorf("Put with no TTL: no error, want one (the key would never expire)")
	}
}

// TestQuestionsClaimRace: replicas handling different messages of one
// person at once: exactly one message gets the question.
func TestQuestionsClaimRace(t *testing.T) {
	rc := storetest.Redis(t)
	ctx := t.Context()
	a, b := redisstore.NewQuestions(rc), redisstore.NewQuestions(rc)
	for round := range 5 {
		if err := a.Put(ctx, "u", []byte("q"), time.Minute); err != nil {
			t.Fatal(err)
		}
		var got atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, ok, err := s.Claim(ctx, "u", "m"+string(rune('a'+i)), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					got.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := got.Load(); n != 1 {
			t.Errorf("round %d: %d messages got the question, want 1", round, n)
		}
	}
}

// BenchmarkQuestionsClaim is what every 1:1 message pays to learn whether
// it answers a question (mostly none is open), from 64 goroutines as a
// replica under load, and from one.
func BenchmarkQuestionsClaim(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		q := redisstore.NewQuestions(storetest.Redis(b))
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := q.Claim(ctx, "nobody", "m", time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		q := redisstore.NewQuestions(storetest.Redis(b))
		ctx := b.Context()
		b.ReportAllocs()
		b.SetParallelism(32) // × GOMAXPROCS(2) = 64 callers
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := q.Claim(ctx, "nobody", "m", time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
