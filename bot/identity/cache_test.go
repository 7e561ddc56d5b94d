package identity

import (
	"strconv"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

func TestBloom(t *testing.T) {
	b := newBloom(0)
	n := int(b.cap)
	for i := range n {
		b.add(DigestOf(bot.WeChat, "gh", bot.UserID("in-"+strconv.Itoa(i))))
	}
	for i := range n {
		if !b.has(DigestOf(bot.WeChat, "gh", bot.UserID("in-"+strconv.Itoa(i)))) {
			t.Fatalf("added digest %d not held", i)
		}
	}
	fp := 0
	const probes = 100_000
	for i := range probes {
		if b.has(DigestOf(bot.WeChat, "gh", bot.UserID("out-"+strconv.Itoa(i)))) {
			fp++
		}
	}
	// About 0.8% at capacity for 10 bits and 7 hashes per entry.
	if rate := float64(fp) / probes; rate > 0.015 {
		t.Errorf("false positives at capacity = %.2f%%, want under 1.5%%", 100*rate)
	}
	if b.full() {
		t.Errorf("full at capacity (%d adds of %d)", b.n.Load(), b.cap)
	}
	// Adds that set no new bit are not counted: a few percent more
	// than the capacity fills it.
	for i := range n / 20 {
		b.add(DigestOf(bot.WeChat, "gh", bot.UserID("more-"+strconv.Itoa(i))))
	}
	if !b.full() {
		t.Errorf("not full at 105%% of capacity (%d counted of %d)", b.n.Load(), b.cap)
	}
}

func TestNewBloomSize(t *testing.T) {
	for _, n := range []int{0, minBloomCap, 3 * minBloomCap} {
		b := newBloom(n)
		if b.cap < 2*int64(n) || b.cap < minBloomCap {
			t.Errorf("newBloom(%d): capacity %d, want at least %d", n, b.cap, max(2*n, minBloomCap))
		}
	}
}

func TestAnswers(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := newAnswers(answerShards*2*100, time.Minute) // 100 per shard and generation
	d := func(i int) Digest { return DigestOf(bot.WeChat, "gh", bot.UserID(strconv.Itoa(i))) }
	c.put(d(0), answer{state: none}, now, time.Time{})
	if a, ok := c.get(d(0), now.Add(59*time.Second)); !ok || a.state != none {
		t.Errorf("get before the TTL = %+v, %v", a, ok)
	}
	if _, ok := c.get(d(0), now.Add(time.Minute)); ok {
		t.Error("get at the TTL found the answer")
	}
	c.put(d(2), answer{state: linked, unionID: "u2"}, now, time.Time{})
	if a, ok := c.get(d(2), now.Add(time.Hour)); !ok || a.unionID != "u2" {
		t.Errorf("a link an hour later = %+v, %v; want it kept past the TTL", a, ok)
	}
	c.put(d(1), answer{state: none}, now, now.Add(time.Second))
	if _, ok := c.get(d(1), now.Add(time.Second)); ok {
		t.Error("get at an answer's own end found it")
	}
	// Bounded: far more puts than the size leave at most the size.
	for i := range 100_000 {
		c.put(d(i), answer{state: none}, now, time.Time{})
	}
	total := 0
	for i := range c.shards {
		total += len(c.shards[i].cur) + len(c.shards[i].old)
	}
	if total > answerShards*2*100 {
		t.Errorf("%d answers kept, want at most %d", total, answerShards*2*100)
	}
	// What is read stays; forget drops it, and a lookup that began
	// before the forget does not put back what it read.
	c.put(d(7), answer{state: absent}, now, time.Time{})
	gen := c.gen(d(7))
	c.forget(d(7))
	c.putIf(d(7), answer{state: absent}, now, time.Time{}, gen, true)
	if _, ok := c.get(d(7), now); ok {
		t.Error("an answer read before a forget was cached after it")
	}
}

func TestDigest(t *testing.T) {
	a := DigestOf(bot.WeChat, "gh", "o1")
	if got, ok := ParseDigest(a.String()); !ok || got != a {
		t.Errorf("ParseDigest(String()) = %v, %v", got, ok)
	}
	for _, s := range []string{"", "zz", a.String() + "00", "g" + a.String()[1:]} {
		if _, ok := ParseDigest(s); ok {
			t.Errorf("ParseDigest(%q) ok", s)
		}
	}
	// The separators keep ids from running into each other.
	if DigestOf(bot.WeChat, "gh", "o1") == DigestOf(bot.WeChat, "gho", "1") {
		t.Error("distinct ids share a digest")
	}
}
