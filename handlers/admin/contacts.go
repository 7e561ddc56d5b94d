package admin

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// ContactDay counts new contacts of one day, channel and welcome outcome
// (sqlstore.WeComContactDay, mirrored field for field).
type ContactDay struct {
	Day         string // 2006-01-02 in the report's zone
	State       string // the channel's state; "" without a channel
	ChannelName string
	Outcome     string // sent, already_sent, no_code, no_text, busy_gave_up, failed, pending
	Count       int
}

// ContactsAdmin is what the contacts report needs from storage.
type ContactsAdmin interface {
	NewContactsByDay(ctx context.Context, since time.Time, loc *time.Location) ([]ContactDay, error)
}

// channelReport is one acquisition channel in the contacts report.
type channelReport struct {
	State    string         `json:"state"`
	Name     string         `json:"name"`
	Total    int            `json:"total"`
	Outcomes map[string]int `json:"outcomes"`
	// PerDay counts new contacts per day, aligned with the report's days.
	PerDay []int `json:"per_day"`
}

// contactsReport answers GET /admin/api/contacts?days=30&tz_offset=480:
// new contacts per day per acquisition channel, with their welcome
// outcomes. tz_offset is the staff's zone in minutes east of UTC (the
// browser's), so days end at their midnight.
func (h *Handler) contactsReport(c echo.Context) error {
	if h.contacts == nil {
		return echo.NewHTTPError(http.StatusNotFound, "渠道客户统计未启用（需要企业微信）")
	}
	days := 30
	if s := c.QueryParam("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 90 {
			return echo.NewHTTPError(http.StatusBadRequest, "days 应为 1 到 90 之间的整数")
		}
		days = n
	}
	// Days end at midnight in the scripts' zone, unless the caller asks
	// for another (tz_offset, minutes east of UTC).
	loc := h.location()
	if s := c.QueryParam("tz_offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < -14*60 || n > 14*60 {
			return echo.NewHTTPError(http.StatusBadRequest, "tz_offset 应为 -840 到 840 之间的分钟数")
		}
		loc = time.FixedZone("staff", n*60)
	}
	now := h.now().In(loc)
	first := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, -(days - 1))
	labels := make([]string, days)
	index := make(map[string]int, days)
	for i := range days {
		labels[i] = first.AddDate(0, 0, i).Format(time.DateOnly)
		index[labels[i]] = i
	}
	rows, err := h.contacts.NewContactsByDay(c.Request().Context(), first, loc)
	if err != nil {
		return err
	}

	byState := map[string]*channelReport{}
	channel := func(state, name string) *channelReport {
		r, ok := byState[state]
		if !ok {
			r = &channelReport{State: state, Name: name, Outcomes: map[string]int{}, PerDay: make([]int, days)}
			byState[state] = r
		}
		if r.Name == "" {
			r.Name = name
		}
		return r
	}
	// Every channel of the scripts is listed, those without contacts too,
	// with the name staff gave it.
	if h.scripts != nil {
		for _, ch := range h.scripts.Scripts().Channels() {
			channel(ch.State, ch.Name)
		}
	}
	for _, d := range rows {
		i, ok := index[d.Day]
		if !ok {
			continue
		}
		r := channel(d.State, d.ChannelName)
		r.PerDay[i] += d.Count
		r.Total += d.Count
		r.Outcomes[d.Outcome] += d.Count
	}
	out := make([]channelReport, 0, len(byState))
	for _, r := range byState {
		if r.Name == "" && r.State == "" {
			r.Name = "无渠道"
		}
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b channelReport) int {
		if a.Total != b.Total {
			return b.Total - a.Total
		}
		if a.State < b.State {
			return -1
		}
		if a.State > b.State {
			return 1
		}
		return 0
	})
	return c.JSON(http.StatusOK, map[string]any{"days": labels, "channels": out})
}
