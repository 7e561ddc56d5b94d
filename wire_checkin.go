package main

import (
	"context"
	"fmt"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/handlers/admin"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// checkinCapability wires bot/checkin: the 签到/排行榜 command, the group
// digest renderer and the staff boards.
func checkinCapability() capability {
	return capability{
		name:     "checkin",
		sections: func() ([]bot.Section, error) { return []bot.Section{checkin.Section{}}, nil },
		wire: func(ctx context.Context, w capWiring, p *parts) error {
			// Milestone rewards claim through the coupon campaigns
			// (wired before check-ins); without them a milestone gives
			// its message only.
			var coupons checkin.CouponClaimer
			if c := couponClaimer(p); c != nil {
				coupons = c
			}
			svc, store, err := newCheckin(ctx, w, coupons, time.Now)
			if err != nil {
				return err
			}
			p.observe = append(p.observe, svc.Observer())
			p.commands = append(p.commands, rankedStage{rank: rankCheckin, stage: svc})
			p.renderers[checkin.DigestRenderer] = svc
			p.admin = append(p.admin, admin.NewCheckin(checkinAdmin{svc: svc, store: store}))
			return nil
		},
	}
}

// newCheckin builds the check-in service on the shared stores.
func newCheckin(ctx context.Context, w capWiring, coupons checkin.CouponClaimer, now func() time.Time) (*checkin.Service, *sqlstore.Checkins, error) {
	store, err := sqlstore.NewCheckins(ctx, w.db)
	if err != nil {
		return nil, nil, err
	}
	svc := checkin.New(checkin.Options{
		Store: store, Boards: redisstore.NewCheckinBoards(w.rdb), Coupons: coupons, Now: now, Logger: w.logger,
		Scripts: w.scripts,
	})
	return svc, store, nil
}

// checkinAdmin adapts the service and its store to admin.CheckinAdmin.
type checkinAdmin struct {
	svc   *checkin.Service
	store *sqlstore.Checkins
}

func (a checkinAdmin) Board(ctx context.Context, scope, period string) (admin.CheckinBoard, error) {
	p, err := checkin.ParsePeriod(period)
	if err != nil {
		return admin.CheckinBoard{}, err
	}
	if scope == "" {
		return admin.CheckinBoard{}, fmt.Errorf("checkin boards: scope missing: %w", bot.ErrInvalid)
	}
	b, err := a.svc.Board(ctx, scope, p, "")
	if err != nil {
		return admin.CheckinBoard{}, err
	}
	out := admin.CheckinBoard{Scope: scope, Period: string(p), ByPoints: adminEntries(b.ByPoints), ByStreak: adminEntries(b.ByStreak)}
	return out, nil
}

func adminEntries(es []checkin.Entry) []admin.CheckinEntry {
	out := make([]admin.CheckinEntry, len(es))
	for i, e := range es {
		out[i] = admin.CheckinEntry{Rank: e.Rank, Name: e.Name, Person: e.Person, Points: e.Points, Streak: e.Streak}
	}
	return out
}

// historyDays bounds a history: a year of days is enough for staff.
const historyDays = 366

func (a checkinAdmin) History(ctx context.Context, scope, person string) (admin.CheckinHistory, error) {
	if scope == "" || person == "" {
		return admin.CheckinHistory{}, fmt.Errorf("checkin history: scope and person required: %w", bot.ErrInvalid)
	}
	rows, err := a.store.History(ctx, scope, person, historyDays)
	if err != nil {
		return admin.CheckinHistory{}, err
	}
	h := admin.CheckinHistory{Person: person, Days: make([]admin.CheckinDay, len(rows))}
	for i, c := range rows {
		h.Days[i] = admin.CheckinDay{Day: c.Day.String(), Points: c.Points, Streak: c.Streak}
	}
	if len(rows) > 0 {
		h.Total = rows[0].Total
		if today := a.svc.Today(); rows[0].Day >= today.AddDays(-1) {
			h.Streak = rows[0].Streak // still alive: today's, or yesterday's awaiting today
		}
	}
	return h, nil
}

func (a checkinAdmin) Unsent(ctx context.Context, limit int) ([]admin.CheckinUnsent, error) {
	us, err := a.store.Unsent(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]admin.CheckinUnsent, len(us))
	for i, u := range us {
		out[i] = admin.CheckinUnsent{Scope: u.Scope, Day: u.Day.String(), WindowEnd: u.WindowEnd, Reason: u.Reason}
	}
	return out, nil
}

func (a checkinAdmin) Scopes(ctx context.Context) ([]admin.CheckinScope, error) {
	sc, err := a.store.Scopes(ctx, a.svc.Today())
	if err != nil {
		return nil, err
	}
	out := make([]admin.CheckinScope, len(sc))
	for i, s := range sc {
		out[i] = admin.CheckinScope{Scope: s.Scope, CheckinsToday: s.Checkins}
	}
	return out, nil
}
