package admin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/risk"
)

// RiskEvent is one risk event as staff see it: customer ids and personal
// data already masked.
type RiskEvent struct {
	ID       int64  `json:"id"`
	Category string `json:"category"`
	Severity string `json:"severity"`
	Evidence string `json:"evidence"`
	Platform string `json:"platform"`
	// Brand and Account are the configured account the message came
	// through: its brand and its name in the accounts file (both "" for
	// the environment's account). Staff limited to brands see and handle
	// their brands' events only.
	Brand        string `json:"brand"`
	Account      string `json:"account"`
	Conversation string `json:"conversation"`
	// Sender is who sent the message: a PersonID from storage, masked
	// in the API's answers.
	Sender    string `json:"sender"`
	SenderTag string `json:"sender_tag,omitempty"`
	// HandledBy and HandledAt say who acknowledged or dismissed it, and
	// when (from the audit log; listed for events not open).
	HandledBy string     `json:"handled_by,omitempty"`
	HandledAt *time.Time `json:"handled_at,omitempty"`
	// Alerting says whether the event alerts staff under the scripts in
	// force; one that does not (its category switched off, or below its
	// severity) is recorded for review and is not waiting for anyone.
	Alerting   bool      `json:"alerting"`
	TextMasked string    `json:"text_masked"`
	Count      int       `json:"count"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
}

// route is the configured account the event's message came through.
func (e RiskEvent) route() bot.Route { return bot.Route{Brand: e.Brand, Name: e.Account} }

// RiskQuery selects risk events for staff.
type RiskQuery struct {
	// Category and Status filter when not empty.
	Category, Status string
	// Brands keeps those brands' events only; none keeps every event,
	// the environment's account's included.
	Brands []string
	// Account, when set, keeps one account's events.
	Account *risk.AccountKey
	Limit   int
}

// RiskEvents is what the risk module needs from risk storage.
type RiskEvents interface {
	// ListEvents returns events, newest first, as q selects. An unknown
	// category or status is bot.ErrInvalid.
	ListEvents(ctx context.Context, q RiskQuery) ([]RiskEvent, error)
	// Event returns event id: whose brand it is decides who may handle
	// it. Errors: bot.ErrNotFound.
	Event(ctx context.Context, id int64) (RiskEvent, error)
	// SetStatus moves an event to acknowledged or dismissed (kept as a
	// labelled false positive). Errors: bot.ErrNotFound, bot.ErrInvalid.
	SetStatus(ctx context.Context, id int64, status string) error
}

// Risk is the risk capability's admin module: staff list risk events and
// acknowledge or dismiss them.
type Risk struct{ events RiskEvents }

// NewRisk returns the risk module over events.
func NewRisk(events RiskEvents) *Risk { return &Risk{events: events} }

// Name returns "risk".
func (*Risk) Name() string { return "risk" }

// Register mounts GET /events, POST /events/:id/ack and
// POST /events/:id/dismiss.
func (m *Risk) Register(g *echo.Group) {
	g.GET("/events", m.list)
	g.POST("/events/bulk", m.bulk)
	g.POST("/events/:id/ack", m.setStatus("acknowledged"))
	g.POST("/events/:id/dismiss", m.setStatus("dismissed"))
	// reopen undoes an acknowledgement or a dismissal.
	g.POST("/events/:id/reopen", m.setStatus("open"))
}

// maxBulk bounds one bulk action: a page of the queue, twice over.
const maxBulk = 500

var bulkStatus = map[string]string{"ack": "acknowledged", "dismiss": "dismissed", "reopen": "open"}

// bulk answers POST /events/bulk {"ids":[…],"action":"ack|dismiss|reopen"}:
// every event moves, or the first that cannot stops the rest (those
// before it stay moved; the answer says which).
func (m *Risk) bulk(c echo.Context) error {
	var req struct {
		IDs    []int64 `json:"ids"`
		Action string  `json:"action"`
	}
	if err := decodeJSON(c, &req, 64<<10); err != nil {
		return err
	}
	status, ok := bulkStatus[req.Action]
	switch {
	case !ok:
		return echo.NewHTTPError(http.StatusBadRequest, "action 只能是 ack、dismiss 或 reopen")
	case len(req.IDs) == 0 || len(req.IDs) > maxBulk:
		return echo.NewHTTPError(http.StatusBadRequest, "ids 应有 1 到 500 个")
	}
	// Another brand's event among them refuses them all, before any
	// moves.
	for _, id := range req.IDs {
		if err := m.mayHandle(c, id); err != nil {
			return err
		}
	}
	for i, id := range req.IDs {
		if err := m.events.SetStatus(c.Request().Context(), id, status); err != nil {
			return fmt.Errorf("admin.Risk.bulk: %d of %d done, then event %d: %w", i, len(req.IDs), id, err)
		}
	}
	auditNote(c, joinIDs(req.IDs), bulkStatus[req.Action])
	return c.JSON(http.StatusOK, map[string]any{"ids": req.IDs, "status": status})
}

func joinIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

// errOtherBrandEvent refuses a member an event of another brand's
// account (or of the environment's, which belongs to no brand).
var errOtherBrandEvent = echo.NewHTTPError(http.StatusForbidden, "这条风险提醒属于其他品牌的账号，你无权查看或处理。")

// mayHandle refuses a limited member an event of another brand, before
// anything is done to it.
func (m *Risk) mayHandle(c echo.Context, id int64) error {
	p := principalOf(c)
	if p.allBrands() {
		return nil
	}
	e, err := m.events.Event(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if !p.mayBrand(e.Brand) {
		return errOtherBrandEvent
	}
	return nil
}

// list answers GET /events: those of the brands the member may see, of
// one account (?account=platform:name, "wechat:" for the environment's)
// or one brand (?brand=) when asked.
func (m *Risk) list(c echo.Context) error {
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	p := principalOf(c)
	q := RiskQuery{Category: c.QueryParam("category"), Status: c.QueryParam("status"), Brands: p.Brands, Limit: limit}
	if a := c.QueryParam("account"); a != "" {
		platform, name, ok := strings.Cut(a, ":")
		if !ok {
			return echo.NewHTTPError(http.StatusBadRequest, "account 应为 平台:账号名，如 wechat:oa-main")
		}
		q.Account = &risk.AccountKey{Platform: bot.Platform(platform), Name: name}
	}
	if b := c.QueryParam("brand"); b != "" {
		if !p.mayBrand(b) {
			return c.JSON(http.StatusOK, map[string]any{"events": []RiskEvent{}})
		}
		q.Brands = []string{b}
	}
	events, err := m.events.ListEvents(c.Request().Context(), q)
	if err != nil {
		return err
	}
	// Storage filtered by brand; this keeps a store that did not from
	// showing a limited member another brand's customers.
	events = slices.DeleteFunc(events, func(e RiskEvent) bool { return !p.mayBrand(e.Brand) })
	if events == nil {
		events = []RiskEvent{}
	}
	// Who acknowledged or dismissed each one, and when, from the audit
	// log (open ones have not been handled, or were reopened).
	if h, ok := c.Get(handlerKey).(*Handler); ok && c.QueryParam("status") != "open" && c.QueryParam("status") != "" && len(events) > 0 {
		ids := make([]int64, len(events))
		for i, e := range events {
			ids[i] = e.ID
		}
		by, err := h.handledBy(c.Request().Context(), []string{"risk.ack", "risk.dismiss", "risk.bulk"}, ids)
		if err != nil {
			return err
		}
		for i := range events {
			if e, ok := by[events[i].ID]; ok {
				events[i].HandledBy = e.Actor
				at := e.At
				events[i].HandledAt = &at
			}
		}
	}
	h, _ := c.Get(handlerKey).(*Handler)
	for i := range events {
		events[i].Alerting = h == nil || h.alertingFor(events[i].route(), events[i].Category, events[i].Severity)
	}
	people := shownPeople(c)
	for i := range events {
		if events[i].Sender != "" {
			events[i].SenderTag = PersonTag(events[i].Sender)
		}
		events[i].Sender = people.mask(events[i].Sender)
	}
	if err := people.flush(c.Request().Context()); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"events": events})
}

func (m *Risk) setStatus(status string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "bad id")
		}
		if err := m.mayHandle(c, id); err != nil {
			return err
		}
		if err := m.events.SetStatus(c.Request().Context(), id, status); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"id": id, "status": status})
	}
}
