package handover

import (
	"context"
	"sync"
	"time"

	"github.com/siyu-bot/siyu/bot/internal/digest"
)

// The pause is read only for conversations a person may hold. Each
// replica keeps an index of the conversations handed over (digests, no
// customer ids), filled from the stores' list when it subscribes to the
// replicas' announcements and kept current by them, so an ordinary
// message costs no read of the pause at all. What the index cannot vouch
// for is read: every message while it is not loaded or not listening
// (a replica starting, a lost subscription), and the conversations in it,
// whose pauses may have ended (it is pruned from the stores every
// reloadEvery).
//
// A hand-over made on another replica reaches this one as fast as Redis
// pub/sub carries it (well under a millisecond on a LAN). A message of
// that conversation arriving here within that gap is answered as if the
// conversation were not held, once; the pause itself is in the stores
// and holds for the next message.

// Digest names a conversation in announcements and the index without
// naming the customer: the first 16 bytes of the conversation's SHA-256.
type Digest = digest.Digest

// DigestOf returns the digest of conv.
func DigestOf(conv Conv) Digest { return digest.Sum([]byte(conv)) }

// ParseDigest reads what its String method wrote.
func ParseDigest(s string) (Digest, bool) { return digest.Parse(s) }

// Announcer carries hand-overs between replicas.
type Announcer interface {
	// Announce tells every replica that conversation d was handed over.
	// Errors wrap bot.ErrUnavailable.
	Announce(ctx context.Context, d Digest) error
	// Listen calls heard with each announcement until ctx ends,
	// subscribing again after a broken connection. It calls listening
	// with true once subscribed and with false when the subscription is
	// lost (announcements may then be missed). It blocks.
	Listen(ctx context.Context, heard func(Digest), listening func(bool))
}

// reloadEvery prunes each replica's index of hand-overs that ended, and
// makes up for an announcement lost without the subscription breaking.
const reloadEvery = 30 * time.Second

// heldIndex is a replica's index of the conversations handed over.
type heldIndex struct {
	mu        sync.Mutex
	set       map[Digest]struct{}
	listening bool
	ready     bool     // loaded since the subscription (re)started
	loading   bool     // a load is under way: heard remembers what it hears
	meanwhile []Digest // heard during the load
}

// mayHold reports whether conversation d may be held: it is in the
// index, or the index cannot vouch for it.
func (x *heldIndex) mayHold(d Digest) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.ready {
		return true
	}
	_, ok := x.set[d]
	return ok
}

// add notes a hand-over: one this replica made, or one announced.
func (x *heldIndex) add(d Digest) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.set == nil {
		x.set = map[Digest]struct{}{}
	}
	x.set[d] = struct{}{}
	if x.loading {
		x.meanwhile = append(x.meanwhile, d)
	}
}

func (x *heldIndex) setListening(up bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.listening = up
	if !up {
		x.ready = false
	}
}

// beginLoad starts a load; it reports false when the subscription is
// down (a load would not make the index ready).
func (x *heldIndex) beginLoad() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.listening {
		return false
	}
	x.loading, x.meanwhile = true, nil
	return true
}

// endLoad replaces the index with what the stores list, and what was
// heard while they were read; with ok false (the read failed) it keeps
// the index as it was.
func (x *heldIndex) endLoad(listed []Digest, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.loading = false
	if !ok {
		return
	}
	set := make(map[Digest]struct{}, len(listed)+len(x.meanwhile))
	for _, d := range listed {
		set[d] = struct{}{}
	}
	for _, d := range x.meanwhile {
		set[d] = struct{}{}
	}
	x.set, x.meanwhile = set, nil
	// Only a subscription that stayed up all along vouches for the
	// index; one lost meanwhile has made it unready again.
	x.ready = x.listening
}

// Indexed reports whether this replica's index of hand-overs is loaded
// and kept current, so that ordinary messages read no pause.
func (s *Service) Indexed() bool {
	if s.index == nil {
		return false
	}
	s.index.mu.Lock()
	defer s.index.mu.Unlock()
	return s.index.ready
}

// mayHold reports whether conv's pause must be read.
func (s *Service) mayHold(conv Conv) bool {
	return s.index == nil || s.index.mayHold(DigestOf(conv))
}

// announce notes a hand-over this replica made, here and to the others.
func (s *Service) announce(ctx context.Context, conv Conv) {
	if s.index == nil {
		return
	}
	d := DigestOf(conv)
	s.index.add(d)
	if err := s.cfg.Announcer.Announce(ctx, d); err != nil {
		// The others find it when they reload their index.
		s.log.WarnContext(ctx, "handover: the other replicas were not told of a hand-over; they learn it within their reload", "err", err)
	}
}

// Run keeps this replica's index of hand-overs current until ctx ends:
// it listens to the announcements and loads the index from the stores
// whenever the subscription starts, and every reloadEvery. It runs as the
// capability's background work; until it has loaded, every message reads
// its pause.
func (s *Service) Run(ctx context.Context) {
	if s.index == nil {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(reloadEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.reload(ctx)
			}
		}
	})
	s.cfg.Announcer.Listen(ctx, func(d Digest) {
		s.index.add(d)
		s.log.DebugContext(ctx, "handover: heard of a hand-over")
	}, func(up bool) {
		s.index.setListening(up)
		if up {
			s.log.DebugContext(ctx, "handover: listening for other replicas' hand-overs")
			s.reload(ctx)
		} else {
			s.log.WarnContext(ctx, "handover: announcements lost; every message reads its pause until they are back")
		}
	})
	wg.Wait()
}

// reload loads the index from the stores.
func (s *Service) reload(ctx context.Context) {
	if !s.index.beginLoad() {
		return
	}
	convs, err := s.cfg.Board.Conversations(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "handover: the index of hand-overs was not loaded; messages read their pause meanwhile", "err", err)
		}
		s.index.endLoad(nil, false)
		return
	}
	digests := make([]Digest, len(convs))
	for i, c := range convs {
		digests[i] = DigestOf(c)
	}
	s.index.endLoad(digests, true)
}
