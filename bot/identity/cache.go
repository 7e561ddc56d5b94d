package identity

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/internal/digest"
)

// Digest names one user's link (platform, scoped account, user) in a
// replica's memory and between replicas: the first 16 bytes of SHA-256
// over the three ids. It holds no id, so replicas can tell each other
// about links without sending customers' ids through Redis.
type Digest = digest.Digest

// DigestOf returns the digest of the link of (p, account, user), account
// as Config.Scope maps it.
func DigestOf(p bot.Platform, account bot.AccountID, user bot.UserID) Digest {
	// On the stack for ids of ordinary lengths: a digest is computed for
	// every event.
	var buf [192]byte
	b := append(buf[:0], p...)
	b = append(b, 0)
	b = append(b, account...)
	b = append(b, 0)
	b = append(b, user...)
	return digest.Sum(b)
}

// ParseDigest reads a digest written by its String method.
func ParseDigest(s string) (Digest, bool) { return digest.Parse(s) }

// state is what a replica knows of a user's link.
type state uint8

const (
	// absent: nothing is stored; the platform has not been asked.
	absent state = iota
	// none: the platform was asked (CheckedAt) and gave no unionid.
	none
	// linked: the user has a unionid.
	linked
)

// answer is a cached answer of the store.
type answer struct {
	state     state
	unionID   string
	checkedAt time.Time
	expires   time.Time
}

// answerShards spreads the cache over locks, so concurrent callbacks
// rarely wait for each other.
const answerShards = 16

// answers is a bounded cache of stored answers with a TTL, keyed by
// digest. Each shard keeps two generations: entries go into the current
// one, and when it is full the older one is dropped whole and the
// current one becomes the older. An entry read from the older one moves
// back, so what is in use stays: an LRU's effect without its per-entry
// list.
type answers struct {
	shards [answerShards]answerShard
	half   int // entries per shard per generation
	ttl    time.Duration
}

// linkedTTL is how long a linked answer is kept: a unionid does not
// change (it is the person's, for good), so only the cache's size
// should push one out; the TTL only keeps the arithmetic finite.
const linkedTTL = 24 * time.Hour

type answerShard struct {
	mu       sync.Mutex
	cur, old map[Digest]answer
	// gen counts forgets, so a lookup that raced one does not cache
	// what it read before it (see putIf).
	gen uint64
}

func newAnswers(size int, ttl time.Duration) *answers {
	c := &answers{half: max(1, size/answerShards/2), ttl: ttl}
	for i := range c.shards {
		c.shards[i].cur = map[Digest]answer{}
		c.shards[i].old = map[Digest]answer{}
	}
	return c
}

func (c *answers) shard(d Digest) *answerShard { return &c.shards[d[0]%answerShards] }

// get returns d's unexpired answer.
func (c *answers) get(d Digest, now time.Time) (answer, bool) {
	s := c.shard(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.cur[d]
	if !ok {
		if a, ok = s.old[d]; ok {
			delete(s.old, d)
			s.add(d, a, c.half)
		}
	}
	if !ok || !now.Before(a.expires) {
		return answer{}, false
	}
	return a, true
}

// gen returns d's shard's forget count, for putIf.
func (c *answers) gen(d Digest) uint64 {
	s := c.shard(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// put caches a for d until now+TTL (linkedTTL for a link), or until
// until when that is sooner.
func (c *answers) put(d Digest, a answer, now, until time.Time) {
	c.putIf(d, a, now, until, 0, false)
}

// putIf is put unless d's shard forgot something since gen was read:
// an answer read from the store before another replica's announcement
// arrived may be older than the announcement.
func (c *answers) putIf(d Digest, a answer, now, until time.Time, gen uint64, check bool) {
	ttl := c.ttl
	if a.state == linked {
		ttl = max(ttl, linkedTTL)
	}
	a.expires = now.Add(ttl)
	if !until.IsZero() && until.Before(a.expires) {
		a.expires = until
	}
	s := c.shard(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	if check && s.gen != gen {
		return
	}
	delete(s.old, d)
	s.add(d, a, c.half)
}

func (s *answerShard) add(d Digest, a answer, half int) {
	if _, ok := s.cur[d]; !ok && len(s.cur) >= half {
		s.old, s.cur = s.cur, make(map[Digest]answer, half)
	}
	s.cur[d] = a
}

// forget drops d's answer.
func (c *answers) forget(d Digest) {
	s := c.shard(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cur, d)
	delete(s.old, d)
	s.gen++
}

// bloom is a Bloom filter of linked users' digests that many goroutines
// read and add to without a lock. A digest it does not hold was never
// added; one it holds was added, or is a false positive (about 1% at
// its capacity).
type bloom struct {
	words []atomic.Uint64
	mask  uint64 // bits - 1; bits is a power of two
	n     atomic.Int64
	cap   int64 // adds the false-positive rate is sized for
}

const (
	// bloomHashes and bloomBitsPerEntry give about 1% false positives
	// at capacity.
	bloomHashes       = 7
	bloomBitsPerEntry = 10
	// minBloomCap: 2^18 entries cost 320 KiB, nothing to a replica, and
	// spare a small brand's replicas any resizing.
	minBloomCap = 1 << 18
)

// newBloom returns a filter for about twice n entries, so it can grow
// for a while before it needs rebuilding.
func newBloom(n int) *bloom {
	capacity := max(int64(minBloomCap), 2*int64(n))
	nbits := uint64(1) << bits.Len64(uint64(capacity*bloomBitsPerEntry-1))
	return &bloom{words: make([]atomic.Uint64, nbits/64), mask: nbits - 1, cap: int64(nbits / bloomBitsPerEntry)}
}

// probes derives the filter's bit positions from the digest (double
// hashing: a SHA-256 prefix is uniform enough for both halves).
func probes(d Digest) (h1, h2 uint64) {
	return binary.LittleEndian.Uint64(d[:8]), binary.LittleEndian.Uint64(d[8:]) | 1
}

func (b *bloom) add(d Digest) {
	h1, h2 := probes(d)
	fresh := false
	for i := range uint64(bloomHashes) {
		bit := (h1 + i*h2) & b.mask
		w := &b.words[bit>>6]
		m := uint64(1) << (bit & 63)
		if w.Load()&m == 0 {
			w.Or(m)
			fresh = true
		}
	}
	if fresh {
		b.n.Add(1)
	}
}

func (b *bloom) has(d Digest) bool {
	h1, h2 := probes(d)
	for i := range uint64(bloomHashes) {
		bit := (h1 + i*h2) & b.mask
		if b.words[bit>>6].Load()&(uint64(1)<<(bit&63)) == 0 {
			return false
		}
	}
	return true
}

// full reports whether the filter holds more than it was sized for.
func (b *bloom) full() bool { return b.n.Load() > b.cap }
