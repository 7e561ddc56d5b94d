//go:build chaos

package main_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/siyu-bot/siyu/handlers/wechat"
)

// message is one callback the platform delivers, with what happened to
// it.
type message struct {
	platform string // "wechat", "wecom" or "douyin"
	acct     *chaosAccount
	user     string // a recipient of its own, so its side effects can be counted
	want     string // the answer the scripts give
	body     []byte // Douyin: the signed body; WeChat, WeCom: the plaintext
	msgID    string

	mu         sync.Mutex
	accepted   bool          // the platform got an answer it takes (HTTP 200 in time)
	passive    string        // WeChat: the passive reply text, when there was one
	latency    time.Duration // of the accepted attempt
	acceptedAt time.Time     // when that answer came
	attempts   []attempt
}

// recipient is the key the fake API files the message's sends under.
func (m *message) recipient() string {
	switch m.platform {
	case "wechat":
		return "wx:" + m.user
	case "wecom":
		return "wc:" + m.user
	}
	return "dy:" + m.user
}

type attempt struct {
	start, end time.Time
	ok         bool
}

type load struct {
	url  string
	o    options
	http *http.Client
	// byPlatform are the accounts of each platform; each platform's
	// callbacks go to its accounts in turn.
	byPlatform map[string][]*chaosAccount

	mu   sync.Mutex
	msgs []*message
	sent atomic.Int64
}

func newLoad(proxyURL string, o options, accts []*chaosAccount) *load {
	// The platforms hang up after 5 s and retry.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	attachSimulators(accts, proxyURL, client)
	l := &load{url: proxyURL, o: o, http: client, byPlatform: map[string][]*chaosAccount{}}
	for _, a := range accts {
		l.byPlatform[a.platform] = append(l.byPlatform[a.platform], a)
	}
	return l
}

// run sends o.rate callbacks a second for o.duration, each in its own
// goroutine with the platform's retries, and waits for them all. Each
// callback has its time from the start; one that is late (the generator
// was not scheduled in time on a busy machine) goes at once, so the run
// sends its rate's worth rather than dropping what a ticker would.
func (l *load) run(ctx context.Context, start time.Time) {
	var wg sync.WaitGroup
	for i := 0; ctx.Err() == nil; i++ {
		due := time.Duration(i) * time.Second / time.Duration(l.o.rate)
		if due >= l.o.duration {
			break
		}
		if wait := time.Until(start.Add(due)); wait > 0 {
			time.Sleep(wait)
		}
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

// platforms take turns, so all three are driven at once.
var platforms = []string{"wechat", "wecom", "douyin"}

func (l *load) newMessage(i int) *message {
	k := i % numAnswers
	text := fmt.Sprintf("请问 kw%02d 怎么样", k)
	m := &message{want: fmt.Sprintf("ans%02d", k), platform: platforms[i%len(platforms)]}
	accts := l.byPlatform[m.platform]
	a := accts[(i/len(platforms))%len(accts)]
	m.acct = a
	// The user's id names the account, to read the examples by.
	tag := "chaos"
	if a.name != "" {
		tag = a.name
	}
	switch m.platform {
	case "wechat":
		m.user = "o-" + tag + "-" + randHex(8)
		id := wechat.NewMsgID()
		m.msgID = strconv.FormatInt(id, 10)
		m.body = a.sim.TextXML(m.user, text, id)
	case "wecom":
		// A staff member writing to the self-built app: siyu answers
		// with an app message (message/send) through the outbox.
		m.user = "staff-" + tag + "-" + randHex(8)
		id := wechat.NewMsgID()
		m.msgID = strconv.FormatInt(id, 10)
		m.body = fmt.Appendf(nil, "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId><AgentID>%s</AgentID></xml>",
			a.corpID, m.user, time.Now().Unix(), text, id, a.agentID)
	default:
		m.user = "dy-" + tag + "-" + randHex(8)
		m.msgID = "srv-" + randHex(8)
		body, _ := json.Marshal(map[string]any{
			"event": "im_receive_msg", "client_key": a.clientKey, "from_user_id": m.user, "to_user_id": a.openID,
			"content": map[string]any{
				"conversation_short_id": "@conv-" + m.user, "server_message_id": m.msgID, "conversation_type": 1,
				"message_type": "text", "text": text, "create_time": time.Now().UnixMilli(),
			},
		})
		m.body = body
	}
	return m
}

// deliver plays the platform: up to 4 attempts (the first and 3
// retries), each with a 5 s timeout, until one is answered with 200.
func (l *load) deliver(ctx context.Context, m *message) {
	accepted := func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.accepted
	}
	for try := 0; try < 4 && ctx.Err() == nil; try++ {
		if try > 0 {
			time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
		}
		// Checked after the wait: a platform does not retry what it took
		// meanwhile from the other copy.
		if accepted() {
			return
		}
		l.sent.Add(1)
		start := time.Now()
		ok, passive := l.post(ctx, m)
		m.mu.Lock()
		m.attempts = append(m.attempts, attempt{start: start, end: time.Now(), ok: ok})
		if ok && !m.accepted {
			m.accepted, m.passive, m.acceptedAt = true, passive, time.Now()
			m.latency = m.acceptedAt.Sub(start)
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
		req, err := m.acct.sim.Request(ctx, m.body)
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
		// Encrypted with the account's key: another account's would not
		// decrypt.
		r, err := m.acct.sim.DecodeReply(resp.StatusCode, raw)
		if err != nil {
			return false, ""
		}
		return true, r.Content
	case "wecom":
		req, err := m.acct.sim.Request(ctx, m.body)
		if err != nil {
			return false, ""
		}
		// WeCom signs with msg_signature only; the rest of the
		// simulator's WeChat query is not sent.
		q := req.URL.Query()
		q.Del("signature")
		q.Del("encrypt_type")
		req.URL.RawQuery = q.Encode()
		resp, err := l.http.Do(req)
		if err != nil {
			return false, ""
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode == http.StatusOK, ""
	default:
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url+m.acct.path, bytes.NewReader(m.body))
		if err != nil {
			return false, ""
		}
		sum := sha1.Sum(append([]byte(m.acct.clientSecret), m.body...))
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

// tally is the figures of one platform, or of all.
type tally struct {
	callbacks int
	attempts  int // HTTP deliveries, retries and duplicates included
	accepted  int
	gaveUp    int // the platform stopped retrying without a 200
	effects   int
	dups      int // side effects beyond the first not explained by an ambiguous send
	ambiguous int // second deliveries after the platform delivered, then timed out (expected)
	lost      int
	wrong     int
	wrongAcct int // side effects that went out through another account than the callback's (counted in wrong too)
	lat       []time.Duration
}

func (t *tally) add(o *tally) {
	t.callbacks += o.callbacks
	t.attempts += o.attempts
	t.accepted += o.accepted
	t.gaveUp += o.gaveUp
	t.effects += o.effects
	t.dups += o.dups
	t.ambiguous += o.ambiguous
	t.lost += o.lost
	t.wrong += o.wrong
	t.wrongAcct += o.wrongAcct
	t.lat = append(t.lat, o.lat...)
}

func (t *tally) pct(p float64) time.Duration {
	if len(t.lat) == 0 {
		return 0
	}
	return t.lat[min(len(t.lat)-1, int(float64(len(t.lat))*p))]
}

// outcome is what one message got: its side effects in time order (a
// passive reply at its acceptance, sends when the fake API took them).
type outcome struct {
	m       *message
	effects []delivery
	resends int // ambiguous resends siyu counted for the recipient
}

// judge counts a message's side effects. A send the platform delivered
// while telling the sender it timed out explains one more delivery
// after it: the outbox retries what it cannot know was delivered (issue
// 18 item 8); so does each resend siyu counted as ambiguous (resends,
// from the outbox rows: a row claimed again after its worker died or
// lost it mid-send, issue 28). Every other extra is a duplicate.
func judge(m *message, sends []delivery, resends int) (oc outcome, t tally) {
	t.callbacks = 1
	t.attempts = len(m.attempts)
	effects := sends
	if m.passive != "" {
		// Decrypted with the account's own key, so its own.
		effects = append(effects, delivery{text: m.passive, account: m.acct.name, at: m.acceptedAt})
	}
	slices.SortFunc(effects, func(a, b delivery) int { return a.at.Compare(b.at) })
	t.effects = len(effects)
	for i, e := range effects {
		switch {
		case e.account != m.acct.name:
			t.wrong++
			t.wrongAcct++
		case e.text != m.want:
			t.wrong++
		}
		if e.ambiguous && i < len(effects)-1 {
			t.ambiguous++
		}
	}
	t.ambiguous += resends
	if extra := len(effects) - 1; extra > 0 {
		t.dups = max(0, extra-t.ambiguous)
		t.ambiguous = min(t.ambiguous, extra)
	} else {
		t.ambiguous = 0
	}
	switch {
	case !m.accepted:
		t.gaveUp++ // the platform gave up; 0 or 1 side effect are both right
	case len(effects) == 0:
		t.lost++
	}
	if m.accepted {
		t.accepted++
		t.lat = append(t.lat, m.latency)
	}
	return outcome{m: m, effects: effects, resends: resends}, t
}

// report checks every message and prints the figures. It returns an
// error when any callback was lost, duplicated or answered wrong, or the
// outbox did not drain.
func report(w io.Writer, l *load, api *fakeAPI, db *sql.DB, faults []faultRecord, counters map[string]float64, drained bool, o options, start time.Time, lostAnswers int64) error {
	byPlatform := map[string]*tally{}
	for _, p := range platforms {
		byPlatform[p] = &tally{}
	}
	resends, resendRows := ambiguousResends(db)
	var all tally
	var outcomes []outcome
	var allAttempts []attempt
	byAccount := map[*chaosAccount]*tally{}
	for _, m := range l.msgs {
		m.mu.Lock()
		oc, t := judge(m, api.sent(m.recipient()), resends[m.recipient()])
		allAttempts = append(allAttempts, m.attempts...)
		m.mu.Unlock()
		outcomes = append(outcomes, oc)
		byPlatform[m.platform].add(&t)
		if byAccount[m.acct] == nil {
			byAccount[m.acct] = &tally{}
		}
		byAccount[m.acct].add(&t)
	}
	for _, p := range platforms {
		slices.Sort(byPlatform[p].lat)
		all.add(byPlatform[p])
	}
	slices.Sort(all.lat)

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
	type deadWhy struct {
		platform, why string
		n             int
	}
	var dead []deadWhy
	if rows, err := db.Query("SELECT platform, last_error, COUNT(*) FROM outbox WHERE status = 'dead' GROUP BY platform, last_error"); err == nil {
		for rows.Next() {
			var d deadWhy
			if rows.Scan(&d.platform, &d.why, &d.n) == nil {
				dead = append(dead, d)
			}
		}
		rows.Close()
	}

	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	faultNames := "none"
	if len(faults) > 0 {
		names := make([]string, len(faults))
		for i, f := range faults {
			names[i] = f.name
		}
		faultNames = strings.Join(names, "; ")
	}
	budget := "default (4s)"
	if o.budget != "" {
		budget = o.budget
	}
	if o.budgets != nil {
		budget = strings.Join(o.budgets, " and ")
	}
	accounts := "the environment's account of each platform"
	if o.accounts > 0 {
		accounts = fmt.Sprintf("%d accounts from an accounts file (%d WeChat, %d WeCom, %d Douyin; %d brands)", o.accounts,
			len(l.byPlatform["wechat"]), len(l.byPlatform["wecom"]), len(l.byPlatform["douyin"]), min(o.accounts, len(accountBrands)))
	}
	redisDesc := "one Redis"
	if o.redis == "cluster" {
		redisDesc = "a Redis Cluster (3 masters, each with 1 replica)"
	}
	fmt.Fprintf(w, "run: %s at %d callbacks/s (WeChat, WeCom, Douyin in turn), %.0f%% delivered twice at once, %.0f%% of answers lost on the way back (then retried), %d replicas behind a round-robin proxy, MariaDB + %s, %s, reply budget %s\n",
		o.duration, o.rate, o.dupShare*100, o.lose*100, o.replicas, redisDesc, accounts, budget)
	fmt.Fprintf(w, "faults: %s\n", faultNames)
	if len(o.skipped) > 0 {
		why := "they stop, pause or restart the one Redis, which a cluster does not have"
		if o.redis != "cluster" {
			why = "it needs a Redis Cluster (-redis cluster)"
		}
		fmt.Fprintf(w, "faults skipped: %s (%s)\n", strings.Join(o.skipped, ", "), why)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "platform\tcallbacks\tHTTP attempts\taccepted\tgiven up\tside effects\tduplicates\tambiguous resends\tlost\twrong\tp50\tp99\tmax\t")
	row := func(name string, t *tally) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", name, t.callbacks, t.attempts, t.accepted, t.gaveUp, t.effects,
			t.dups, t.ambiguous, t.lost, t.wrong, ms(t.pct(0.5)), ms(t.pct(0.99)), ms(t.pct(1)))
	}
	for _, p := range platforms {
		row(p, byPlatform[p])
	}
	row("all", &all)
	tw.Flush()
	fmt.Fprintln(w)
	if o.accounts > 0 {
		// Every account's share: each got load, none lost or crossed.
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "account\tbrand\tcallbacks\taccepted\tside effects\tduplicates\tlost\twrong\tvia another account\tp99\t")
		for _, p := range platforms {
			for _, a := range l.byPlatform[p] {
				t := byAccount[a]
				if t == nil {
					t = &tally{}
				}
				slices.Sort(t.lat)
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", a.label(), a.brand, t.callbacks, t.accepted, t.effects, t.dups, t.lost, t.wrong, t.wrongAcct, ms(t.pct(0.99)))
			}
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "throughput\t%.1f accepted callbacks/s, %.1f side effects/s\n", float64(all.accepted)/o.duration.Seconds(), float64(all.effects)/o.duration.Seconds())
	fmt.Fprintf(tw, "ambiguous sends\t%d delivered by the fake platforms while they told the sender it timed out; %d outbox rows resent after a send whose outcome was not recorded (a worker killed mid-send; siyu counts and logs each, outbox_ambiguous_send); %d deliveries explained by them (counted above, not avoidable: no idempotency key)\n",
		api.ambiguous.Load(), resendRows, all.ambiguous)
	fmt.Fprintf(tw, "lost answers\t%d answers dropped on their way back to the platform, which retried them\n", lostAnswers)
	fmt.Fprintf(tw, "accounts\t%d side effects went out through another account than their callback's; the fake platforms refused %d requests made with no account's credentials or another's\n", all.wrongAcct, api.refused.Load())
	api.refusedWhy.Range(func(k, _ any) bool {
		fmt.Fprintf(tw, "refused\t%s\n", k)
		return true
	})
	fmt.Fprintf(tw, "outbox\t%v (drained: %v)\n", statuses, drained)
	if len(dead) == 0 {
		fmt.Fprintf(tw, "dead letters\tnone\n")
	}
	for _, d := range dead {
		why := d.why
		if len(why) > 140 {
			why = why[:140] + "…"
		}
		fmt.Fprintf(tw, "dead letter\t%d× %s: %s\n", d.n, d.platform, why)
	}
	tw.Flush()

	fmt.Fprintln(w)
	fmt.Fprintln(w, "fault recovery (callbacks: from the injection to the end of the last failed callback attempt before the next fault;")
	fmt.Fprintln(w, "replies: from the injection to the last reply that came >1 s late, of the callbacks first sent from 1 s before the fault to its end):")
	sort.Slice(allAttempts, func(i, j int) bool { return allAttempts[i].start.Before(allAttempts[j].start) })
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, f := range faults {
		from := start.Add(f.at)
		until := from.Add(30 * time.Second)
		if i+1 < len(faults) {
			until = start.Add(faults[i+1].at)
		}
		// A failed attempt counts where it ended: one started just
		// before the next fault may fail by that fault.
		lastFail, failed := time.Time{}, 0
		for _, a := range allAttempts {
			if !a.end.Before(from) && a.end.Before(until) && !a.ok {
				if a.end.After(lastFail) {
					lastFail = a.end
				}
				failed++
			}
		}
		cb := "no failed attempt"
		if failed > 0 {
			cb = fmt.Sprintf("+%s (%d failed attempts)", lastFail.Sub(from).Round(100*time.Millisecond), failed)
		}
		lastLate, late := time.Time{}, 0
		for _, oc := range outcomes {
			if len(oc.m.attempts) == 0 || len(oc.effects) == 0 {
				continue
			}
			// Callbacks first sent during the fault (and just before
			// it), not until the next one: those meet the next fault.
			first := oc.m.attempts[0].start
			if first.Before(from.Add(-time.Second)) || !first.Before(from.Add(max(f.lasts, time.Second))) {
				continue
			}
			if at := oc.effects[0].at; at.Sub(first) > time.Second {
				late++
				if at.After(lastLate) {
					lastLate = at
				}
			}
		}
		rp := "none late"
		if late > 0 {
			rp = fmt.Sprintf("+%s (%d late)", lastLate.Sub(from).Round(100*time.Millisecond), late)
			if i+1 < len(faults) && lastLate.After(until) {
				rp += ", past the next fault's injection"
			}
		}
		status := ""
		if f.note != "" {
			status = "\t" + f.note
		}
		if f.err != nil {
			status += "\tinjection failed: " + f.err.Error()
		}
		fmt.Fprintf(tw, "  %s\tat %s\tlasts %s\tcallbacks %s\treplies %s%s\n", f.name, f.at.Round(100*time.Millisecond), f.lasts, cb, rp, status)
	}
	tw.Flush()

	fmt.Fprintln(w)
	fmt.Fprintln(w, "siyu's counters, not zero (/metrics of the replicas, summed; a replica killed during the run counts from its restart):")
	keys := slices.Sorted(maps.Keys(counters))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		if counters[k] == 0 {
			continue
		}
		fmt.Fprintf(tw, "  %s\t%.0f\n", k, counters[k])
	}
	tw.Flush()

	examples(w, outcomes, start)
	var failedFaults int
	for _, f := range faults {
		if f.err != nil {
			failedFaults++
		}
	}
	if all.dups > 0 || all.lost > 0 || all.wrong > 0 || api.refused.Load() > 0 || !drained || statuses["pending"] > 0 || failedFaults > 0 {
		return fmt.Errorf("FAILED: %d duplicates, %d lost, %d wrong (%d through another account), %d requests refused by the fake platforms, outbox drained %v, %d fault injections failed",
			all.dups, all.lost, all.wrong, all.wrongAcct, api.refused.Load(), drained, failedFaults)
	}
	fmt.Fprintln(w, "PASS: every accepted callback had exactly one side effect (ambiguous resends apart), none lost, none wrong, the outbox drained")
	return nil
}

// examples prints a few failed messages' histories, to find the cause.
func examples(w io.Writer, outcomes []outcome, start time.Time) {
	shown := 0
	for _, oc := range outcomes {
		m := oc.m
		_, t := judge(m, nil, 0) // attempts and acceptance only
		bad := ""
		switch {
		case m.accepted && len(oc.effects) == 0:
			bad = "lost"
		case len(oc.effects)-1 > countAmbiguous(oc.effects)+oc.resends:
			bad = "duplicate"
		}
		for _, e := range oc.effects {
			if e.text != m.want {
				bad = "wrong"
			}
			if e.account != m.acct.name {
				bad = "via another account (" + e.account + ")"
			}
		}
		if bad == "" {
			continue
		}
		if shown == 0 {
			fmt.Fprintln(w)
			fmt.Fprintln(w, "examples (times from the start of the load):")
		}
		if shown++; shown > 8 {
			return
		}
		fmt.Fprintf(w, "  %s %s %s %s (msg %s), %d attempts:", bad, m.platform, m.acct.label(), m.user, m.msgID, t.attempts)
		for _, a := range m.attempts {
			fmt.Fprintf(w, " [%s–%s ok=%v]", a.start.Sub(start).Round(time.Millisecond), a.end.Sub(start).Round(time.Millisecond), a.ok)
		}
		fmt.Fprint(w, "; effects:")
		for _, e := range oc.effects {
			kind := "send"
			if e.text == m.passive && e.at.Equal(m.acceptedAt) {
				kind = "passive"
			}
			fmt.Fprintf(w, " [%s %s %q ambiguous=%v]", kind, e.at.Sub(start).Round(time.Millisecond), e.text, e.ambiguous)
		}
		fmt.Fprintln(w)
	}
}

// ambiguousResends reads from the outbox how often siyu resent a row
// after its worker died or lost it mid-send, by the fake API's recipient
// key, and how many rows that was.
func ambiguousResends(db *sql.DB) (map[string]int, int) {
	out := map[string]int{}
	rows, err := db.Query("SELECT platform, payload, ambiguous FROM outbox WHERE ambiguous > 0")
	if err != nil {
		return out, 0
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var platform string
		var payload []byte
		var count int
		if rows.Scan(&platform, &payload, &count) != nil {
			continue
		}
		n++
		prefix := map[string]string{"wechat": "wx:", "wecom": "wc:", "douyin": "dy:"}[platform]
		if user := payloadUser(payload); prefix != "" && user != "" {
			out[prefix+user] += count
		}
	}
	return out, n
}

// payloadUser is the recipient of an outbox row's action, through its
// wrappers (bot.MarshalAction's envelopes).
func payloadUser(payload []byte) string {
	var env struct {
		Data struct {
			To struct {
				User string `json:"user"`
			} `json:"to"`
			Action json.RawMessage `json:"action"`
		} `json:"data"`
	}
	if json.Unmarshal(payload, &env) != nil {
		return ""
	}
	if env.Data.To.User != "" {
		return env.Data.To.User
	}
	if len(env.Data.Action) > 0 {
		return payloadUser(env.Data.Action)
	}
	return ""
}

func countAmbiguous(effects []delivery) int {
	n := 0
	for i, e := range effects {
		if e.ambiguous && i < len(effects)-1 {
			n++
		}
	}
	return n
}
