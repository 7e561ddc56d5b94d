package admin

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// CheckinAdmin is what the checkin module needs: boards, one person's
// history and the scopes with check-ins. Errors are bot's kinds
// (bot.ErrInvalid for a bad period or a missing scope).
type CheckinAdmin interface {
	Board(ctx context.Context, scope, period string) (CheckinBoard, error)
	History(ctx context.Context, scope, person string) (CheckinHistory, error)
	Scopes(ctx context.Context) ([]CheckinScope, error)
	Unsent(ctx context.Context, limit int) ([]CheckinUnsent, error)
}

// CheckinUnsent is a group digest a platform would not let siyu post.
type CheckinUnsent struct {
	Scope     string    `json:"scope"`
	Day       string    `json:"day"`
	WindowEnd time.Time `json:"window_end"`
	Reason    string    `json:"reason"`
}

// CheckinEntry is one line of a board.
type CheckinEntry struct {
	Rank   int    `json:"rank"`
	Name   string `json:"name"`
	Person string `json:"person"`
	Points int    `json:"points"`
	Streak int    `json:"streak"`
}

// CheckinBoard is a scope's boards for a period.
type CheckinBoard struct {
	Scope    string         `json:"scope"`
	Period   string         `json:"period"`
	ByPoints []CheckinEntry `json:"by_points"`
	ByStreak []CheckinEntry `json:"by_streak"`
}

// CheckinDay is one day of a person's history.
type CheckinDay struct {
	Day    string `json:"day"` // 2026-11-26
	Points int    `json:"points"`
	Streak int    `json:"streak"`
}

// CheckinHistory is a person's check-ins in a scope: total points, the
// current streak (0 once a day was missed) and the days, newest first.
type CheckinHistory struct {
	Person string       `json:"person"` // masked in answers
	Tag    string       `json:"tag"`
	Total  int          `json:"total"`
	Streak int          `json:"streak"`
	Days   []CheckinDay `json:"days"`
}

// CheckinScope is a scope and how many checked in to it today.
type CheckinScope struct {
	Scope         string `json:"scope"`
	CheckinsToday int    `json:"checkins_today"`
}

type checkinModule struct{ a CheckinAdmin }

// NewCheckin returns the checkin module: GET boards?scope=&period=,
// history?person=&scope=, scopes and unsent?limit= (digests that could not
// be posted, newest first).
func NewCheckin(a CheckinAdmin) Module { return checkinModule{a} }

func (checkinModule) Name() string { return "checkin" }

func (m checkinModule) Register(g *echo.Group) {
	g.GET("/boards", func(c echo.Context) error {
		b, err := m.a.Board(c.Request().Context(), c.QueryParam("scope"), c.QueryParam("period"))
		if err != nil {
			return err
		}
		people := shownPeople(c)
		for _, list := range [][]CheckinEntry{b.ByPoints, b.ByStreak} {
			for i := range list {
				list[i].Person = people.mask(list[i].Person)
			}
		}
		if err := people.flush(c.Request().Context()); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, b)
	})
	g.GET("/history", func(c echo.Context) error {
		q := c.QueryParam("person")
		if q == "" {
			return echo.NewHTTPError(http.StatusBadRequest, "person 不能为空")
		}
		person, err := resolvePerson(c, q)
		if err != nil {
			return err
		}
		h, err := m.a.History(c.Request().Context(), c.QueryParam("scope"), string(person))
		if err != nil {
			return err
		}
		h.Person = MaskPerson(string(person))
		h.Tag = PersonTag(string(person))
		return c.JSON(http.StatusOK, h)
	})
	g.GET("/scopes", func(c echo.Context) error {
		s, err := m.a.Scopes(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"scopes": s})
	})
	g.GET("/unsent", func(c echo.Context) error {
		limit, _ := strconv.Atoi(c.QueryParam("limit"))
		if limit <= 0 || limit > 500 {
			limit = 100
		}
		u, err := m.a.Unsent(c.Request().Context(), limit)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"unsent": u})
	})
}
