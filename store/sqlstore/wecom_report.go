package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// WeComContactDay counts new external contacts of one day (in the
// report's time zone), channel and welcome outcome.
type WeComContactDay struct {
	Day         string // 2006-01-02
	State       string // the channel QR code's state; "" without a channel
	ChannelName string
	Outcome     string // one of the Welcome… constants
	Count       int
}

// maxReportSpan bounds a contacts report, so one request cannot scan the
// whole table.
const maxReportSpan = 92 * 24 * time.Hour

// NewContactsByDay counts the contacts added since `since`, in every corp
// of the database, per day in loc, channel and welcome outcome, ordered
// by day then state. since must be within the last 92 days (else
// bot.ErrInvalid). Database failures are bot.ErrUnavailable.
//
// Days are cut in Go rather than in SQL: MySQL and SQLite spell date
// arithmetic in time zones differently, and only three short columns of
// each row are read.
func (s *WeCom) NewContactsByDay(ctx context.Context, since time.Time, loc *time.Location) ([]WeComContactDay, error) {
	if loc == nil {
		loc = time.UTC
	}
	if s.db.now().Sub(since) > maxReportSpan {
		return nil, fmt.Errorf("sqlstore.WeCom.NewContactsByDay: more than 92 days: %w", bot.ErrInvalid)
	}
	rows, err := s.db.gorm.WithContext(ctx).Model(&weComContactRow{}).
		Select("state, channel_name, outcome, added_at").
		Where("added_at >= ?", dbTime(since)).
		Rows()
	if err != nil {
		return nil, fmt.Errorf("sqlstore.WeCom.NewContactsByDay: %w: %w", bot.ErrUnavailable, err)
	}
	defer rows.Close()
	type key struct{ day, state, outcome string }
	counts := map[key]*WeComContactDay{}
	var order []key
	for rows.Next() {
		var (
			state, name, outcome string
			at                   time.Time
		)
		if err := rows.Scan(&state, &name, &outcome, &at); err != nil {
			return nil, fmt.Errorf("sqlstore.WeCom.NewContactsByDay: %w: %w", bot.ErrUnavailable, err)
		}
		k := key{at.In(loc).Format(time.DateOnly), state, outcome}
		d, ok := counts[k]
		if !ok {
			d = &WeComContactDay{Day: k.day, State: state, ChannelName: name, Outcome: outcome}
			counts[k] = d
			order = append(order, k)
		}
		d.Count++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.WeCom.NewContactsByDay: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]WeComContactDay, 0, len(order))
	for _, k := range order {
		out = append(out, *counts[k])
	}
	slices.SortFunc(out, func(a, b WeComContactDay) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.State, b.State), cmp.Compare(a.Outcome, b.Outcome))
	})
	return out, nil
}
