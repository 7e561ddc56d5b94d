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
// engine never waits long for them: the Middleware looks a link up with a
// tight timeout; an unknown user's link is fetched in the background (a
// new OA follower's is waited for briefly, so the follow itself counts as
// the person); a WeCom contact's is fetched by the adapter after the
// welcome, which has 20 seconds and goes first (Learn). Whatever fails,
// the event goes on without a unionid: the person then stands alone.
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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

// Config wires a Service.
type Config struct {
	Store Store
	// Fetchers ask each platform; a platform without one (Douyin) is
	// never looked up.
	Fetchers map[bot.Platform]Fetcher
	// Scope maps an event's account to the account links are kept under
	// and fetched for, or "" when the account's users are no customers
	// (WeCom's app chats with staff). WeCom's 微信客服 accounts and its
	// contacts share the corp's external_userids, so both map to the corp.
	// Nil keeps every account as it is.
	Scope func(p bot.Platform, account bot.AccountID) bot.AccountID
	// LookupTimeout bounds the stored lookup in the middleware: a slow
	// store costs the link, never the callback. Default 300 ms.
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
	Now        func() time.Time
	Logger     *slog.Logger
}

// Service fills events' unionids and learns links.
type Service struct {
	cfg Config
	log *slog.Logger
	sem chan struct{}

	mu       sync.Mutex
	inflight map[key]*fetch
	paused   map[bot.Platform]time.Time // no new fetch before, after a failure
	// wg tracks background fetches, so tests (and a shutdown) can wait.
	wg sync.WaitGroup
}

type key struct {
	p       bot.Platform
	account bot.AccountID
	user    bot.UserID
}

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
	return &Service{cfg: cfg, log: log, sem: make(chan struct{}, cfg.MaxFetches), inflight: map[key]*fetch{}, paused: map[bot.Platform]time.Time{}}
}

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

// Middleware fills Event.UnionID from the stored link of the sender,
// before the engine and the capabilities' middleware see the event. An
// unknown sender's link is fetched in the background; a new follower's
// (bot.KindFollow) is waited for up to FollowWait. A WeCom new contact's
// is left to the adapter (Learn after the welcome) unless ContactWait is
// set. Failures are logged
// and the event goes on without a unionid.
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
	l, found, err := s.lookup(ctx, k)
	if err != nil {
		s.log.WarnContext(ctx, "identity: link lookup failed; the event goes on unlinked", "platform", k.p, "err", err)
		return ""
	}
	if found && (l.UnionID != "" || s.cfg.Now().Sub(l.CheckedAt) < s.cfg.Recheck) {
		return l.UnionID
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
	f := s.start(ctx, k)
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

func (s *Service) lookup(ctx context.Context, k key) (Link, bool, error) {
	lctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	defer cancel()
	l, found, err := s.cfg.Store.Lookup(lctx, k.p, k.account, k.user)
	if err != nil {
		return Link{}, false, fmt.Errorf("identity.lookup: %w", err)
	}
	return l, found, nil
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
		if l, found, err := s.lookup(ctx, k); err == nil && found && (l.UnionID != "" || s.cfg.Now().Sub(l.CheckedAt) < s.cfg.Recheck) {
			return
		}
		s.start(ctx, k)
	}()
}

// start fetches k's link in the background, once at a time per user, and
// returns the fetch in flight; nil when too many fetches are in flight or
// the platform failed moments ago.
func (s *Service) start(ctx context.Context, k key) *fetch {
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
		s.mu.Unlock()
		s.log.WarnContext(ctx, "identity: too many fetches in flight; user left unlinked for now", "platform", k.p)
		return nil
	}
	f := &fetch{done: make(chan struct{})}
	s.inflight[k] = f
	s.mu.Unlock()

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// The fetch outlives the callback that started it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.FetchTimeout)
		defer cancel()
		f.unionID = s.fetchAndSave(fctx, k)
		s.mu.Lock()
		delete(s.inflight, k)
		s.mu.Unlock()
		<-s.sem
		close(f.done)
	}()
	return f
}

// fetchAndSave asks the platform and records the answer: a unionid, or
// none when the platform says so for good. A failure that may pass
// records nothing, so the next event asks again.
func (s *Service) fetchAndSave(ctx context.Context, k key) string {
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
		return ""
	case err != nil:
		s.log.InfoContext(ctx, "identity: platform refused the unionid fetch; user stands alone", "platform", k.p, "err", err)
		unionID = ""
	}
	l := Link{Platform: k.p, Account: k.account, User: k.user, UnionID: unionID, CheckedAt: s.cfg.Now()}
	if err := s.cfg.Store.Save(ctx, l); err != nil {
		s.log.WarnContext(ctx, "identity: link not saved", "platform", k.p, "err", err)
	} else {
		// Whether, never who: the ids are customers'.
		s.log.InfoContext(ctx, "identity: user checked", "platform", k.p, "linked", unionID != "")
	}
	return unionID
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
				l, found, err := s.lookup(ctx, k)
				switch {
				case err != nil:
					s.log.WarnContext(ctx, "identity: link lookup failed; push checked unlinked", "platform", k.p, "err", err)
				case found && l.UnionID != "":
					p = WithUnionID(p, l.UnionID).(bot.Push)
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
	return nil
}
