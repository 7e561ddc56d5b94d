package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/handover"
)

// InboxService is bot/handover's Service as staff ask it.
type InboxService interface {
	Inbox(ctx context.Context) ([]handover.Conversation, error)
	Thread(ctx context.Context, id string) (handover.Thread, error)
	Reply(ctx context.Context, id, staff, text string) error
	Assign(ctx context.Context, id, staff string) error
	End(ctx context.Context, id string) error
	Stats(ctx context.Context, days int, loc *time.Location) ([]handover.DayCount, error)
}

// Interface guard: the capability offers the module.
var _ InboxService = (*handover.Service)(nil)

// Inbox is the hand-over's module: the conversations a person holds,
// waiting longest first, their messages in both directions, staff's
// replies through the platform's customer-service API, assignment, the
// end of a hand-over (the bot answers again), and the counts.
//
//	GET  /admin/api/inbox/conversations?account=wechat:oa-main&brand= → {"now","conversations":[…]}
//	GET  /admin/api/inbox/conversations/:id      → {"conversation","held","session","messages":[…]}
//	POST /admin/api/inbox/conversations/:id/reply  {"text","staff"}
//	POST /admin/api/inbox/conversations/:id/assign {"staff"}
//	POST /admin/api/inbox/conversations/:id/end
//	GET  /admin/api/inbox/stats?days=7&tz_offset=480 → {"days":[…]}
//
// :id is the hand-over's id, never a customer's. Customers' ids are shown
// masked; conversation text is shown as written (that is the inbox's
// purpose) and never logged. A member limited to some brands sees, and
// answers, only conversations of those brands' accounts (the customer's
// Target.Route); the daily counts name no brand and are refused them.
type Inbox struct {
	svc InboxService
	now func() time.Time
}

// NewInbox returns the inbox module over svc.
func NewInbox(svc InboxService) *Inbox { return &Inbox{svc: svc, now: time.Now} }

// Interface guard.
var _ Module = (*Inbox)(nil)

// Name implements Module.
func (*Inbox) Name() string { return "inbox" }

// Register implements Module.
func (m *Inbox) Register(g *echo.Group) {
	g.GET("/conversations", m.list)
	g.GET("/conversations/:id", m.thread)
	g.POST("/conversations/:id/reply", m.reply)
	g.POST("/conversations/:id/assign", m.assign)
	g.POST("/conversations/:id/end", m.end)
	g.GET("/stats", m.stats)
}

// inboxConversation is a held conversation as the console shows it.
type inboxConversation struct {
	ID       string `json:"id"`
	Platform string `json:"platform"`
	// Account and Brand are the configured account the customer wrote
	// to ("" for the environment's account).
	Account string `json:"account"`
	Brand   string `json:"brand"`
	// Customer is the customer's id, masked: enough to tell two apart.
	Customer string    `json:"customer"`
	Reason   string    `json:"reason"`
	Agent    string    `json:"agent,omitempty"`
	Assignee string    `json:"assignee,omitempty"`
	Since    time.Time `json:"since"`
	// WaitingSince is when the oldest unanswered customer message came;
	// null when staff wrote last. WaitingSeconds is how long ago.
	WaitingSince   *time.Time `json:"waiting_since"`
	WaitingSeconds int64      `json:"waiting_seconds"`
	LastCustomerAt *time.Time `json:"last_customer_at"`
	LastStaffAt    *time.Time `json:"last_staff_at"`
	// WindowEnds is when the platform stops accepting replies; null when
	// it sets no limit siyu knows of. WindowOpen says whether it is open
	// now.
	WindowEnds *time.Time `json:"window_ends"`
	WindowOpen bool       `json:"window_open"`
}

func (m *Inbox) view(c handover.Conversation, now time.Time) inboxConversation {
	v := inboxConversation{
		ID: c.ID, Platform: string(c.To.Platform), Account: c.To.Route.Name, Brand: c.To.Route.Brand, Customer: maskID(string(c.To.User)), Reason: c.Reason,
		Agent: c.Agent, Assignee: c.Assignee, Since: c.Since,
		WaitingSince: timeOrNil(c.Waiting), LastCustomerAt: timeOrNil(c.LastCustomer), LastStaffAt: timeOrNil(c.LastStaff),
		WindowEnds: timeOrNil(c.WindowEnds), WindowOpen: c.WindowEnds.IsZero() || now.Before(c.WindowEnds),
	}
	if !c.Waiting.IsZero() {
		v.WaitingSeconds = int64(now.Sub(c.Waiting) / time.Second)
	}
	return v
}

// maskID keeps the ends of a customer's id: staff tell customers apart,
// and the whole id does not leave siyu.
func maskID(id string) string {
	r := []rune(id)
	if len(r) <= 8 {
		if len(r) <= 2 {
			return "…"
		}
		return string(r[:1]) + "…" + string(r[len(r)-1:])
	}
	return string(r[:4]) + "…" + string(r[len(r)-4:])
}

// list answers GET /conversations: those of the brands the member may
// see, of one account (?account=platform:name, "wechat:" for the
// environment's) or one brand (?brand=) when asked.
func (m *Inbox) list(c echo.Context) error {
	p := principalOf(c)
	keep := func(cv handover.Conversation) bool { return p.mayBrand(cv.To.Route.Brand) }
	if a := c.QueryParam("account"); a != "" {
		platform, name, ok := strings.Cut(a, ":")
		if !ok {
			return echo.NewHTTPError(http.StatusBadRequest, "account 应为 平台:账号名，如 wechat:oa-main")
		}
		seen := keep
		keep = func(cv handover.Conversation) bool {
			return seen(cv) && string(cv.To.Platform) == platform && cv.To.Route.Name == name
		}
	}
	if b := c.QueryParam("brand"); b != "" {
		seen := keep
		keep = func(cv handover.Conversation) bool { return seen(cv) && cv.To.Route.Brand == b }
	}
	convs, err := m.svc.Inbox(c.Request().Context())
	if err != nil {
		return err
	}
	now := m.now()
	out := make([]inboxConversation, 0, len(convs))
	for _, cv := range convs {
		if keep(cv) {
			out = append(out, m.view(cv, now))
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"now": now, "conversations": out})
}

// routeOf is the account a thread's customer wrote to.
func routeOf(th handover.Thread) bot.Route {
	if th.Held {
		return th.Conversation.To.Route
	}
	return th.Session.To.Route
}

// errOtherBrand refuses a member a conversation of another brand.
var errOtherBrand = echo.NewHTTPError(http.StatusForbidden, "这个会话属于其他品牌的账号，你无权查看或处理。")

// mayHandle refuses a limited member a hand-over of another brand,
// before anything is done to it.
func (m *Inbox) mayHandle(c echo.Context, id string) error {
	p := principalOf(c)
	if p.allBrands() {
		return nil
	}
	th, err := m.svc.Thread(c.Request().Context(), id)
	if err != nil {
		return inboxError(err)
	}
	if !p.mayBrand(routeOf(th).Brand) {
		return errOtherBrand
	}
	return nil
}

type inboxMessage struct {
	From   string    `json:"from"` // customer, staff, bot
	Author string    `json:"author,omitempty"`
	Text   string    `json:"text"`
	At     time.Time `json:"at"`
}

type inboxSession struct {
	ID        string     `json:"id"`
	Platform  string     `json:"platform"`
	Customer  string     `json:"customer"`
	Reason    string     `json:"reason"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at"`
	EndReason string     `json:"end_reason,omitempty"`
}

func (m *Inbox) thread(c echo.Context) error {
	th, err := m.svc.Thread(c.Request().Context(), c.Param("id"))
	if err != nil {
		return inboxError(err)
	}
	if !principalOf(c).mayBrand(routeOf(th).Brand) {
		return errOtherBrand
	}
	s := th.Session
	out := map[string]any{
		"held": th.Held,
		"session": inboxSession{ID: s.ID, Platform: string(s.To.Platform), Customer: maskID(string(s.To.User)), Reason: s.Reason,
			StartedAt: s.StartedAt, EndedAt: timeOrNil(s.EndedAt), EndReason: s.EndReason},
	}
	if th.Held {
		out["conversation"] = m.view(th.Conversation, m.now())
	}
	msgs := make([]inboxMessage, len(th.Messages))
	for i, msg := range th.Messages {
		msgs[i] = inboxMessage{From: string(msg.From), Author: msg.Author, Text: msg.Text, At: msg.At}
	}
	out["messages"] = msgs
	return c.JSON(http.StatusOK, out)
}

// inboxBody reads a small JSON body.
func inboxBody(c echo.Context, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 16<<10))
	if err := dec.Decode(v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "请求内容应为 JSON")
	}
	return nil
}

func (m *Inbox) reply(c echo.Context) error {
	var req struct {
		Text  string `json:"text"`
		Staff string `json:"staff"`
	}
	if err := inboxBody(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Text) == "" {
		return echo.NewHTTPError(http.StatusBadRequest, "回复内容不能为空")
	}
	if utf8.RuneCountInString(req.Staff) > 64 {
		return echo.NewHTTPError(http.StatusBadRequest, "姓名最多 64 个字")
	}
	if err := m.mayHandle(c, c.Param("id")); err != nil {
		return err
	}
	if err := m.svc.Reply(c.Request().Context(), c.Param("id"), strings.TrimSpace(req.Staff), req.Text); err != nil {
		if errors.Is(err, bot.ErrUnavailable) {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "暂时无法连接平台，消息没有发出，请稍后重试。").SetInternal(err)
		}
		return inboxError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"sent": true})
}

func (m *Inbox) assign(c echo.Context) error {
	var req struct {
		Staff string `json:"staff"`
	}
	if err := inboxBody(c, &req); err != nil {
		return err
	}
	if err := m.mayHandle(c, c.Param("id")); err != nil {
		return err
	}
	if err := m.svc.Assign(c.Request().Context(), c.Param("id"), req.Staff); err != nil {
		return inboxError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"assignee": strings.TrimSpace(req.Staff)})
}

func (m *Inbox) end(c echo.Context) error {
	if err := m.mayHandle(c, c.Param("id")); err != nil {
		return err
	}
	if err := m.svc.End(c.Request().Context(), c.Param("id")); err != nil {
		return inboxError(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"ended": true})
}

type inboxDay struct {
	Day      string         `json:"day"`
	ByReason map[string]int `json:"by_reason"`
	Total    int            `json:"total"`
	Replied  int            `json:"replied"`
	// AvgWaitSeconds is the mean wait to staff's first reply of those
	// answered through siyu; null when none was.
	AvgWaitSeconds *int64 `json:"avg_wait_seconds"`
}

func (m *Inbox) stats(c echo.Context) error {
	days := 7
	if s := c.QueryParam("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 90 {
			return echo.NewHTTPError(http.StatusBadRequest, "days 应为 1 到 90 之间的整数")
		}
		days = n
	}
	loc, err := tzOffset(c)
	if err != nil {
		return err
	}
	counts, err := m.svc.Stats(c.Request().Context(), days, loc)
	if err != nil {
		return err
	}
	out := make([]inboxDay, len(counts))
	for i, d := range counts {
		v := inboxDay{Day: d.Day, ByReason: d.ByReason, Replied: d.Replied}
		for _, n := range d.ByReason {
			v.Total += n
		}
		if d.Replied > 0 {
			avg := int64(d.WaitSum/time.Second) / int64(d.Replied)
			v.AvgWaitSeconds = &avg
		}
		out[i] = v
	}
	return c.JSON(http.StatusOK, map[string]any{"days": out})
}

// tzOffset reads ?tz_offset= (minutes east of UTC, as the browser knows
// it), UTC when absent.
func tzOffset(c echo.Context) (*time.Location, error) {
	s := c.QueryParam("tz_offset")
	if s == "" {
		return time.UTC, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < -14*60 || n > 14*60 {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "tz_offset 应为 -840 到 840 之间的分钟数")
	}
	return time.FixedZone("", n*60), nil
}

// inboxError says plainly what went wrong, in staff's words; a refusal by
// the platform is named by what staff can do about it.
func inboxError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, bot.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "没有这个会话（可能已超过保存期限被清除）")
	case errors.Is(err, handover.ErrNotHeld):
		return echo.NewHTTPError(http.StatusConflict, "这个会话已结束，机器人已恢复回答。")
	case errors.Is(err, handover.ErrWindowClosed), strings.Contains(msg, "45015"), strings.Contains(msg, "older than"):
		return echo.NewHTTPError(http.StatusConflict, "回复窗口已关闭：客户最后一条消息已超过平台允许的时间（微信 48 小时、抖音 24 小时），平台不再接受客服消息。请等客户再次来信后回复。")
	case strings.Contains(msg, "95018"):
		return echo.NewHTTPError(http.StatusConflict, "这位客户的微信客服会话正由企业微信的接待人员接待，请在企业微信客户端回复。")
	case strings.Contains(msg, "external contact"):
		return echo.NewHTTPError(http.StatusConflict, "企业微信不允许应用给外部联系人单独发消息，请由成员在企业微信里回复。")
	case errors.Is(err, handover.ErrNoSender):
		return echo.NewHTTPError(http.StatusConflict, "这个平台未配置发送凭证（如 WECHAT_APPSECRET），无法从控制台回复。")
	case errors.Is(err, handover.ErrRefused):
		return echo.NewHTTPError(http.StatusConflict, "平台拒绝了这条消息："+msg)
	}
	return err
}
