package admin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
)

// DNDHeld is one proactive message do-not-disturb held back.
type DNDHeld struct {
	Person    string
	Topic     string
	Reason    string
	Action    string
	Until     time.Time // zero when dropped
	CreatedAt time.Time
}

// DNDAdmin is what the dnd module needs from do-not-disturb.
type DNDAdmin interface {
	// OptOut returns whether person opted out and since when (zero when
	// siyu never recorded a choice).
	OptOut(ctx context.Context, person bot.PersonID) (optedOut bool, since time.Time, err error)
	// SetOptOut records staff's change of a person's opt-out.
	SetOptOut(ctx context.Context, person bot.PersonID, optedOut bool) error
	// HeldBack returns up to limit held-back records, newest first.
	HeldBack(ctx context.Context, limit int) ([]DNDHeld, error)
}

// DND is the do-not-disturb module: staff see and change a person's
// opt-out and see what was held back and why.
//
//	GET /admin/api/dnd/persons/:person → {"person","opted_out","since"}
//	PUT /admin/api/dnd/persons/:person  {"opted_out": bool}
//	GET /admin/api/dnd/held?limit=     → {"held":[{"person","topic","reason","action","until","created_at"}]}
//
// :person, path-escaped, is what staff typed: a board's tag (用户8aa5), a
// masked id (wechat:#8aa53f2c1b9e) or a bot.PersonID ("union:<unionid>",
// "wechat:<account>:<openid>"…). Answers name the person by the masked id.
type DND struct {
	svc DNDAdmin
}

// NewDND returns the dnd module over svc.
func NewDND(svc DNDAdmin) *DND { return &DND{svc: svc} }

// Interface guard.
var _ Module = (*DND)(nil)

// Name implements Module.
func (*DND) Name() string { return "dnd" }

// Register implements Module.
func (m *DND) Register(g *echo.Group) {
	g.GET("/persons/:person", m.person)
	g.PUT("/persons/:person", m.setPerson)
	g.GET("/held", m.held)
	g.GET("/opted-out", m.optedOut)
}

// OptOut is one person who opted out, and since when.
type OptOut struct {
	Person string
	Since  time.Time
}

// OptOutLister lists the people who opted out, for staff: an admin-only
// need, answered by the database (store/sqlstore's DND).
type OptOutLister interface {
	// OptedOut returns up to limit people who opted out, newest first,
	// after the cursor (OptOutCursor of the last one of the page before;
	// "" for the first page).
	OptedOut(ctx context.Context, cursor string, limit int) ([]OptOut, error)
	// CountOptedOut counts everyone opted out, and those since since.
	CountOptedOut(ctx context.Context, since time.Time) (total, sinceThen int, err error)
}

// OptOutCursor is the cursor of the page after o.
func OptOutCursor(o OptOut) string {
	return o.Since.UTC().Format(time.RFC3339Nano) + "|" + o.Person
}

// WithOptOuts lets staff list the people who opted out.
func (h *Handler) WithOptOuts(l OptOutLister) *Handler {
	h.optOuts = l
	return h
}

const optOutsKey = "siyu.admin.optouts"

type optOutView struct {
	Person string    `json:"person"` // masked
	Tag    string    `json:"tag"`
	Since  time.Time `json:"since"`
}

// optedOut answers GET /opted-out?cursor=&limit=&q=: the people who
// opted out, newest first, a page at a time, with the counts; q (a tag,
// a masked id or a PersonID) narrows to that person.
func (m *DND) optedOut(c echo.Context) error {
	ctx := c.Request().Context()
	l, _ := c.Get(optOutsKey).(OptOutLister)
	if l == nil {
		return echo.NewHTTPError(http.StatusNotFound, "未接入退订名单")
	}
	limit, err := adminLimit(c, 20, 200)
	if err != nil {
		return err
	}
	loc, now := locationOf(nil), time.Now()
	if h, ok := c.Get(handlerKey).(*Handler); ok {
		loc, now = h.location(), h.now()
	}
	now = now.In(loc)
	total, today, err := l.CountOptedOut(ctx, time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc))
	if err != nil {
		return err
	}
	dir, _ := c.Get(peopleKey).(*people)
	shown := shownPeople(c)
	out := []optOutView{}
	next := ""
	if q := c.QueryParam("q"); q != "" {
		found, err := dir.find(ctx, q, 20)
		if err != nil {
			return err
		}
		for _, f := range found {
			opted, since, err := m.svc.OptOut(ctx, bot.PersonID(f))
			if err != nil {
				return err
			}
			if opted {
				out = append(out, optOutView{Person: shown.mask(f), Tag: PersonTag(f), Since: since})
			}
		}
	} else {
		list, err := l.OptedOut(ctx, c.QueryParam("before"), limit+1)
		if err != nil {
			return err
		}
		if len(list) > limit {
			list = list[:limit]
			next = OptOutCursor(list[limit-1])
		}
		for _, o := range list {
			out = append(out, optOutView{Person: shown.mask(o.Person), Tag: PersonTag(o.Person), Since: o.Since})
		}
	}
	if err := shown.flush(ctx); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"people": out, "total": total, "today": today, "next_before": next})
}

type dndPerson struct {
	Person   string     `json:"person"` // masked
	Tag      string     `json:"tag"`
	OptedOut bool       `json:"opted_out"`
	Since    *time.Time `json:"since"`
}

// personParam resolves the :person path segment. The console sends it
// path-escaped (a PersonID has colons, a masked id a '#'), and Echo
// hands over the segment as it came: it is unescaped here, then looked
// up as staff typed it (a tag, a masked id or a PersonID).
func personParam(c echo.Context) (bot.PersonID, error) {
	raw := c.Param("person")
	p, err := url.PathUnescape(raw)
	if err != nil || p == "" || len(p) > 191 {
		return "", echo.NewHTTPError(http.StatusBadRequest, "用户标识无效")
	}
	return resolvePerson(c, p)
}

// tagOf is a person's board tag; a group has none.
func tagOf(p string) string {
	if p == "" || strings.HasPrefix(p, "group:") {
		return ""
	}
	return PersonTag(p)
}

func (m *DND) person(c echo.Context) error {
	p, err := personParam(c)
	if err != nil {
		return err
	}
	return m.answerPerson(c, p)
}

func (m *DND) answerPerson(c echo.Context, p bot.PersonID) error {
	out, since, err := m.svc.OptOut(c.Request().Context(), p)
	if err != nil {
		return err
	}
	people := shownPeople(c)
	resp := dndPerson{Person: people.mask(string(p)), Tag: PersonTag(string(p)), OptedOut: out}
	if !since.IsZero() {
		resp.Since = &since
	}
	if err := people.flush(c.Request().Context()); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

func (m *DND) setPerson(c echo.Context) error {
	p, err := personParam(c)
	if err != nil {
		return err
	}
	var body struct {
		OptedOut *bool `json:"opted_out"`
	}
	if err := c.Bind(&body); err != nil || body.OptedOut == nil {
		return echo.NewHTTPError(http.StatusBadRequest, `body: want {"opted_out": true|false}`)
	}
	if err := m.svc.SetOptOut(c.Request().Context(), p, *body.OptedOut); err != nil {
		return err
	}
	auditNote(c, MaskPerson(string(p)), map[bool]string{true: "设为退订", false: "恢复接收"}[*body.OptedOut])
	return m.answerPerson(c, p)
}

type dndHeldJSON struct {
	Person    string     `json:"person"`
	Tag       string     `json:"tag,omitempty"`
	Topic     string     `json:"topic"`
	Reason    string     `json:"reason"`
	Action    string     `json:"action"`
	Until     *time.Time `json:"until"`
	CreatedAt time.Time  `json:"created_at"`
}

func (m *DND) held(c echo.Context) error {
	limit := 100
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 1000 {
			return echo.NewHTTPError(http.StatusBadRequest, "limit: want 1…1000")
		}
		limit = n
	}
	rows, err := m.svc.HeldBack(c.Request().Context(), limit)
	if err != nil {
		return err
	}
	people := shownPeople(c)
	out := make([]dndHeldJSON, len(rows))
	for i, r := range rows {
		out[i] = dndHeldJSON{Person: people.mask(r.Person), Tag: tagOf(r.Person), Topic: r.Topic, Reason: r.Reason, Action: r.Action, CreatedAt: r.CreatedAt}
		if !r.Until.IsZero() {
			u := r.Until
			out[i].Until = &u
		}
	}
	if err := people.flush(c.Request().Context()); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"held": out})
}
