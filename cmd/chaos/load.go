package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/siyu-bot/siyu/handlers/wechat"
)

// message is one callback the platform delivers, with what happened to
// it.
type message struct {
	platform string // "wechat" or "douyin"
	user     string // a recipient of its own, so its side effects can be counted
	want     string // the answer the scripts give
	body     []byte // Douyin: the signed body; WeChat: the plaintext
	msgID    string

	mu       sync.Mutex
	accepted bool          // the platform got an answer it takes (HTTP 200 in time)
	passive  string        // WeChat: the passive reply text, when there was one
	latency  time.Duration // of the accepted attempt
	attempts []attempt
}

type attempt struct {
	start time.Time
	ok    bool
}

type load struct {
	url  string
	o    options
	sim  *wechat.Simulator
	http *http.Client

	mu   sync.Mutex
	msgs []*message
	sent atomic.Int64
}

func newLoad(proxyURL string, o options) *load {
	// The platforms hang up after 5 s and retry.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	return &load{
		url: proxyURL, o: o, http: client,
		sim: &wechat.Simulator{URL: proxyURL + "/wechat/callback", Token: wxToken, EncodingAESKey: wxAESKey, AppID: wxAppID, OriginalID: wxOrigID, Client: client},
	}
}

// run sends o.rate callbacks a second for o.duration, each in its own
// goroutine with the platform's retries, and waits for them all.
func (l *load) run(ctx context.Context, start time.Time) {
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(l.o.rate))
	defer tick.Stop()
	for i := 0; time.Since(start) < l.o.duration && ctx.Err() == nil; i++ {
		<-tick.C
		m := l.newMessage(i)
		l.mu.Lock()
		l.msgs = append(l.msgs, m)
		l.mu.Unlock()
		copies := 1
		if rand.Float64() < l.o.dupShare {
			copies = 2 // the platform delivers it twice at once
		}
		for range copies {
			wg.Add(1)
			go func() { defer wg.Done(); l.deliver(ctx, m) }()
		}
	}
	wg.Wait()
}

func (l *load) newMessage(i int) *message {
	k := i % numAnswers
	text := fmt.Sprintf("请问 kw%02d 怎么样", k)
	m := &message{want: fmt.Sprintf("ans%02d", k)}
	if i%2 == 0 {
		m.platform = "wechat"
		m.user = "o-chaos-" + randHex(8)
		id := wechat.NewMsgID()
		m.msgID = strconv.FormatInt(id, 10)
		m.body = l.sim.TextXML(m.user, text, id)
		return m
	}
	m.platform = "douyin"
	m.user = "dy-chaos-" + randHex(8)
	m.msgID = "srv-" + randHex(8)
	body, _ := json.Marshal(map[string]any{
		"event": "im_receive_msg", "client_key": dyKey, "from_user_id": m.user, "to_user_id": dyAccount,
		"content": map[string]any{
			"conversation_short_id": "@conv-" + m.user, "server_message_id": m.msgID, "conversation_type": 1,
			"message_type": "text", "text": text, "create_time": time.Now().UnixMilli(),
		},
	})
	m.body = body
	return m
}

// deliver plays the platform: up to 4 attempts (the first and 3
// retries), each with a 5 s timeout, until one is answered with 200.
func (l *load) deliver(ctx context.Context, m *message) {
	for try := 0; try < 4 && ctx.Err() == nil; try++ {
		m.mu.Lock()
		done := m.accepted
		m.mu.Unlock()
		if done {
			return
		}
		if try > 0 {
			time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
		}
		l.sent.Add(1)
		start := time.Now()
		ok, passive := l.post(ctx, m)
		m.mu.Lock()
		m.attempts = append(m.attempts, attempt{start: start, ok: ok})
		if ok && !m.accepted {
			m.accepted, m.passive, m.latency = true, passive, time.Since(start)
		}
		m.mu.Unlock()
		if ok {
			return
		}
	}
}

func (l *load) post(ctx context.Context, m *message) (ok bool, passive string) {
	switch m.platform {
	case "wechat":
		req, err := l.sim.Request(ctx, m.body)
		if err != nil {
			return false, ""
		}
		resp, err := l.http.Do(req)
		if err != nil {
			return false, ""
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return false, ""
		}
		r, err := l.sim.DecodeReply(resp.StatusCode, raw)
		if err != nil {
			return false, ""
		}
		return true, r.Content
	default:
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url+"/douyin/webhook", bytes.NewReader(m.body))
		if err != nil {
			return false, ""
		}
		sum := sha1.Sum(append([]byte(dySecret), m.body...))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Douyin-Signature", hex.EncodeToString(sum[:]))
		req.Header.Set("Msg-Id", m.msgID)
		resp, err := l.http.Do(req)
		if err != nil {
			return false, ""
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode == http.StatusOK, ""
	}
}

// report checks every message and prints the figures. It returns an
// error when any callback was lost, duplicated or answered wrong, or the
// outbox did not drain.
func report(w io.Writer, l *load, api *fakeAPI, db *sql.DB, faults []faultRecord, elapsed time.Duration, drained bool, o options) error {
	var accepted, effects, dups, lost, wrong, unanswered int
	var lat []time.Duration
	var allAttempts []attempt
	for _, m := range l.msgs {
		m.mu.Lock()
		allAttempts = append(allAttempts, m.attempts...)
		key := "wx:" + m.user
		if m.platform == "douyin" {
			key = "dy:" + m.user
		}
		got := api.sent(key)
		if m.passive != "" {
			got = append(got, m.passive)
		}
		n := len(got)
		effects += n
		for _, t := range got {
			if t != m.want {
				wrong++
			}
		}
		switch {
		case !m.accepted:
			unanswered++ // the platform gave up; n may be 0 or 1
			if n > 1 {
				dups += n - 1
			}
		case n == 0:
			lost++
		case n > 1:
			dups += n - 1
		}
		if m.accepted {
			accepted++
			lat = append(lat, m.latency)
		}
		m.mu.Unlock()
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	statuses := map[string]int{}
	if rows, err := db.Query("SELECT status, COUNT(*) FROM outbox GROUP BY status"); err == nil {
		for rows.Next() {
			var s string
			var n int
			if rows.Scan(&s, &n) == nil {
				statuses[s] = n
			}
		}
		rows.Close()
	}
	deadWhy := map[string]int{}
	if rows, err := db.Query("SELECT last_error, COUNT(*) FROM outbox WHERE status = 'dead' GROUP BY last_error"); err == nil {
		for rows.Next() {
			var s string
			var n int
			if rows.Scan(&s, &n) == nil {
				deadWhy[s] = n
			}
		}
		rows.Close()
	}

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%s at %d callbacks/s, %.0f%% delivered twice at once, 2 replicas, MariaDB + Redis\n", o.duration, o.rate, o.dupShare*100)
	fmt.Fprintf(tw, "callbacks\t%d (%d HTTP attempts with retries)\n", len(l.msgs), l.sent.Load())
	fmt.Fprintf(tw, "accepted\t%d (%d given up by the platform after 4 attempts)\n", accepted, unanswered)
	fmt.Fprintf(tw, "side effects\t%d (passive replies + sends)\n", effects)
	fmt.Fprintf(tw, "duplicates\t%d (of which at most %d from sends the platform delivered while timing out: not avoidable without an idempotency key)\n", dups, api.ambiguous.Load())
	fmt.Fprintf(tw, "lost\t%d\n", lost)
	fmt.Fprintf(tw, "wrong\t%d\n", wrong)
	fmt.Fprintf(tw, "throughput\t%.0f accepted callbacks/s\n", float64(accepted)/o.duration.Seconds())
	fmt.Fprintf(tw, "latency\tp50 %s, p99 %s, max %s\n", pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), pct(1).Round(time.Millisecond))
	fmt.Fprintf(tw, "outbox\t%v (drained: %v)\n", statuses, drained)
	for why, n := range deadWhy {
		fmt.Fprintf(tw, "dead letter\t%d× %s\n", n, why)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "fault recovery (from injection to the last failed attempt it caused):")
	sort.Slice(allAttempts, func(i, j int) bool { return allAttempts[i].start.Before(allAttempts[j].start) })
	t0 := time.Time{}
	if len(allAttempts) > 0 {
		t0 = allAttempts[0].start
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, f := range faults {
		from := t0.Add(f.at)
		until := from.Add(30 * time.Second)
		if i+1 < len(faults) {
			until = t0.Add(faults[i+1].at)
		}
		lastFail := time.Time{}
		for _, a := range allAttempts {
			if a.start.After(from) && a.start.Before(until) && !a.ok {
				lastFail = a.start
			}
		}
		rec := "no failed attempt"
		if !lastFail.IsZero() {
			rec = lastFail.Sub(from).Round(100 * time.Millisecond).String()
		}
		status := ""
		if f.err != nil {
			status = " (injection failed: " + f.err.Error() + ")"
		}
		fmt.Fprintf(tw, "  %s\tat %s\trecovered after %s%s\n", f.name, f.at.Round(time.Second), rec, status)
	}
	tw.Flush()
	if dups > int(api.ambiguous.Load()) || lost > 0 || wrong > 0 || !drained || statuses["pending"] > 0 {
		return fmt.Errorf("FAILED: %d duplicates, %d lost, %d wrong, outbox drained %v", dups, lost, wrong, drained)
	}
	fmt.Fprintln(w, "PASS: every accepted callback had exactly one side effect")
	return nil
}
