// Package admin is siyu's staff-facing HTTP API. Every route answers only
// with the bearer token from SIYU_ADMIN_TOKEN; with none configured the
// API is not mounted at all.
package admin

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
)

// OutboxAdmin is what the admin API needs from outbox storage.
type OutboxAdmin interface {
	List(ctx context.Context, status bot.OutboxStatus, limit int) ([]bot.OutboxItem, error)
	Requeue(ctx context.Context, id int64, now time.Time) error
	Counts(ctx context.Context) (map[bot.OutboxStatus]int, error)
}

// ScriptsAdmin is what the admin API needs from the script library.
type ScriptsAdmin interface {
	Reload() error
	Version() string
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

// Handler serves the admin API.
type Handler struct {
	token   string
	outbox  OutboxAdmin
	scripts ScriptsAdmin
	logger  *slog.Logger
	now     func() time.Time
	modules []Module
}

// New returns the admin API guarded by token, which must not be empty,
// with the modules of the capabilities that are wired.
func New(token string, outbox OutboxAdmin, scripts ScriptsAdmin, logger *slog.Logger, modules ...Module) *Handler {
	return &Handler{token: token, outbox: outbox, scripts: scripts, logger: logger, now: time.Now, modules: modules}
}

// Register mounts the routes under /admin on g.
func (h *Handler) Register(g *echo.Group) {
	a := g.Group("/admin", h.auth)
	api := a.Group("/api")
	names := make([]string, 0, len(h.modules))
	for _, m := range h.modules {
		m.Register(api.Group("/" + m.Name()))
		names = append(names, m.Name())
	}
	api.GET("/capabilities", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"modules": names})
	})
	a.GET("/outbox", h.listOutbox)
	a.POST("/outbox/:id/requeue", h.requeue)
	a.POST("/scripts/reload", h.reloadScripts)
	// Go's profiler, for an operator chasing latency in production; behind
	// the same bearer token as everything else here.
	a.GET("/debug/pprof/*", pprofIndex)
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
			h.logger.Warn("admin: request without a valid bearer token", "path", c.Path(), "remote", c.RealIP())
			return echo.NewHTTPError(http.StatusUnauthorized, "bearer token required")
		}
		return next(c)
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
	if status == "" {
		status = bot.OutboxDead
	}
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	if limit <= 0 || limit > 500 {
		limit = 100
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

func (h *Handler) requeue(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "bad id")
	}
	if err := h.outbox.Requeue(c.Request().Context(), id, h.now()); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"id": id, "status": bot.OutboxPending})
}

func (h *Handler) reloadScripts(c echo.Context) error {
	if err := h.scripts.Reload(); err != nil {
		errs := []string{}
		for _, se := range bot.ScriptErrors(err) {
			errs = append(errs, se.Error())
		}
		return c.JSON(http.StatusUnprocessableEntity, map[string]any{"errors": errs, "version": h.scripts.Version()})
	}
	return c.JSON(http.StatusOK, map[string]any{"version": h.scripts.Version()})
}
