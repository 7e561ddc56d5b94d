// Package identity links one person's ids across WeChat platforms: an
// Official Account follower (openid) and a WeCom external contact
// (external_userid) of a brand whose accounts are bound to one WeChat Open
// Platform account share a unionid. Do-not-disturb opt-outs, frequency
// caps and coupons' per-person limits key on bot.PersonID, which is the
// unionid when the event carries it; this package fills Event.UnionID.
//
// Links are learnt from the platforms' user APIs (the OA's
// cgi-bin/user/info, WeCom's externalcontact/get) through a Fetcher per
// platform and stored durably (Store; the database is the truth). The
// engine never waits for the database on an ordinary event: each replica
// keeps a bounded cache of the store's answers, linked and not, and an
// index of every linked user (loaded from the store by Run and kept
// whole through an Announcer: each replica announces the links it
// saves). A sender the cache does not know and the index says was never
// linked goes on unlinked at once, and is looked up and asked about in
// the background; only a sender the index may hold (a linked user this
// replica has not cached, or one of the index's rare false positives)
// is looked up before the engine runs, with a tight timeout. A new OA
// follower's link is waited for briefly (so the follow itself counts as
// the person); a WeCom contact's is fetched by the adapter after the
// welcome, which has 20 seconds and goes first (Learn). Whatever fails,
// the event goes on without a unionid: the person then stands alone.
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// Link is what siyu knows of one user's unionid. An empty UnionID with a
// CheckedAt is a user the platform reported without one (the account is
// not bound to an Open Platform account, or the id is not a customer's).
type Link struct {
	Platform  bot.Platform
	Account   bot.AccountID
	User      bot.UserID
	UnionID   string
	CheckedAt time.Time
}

// Store keeps links, shared by every replica.
type Store interface {
	// Lookup returns the link of (p, account, user) and reports whether
	// one is stored. Errors are bot.ErrUnavailable.
	Lookup(ctx context.Context, p bot.Platform, account bot.AccountID, user bot.UserID) (Link, bool, error)
	// Save records a link, replacing what was stored for the same
	// (platform, account, user). Errors are bot.ErrInvalid (ids too
	// long) or bot.ErrUnavailable.
	Save(ctx context.Context, l Link) error
	// Linked calls fn with every stored user that has a unionid, in no
	// particular order; a user linked meanwhile may be left out. Errors
	// are bot.ErrUnavailable.
	Linked(ctx context.Context, fn func(p bot.Platform, account bot.AccountID, user bot.UserID)) error
}

// Fetcher asks one platform for a user's unionid. It returns "" with a
// nil error when the platform knows the user but gives no unionid, an
// error wrapping bot.ErrInvalid when asking again cannot help (not a
// customer's id, no permission), and any other error when it may.
type Fetcher interface {
	UnionID(ctx context.Context, account bot.AccountID, user bot.UserID) (string, error)
}

// FetcherFunc adapts a function to Fetcher.
type FetcherFunc func(ctx context.Context, account bot.AccountID, user bot.UserID) (string, error)

// UnionID calls f.
func (f FetcherFunc) UnionID(ctx context.Context, account bot.AccountID, user bot.UserID) (string, error) {
	return f(ctx, account, user)
}

// Announcement tells the replicas that one replica saved a user's link.
type Announcement struct {
	Digest Digest
	// Linked: the saved link has a unionid; otherwise the user was
	// checked and has none.
	Linked bool
	// From names the announcing replica, which ignores its own.
	From string
}

// Announcer carries announcements between the replicas (Redis pub/sub
// in store/redisstore), so each drops what it cached of a user whose
// link another saved, and keeps its index of linked users whole.
type Announcer interface {
	// Announce tells every replica listening. Errors are
	// bot.ErrUnavailable.
	Announce(ctx context.Context, a Announcement) error
	// Listen calls heard with every announcement, this replica's own
	// included, until ctx ends. It calls listening(true) each time it
	// starts listening (announcements made from then on reach heard)
	// and listening(false) when it stopped (the connection broke):
	// announcements made until the next listening(true) may be lost.
	// It returns when ctx ends.
	Listen(ctx context.Context, heard func(Announcement), listening func(bool))
}

// Config wires a Service.
type Config struct {
	Store Store
	// Fetchers ask each platform; a platform without one (Douyin) is
	// never looked up.
	Fetchers map[bot.Platform]Fetcher
	// Announcer tells the other replicas about the links this one saves
	// and this one about theirs. Without it the replica assumes it is
	// alone: its index is loaded once, and nobody else saves links.
	Announcer Announcer
	// Scope maps an event's account to the account links are kept under
	// and fetched for, or "" when the account's users are no customers
	// (WeCom's app chats with staff). WeCom's 微信客服 accounts and its
	// contacts share the corp's external_userids, so both map to the corp.
	// Nil keeps every account as it is.
	Scope func(p bot.Platform, account bot.AccountID) bot.AccountID
	// LookupTimeout bounds a lookup the middleware waits for (a sender
	// the index may hold but the cache does not know): a slow store
	// costs the link, never the callback. Default 300 ms.
	LookupTimeout time.Duration
	// FollowWait is how long the middleware waits for a new follower's
	// fetch before it lets the engine run without it; the fetch goes on
	// in the background. Default 800 ms, well inside WeChat's 5 s.
	FollowWait time.Duration
	// ContactWait, when positive, makes the middleware wait this long for
	// a new WeCom contact's fetch too, so the contact's first event (a
	// follow coupon) already counts as the linked person. Zero (the
	// default) lets the welcome go first: the adapter learns the link
	// after it (Learn), and the contact's first event stands alone.
	ContactWait time.Duration
	// FetchTimeout bounds one fetch. Default 5 s.
	FetchTimeout time.Duration
	// Recheck is how long "no unionid" stands before a user is asked
	// about again (the account may be bound to Open Platform later).
	// Default 24 h.
	Recheck time.Duration
	// FailPause is how long no new fetch starts on a platform after one
	// failed in a way that may pass (the platform is down or slow), so an
	// outage costs neither the platform nor the logs a question per
	// message. Default 30 s.
	FailPause time.Duration
	// MaxFetches bounds fetches in flight; beyond it an unknown user is
	// not fetched this time (the next event tries again), so a hanging
	// platform cannot pile up goroutines. Default 16.
	MaxFetches int
	// CacheSize bounds the answers a replica keeps in memory (about 100
	// bytes each). Default 100,000.
	CacheSize int
	// CacheTTL is how long a cached answer without a unionid is
	// believed (a unionid is kept until the cache needs the room).
	// Another replica's save drops it at once through the Announcer;
	// the TTL bounds what a lost announcement can cost. Default 10 min.
	CacheTTL time.Duration
	// IndexRefresh is how often Run reloads the index of linked users
	// from the store, besides each time the Announcer starts listening:
	// it heals what a lost announcement that no broken connection
	// revealed could hide. Default 1 h.
	IndexRefresh time.Duration
	// AccountWide lists the platforms where the account, not the user,
	// decides whether answers carry a unionid: an Official Account gives
	// one for every follower once it is bound to an Open Platform
	// account, and for none before. On these, UnlinkedAfter answers in a
	// row without one make the replica stop asking about the account's
	// new senders for UnlinkedFor: an unbound account (most) then costs
	// no user/info call, lookup or save per new sender.
	AccountWide []bot.Platform
	// UnlinkedAfter is the run of answers without a unionid that shows
	// an account is unbound. Default 20.
	UnlinkedAfter int
	// UnlinkedFor is how long that verdict stands before new senders are
	// asked about again (the brand may bind the account meanwhile); one
	// more answer without a unionid then renews it. Default 1 h.
	UnlinkedFor time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
}

// Service fills events' unionids and learns links.
type Service struct {
	cfg Config
	log *slog.Logger
	sem chan struct{}
	// id names this replica in announcements.
	id string

	cache *answers
	// index holds every linked user's digest while complete is true;
	// until then (before Run's first load, and after the Announcer lost
	// its connection until the next load) a sender the cache does not
	// know is looked up before the engine runs, as it may be linked.
	index    atomic.Pointer[bloom]
	complete atomic.Bool
	// gaps counts the Announcer's lost connections: a load that one
	// happened during cannot make the index complete. listening is
	// whether the Announcer listens now.
	gaps      atomic.Int64
	listening atomic.Bool
	// reload asks Run for a load of the index.
	reload chan struct{}

	mu       sync.Mutex
	inflight map[key]*fetch
	paused   map[bot.Platform]time.Time // no new fetch before, after a failure
	// crowdedSaid is when the last warning that MaxFetches was reached
	// was logged.
	crowdedSaid time.Time
	// unbound holds, per account of an AccountWide platform, the run of
	// answers without a unionid and the verdict it earned. A replica's
	// own: each comes to it after UnlinkedAfter questions, and a wrong
	// one costs links for UnlinkedFor at most.
	unbound map[scope]*unboundRun
	wide    map[bot.Platform]bool // the AccountWide platforms
	// building collects the digests added to the index while a load
	// builds its successor, so the successor has them too; nil between
	// loads.
	building []Digest
	// wg tracks background fetches, so tests (and a shutdown) can wait.
	wg sync.WaitGroup
}

type key struct {
	p       bot.Platform
	account bot.AccountID
	user    bot.UserID
}

func (k key) digest() Digest { return DigestOf(k.p, k.account, k.user) }

// scope is an account of a platform, as links are kept under it.
type scope struct {
	p       bot.Platform
	account bot.AccountID
}

// unboundRun is an account's run of answers without a unionid; until is
// the end of the verdict that it is unbound (zero before one).
type unboundRun struct {
	misses int
	until  time.Time
}

// crowdedLogEvery spaces the warnings that MaxFetches is reached.
const crowdedLogEvery = time.Minute

// fetch is one fetch in flight; done closes when unionID is set.
type fetch struct {
	done    chan struct{}
	unionID string
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 300 * time.Millisecond
	}
	if cfg.FollowWait <= 0 {
		cfg.FollowWait = 800 * time.Millisecond
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 5 * time.Second
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = 24 * time.Hour
	}
	if cfg.MaxFetches <= 0 {
		cfg.MaxFetches = 16
	}
	if cfg.FailPause <= 0 {
		cfg.FailPause = 30 * time.Second
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 100_000
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 10 * time.Minute
	}
	if cfg.IndexRefresh <= 0 {
		cfg.IndexRefresh = time.Hour
	}
	if cfg.UnlinkedAfter <= 0 {
		cfg.UnlinkedAfter = 20
	}
	if cfg.UnlinkedFor <= 0 {
		cfg.UnlinkedFor = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Scope == nil {
		cfg.Scope = func(_ bot.Platform, a bot.AccountID) bot.AccountID { return a }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg: cfg, log: log, sem: make(chan struct{}, cfg.MaxFetches), id: strconv.FormatUint(rand.Uint64(), 36),
		cache: newAnswers(cfg.CacheSize, cfg.CacheTTL), reload: make(chan struct{}, 1),
		inflight: map[key]*fetch{}, paused: map[bot.Platform]time.Time{},
		unbound: map[scope]*unboundRun{}, wide: map[bot.Platform]bool{},
	}
	for _, p := range cfg.AccountWide {
		s.wide[p] = true
	}
	s.index.Store(newBloom(0))
	return s
}

// Indexed reports whether the replica's index of linked users is
// complete, so that a sender it has not cached and the index does not
// hold goes on without a wait for the store.
func (s *Service) Indexed() bool { return s.complete.Load() }

// Wait blocks until background fetches have finished.
func (s *Service) Wait() { s.wg.Wait() }

// keyOf returns the key of a user's link and reports whether the user
// can have one.
func (s *Service) keyOf(p bot.Platform, account bot.AccountID, user bot.UserID) (key, bool) {
	if user == "" || s.cfg.Fetchers[p] == nil {
		return key{}, false
	}
	a := s.cfg.Scope(p, account)
	if a == "" {
		return key{}, false
	}
	return key{p, a, user}, true
}

// Middleware fills Event.UnionID from what is known of the sender,
// before the engine and the capabilities' middleware see the event. It
// waits for the store only for a sender the index may hold and the
// cache does not know. An unknown sender is looked up and asked about in
// the background; a new follower's (bot.KindFollow) answer is waited for
// up to FollowWait. A WeCom new contact's is left to the adapter (Learn
// after the welcome) unless ContactWait is set. Failures are logged and
// the event goes on without a unionid.
func (s *Service) Middleware() bot.Middleware {
	return func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
			if ev.UnionID == "" {
				ev.UnionID = s.resolve(ctx, ev)
			}
			return next.HandleEvent(ctx, ev)
		})
	}
}

// resolve returns the sender's unionid as far as it is known now.
func (s *Service) resolve(ctx context.Context, ev bot.Event) string {
	k, ok := s.keyOf(ev.Platform, ev.Account, ev.Sender)
	if !ok {
		return ""
	}
	d := k.digest()
	now := s.cfg.Now()
	lookup := false // whether what is stored is still to be read
	if a, ok := s.cache.get(d, now); ok {
		if a.state == linked || a.state == none && now.Sub(a.checkedAt) < s.cfg.Recheck {
			return a.unionID
		}
	} else if s.mayBeLinked(d) {
		l, found, err := s.lookup(ctx, k, d)
		if err != nil {
			s.log.WarnContext(ctx, "identity: link lookup failed; the event goes on unlinked", "platform", k.p, "err", err)
			return ""
		}
		if found && (l.UnionID != "" || now.Sub(l.CheckedAt) < s.cfg.Recheck) {
			return l.UnionID
		}
	} else {
		// Never linked, as far as any replica knows: no answer the store
		// holds can link this event. What it holds (a recent "none")
		// is read behind the reply, before the platform is asked.
		lookup = true
	}
	wait := time.Duration(0)
	switch ev.Kind {
	case bot.KindUnfollow, bot.KindContactRemoved:
		return "" // someone leaving is not worth a question
	case bot.KindContactAdded:
		if s.cfg.ContactWait <= 0 {
			// The adapter learns it once the welcome is on its way.
			return ""
		}
		wait = s.cfg.ContactWait
	case bot.KindFollow:
		wait = s.cfg.FollowWait
	}
	if s.unboundNow(k, now) {
		return "" // nobody of this account has a unionid to find
	}
	f := s.start(ctx, k, d, lookup)
	if f == nil || wait <= 0 {
		return ""
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-f.done:
		return f.unionID
	case <-t.C:
	case <-ctx.Done():
	}
	return ""
}

// mayBeLinked reports whether d may be a linked user's: the index holds
// it, or the index is not complete.
func (s *Service) mayBeLinked(d Digest) bool {
	return !s.complete.Load() || s.index.Load().has(d)
}

// lookup reads k's link from the store, within LookupTimeout, and
// caches the answer.
func (s *Service) lookup(ctx context.Context, k key, d Digest) (Link, bool, error) {
	gen := s.cache.gen(d)
	lctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	defer cancel()
	l, found, err := s.cfg.Store.Lookup(lctx, k.p, k.account, k.user)
	if err != nil {
		return Link{}, false, fmt.Errorf("identity.lookup: %w", err)
	}
	now := s.cfg.Now()
	switch {
	case !found:
		s.cache.putIf(d, answer{state: absent}, now, time.Time{}, gen, true)
	case l.UnionID != "":
		s.addLinked(d)
		s.cache.putIf(d, answer{state: linked, unionID: l.UnionID, checkedAt: l.CheckedAt}, now, time.Time{}, gen, true)
	default:
		s.cache.putIf(d, answer{state: none, checkedAt: l.CheckedAt}, now, l.CheckedAt.Add(s.cfg.Recheck), gen, true)
	}
	return l, found, nil
}

// linkOf returns k's unionid, or "": from the cache, else from the
// index when it says k was never linked, else from the store.
func (s *Service) linkOf(ctx context.Context, k key) (string, error) {
	d := k.digest()
	if a, ok := s.cache.get(d, s.cfg.Now()); ok {
		return a.unionID, nil
	}
	if !s.mayBeLinked(d) {
		return "", nil
	}
	l, _, err := s.lookup(ctx, k, d)
	return l.UnionID, err
}

// known returns k's link from the cache or else the store, and reports
// whether one is stored; for work behind the replies (Learn), where a
// read of the store costs no customer a wait.
func (s *Service) known(ctx context.Context, k key, d Digest) (Link, bool, error) {
	if a, ok := s.cache.get(d, s.cfg.Now()); ok {
		l := Link{Platform: k.p, Account: k.account, User: k.user, UnionID: a.unionID, CheckedAt: a.checkedAt}
		return l, a.state != absent, nil
	}
	return s.lookup(ctx, k, d)
}

// Learn fetches and stores the link of a user in the background, unless
// it is stored already: the WeCom adapter calls it for a new contact once
// the welcome is on its way.
func (s *Service) Learn(ctx context.Context, p bot.Platform, account bot.AccountID, user bot.UserID) {
	k, ok := s.keyOf(p, account, user)
	if !ok {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx := context.WithoutCancel(ctx)
		d := k.digest()
		if l, found, err := s.known(ctx, k, d); err == nil && found && (l.UnionID != "" || s.cfg.Now().Sub(l.CheckedAt) < s.cfg.Recheck) {
			return
		}
		if s.unboundNow(k, s.cfg.Now()) {
			return
		}
		s.start(ctx, k, d, false)
	}()
}

// start fetches k's link in the background, once at a time per user, and
// returns the fetch in flight; nil when too many fetches are in flight or
// the platform failed moments ago. With lookup it reads what is stored
// first and asks the platform only if that is nothing, or a "none" due
// for its recheck.
func (s *Service) start(ctx context.Context, k key, d Digest, lookup bool) *fetch {
	s.mu.Lock()
	if f, ok := s.inflight[k]; ok {
		s.mu.Unlock()
		return f
	}
	if s.cfg.Now().Before(s.paused[k.p]) {
		s.mu.Unlock()
		return nil
	}
	select {
	case s.sem <- struct{}{}:
	default:
		// A burst of new senders fills the slots for every message of
		// theirs: one line says so.
		now := s.cfg.Now()
		say := now.Sub(s.crowdedSaid) >= crowdedLogEvery
		if say {
			s.crowdedSaid = now
		}
		s.mu.Unlock()
		if say {
			s.log.WarnContext(ctx, "identity: too many fetches in flight; new senders left unlinked for now", "platform", k.p, "max", s.cfg.MaxFetches, "quiet_for", crowdedLogEvery)
		}
		return nil
	}
	f := &fetch{done: make(chan struct{})}
	s.inflight[k] = f
	s.mu.Unlock()

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.sem }()
		// The fetch outlives the callback that started it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.FetchTimeout)
		defer cancel()
		done := func(unionID string) {
			f.unionID = unionID
			s.mu.Lock()
			delete(s.inflight, k)
			s.mu.Unlock()
			close(f.done)
		}
		if lookup {
			l, found, err := s.lookup(fctx, k, d)
			if err != nil {
				s.log.WarnContext(fctx, "identity: link lookup failed; asking again at the next event", "platform", k.p, "err", err)
				done("")
				return
			}
			if found && (l.UnionID != "" || s.cfg.Now().Sub(l.CheckedAt) < s.cfg.Recheck) {
				done(l.UnionID)
				return
			}
		}
		l, ok := s.fetchOne(fctx, k, d)
		// Whoever waits (a new follower) has the answer before it is
		// stored: storing it is nobody's wait.
		done(l.UnionID)
		if ok {
			s.save(fctx, l, d)
		}
	}()
	return f
}

// fetchOne asks the platform and caches the answer: a unionid, or none
// when the platform says so for good. It reports whether there is an
// answer to store; a failure that may pass has none, so the next event
// asks again.
func (s *Service) fetchOne(ctx context.Context, k key, d Digest) (Link, bool) {
	unionID, err := s.cfg.Fetchers[k.p].UnionID(ctx, k.account, k.user)
	switch {
	case err != nil && !errors.Is(err, bot.ErrInvalid):
		s.mu.Lock()
		until := s.cfg.Now().Add(s.cfg.FailPause)
		first := !s.cfg.Now().Before(s.paused[k.p])
		s.paused[k.p] = until
		s.mu.Unlock()
		if first {
			s.log.WarnContext(ctx, "identity: unionid fetch failed; asking again later", "platform", k.p, "pause", s.cfg.FailPause, "err", err)
		}
		return Link{}, false
	case err != nil:
		s.log.InfoContext(ctx, "identity: platform refused the unionid fetch; user stands alone", "platform", k.p, "err", err)
		unionID = ""
	}
	now := s.cfg.Now()
	if err == nil {
		s.countAnswer(ctx, k, unionID != "", now)
	}
	l := Link{Platform: k.p, Account: k.account, User: k.user, UnionID: unionID, CheckedAt: now}
	if unionID != "" {
		s.cache.put(d, answer{state: linked, unionID: unionID, checkedAt: now}, now, time.Time{})
	} else {
		s.cache.put(d, answer{state: none, checkedAt: now}, now, now.Add(s.cfg.Recheck))
	}
	return l, true
}

// unboundNow reports whether k's account stands judged unbound at now.
func (s *Service) unboundNow(k key, now time.Time) bool {
	if !s.wide[k.p] {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.unbound[scope{k.p, k.account}]
	return r != nil && now.Before(r.until)
}

// countAnswer adds one answer of the platform to its account's run: a
// unionid ends the run and any verdict; UnlinkedAfter answers without
// one in a row earn the verdict, and each one after renews it.
func (s *Service) countAnswer(ctx context.Context, k key, linked bool, now time.Time) {
	if !s.wide[k.p] {
		return
	}
	sc := scope{k.p, k.account}
	s.mu.Lock()
	r := s.unbound[sc]
	if linked {
		delete(s.unbound, sc)
		s.mu.Unlock()
		return
	}
	if r == nil {
		r = &unboundRun{}
		s.unbound[sc] = r
	}
	r.misses++
	misses := r.misses
	judged := misses >= s.cfg.UnlinkedAfter
	fresh := judged && !now.Before(r.until)
	if judged {
		r.until = now.Add(s.cfg.UnlinkedFor)
	}
	s.mu.Unlock()
	if fresh {
		// An account id is the brand's, not a customer's.
		s.log.InfoContext(ctx, "identity: the account gives no unionids (not bound to an Open Platform account); its new senders are not asked about for a while",
			"platform", k.p, "account", k.account, "answers", misses, "for", s.cfg.UnlinkedFor.String())
	}
}

// save stores a fetched link and announces it to the other replicas.
func (s *Service) save(ctx context.Context, l Link, d Digest) {
	if err := s.cfg.Store.Save(ctx, l); err != nil {
		s.log.WarnContext(ctx, "identity: link not saved", "platform", l.Platform, "err", err)
		return
	}
	// Whether, never who: the ids are customers'.
	s.log.InfoContext(ctx, "identity: user checked", "platform", l.Platform, "linked", l.UnionID != "")
	if l.UnionID != "" {
		s.addLinked(d)
	}
	if s.cfg.Announcer == nil {
		return
	}
	if err := s.cfg.Announcer.Announce(ctx, Announcement{Digest: d, Linked: l.UnionID != "", From: s.id}); err != nil {
		// The others' caches expire, and their indexes reload when they
		// lose the connection (and every IndexRefresh).
		s.log.WarnContext(ctx, "identity: link not announced to the other replicas", "platform", l.Platform, "err", err)
	}
}

// addLinked adds d to the index, and to the one a load is building. d
// must be stored already: a load that starts later finds it in the
// store, one under way gets it from building.
func (s *Service) addLinked(d Digest) {
	s.mu.Lock()
	b := s.index.Load()
	b.add(d)
	if s.building != nil {
		s.building = append(s.building, d)
	}
	s.mu.Unlock()
	if b.full() {
		s.askReload()
	}
}

func (s *Service) askReload() {
	select {
	case s.reload <- struct{}{}:
	default: // one is asked for already
	}
}

// heard takes another replica's announcement: what this one cached of
// the user is dropped (the next event reads the store), and a link goes
// into the index.
func (s *Service) heard(a Announcement) {
	if a.From == s.id {
		return
	}
	if a.Linked {
		s.addLinked(a.Digest)
	}
	s.cache.forget(a.Digest)
}

// heardState follows the Announcer: while it does not listen, other
// replicas' links may be missed, so the index is not complete; once it
// listens again, the index is loaded again.
func (s *Service) heardState(listening bool) {
	if !listening {
		s.mu.Lock() // against loadIndex's verdict
		s.gaps.Add(1)
		s.listening.Store(false)
		s.complete.Store(false)
		s.mu.Unlock()
		return
	}
	s.listening.Store(true)
	s.askReload()
}

// Run keeps the replica's index of linked users whole until ctx ends:
// it listens to the other replicas' announcements, and loads the index
// from the store whenever announcements may have been missed (when it
// starts listening, after a broken connection), when the index outgrew
// its size, and every IndexRefresh. Until Run's first load, the
// middleware looks up every sender it has not cached before the engine
// runs.
func (s *Service) Run(ctx context.Context) {
	if s.cfg.Announcer != nil {
		listened := make(chan struct{})
		defer func() { <-listened }()
		go func() {
			defer close(listened)
			s.cfg.Announcer.Listen(ctx, s.heard, s.heardState)
		}()
	} else {
		s.listening.Store(true) // alone: nothing to miss
		s.askReload()
	}
	refresh := time.NewTicker(s.cfg.IndexRefresh)
	defer refresh.Stop()
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.reload:
		case <-refresh.C:
		case <-retry:
		}
		retry = nil
		if err := s.loadIndex(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "identity: index of linked users not loaded; senders not cached are looked up meanwhile", "err", err)
			retry = time.After(10 * time.Second) // the store is down: do not hammer it
		}
	}
}

// loadIndex builds a new index from the store and puts it in place.
func (s *Service) loadIndex(ctx context.Context) error {
	if !s.listening.Load() {
		return nil // the Announcer asks again once it listens
	}
	gaps := s.gaps.Load()
	s.mu.Lock()
	s.building = []Digest{}
	s.mu.Unlock()
	var ds []Digest
	err := s.cfg.Store.Linked(ctx, func(p bot.Platform, account bot.AccountID, user bot.UserID) {
		ds = append(ds, DigestOf(p, account, user))
	})
	if err != nil {
		s.mu.Lock()
		s.building = nil
		s.mu.Unlock()
		return fmt.Errorf("identity.loadIndex: %w", err)
	}
	b := newBloom(len(ds))
	for _, d := range ds {
		b.add(d)
	}
	s.mu.Lock()
	for _, d := range s.building {
		b.add(d)
	}
	s.building = nil
	s.index.Store(b)
	// A link another replica announced while the connection was down
	// is in the store, but may have been saved after the scan read past
	// it: only a load begun while listening, with no break since, is
	// whole.
	s.complete.Store(s.listening.Load() && s.gaps.Load() == gaps)
	s.mu.Unlock()
	// Not logged: it happens at start, every IndexRefresh and after each
	// reconnection, in no request's name; only a failure is news.
	return nil
}

// Gate wraps the outbox's send gate: a push queued for a user whose link
// was not known then (a new contact's first push, a reminder queued by
// staff) gets the unionid before next decides, so an opt-out on the
// linked account stops it too. A failed lookup leaves the push as it is.
func (s *Service) Gate(next bot.SendGate) bot.SendGate {
	if next == nil {
		return nil
	}
	return gateFunc(func(ctx context.Context, p bot.Push, now time.Time) (time.Time, error) {
		to := p.Dest()
		if to.UnionID == "" {
			if k, ok := s.keyOf(to.Platform, to.Account, to.User); ok {
				if unionID, err := s.linkOf(ctx, k); err != nil {
					s.log.WarnContext(ctx, "identity: link lookup failed; push checked unlinked", "platform", k.p, "err", err)
				} else if unionID != "" {
					p = WithUnionID(p, unionID).(bot.Push)
				}
			}
		}
		return next.Admit(ctx, p, now)
	})
}

// gateFunc adapts a function to bot.SendGate.
type gateFunc func(ctx context.Context, p bot.Push, now time.Time) (time.Time, error)

// Admit calls f.
func (f gateFunc) Admit(ctx context.Context, p bot.Push, now time.Time) (time.Time, error) {
	return f(ctx, p, now)
}

// WithUnionID returns a with its target's UnionID set, through Push and
// Batched wrappers.
func WithUnionID(a bot.Action, unionID string) bot.Action {
	return bot.Retarget(a, func(t bot.Target) bot.Target {
		t.UnionID = unionID
		return t
	})
}

// Install adds identity to the stack: its middleware, outside every later
// capability's, fills Event.UnionID before the opt-out check, the caps
// and the coupon claims read it; its gate wrapper links queued pushes
// before the gates inside it check them. List it first.
func (s *Service) Install(st *bot.Stack) error {
	st.Use(s.Middleware())
	st.WrapGate(s.Gate)
	// Run keeps the index of linked users and listens to the other
	// replicas' announcements.
	st.Work(s.Run)
	return nil
}
