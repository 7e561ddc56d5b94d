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
	"crypto/subtle"
	"errors"
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
	token   string
	outbox  OutboxAdmin
	scripts ScriptsAdmin
	logger  *slog.Logger
	now     func() time.Time
	modules []Module

	// Optional parts, set by the With… methods before Register.
	runner     DryRunner
	explainer  HoldExplainer
	scriptsDir string
	contacts   ContactsAdmin

	// saveMu serialises saves on this replica, so two staff saving at
	// once cannot interleave the history copy and the rename.
	saveMu sync.Mutex
	// checks holds a slot per script load running for validate or save
	// (maxChecks).
	checks chan struct{}
}

// New returns the admin API guarded by token, which must not be empty,
// with the modules of the capabilities that are wired.
func New(token string, outbox OutboxAdmin, scripts ScriptsAdmin, logger *slog.Logger, modules ...Module) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{token: token, outbox: outbox, scripts: scripts, logger: logger, now: time.Now, modules: modules, checks: make(chan struct{}, maxChecks)}
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
	api := g.Group("/admin/api", h.jsonErrors, h.auth)
	names := make([]string, 0, len(h.modules))
	for _, m := range h.modules {
		m.Register(api.Group("/" + m.Name()))
		names = append(names, m.Name())
	}
	api.GET("/capabilities", h.capabilities(names))
	api.GET("/outbox", h.listOutbox)
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
	// the same bearer token as everything else here.
	g.GET("/admin/debug/pprof/*", pprofIndex, h.auth)
}

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
		present := map[string]bool{"risk": false, "coupon": false, "checkin": false, "dnd": false, "feedback": false}
		for _, n := range names {
			present[n] = true
		}
		return c.JSON(http.StatusOK, map[string]any{
			"modules":      names,
			"capabilities": present,
			"features": map[string]bool{
				"dry_run":         h.runner != nil,
				"scripts_save":    h.scriptsDir != "",
				"contacts":        h.contacts != nil,
				"dnd_explanation": h.explainer != nil,
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

func (h *Handler) auth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		got, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.token)) != 1 {
			h.logger.WarnContext(c.Request().Context(), "admin: request without a valid bearer token", "path", c.Path(), "remote", c.RealIP())
			return echo.NewHTTPError(http.StatusUnauthorized, "需要有效的管理令牌（Authorization: Bearer …）")
		}
		return next(c)
	}
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
	ID        int64     `json:"id"`
	Platform  string    `json:"platform"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"next_at"`
	LastError string    `json:"last_error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// listOutbox shows rows by status (default dead) and the counts per
// status. Payloads are left out: they hold what customers were sent.
func (h *Handler) listOutbox(c echo.Context) error {
	status := bot.OutboxStatus(c.QueryParam("status"))
	switch status {
	case "":
		status = bot.OutboxDead
	case bot.OutboxDead, bot.OutboxPending, bot.OutboxSent:
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "status 只能是 pending、dead 或 sent")
	}
	limit, err := adminLimit(c, 100, 500)
	if err != nil {
		return err
	}
	items, err := h.outbox.List(c.Request().Context(), status, limit)
	if err != nil {
		return err
	}
	counts, err := h.outbox.Counts(c.Request().Context())
	if err != nil {
		return err
	}
	rows := make([]outboxRow, 0, len(items))
	for _, it := range items {
		rows = append(rows, outboxRow{ID: it.ID, Platform: string(it.Platform), Status: string(it.Status), Attempts: it.Attempts, NextAt: it.NextAt, LastError: it.LastError, CreatedAt: it.CreatedAt})
	}
	return c.JSON(http.StatusOK, map[string]any{"counts": counts, "items": rows})
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
