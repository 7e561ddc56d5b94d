package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
)

// Mounted is one account's adapter, built by the caller's Builder.
type Mounted struct {
	// Verify answers the platform's URL check (GET); nil for Douyin.
	Verify echo.HandlerFunc
	// Callback takes the platform's callbacks (POST).
	Callback echo.HandlerFunc
	// Sender sends the actions whose Target.Route is this account's.
	Sender bot.Sender
	// Staff sends staff alerts to the staff the account names (a WeCom
	// app's alert_to), for every account of its brand; nil when it names
	// none.
	Staff bot.Sender
	// Late renders this account's callbacks answered before their
	// handling finished; nil when the platform has none.
	Late bot.Renderer
	// UnionIDs looks up unionids with this account's credentials; nil
	// when it cannot.
	UnionIDs UnionIDFetcher
	// Run is the account's background work (WeCom's template sync, its
	// 微信客服 pull); it runs until its context ends, which happens when
	// the account is removed or changed. Nil for none.
	Run func(ctx context.Context)
	// Wait blocks until work the account's callbacks started has ended.
	Wait func()
}

// UnionIDFetcher is identity's Fetcher, declared here so that this
// package need not import a capability.
type UnionIDFetcher interface {
	UnionID(ctx context.Context, account bot.AccountID, user bot.UserID) (string, error)
}

// Builder builds an account's adapter. It must not start anything: Run
// does that, once the account serves.
type Builder func(ctx context.Context, a Account) (*Mounted, error)

// Set is the accounts siyu serves. Apply swaps the whole set at once, so
// a callback is served by either the old set or the new one.
type Set struct {
	build  Builder
	logger *slog.Logger
	cur    atomic.Pointer[table]

	mu      sync.Mutex // serialises Apply and Start
	runCtx  context.Context
	waiting []*entry // built before Start
}

type table struct {
	byName map[string]*entry
	// byAccount finds the account a platform id belongs to (an OA's
	// appid, a WeCom corp id, a Douyin account's open_id), for lookups
	// that know only the id (identity's unionid fetch).
	byAccount map[bot.Platform]map[bot.AccountID]*entry
	// staff is each brand's first account, in the file's order, that
	// names staff for alerts.
	staff map[string]*entry
	names []string
}

func newTable() *table {
	return &table{byName: map[string]*entry{}, byAccount: map[bot.Platform]map[bot.AccountID]*entry{}, staff: map[string]*entry{}}
}

type entry struct {
	acct Account
	fp   string
	m    *Mounted
	stop context.CancelFunc
	done chan struct{}
}

// NewSet returns an empty Set that builds accounts with build.
func NewSet(build Builder, logger *slog.Logger) *Set {
	s := &Set{build: build, logger: logger}
	s.cur.Store(newTable())
	return s
}

// Accounts returns the accounts served now, in the file's order.
func (s *Set) Accounts() []Account {
	t := s.cur.Load()
	out := make([]Account, 0, len(t.names))
	for _, n := range t.names {
		out = append(out, t.byName[n].acct)
	}
	return out
}

// Apply makes accts the accounts served. Accounts that did not change
// keep their adapter (and its background work); new and changed ones are
// built first, and if any fails to build, nothing changes and the error
// names the account's file and line. Removed and replaced accounts stop
// their background work after the swap.
func (s *Set) Apply(ctx context.Context, accts []Account) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	next := newTable()
	var built []*entry
	for _, a := range accts {
		fp := a.fingerprint()
		if e, ok := old.byName[a.Name]; ok && e.fp == fp {
			e.acct = a // its line may have moved
			next.add(e)
			continue
		}
		m, err := s.build(ctx, a)
		if err != nil {
			return false, fmt.Errorf("%s: %w", a.where(), err)
		}
		e := &entry{acct: a, fp: fp, m: m}
		built = append(built, e)
		next.add(e)
	}
	var gone []*entry
	for _, n := range old.names {
		if e := old.byName[n]; next.byName[n] != e {
			gone = append(gone, e)
		}
	}
	if len(built) == 0 && len(gone) == 0 && slices.Equal(old.names, next.names) {
		return false, nil
	}
	s.cur.Store(next)
	for _, e := range built {
		s.startLocked(e)
	}
	for _, e := range gone {
		e.halt()
	}
	for _, e := range built {
		s.logger.InfoContext(ctx, "account on", "account", e.acct.Name, "brand", e.acct.Brand, "platform", e.acct.Platform, "callback", e.acct.CallbackPath())
	}
	for _, e := range gone {
		if next.byName[e.acct.Name] == nil {
			s.logger.InfoContext(ctx, "account off", "account", e.acct.Name, "brand", e.acct.Brand, "platform", e.acct.Platform)
		}
	}
	return true, nil
}

func (t *table) add(e *entry) {
	t.byName[e.acct.Name] = e
	t.names = append(t.names, e.acct.Name)
	if _, taken := t.staff[e.acct.Brand]; !taken && e.m.Staff != nil {
		t.staff[e.acct.Brand] = e
	}
	if id := e.acct.platformID(); id != "" {
		m := t.byAccount[e.acct.Platform]
		if m == nil {
			m = map[bot.AccountID]*entry{}
			t.byAccount[e.acct.Platform] = m
		}
		if _, taken := m[id]; !taken {
			m[id] = e // two apps of one corp: either can look up its contacts
		}
	}
}

// platformID is the id the platform's events carry for the account, as
// far as the file tells it.
func (a Account) platformID() bot.AccountID {
	switch a.Platform {
	case bot.WeChat:
		return bot.AccountID(a.AppID)
	case bot.WeCom:
		return bot.AccountID(a.CorpID)
	case bot.Douyin:
		return bot.AccountID(a.AccountOpenID)
	}
	return ""
}

// Start runs the background work of the accounts served, now and after
// each Apply, until ctx ends; it returns once that work has stopped.
func (s *Set) Start(ctx context.Context) {
	s.mu.Lock()
	s.runCtx = ctx
	for _, e := range s.waiting {
		if s.cur.Load().byName[e.acct.Name] == e { // not replaced meanwhile
			s.startLocked(e)
		}
	}
	s.waiting = nil
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.cur.Load().names {
		if d := s.cur.Load().byName[n].done; d != nil {
			<-d
		}
	}
}

func (s *Set) startLocked(e *entry) {
	if e.m.Run == nil {
		return
	}
	if s.runCtx == nil {
		s.waiting = append(s.waiting, e)
		return
	}
	ctx, stop := context.WithCancel(s.runCtx)
	e.stop, e.done = stop, make(chan struct{})
	go func() {
		defer close(e.done)
		e.m.Run(ctx)
	}()
}

// halt stops an account's background work and waits for its callbacks'
// work to end.
func (e *entry) halt() {
	if e.stop != nil {
		e.stop()
		<-e.done
	}
}

// Wait blocks until the work started by every account's callbacks has
// ended (drain).
func (s *Set) Wait() {
	t := s.cur.Load()
	for _, n := range t.names {
		if w := t.byName[n].m.Wait; w != nil {
			w()
		}
	}
}

// Register mounts the accounts' callback paths on g: /wechat/NAME/callback,
// /wecom/NAME/callback and /douyin/NAME/webhook. A name that is not an
// account of that platform answers 404, as a path nobody serves.
func (s *Set) Register(g *echo.Group) {
	g.GET("/wechat/:account/callback", s.dispatch(bot.WeChat, true))
	g.POST("/wechat/:account/callback", s.dispatch(bot.WeChat, false))
	g.GET("/wecom/:account/callback", s.dispatch(bot.WeCom, true))
	g.POST("/wecom/:account/callback", s.dispatch(bot.WeCom, false))
	g.POST("/douyin/:account/webhook", s.dispatch(bot.Douyin, false))
}

func (s *Set) dispatch(p bot.Platform, verify bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		e, ok := s.cur.Load().byName[c.Param("account")]
		if !ok || e.acct.Platform != p {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		h := e.m.Callback
		if verify {
			h = e.m.Verify
		}
		if h == nil {
			return echo.NewHTTPError(http.StatusMethodNotAllowed)
		}
		return h(c)
	}
}

// ErrNoAccount is returned for an action of an account no longer
// configured: it is refused for good (bot.ErrInvalid).
var ErrNoAccount = fmt.Errorf("account not configured: %w", bot.ErrInvalid)

// Sender sends platform p's actions through the account of their
// Target.Route, and those of the environment's account (zero Route)
// through fallback (nil: refused).
func (s *Set) Sender(p bot.Platform, fallback bot.Sender) bot.Sender {
	return bot.SenderFunc(func(ctx context.Context, a bot.Action) error {
		r := bot.Unwrap(a).Dest().Route
		if r.IsZero() {
			if fallback == nil {
				return fmt.Errorf("accounts: no %s account configured by the environment: %w", p, ErrNoAccount)
			}
			return fallback.Send(ctx, a)
		}
		e, ok := s.cur.Load().byName[r.Name]
		if !ok || e.acct.Platform != p || e.m.Sender == nil {
			return fmt.Errorf("accounts: %s account %q: %w", p, r.Name, ErrNoAccount)
		}
		return e.m.Sender.Send(ctx, a)
	})
}

// StaffSender sends staff alerts to the staff of the brand whose
// conversation they are about (Target.Route.Brand): through the account
// the conversation came through when it names staff (alert_to), else
// through the first account of the brand, in the file's order, that
// does. An agency's brands thus alert their own staff only. Alerts of
// the environment's account, and of a brand none of whose accounts names
// staff, go to fallback, the environment's staff (WECOM_ALERT_TO or
// RISK_ALERT_WEBHOOK); nil: refused for good.
func (s *Set) StaffSender(fallback bot.Sender) bot.Sender {
	return bot.SenderFunc(func(ctx context.Context, a bot.Action) error {
		r := bot.Unwrap(a).Dest().Route
		if st := s.cur.Load().staffOf(r); st != nil {
			return st.Send(ctx, a)
		}
		if fallback == nil {
			return fmt.Errorf("accounts: nobody to alert for brand %q: give one of its WeCom accounts alert_to, or set WECOM_ALERT_TO or RISK_ALERT_WEBHOOK: %w", r.Brand, bot.ErrInvalid)
		}
		return fallback.Send(ctx, a)
	})
}

// staffOf is the staff sender for alerts about a conversation of route
// r; nil when its brand has none.
func (t *table) staffOf(r bot.Route) bot.Sender {
	if r.Brand == "" {
		return nil
	}
	if e, ok := t.byName[r.Name]; ok && e.acct.Brand == r.Brand && e.m.Staff != nil {
		return e.m.Staff
	}
	if e, ok := t.staff[r.Brand]; ok {
		return e.m.Staff
	}
	return nil
}

// Renderer renders a platform's stored late callbacks with the adapter
// of their account (Render.To.Route), the environment's with fallback.
func (s *Set) Renderer(p bot.Platform, fallback bot.Renderer) bot.Renderer {
	return renderFunc(func(ctx context.Context, r bot.Render) (bot.Action, error) {
		if r.To.Route.IsZero() {
			if fallback == nil {
				return nil, fmt.Errorf("accounts: no %s account configured by the environment: %w", p, ErrNoAccount)
			}
			return fallback.Render(ctx, r)
		}
		e, ok := s.cur.Load().byName[r.To.Route.Name]
		if !ok || e.acct.Platform != p || e.m.Late == nil {
			return nil, fmt.Errorf("accounts: %s account %q: %w", p, r.To.Route.Name, ErrNoAccount)
		}
		return e.m.Late.Render(ctx, r)
	})
}

type renderFunc func(ctx context.Context, r bot.Render) (bot.Action, error)

func (f renderFunc) Render(ctx context.Context, r bot.Render) (bot.Action, error) { return f(ctx, r) }

// UnionIDs looks a platform's unionids up with the credentials of the
// account the id belongs to, else with fallback (the environment's
// account; nil: none known).
func (s *Set) UnionIDs(p bot.Platform, fallback UnionIDFetcher) UnionIDFetcher {
	return fetchFunc(func(ctx context.Context, account bot.AccountID, user bot.UserID) (string, error) {
		if e, ok := s.cur.Load().byAccount[p][account]; ok && e.m.UnionIDs != nil {
			return e.m.UnionIDs.UnionID(ctx, account, user)
		}
		if fallback == nil {
			// No account that can ask (none has its AppSecret or
			// contact secret): the user has no known unionid, as for
			// an account not linked to an Open Platform.
			return "", nil
		}
		return fallback.UnionID(ctx, account, user)
	})
}

type fetchFunc func(ctx context.Context, account bot.AccountID, user bot.UserID) (string, error)

func (f fetchFunc) UnionID(ctx context.Context, account bot.AccountID, user bot.UserID) (string, error) {
	return f(ctx, account, user)
}

// Watch reloads the accounts file every interval until ctx ends:
// whenever what it loads (secret files included) changed, the set is
// swapped. A file with a mistake is refused with its file and line and
// the accounts served stay as they were; the same mistake is logged once.
func (s *Set) Watch(ctx context.Context, path string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.Reload(ctx, path)
		switch {
		case err == nil:
			lastErr = ""
		case err.Error() != lastErr:
			lastErr = err.Error()
			s.logger.ErrorContext(ctx, "accounts file refused; the accounts served stay as they were", "err", err)
		}
	}
}

// Reload loads the accounts file and applies it.
func (s *Set) Reload(ctx context.Context, path string) error {
	accts, err := Load(path)
	if err != nil {
		return err
	}
	changed, err := s.Apply(ctx, accts)
	if err != nil {
		return err
	}
	if changed {
		s.logger.InfoContext(ctx, "accounts reloaded", "accounts", len(accts))
	}
	return nil
}

// Errors lists the mistakes of a refused file, each with its line.
func Errors(err error) []Error {
	var out []Error
	var one Error
	if errors.As(err, &one) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				if errors.As(e, &one) {
					out = append(out, one)
				}
			}
			return out
		}
		out = append(out, one)
	}
	return out
}
