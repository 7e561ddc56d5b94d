//go:build fault

package wechat

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// The chaos run of issue 18, narrowed to what one process can drive: two
// replicas on one database and Redis, WeChat-style retries (a timeout,
// four attempts, alternating replicas) scaled from seconds to
// milliseconds, and faults. Every message must be delivered exactly once:
// in the answer WeChat accepted, or through the outbox.
//
//	go test -tags fault -run TestChaos -v ./handlers/wechat/
//
// with MYSQL_DSN and REDIS_URL set to run it on the servers.

const (
	chaosMessages    = 200
	chaosConcurrency = 16
	chaosAttempts    = 4
	// chaosTimeout is WeChat's 5 s, scaled; the dedupe Wait and the reply
	// budgets are scaled alike, keeping their order.
	chaosTimeout = 600 * time.Millisecond
)

func TestChaos(t *testing.T) {
	for _, tc := range []struct {
		name string
		// budgetA is replica A's reply budget; B's is the scaled default.
		budgetA time.Duration
		// doomed reports whether replica A dies holding message i's claim.
		doomed func(i int) bool
	}{
		{"one replica at a short reply budget, the other late", 5 * time.Millisecond, func(int) bool { return false }},
		// A dead replica never answers: its budget outlasts WeChat's wait.
		{"replica killed after its claim", 2 * chaosTimeout, func(i int) bool { return i%10 == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) { runChaos(t, tc.budgetA, tc.doomed) })
	}
}

func runChaos(t *testing.T, budgetA time.Duration, doomed func(i int) bool) {
	api := newFakeAPI(t)
	b := newBackends(t)
	if m := b.rdb.Miniredis(); m != nil {
		// miniredis expires keys only when told: let its time pass.
		stop := make(chan struct{})
		t.Cleanup(func() { close(stop) })
		go func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					m.FastForward(10 * time.Millisecond)
				}
			}
		}()
	}
	dcfg := bot.DedupeConfig{Lease: 300 * time.Millisecond, Wait: 400 * time.Millisecond, Poll: 5 * time.Millisecond}
	engine := testEngine(t)
	death := newGate()
	doomedKeys := sync.Map{} // DedupeKey → true for messages A dies on
	slow := func(dies bool) bot.Handler {
		return bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
			if _, ok := doomedKeys.Load(ev.DedupeKey); ok && dies {
				<-death.c // the process is gone
				return nil, bot.ErrUnavailable
			}
			select {
			case <-time.After(time.Duration(rand.IntN(20)) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return engine.HandleEvent(ctx, ev)
		})
	}
	senders := map[bot.Platform]bot.Sender{bot.WeChat: newTestSender(t, b)}
	a := newFaultReplica(t, b, slow(true), faultOptions{dedupe: dcfg, senders: senders,
		cfg: Config{ReplyBudget: budgetA, ProcessTimeout: 2 * time.Second}})
	a.dedupe.doomed = func(key string) bool { _, ok := doomedKeys.Load(keyMsg(key)); return ok }
	replicaB := newFaultReplica(t, b, slow(false), faultOptions{dedupe: dcfg, senders: senders,
		cfg: Config{ReplyBudget: 450 * time.Millisecond, ProcessTimeout: 2 * time.Second}})
	t.Cleanup(death.open)
	replicas := []*faultReplica{a, replicaB}
	go drainQueued(a)
	go drainQueued(replicaB)

	var (
		mu      sync.Mutex
		passive = map[string]int{} // openid → replies in accepted answers
		lost    []int
	)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range chaosConcurrency {
		wg.Go(func() {
			for i := range jobs {
				openid := "o-chaos-" + strconv.Itoa(i)
				msgID := NewMsgID()
				if doomed(i) {
					doomedKeys.Store("msg:"+strconv.FormatInt(msgID, 10), true)
				}
				msg := a.sim().TextXML(openid, "营业时间", msgID)
				accepted := false
				for k := range chaosAttempts {
					r := replicas[(i+k)%2] // A first for even i
					ctx, cancel := context.WithTimeout(t.Context(), chaosTimeout)
					got, err := r.sim().Post(ctx, msg)
					cancel()
					if err != nil {
						continue // timed out or 5xx: WeChat retries
					}
					accepted = true
					mu.Lock()
					if got.MsgType != "" {
						passive[openid]++
					}
					mu.Unlock()
					break
				}
				if !accepted {
					mu.Lock()
					lost = append(lost, i)
					mu.Unlock()
				}
			}
		})
	}
	for i := range chaosMessages {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	death.open()

	// Deliver what the outboxes hold.
	for range 50 {
		n := 0
		for _, r := range replicas {
			c, err := r.outbox.RunOnce(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			n += c
		}
		if n == 0 {
			break
		}
	}
	sent := map[string]int{}
	for _, m := range api.messages() {
		sent[m.ToUser]++
	}
	var dups, missing int
	for i := range chaosMessages {
		openid := "o-chaos-" + strconv.Itoa(i)
		switch n := passive[openid] + sent[openid]; {
		case n > 1:
			dups++
		case n == 0:
			missing++
		}
	}
	outboxDelivered := 0
	for _, n := range sent {
		outboxDelivered += n
	}
	t.Logf("%d messages: %d answered passively, %d through the outbox; %d never accepted by the platform, %d duplicates, %d lost",
		chaosMessages, len(passive), outboxDelivered, len(lost), dups, missing)
	if dups != 0 || missing != 0 || len(lost) != 0 {
		t.Fatalf("%d duplicates, %d lost, %d never accepted (%v); want none", dups, missing, len(lost), lost)
	}
}

// drainQueued empties a replica's queued signals, which this test does
// not wait on.
func drainQueued(r *faultReplica) {
	for range r.queued {
	}
}

// keyMsg returns the event part of a dedupe key (platform:account:event).
func keyMsg(key string) string {
	for n, i := 0, 0; i < len(key); i++ {
		if key[i] == ':' {
			if n++; n == 2 {
				return key[i+1:]
			}
		}
	}
	return key
}
