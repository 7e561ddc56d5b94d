package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// AuditEntry is one change staff (or the bearer token) made: who, what,
// to what, when.
type AuditEntry struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
	// Actor is the staff member's name, or "token".
	Actor string `json:"actor"`
	// Action names the change: "script.save", "risk.ack", "dnd.opt_out"…
	Action string `json:"action"`
	// Target is what changed: a file, an alert's id, a masked person.
	Target string `json:"target"`
	Detail string `json:"detail,omitempty"`
}

// AuditLog keeps the audit log, shared by every replica (the database).
type AuditLog interface {
	// Record appends an entry. Errors are bot.ErrUnavailable.
	Record(ctx context.Context, e AuditEntry) error
	// Audit returns up to limit entries older than before (an id; 0 for
	// the newest), newest first.
	Audit(ctx context.Context, before int64, limit int) ([]AuditEntry, error)
}

// HandledLog says who last handled each of some risk events, from the
// audit log: an optional part of an AuditLog.
type HandledLog interface {
	// Handled returns the newest audit entries of actions (up to limit),
	// newest first.
	Recent(ctx context.Context, actions []string, limit int) ([]AuditEntry, error)
}

// handledRecent bounds the audit entries read to say who handled the
// alerts on a page: the newest few thousand decisions.
const handledRecent = 2000

// handledBy returns, for each id, the newest audit entry that acted on
// it among actions (targets are an id or ids joined by commas).
func (h *Handler) handledBy(ctx context.Context, actions []string, ids []int64) (map[int64]AuditEntry, error) {
	out := map[int64]AuditEntry{}
	hl, ok := h.audit.(HandledLog)
	if !ok || len(ids) == 0 {
		return out, nil
	}
	want := make(map[string]int64, len(ids))
	for _, id := range ids {
		want[strconv.FormatInt(id, 10)] = id
	}
	entries, err := hl.Recent(ctx, actions, handledRecent)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		for t := range strings.SplitSeq(e.Target, ",") {
			if id, ok := want[t]; ok {
				if _, seen := out[id]; !seen {
					out[id] = e
				}
			}
		}
	}
	return out, nil
}

// auditActions names each change the API audits by its route (after
// /admin/api) and method. A change not listed is recorded by its method
// and route.
var auditActions = map[string]string{
	"PUT /scripts/*":                 "script.save",
	"POST /scripts/reload":           "script.reload",
	"POST /history/restore":          "script.restore",
	"POST /outbox/:id/requeue":       "outbox.requeue",
	"POST /risk/events/:id/ack":      "risk.ack",
	"POST /risk/events/:id/dismiss":  "risk.dismiss",
	"POST /risk/events/:id/reopen":   "risk.reopen",
	"POST /risk/events/bulk":         "risk.bulk",
	"POST /outbox/requeue":           "outbox.requeue_bulk",
	"PUT /dnd/persons/:person":       "dnd.set",
	"POST /staff":                    "staff.add",
	"PUT /staff/:name":               "staff.update",
	"DELETE /staff/:name":            "staff.remove",
	"POST /session":                  "session.sign_in",
	"DELETE /session":                "session.sign_out",
	"POST /checkin/unsent/:id/retry": "checkin.retry",
}

const (
	auditTargetKey = "siyu.admin.audit.target"
	auditDetailKey = "siyu.admin.audit.detail"
)

// auditNote sets what the audit log says a change was made to, and a
// detail, instead of the route's parameters.
func auditNote(c echo.Context, target, detail string) {
	c.Set(auditTargetKey, target)
	c.Set(auditDetailKey, detail)
}

// audited records every change that succeeded, after the handler ran.
// Read-only POSTs (dry-run, validate) are not changes.
func (h *Handler) audited(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		method := c.Request().Method
		if err != nil || isSafe(method) || isReadOnlyPost(method, c.Path()) || c.Response().Status >= 400 {
			return err
		}
		p := principalOf(c)
		if p.Name == "" {
			return err
		}
		route := c.Path()
		if i := strings.Index(route, "/admin/api"); i >= 0 {
			route = route[i+len("/admin/api"):]
		}
		action, ok := auditActions[method+" "+route]
		if !ok {
			action = method + " " + route
		}
		target, _ := c.Get(auditTargetKey).(string)
		detail, _ := c.Get(auditDetailKey).(string)
		if target == "" {
			for _, name := range c.ParamNames() {
				target = c.Param(name)
			}
		}
		h.record(c, p, action, target, detail)
		return nil
	}
}

// record appends to the audit log. A log that is down does not undo
// the change that was made: it is logged instead.
func (h *Handler) record(c echo.Context, p Principal, action, target, detail string) {
	if h.audit == nil {
		return
	}
	ctx := c.Request().Context()
	e := AuditEntry{At: h.now(), Actor: p.Name, Action: action, Target: target, Detail: detail}
	if err := h.audit.Record(context.WithoutCancel(ctx), e); err != nil {
		h.logger.ErrorContext(ctx, "admin: audit log unavailable; change not recorded", "action", action, "actor", p.Name, "err", err)
	}
}

// listAudit answers GET /admin/api/audit?before=&limit=.
func (h *Handler) listAudit(c echo.Context) error {
	if h.audit == nil {
		return echo.NewHTTPError(http.StatusNotFound, "未启用操作记录")
	}
	limit, err := adminLimit(c, 50, 200)
	if err != nil {
		return err
	}
	var before int64
	if s := c.QueryParam("before"); s != "" {
		if before, err = strconv.ParseInt(s, 10, 64); err != nil || before <= 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "before 应为正整数")
		}
	}
	entries, err := h.audit.Audit(c.Request().Context(), before, limit)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []AuditEntry{}
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": entries})
}

// jsonDecoder is the API's JSON reader: unknown fields are allowed (the
// console may send more than an older server knows).
func jsonDecoder(r io.Reader) *json.Decoder { return json.NewDecoder(r) }
