package bot

import (
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// circuits are the Outbox's circuit breakers, one per platform and
// configured account (circuitKey), so that one account's failing API
// never holds back another account's sends. A platform
// whose last CircuitThreshold sends all failed (timed out, or failed
// other than for good) is "open": its rows are deferred, and one probe
// send goes per cooldown; the first that succeeds closes it. A probe
// does not wait for the one before it: a probe sent while the platform
// hung hangs for the whole SendTimeout, and a platform that recovered
// meanwhile must be found within a cooldown, not after that timeout.
// Hand-written: it defers rows in the store rather than failing calls,
// which no breaker library does, and it is a few lines.
type circuits struct {
	mu sync.Mutex
	m  map[string]*circuit
	// busy counts each circuit's sends in flight: one account's sends
	// may hold at most limit slots (enter), so while its API hangs and
	// before its circuit opens, other accounts' rows still have slots.
	busy map[string]int
}

// enter takes a send slot of circuit p unless limit of its sends are in
// flight already (limit 0: no limit); leave gives it back.
func (cs *circuits) enter(p string, limit int) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.busy == nil {
		cs.busy = map[string]int{}
	}
	if limit > 0 && cs.busy[p] >= limit {
		return false
	}
	cs.busy[p]++
	return true
}

func (cs *circuits) leave(p string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.busy[p]--; cs.busy[p] <= 0 {
		delete(cs.busy, p)
	}
}

type circuit struct {
	fails     int // sends in a row that failed
	openUntil time.Time
	cooldown  time.Duration
}

func (cs *circuits) get(p string) *circuit {
	if cs.m == nil {
		cs.m = map[string]*circuit{}
	}
	c, ok := cs.m[p]
	if !ok {
		c = &circuit{}
		cs.m[p] = c
	}
	return c
}

// allow reports whether a row of platform p may be sent now (ok), and if
// so whether it is a probe of an open circuit; if not, until is when to
// try the row again.
func (cs *circuits) allow(p string, now time.Time, cfg OutboxConfig) (probe bool, until time.Time, ok bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.get(p)
	if c.fails < cfg.CircuitThreshold {
		return false, time.Time{}, true
	}
	if now.Before(c.openUntil) {
		// Jittered, so deferred rows do not all come due at once.
		return false, c.openUntil.Add(time.Duration(rand.Int64N(int64(c.cooldown)/5 + 1))), false
	}
	c.openUntil = now.Add(c.cooldown) // the next probe's turn
	return true, time.Time{}, true
}

// record moves platform p's circuit by a send's outcome. reached is false
// when the platform was never called (a renderer failed or had nothing to
// say): that tells nothing about the platform.
func (cs *circuits) record(p string, probe, reached bool, err error, now time.Time, cfg OutboxConfig) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.get(p)
	switch {
	case !reached:
	case err == nil || errors.Is(err, ErrInvalid):
		// The platform answered (a refusal for good is an answer).
		c.fails, c.cooldown, c.openUntil = 0, 0, time.Time{}
	default:
		c.fails++
		switch {
		case c.fails == cfg.CircuitThreshold && !probe:
			c.cooldown = cfg.CircuitCooldown
			c.openUntil = now.Add(c.cooldown)
		case probe:
			// Still down: probe less often, but at most every other
			// cooldown, so the end of an outage is found soon.
			c.cooldown = min(2*c.cooldown, 2*cfg.CircuitCooldown)
		}
	}
}

// circuitKey is the circuit a row's send moves: its platform, and the
// configured account its action goes out through (Target.Route). Staff
// alerts go to their brand's staff, through the brand's own app when it
// has one, so their circuit is the brand's. A row that does not decode
// keeps its platform's circuit; send refuses it.
func circuitKey(it OutboxItem) string {
	a, err := UnmarshalAction(it.Payload)
	if err != nil {
		return string(it.Platform)
	}
	r := Unwrap(a).Dest().Route
	switch {
	case it.Platform == Staff && r.Brand != "":
		return string(Staff) + "/" + r.Brand
	case it.Platform == Staff || r.IsZero():
		return string(it.Platform)
	}
	return string(it.Platform) + "/" + r.Brand + "/" + r.Name
}
