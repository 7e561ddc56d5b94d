// Package admin is siyu's staff-facing HTTP API and the staff console that
// uses it. Every API route answers only with the bearer token from
// SIYU_ADMIN_TOKEN; with none configured neither is mounted at all.
//
// Routes, under the group Register is given:
//
//	/admin/                    the console (static, holds no data)
//	/admin/api/…               the JSON API (bearer token)
//	/admin/api/<module>/…      capability modules (risk, coupon, checkin, dnd)
//	/admin/debug/pprof/…       Go's profiler (bearer token)
//
// Every error under /admin/api has one shape:
// {"error":{"code":"not_found","message":"…"}}.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers"
)

// OutboxAdmin is what the admin API needs from outbox storage.
type OutboxAdmin interface {
	List(ctx context.Context, status bot.OutboxStatus, limit int) ([]bot.OutboxItem, error)
	Requeue(ctx context.Context, id int64, now time.Time) error
	Counts(ctx context.Context) (map[bot.OutboxStatus]int, error)
}

// ScriptsAdmin is what the admin API needs from the script library
// (*bot.Library implements it).
type ScriptsAdmin interface {
	Reload() error
	Version() string
	// Scripts are the scripts in force (channel names for the contacts
	// chart).
	Scripts() *bot.Scripts
	// Sections and FS let a draft be validated exactly as a reload
	// would load it.
	Sections() []bot.Section
	FS() fs.FS
}

// Module is one capability's part of the admin API (check-in boards,
// campaigns, risk events, opt-outs), mounted under /admin/api/<Name> behind
// the same bearer token. A capability that is not wired has no module,
// and GET /admin/api/capabilities says it is absent.
type Module interface {
	// Name is the path segment and the capability's name: "checkin".
	Name() string
	// Register mounts the module's routes on g (already under its prefix
	// and behind the token). Handlers return errors of bot's kinds or
	// echo.HTTPErrors; the admin API renders them.
	Register(g *echo.Group)
}

// Handler serves the admin API and the console.
type Handler struct {
	// tokenSum is the bearer token's digest (tokenDigest); the token
	// itself is not kept.
	tokenSum [32]byte
	noToken  bool
	outbox   OutboxAdmin
	scripts  ScriptsAdmin
	logger   *slog.Logger
	now      func() time.Time
	modules  []Module

	// Optional parts, set by the With… methods before Register.
	runner     DryRunner
	explainer  HoldExplainer
	scriptsDir string
	contacts   ContactsAdmin
	overview   OverviewStore
	daily      DailyCounter
	intents    []string
	optOuts    OptOutLister
	accounts   AccountLister

	// Staff accounts (WithStaff); without them only the token signs in.
	staffCfg  StaffConfig
	staff     StaffStore
	sessions  SessionStore
	audit     AuditLog
	limiter   Limiter
	people    *people
	hashSlots chan struct{}
	// dummyHash is checked for an unknown name, so it costs what a known
	// one does; made at the first sign-in.
	dummyOnce sync.Once
	dummyHash string

	// saveMu serialises saves on this replica, so two staff saving at
	// once cannot interleave the history copy and the rename.
	saveMu sync.Mutex
	// checks holds a slot per script load running for validate or save
	// (maxChecks).
	checks chan struct{}
}

// New returns the admin API with the modules of the capabilities that
// are wired. token is the bearer token automation signs in with, as an
// admin; "" accepts no token (staff sign in with WithStaff's accounts).
func New(token string, outbox OutboxAdmin, scripts ScriptsAdmin, logger *slog.Logger, modules ...Module) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		tokenSum: tokenDigest(token), noToken: token == "", outbox: outbox, scripts: scripts, logger: logger, now: time.Now, modules: modules,
		staffCfg: StaffConfig{}.withDefaults(), people: newPeople(nil),
		// Two at a time: see checkPassword.
		hashSlots: make(chan struct{}, 2),
		checks:    make(chan struct{}, maxChecks),
	}
	h.limiter = &localLimiter{m: map[string]localCount{}, now: func() time.Time { return h.now() }}
	return h
}

// WithDryRun enables POST /admin/api/dry-run over runner (the engine).
// explainer, which may be nil, says what do-not-disturb would hold back.
func (h *Handler) WithDryRun(runner DryRunner, explainer HoldExplainer) *Handler {
	h.runner, h.explainer = runner, explainer
	return h
}

// WithScriptsDir lets staff save scripts: dir is the folder the library
// reads (SIYU_SCRIPTS). Without it, the scripts are the embedded examples
// and saving is refused.
func (h *Handler) WithScriptsDir(dir string) *Handler {
	h.scriptsDir = dir
	return h
}

// WithContacts enables the new-contacts-per-channel report.
func (h *Handler) WithContacts(c ContactsAdmin) *Handler {
	h.contacts = c
	return h
}

// WithClock replaces time.Now (tests).
func (h *Handler) WithClock(now func() time.Time) *Handler {
	h.now = now
	return h
}

// Register mounts the console and the API under /admin on g.
func (h *Handler) Register(g *echo.Group) {
	h.registerConsole(g)

	// The API renders its own errors, 401s included, so that staff
	// scripts and the console read one JSON shape.
	api := g.Group("/admin/api", h.jsonErrors, h.auth, h.withPeople, h.audited)
	api.POST("/session", h.signIn)
	api.GET("/session", h.whoAmI)
	api.DELETE("/session", h.signOut)
	api.GET("/staff", h.listStaff)
	api.POST("/staff", h.addStaff)
	api.PUT("/staff/:name", h.updateStaff)
	api.DELETE("/staff/:name", h.removeStaff)
	api.GET("/audit", h.listAudit)
	api.GET("/people", h.findPeople)
	api.GET("/accounts", h.listAccounts)
	api.GET("/overview", h.overviewHandler)
	api.GET("/rules", h.listRules)
	api.POST("/rules/preview", h.previewRule)
	api.GET("/history", h.listHistory)
	api.GET("/history/version", h.getVersion)
	api.POST("/history/restore", h.restoreVersion)
	names := make([]string, 0, len(h.modules))
	for _, m := range h.modules {
		m.Register(api.Group("/" + m.Name()))
		names = append(names, m.Name())
	}
	api.GET("/capabilities", h.capabilities(names))
	api.GET("/outbox", h.listOutbox)
	api.POST("/outbox/requeue", h.requeueBulk)
	api.POST("/outbox/:id/requeue", h.requeue)
	api.GET("/scripts", h.listScripts)
	api.POST("/scripts/validate", h.validateScripts)
	api.POST("/scripts/reload", h.reloadScripts)
	api.GET("/scripts/*", h.readScript)
	api.PUT("/scripts/*", h.saveScript)
	api.POST("/dry-run", h.dryRun)
	api.GET("/contacts", h.contactsReport)

	// The old paths moved under /admin/api; they redirect there (308
	// keeps the method and body), so monitors keep working.
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/admin/outbox"},
		{http.MethodPost, "/admin/outbox/:id/requeue"},
		{http.MethodPost, "/admin/scripts/reload"},
	} {
		g.Add(r.method, r.path, movedToAPI)
	}

	// Go's profiler, for an operator chasing latency in production; behind
	// the same sign-in as everything else here, for admins.
	g.GET("/admin/debug/pprof/*", pprofIndex, h.auth, h.needRole(RoleAdmin))
}

// needRole refuses principals below role.
func (h *Handler) needRole(role Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if principalOf(c).Role.rank() < role.rank() {
				return echo.NewHTTPError(http.StatusForbidden, "需要"+roleNames[role]+"角色")
			}
			return next(c)
		}
	}
}

// withPeople gives the request's handlers, modules' included, the
// people directory (shownPeople, resolvePerson).
func (h *Handler) withPeople(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(peopleKey, h.people)
		c.Set(handlerKey, h)
		if h.optOuts != nil {
			c.Set(optOutsKey, h.optOuts)
		}
		return next(c)
	}
}

// handlerKey gives modules the Handler's shared parts (the scripts' zone).
const handlerKey = "siyu.admin.handler"

// movedToAPI redirects an old admin path to its place under /admin/api,
// whatever prefix the group has. 308 keeps the method and the body.
func movedToAPI(c echo.Context) error {
	p := c.Request().URL.Path
	i := strings.LastIndex(p, "/admin/")
	if i < 0 {
		return echo.ErrNotFound
	}
	u := p[:i] + "/admin/api/" + p[i+len("/admin/"):]
	if q := c.Request().URL.RawQuery; q != "" {
		u += "?" + q
	}
	return c.Redirect(http.StatusPermanentRedirect, u)
}

// capabilities lists the wired modules and, for each capability the
// console knows, whether it is present, with the API's own optional parts.
func (h *Handler) capabilities(names []string) echo.HandlerFunc {
	return func(c echo.Context) error {
		// The capabilities the console has a section for are each
		// reported present or absent.
		present := map[string]bool{"risk": false, "coupon": false, "checkin": false, "dnd": false, "feedback": false, "inbox": false}
		for _, n := range names {
			present[n] = true
		}
		channels := map[string]string{}
		if h.scripts != nil {
			for _, ch := range h.scripts.Scripts().Channels() {
				channels[ch.State] = ch.Name
			}
		}
		return c.JSON(http.StatusOK, map[string]any{
			"modules":      names,
			"timezone":     h.location().String(),
			"channels":     channels,
			"capabilities": present,
			"features": map[string]bool{
				"dry_run":         h.runner != nil,
				"scripts_save":    h.scriptsDir != "",
				"contacts":        h.contacts != nil,
				"dnd_explanation": h.explainer != nil,
				"staff_accounts":  h.staff != nil,
				"audit":           h.audit != nil,
				"overview":        h.overview != nil,
				"accounts":        h.accounts != nil,
			},
		})
	}
}

// pprofIndex serves net/http/pprof's pages by the route's wildcard, so
// the prefix g was mounted under does not matter.
func pprofIndex(c echo.Context) error {
	w, r := c.Response(), c.Request()
	switch name := c.Param("*"); name {
	case "profile":
		pprof.Profile(w, r)
	case "trace":
		pprof.Trace(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "":
		pprof.Index(w, r)
	default:
		pprof.Handler(name).ServeHTTP(w, r)
	}
	return nil
}

// apiError is the one error shape of the admin API.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Details are a script draft's mistakes, for saves refused as invalid.
	Details []scriptProblem `json:"details,omitempty"`
}

// detailedError carries a script draft's mistakes to jsonErrors.
type detailedError struct {
	err     error
	details []scriptProblem
}

func (e *detailedError) Error() string { return e.err.Error() }
func (e *detailedError) Unwrap() error { return e.err }

// errorCode names a status for programs: stable words, not numbers.
func apiErrorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusTooManyRequests:
		return "too_many_requests"
	case http.StatusPreconditionFailed:
		return "precondition_failed"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnprocessableEntity:
		return "invalid_scripts"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "error"
}

// jsonErrors renders every error of the API, its modules' included, as
// {"error":{"code","message"}}. Server-side failures get a generic
// message (their details may name internals) and one log line.
func (h *Handler) jsonErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		status := handlers.StatusOf(err)
		if status == 499 {
			return nil // the client went away
		}
		e := apiError{Code: apiErrorCode(status), Message: http.StatusText(status)}
		var he *echo.HTTPError
		var de *detailedError
		switch {
		case errors.As(err, &he):
			if s, ok := he.Message.(string); ok {
				e.Message = s
			}
		case status < 500:
			// Bot-kind errors say what was wrong with the request, without
			// customers' data (house rule for every error message).
			e.Message = err.Error()
		}
		if errors.As(err, &de) {
			e.Details = de.details
		}
		if status >= 500 {
			h.logger.ErrorContext(c.Request().Context(), "admin: request failed", "method", c.Request().Method, "path", c.Path(), "status", status, "err", err)
		}
		return c.JSON(status, map[string]apiError{"error": e})
	}
}

type outboxRow struct {
	ID       int64  `json:"id"`
	Platform string `json:"platform"`
	Status   string `json:"status"`
	// Kind is the message's type (reply, news, push…), never its text.
	Kind        string    `json:"kind"`
	Attempts    int       `json:"attempts"`
	NextAt      time.Time `json:"next_at"`
	LastError   string    `json:"last_error,omitempty"`
	Hint        string    `json:"hint,omitempty"`
	ResendHelps bool      `json:"resend_helps"`
	// AmbiguousResends: sent again after a send whose outcome was never
	// recorded (its worker died mid-send): it may have arrived twice.
	AmbiguousResends int       `json:"ambiguous_resends,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
}

// OutboxPager lists outbox rows a page at a time, by id: rows with ids
// below before (0: from the newest), newest first.
type OutboxPager interface {
	ListBefore(ctx context.Context, status bot.OutboxStatus, before int64, limit int) ([]bot.OutboxItem, error)
}

// DeadGrouper finds the dead rows that failed with one error, for a
// group's bulk requeue.
type DeadGrouper interface {
	DeadIDs(ctx context.Context, reason, platform string, limit int) ([]int64, error)
}

// outboxGroup is the dead rows of one error.
type outboxGroup struct {
	reasonView
	IDs []int64 `json:"ids"`
}

// kindOf names a row's message type from its payload's envelope.
func kindOf(payload []byte) string {
	var env struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(payload, &env) != nil {
		return ""
	}
	return env.Type
}

// listOutbox shows rows by status (default dead), a page at a time
// (?before=<id>&limit=), the counts per status, and the dead rows
// grouped by error with what each error means. Payloads are left out:
// they hold what customers were sent.
func (h *Handler) listOutbox(c echo.Context) error {
	ctx := c.Request().Context()
	status := bot.OutboxStatus(c.QueryParam("status"))
	switch status {
	case "":
		status = bot.OutboxDead
	case bot.OutboxDead, bot.OutboxPending, bot.OutboxSent, bot.OutboxStandby:
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "status 只能是 pending、dead、sent 或 standby")
	}
	limit, err := adminLimit(c, 100, 500)
	if err != nil {
		return err
	}
	var before int64
	if s := c.QueryParam("before"); s != "" {
		if before, err = strconv.ParseInt(s, 10, 64); err != nil || before <= 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "before 应为正整数")
		}
	}
	var items []bot.OutboxItem
	pager, paged := h.outbox.(OutboxPager)
	if paged {
		items, err = pager.ListBefore(ctx, status, before, limit+1)
	} else {
		items, err = h.outbox.List(ctx, status, limit)
	}
	if err != nil {
		return err
	}
	var next int64
	if paged && len(items) > limit {
		items = items[:limit]
		next = items[limit-1].ID
	}
	counts, err := h.outbox.Counts(ctx)
	if err != nil {
		return err
	}
	rows := make([]outboxRow, 0, len(items))
	for _, it := range items {
		r := outboxRow{ID: it.ID, Platform: string(it.Platform), Status: string(it.Status), Kind: kindOf(it.Payload), Attempts: it.Attempts, NextAt: it.NextAt, LastError: it.LastError,
			AmbiguousResends: it.AmbiguousResends, CreatedAt: it.CreatedAt}
		if it.LastError != "" {
			r.Hint, r.ResendHelps = hintFor(it.LastError)
		}
		rows = append(rows, r)
	}
	groups := []outboxGroup{}
	if status == bot.OutboxDead && h.overview != nil && before == 0 {
		reasons, err := h.overview.DeadReasons(ctx, 5)
		if err != nil {
			return err
		}
		grouper, _ := h.overview.(DeadGrouper)
		for _, r := range reasons {
			hint, helps := hintFor(r.Reason)
			g := outboxGroup{reasonView: reasonView{Reason: r.Reason, Platform: r.Platform, Count: r.Count, Hint: hint, ResendHelps: helps}, IDs: []int64{}}
			if grouper != nil && helps {
				if g.IDs, err = grouper.DeadIDs(ctx, r.Reason, r.Platform, maxBulk); err != nil {
					return err
				}
			}
			groups = append(groups, g)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"counts": counts, "items": rows, "groups": groups, "next_before": next})
}

// requeueBulk answers POST /admin/api/outbox/requeue {"ids":[…]}: each
// dead row goes back to pending; one not dead is skipped and counted.
func (h *Handler) requeueBulk(c echo.Context) error {
	var req struct {
		IDs []int64 `json:"ids"`
	}
	if err := decodeJSON(c, &req, 64<<10); err != nil {
		return err
	}
	if len(req.IDs) == 0 || len(req.IDs) > maxBulk {
		return echo.NewHTTPError(http.StatusBadRequest, "ids 应有 1 到 500 个")
	}
	done, skipped := 0, 0
	for _, id := range req.IDs {
		err := h.outbox.Requeue(c.Request().Context(), id, h.now())
		switch {
		case errors.Is(err, bot.ErrNotFound):
			skipped++
		case err != nil:
			return fmt.Errorf("admin.requeueBulk: %d done: %w", done, err)
		default:
			done++
		}
	}
	auditNote(c, joinIDs(req.IDs), fmt.Sprintf("%d 条重新排队", done))
	return c.JSON(http.StatusOK, map[string]any{"requeued": done, "skipped": skipped})
}

// adminLimit reads ?limit=, def when absent; anything but 1…max is a 400.
func adminLimit(c echo.Context, def, max int) (int, error) {
	s := c.QueryParam("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > max {
		return 0, echo.NewHTTPError(http.StatusBadRequest, "limit 应为 1 到 "+strconv.Itoa(max)+" 之间的整数")
	}
	return n, nil
}

func (h *Handler) requeue(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "消息编号无效")
	}
	if err := h.outbox.Requeue(c.Request().Context(), id, h.now()); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"id": id, "status": bot.OutboxPending})
}
