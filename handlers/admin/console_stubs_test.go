package admin

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
)

// Stub capability modules answering the contracted paths and shapes
// (COMMON.md), so the console's sections are exercised before the real
// modules land.

// stubCouponModule is the coupon module's admin API.
type stubCouponModule struct{}

func (stubCouponModule) Name() string { return "coupon" }

func (stubCouponModule) Register(g *echo.Group) {
	g.GET("/campaigns", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"campaigns": []map[string]any{
			{"id": "c1", "name": "新人首杯立减", "stock": 200, "issued": 150, "remaining": 50, "start": "2026-11-01T00:00:00+08:00", "end": "2026-12-31T23:59:59+08:00",
				"per_channel": map[string]int{"shop-1": 90, "fair": 60}},
			{"id": "c2", "name": "会员日半价", "stock": 100, "issued": 96, "remaining": 4, "start": "2026-11-20T00:00:00+08:00", "end": "2026-11-30T23:59:59+08:00",
				"per_channel": map[string]int{"shop-1": 96}},
		}})
	})
	g.GET("/campaigns/:id/claims", func(c echo.Context) error {
		if c.Param("id") != "c1" && c.Param("id") != "c2" {
			return echo.NewHTTPError(http.StatusNotFound, "没有这个活动")
		}
		return c.JSON(http.StatusOK, map[string]any{"claims": []map[string]any{
			{"person": "wx:o6…2M", "code": "CF-****-7K", "channel": "shop-1", "trigger": "keyword", "created_at": "2026-11-26T09:12:00+08:00"},
		}})
	})
}

// stubCheckinModule is the check-in module's admin API.
type stubCheckinModule struct{}

func (stubCheckinModule) Name() string { return "checkin" }

func (stubCheckinModule) Register(g *echo.Group) {
	g.GET("/scopes", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"scopes": []map[string]any{{"scope": "group:会员一群", "checkins_today": 12}}})
	})
	g.GET("/boards", func(c echo.Context) error {
		rows := []map[string]any{
			{"rank": 1, "name": "小山", "person": "wx:o6…2M", "points": 120, "streak": 15},
			{"rank": 2, "name": "阿茶", "person": "wx:o6…9Q", "points": 95, "streak": 7},
		}
		return c.JSON(http.StatusOK, map[string]any{"scope": c.QueryParam("scope"), "period": c.QueryParam("period"), "by_points": rows, "by_streak": rows})
	})
	g.GET("/history", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"person": c.QueryParam("person"), "total": 15, "streak": 2,
			"days": []map[string]any{{"day": "2026-11-25", "points": 5, "streak": 1}, {"day": "2026-11-26", "points": 10, "streak": 2}}})
	})
}

// stubDNDModule is the do-not-disturb module's admin API.
type stubDNDModule struct {
	mu       sync.Mutex
	optedOut map[string]bool
}

func (*stubDNDModule) Name() string { return "dnd" }

func (d *stubDNDModule) Register(g *echo.Group) {
	g.GET("/persons/:person", func(c echo.Context) error {
		d.mu.Lock()
		defer d.mu.Unlock()
		return c.JSON(http.StatusOK, map[string]any{"person": c.Param("person"), "opted_out": d.optedOut[c.Param("person")], "since": "2026-11-20T10:00:00+08:00"})
	})
	g.PUT("/persons/:person", func(c echo.Context) error {
		var body struct {
			OptedOut *bool `json:"opted_out"`
		}
		if err := c.Bind(&body); err != nil || body.OptedOut == nil {
			return echo.NewHTTPError(http.StatusBadRequest, "opted_out is required")
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.optedOut[c.Param("person")] = *body.OptedOut
		return c.JSON(http.StatusOK, map[string]any{"person": c.Param("person"), "opted_out": *body.OptedOut})
	})
	g.GET("/held", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"held": []map[string]any{
			{"person": "wx:o6…2M", "topic": "coupon", "reason": "quiet_hours", "action": "push", "until": "2026-11-27T08:00:00+08:00", "created_at": "2026-11-26T22:30:00+08:00"},
		}})
	})
}

// couponCommand answers 领券 with a reply and a proactive coupon push,
// which quietHoursExplainer holds back: the dry-run's held_back.
type couponCommand struct{}

func (couponCommand) HandleTurn(_ context.Context, t *bot.Turn) (bool, error) {
	if !strings.Contains(t.Text, "领券") {
		return false, nil
	}
	t.ReplyText("好的，券马上发给你")
	t.Add(bot.Push{Topic: "coupon", Action: bot.Reply{To: t.Event.ReplyTarget(), Text: "新人首杯立减券：CF-8K2M"}})
	t.Answer = bot.Answer{Stage: "command:coupon", Rule: "c1"}
	return true, nil
}
