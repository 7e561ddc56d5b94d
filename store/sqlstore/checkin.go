package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
)

// Checkins stores check-ins, their milestones and the digests a platform
// would not take. The unique key (scope, person, day) is what makes a
// check-in count once across retries and replicas.
type Checkins struct {
	db *DB
	// g prepares each statement once per connection (DB.prepared): a
	// check-in makes several.
	g *gorm.DB
}

// Interface guards.
var (
	_ checkin.Store   = (*Checkins)(nil)
	_ checkin.Records = (*Checkins)(nil)
)

// NewCheckins returns the check-in store in db, creating its tables when
// missing. Errors are bot.ErrUnavailable.
func NewCheckins(ctx context.Context, db *DB) (*Checkins, error) {
	if err := db.migrateTables(ctx, &checkinRow{}, &checkinRewardRow{}, &checkinUnsentRow{}); err != nil {
		return nil, fmt.Errorf("sqlstore.NewCheckins: %w", err)
	}
	return &Checkins{db: db, g: db.prep}, nil
}

// checkinRow is one check-in. Person and scope are bounded by
// checkin.MaxPersonLen and MaxScopeLen so the unique index stays within
// 767 bytes of utf8mb4.
type checkinRow struct {
	ID         int64     `gorm:"primaryKey;autoIncrement"`
	Scope      string    `gorm:"type:varchar(88);not null;uniqueIndex:ux_checkins_person_day,priority:1;index:ix_checkins_scope_day,priority:1"`
	Person     string    `gorm:"type:varchar(100);not null;uniqueIndex:ux_checkins_person_day,priority:2"`
	Day        int       `gorm:"not null;uniqueIndex:ux_checkins_person_day,priority:3;index:ix_checkins_scope_day,priority:2"`
	Name       string    `gorm:"type:varchar(64);not null;default:''"`
	Week       int       `gorm:"not null"`
	Streak     int       `gorm:"not null"`
	Points     int       `gorm:"not null"`
	Bonus      int       `gorm:"not null"`
	Total      int       `gorm:"not null"`
	WeekPoints int       `gorm:"not null"`
	Rewards    int       `gorm:"not null;default:0"`
	CheckedAt  time.Time `gorm:"precision:6;not null"`
	CreatedAt  time.Time `gorm:"precision:6;not null"`
}

func (checkinRow) TableName() string { return "checkins" }

func (r checkinRow) checkin() checkin.Checkin {
	return checkin.Checkin{
		ID: r.ID, Scope: r.Scope, Person: r.Person, Name: r.Name, Day: checkin.Day(r.Day), Week: r.Week, Streak: r.Streak,
		Points: r.Points, Bonus: r.Bonus, Total: r.Total, WeekPoints: r.WeekPoints, Rewards: r.Rewards, At: r.CheckedAt.UTC(),
	}
}

// checkinRewardRow is a milestone reached; Given turns true once its
// message and coupon went out. The unique key gives a milestone once per
// streak (a streak is named by its first day).
type checkinRewardRow struct {
	ID        int64     `gorm:"primaryKey;autoIncrement"`
	Scope     string    `gorm:"type:varchar(88);not null;uniqueIndex:ux_checkin_rewards,priority:1"`
	Person    string    `gorm:"type:varchar(100);not null;uniqueIndex:ux_checkin_rewards,priority:2"`
	Streak    int       `gorm:"not null;uniqueIndex:ux_checkin_rewards,priority:3"`
	StartDay  int       `gorm:"not null;uniqueIndex:ux_checkin_rewards,priority:4"`
	Day       int       `gorm:"not null"`
	Given     bool      `gorm:"not null;default:false"`
	CreatedAt time.Time `gorm:"precision:6;not null"`
	UpdatedAt time.Time `gorm:"precision:6;not null"`
}

func (checkinRewardRow) TableName() string { return "checkin_rewards" }

// checkinUnsentRow is a group digest a platform would not take, and why:
// staff read this table.
type checkinUnsentRow struct {
	ID        int64     `gorm:"primaryKey;autoIncrement"`
	Scope     string    `gorm:"type:varchar(88);not null;uniqueIndex:ux_checkin_unsent,priority:1"`
	WindowEnd time.Time `gorm:"precision:6;not null;uniqueIndex:ux_checkin_unsent,priority:2"`
	Day       int       `gorm:"not null"`
	Reason    string    `gorm:"type:varchar(255);not null"`
	CreatedAt time.Time `gorm:"precision:6;not null"`
}

func (checkinUnsentRow) TableName() string { return "checkin_unsent_digests" }

func (s *Checkins) unavailable(op string, err error) error {
	return fmt.Errorf("sqlstore.Checkins.%s: %w: %w", op, bot.ErrUnavailable, err)
}

// Latest implements checkin.Store.
func (s *Checkins) Latest(ctx context.Context, scope, person string, day checkin.Day) (checkin.Checkin, error) {
	g := s.g.WithContext(ctx)
	var rows []checkinRow
	err := g.Where("scope = ? AND person = ? AND day <= ?", scope, person, int(day)).Order("day DESC").Limit(1).Find(&rows).Error
	if err != nil {
		return checkin.Checkin{}, s.unavailable("Latest", err)
	}
	if len(rows) == 0 {
		return checkin.Checkin{}, fmt.Errorf("sqlstore.Checkins.Latest: %w", bot.ErrNotFound)
	}
	return rows[0].checkin(), nil
}

// Rank implements checkin.Store.
func (s *Checkins) Rank(ctx context.Context, c checkin.Checkin) (int, error) {
	var n int64
	err := s.g.WithContext(ctx).Model(&checkinRow{}).Where("scope = ? AND day = ? AND id <= ?", c.Scope, int(c.Day), c.ID).Count(&n).Error
	if err != nil {
		return 0, s.unavailable("Rank", err)
	}
	return int(n), nil
}

// Insert implements checkin.Store.
func (s *Checkins) Insert(ctx context.Context, c checkin.Checkin, ms []checkin.Milestone) (checkin.Checkin, error) {
	row := checkinRow{
		Scope: c.Scope, Person: c.Person, Day: int(c.Day), Name: truncate(c.Name, 64), Week: c.Week, Streak: c.Streak,
		Points: c.Points, Bonus: c.Bonus, Total: c.Total, WeekPoints: c.WeekPoints, Rewards: len(ms), CheckedAt: dbTime(c.At),
	}
	g := s.g.WithContext(ctx)
	var err error
	if len(ms) == 0 {
		err = g.Create(&row).Error
	} else {
		// The milestones are written with the check-in or not at all, so
		// a crash cannot leave a check-in whose reward is forgotten. Not
		// prepared: see DB.prepared on transactions.
		err = s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&row).Error; err != nil {
				return err
			}
			rs := make([]checkinRewardRow, len(ms))
			for i, m := range ms {
				rs[i] = checkinRewardRow{Scope: m.Scope, Person: m.Person, Streak: m.Streak, StartDay: int(m.StartDay), Day: int(m.Day)}
			}
			return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rs).Error
		})
	}
	if err != nil {
		if s.duplicate(err) {
			return checkin.Checkin{}, fmt.Errorf("sqlstore.Checkins.Insert: %w", bot.ErrConflict)
		}
		return checkin.Checkin{}, s.unavailable("Insert", err)
	}
	c.ID, c.Rewards = row.ID, len(ms)
	return c, nil
}

// duplicate reports whether err is a unique key violation, in either
// dialect.
func (s *Checkins) duplicate(err error) bool {
	if t, ok := s.db.gorm.Dialector.(gorm.ErrorTranslator); ok {
		return errors.Is(t.Translate(err), gorm.ErrDuplicatedKey)
	}
	return false
}

// PendingRewards implements checkin.Store.
func (s *Checkins) PendingRewards(ctx context.Context, scope, person string, day checkin.Day) ([]checkin.Milestone, error) {
	var rows []checkinRewardRow
	err := s.g.WithContext(ctx).Where("scope = ? AND person = ? AND day = ? AND given = ?", scope, person, int(day), false).
		Order("streak").Find(&rows).Error
	if err != nil {
		return nil, s.unavailable("PendingRewards", err)
	}
	out := make([]checkin.Milestone, len(rows))
	for i, r := range rows {
		out[i] = checkin.Milestone{Scope: r.Scope, Person: r.Person, Streak: r.Streak, StartDay: checkin.Day(r.StartDay), Day: checkin.Day(r.Day)}
	}
	return out, nil
}

// FinishReward implements checkin.Store: the UPDATE is conditioned on
// given = false, so exactly one caller changes the row.
func (s *Checkins) FinishReward(ctx context.Context, m checkin.Milestone) (bool, error) {
	// UpdateColumns would skip updated_at; Updates sets it.
	res := s.g.WithContext(ctx).Model(&checkinRewardRow{}).
		Where("scope = ? AND person = ? AND streak = ? AND start_day = ? AND given = ?", m.Scope, m.Person, m.Streak, int(m.StartDay), false).
		Updates(map[string]any{"given": true})
	if res.Error != nil {
		return false, s.unavailable("FinishReward", res.Error)
	}
	// CLIENT_FOUND_ROWS counts matched rows: the condition on given makes
	// matched and changed the same here.
	return res.RowsAffected == 1, nil
}

// Window implements checkin.Store.
func (s *Checkins) Window(ctx context.Context, scope string, day checkin.Day, from, to time.Time, limit int) ([]checkin.Checkin, int, error) {
	g := s.g.WithContext(ctx)
	q := func() *gorm.DB {
		return g.Model(&checkinRow{}).Where("scope = ? AND day = ? AND checked_at >= ? AND checked_at < ?", scope, int(day), dbTime(from), dbTime(to))
	}
	var n int64
	if err := q().Count(&n).Error; err != nil {
		return nil, 0, s.unavailable("Window", err)
	}
	var rows []checkinRow
	if err := q().Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, 0, s.unavailable("Window", err)
	}
	out := make([]checkin.Checkin, len(rows))
	for i, r := range rows {
		out[i] = r.checkin()
	}
	return out, int(n), nil
}

// CountDay implements checkin.Store.
func (s *Checkins) CountDay(ctx context.Context, scope string, day checkin.Day) (int, error) {
	var n int64
	if err := s.g.WithContext(ctx).Model(&checkinRow{}).Where("scope = ? AND day = ?", scope, int(day)).Count(&n).Error; err != nil {
		return 0, s.unavailable("CountDay", err)
	}
	return int(n), nil
}

// Standings implements checkin.Store.
func (s *Checkins) Standings(ctx context.Context, scope string, day checkin.Day) (checkin.Standings, error) {
	g := s.g.WithContext(ctx)
	// The ISO week of day runs from its Monday to day itself (no later
	// check-ins exist yet).
	monday := day
	for monday.AddDays(-1).Week() == day.Week() {
		monday = monday.AddDays(-1)
	}
	type agg struct {
		Person string
		Points int
		Streak int
		ID     int64
	}
	query := func(where string, args ...any) ([]checkin.Score, error) {
		var rows []agg
		err := g.Model(&checkinRow{}).Select("person, SUM(points) AS points, MAX(streak) AS streak, MIN(id) AS id").
			Where(where, args...).Group("person").Scan(&rows).Error
		out := make([]checkin.Score, len(rows))
		for i, r := range rows {
			out[i] = checkin.Score(r)
		}
		return out, err
	}
	st := checkin.Standings{}
	var err error
	if st[checkin.Today], err = query("scope = ? AND day = ?", scope, int(day)); err != nil {
		return nil, s.unavailable("Standings", err)
	}
	if st[checkin.Week], err = query("scope = ? AND day >= ? AND day <= ?", scope, int(monday), int(day)); err != nil {
		return nil, s.unavailable("Standings", err)
	}
	if st[checkin.All], err = query("scope = ? AND day <= ?", scope, int(day)); err != nil {
		return nil, s.unavailable("Standings", err)
	}
	return st, nil
}

// Names implements checkin.Store: the name of each person's latest
// check-in that had one.
func (s *Checkins) Names(ctx context.Context, scope string, persons []string) (map[string]string, error) {
	out := make(map[string]string, len(persons))
	if len(persons) == 0 {
		return out, nil
	}
	var rows []checkinRow
	err := s.g.WithContext(ctx).Select("person, name").
		Where("scope = ? AND person IN ? AND name <> ''", scope, persons).Order("day").Find(&rows).Error
	if err != nil {
		return nil, s.unavailable("Names", err)
	}
	for _, r := range rows {
		out[r.Person] = r.Name // later days overwrite earlier ones
	}
	return out, nil
}

// RecordUnsent implements checkin.Store.
func (s *Checkins) RecordUnsent(ctx context.Context, u checkin.Unsent) error {
	row := checkinUnsentRow{Scope: u.Scope, WindowEnd: dbTime(u.WindowEnd), Day: int(u.Day), Reason: truncate(u.Reason, 255)}
	if err := s.g.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return s.unavailable("RecordUnsent", err)
	}
	return nil
}

// UnsentDigest is a digest that was not posted, as staff see it.
type UnsentDigest = checkin.Unsent

// Unsent lists the latest digests a platform would not take, newest
// first, up to limit.
func (s *Checkins) Unsent(ctx context.Context, limit int) ([]UnsentDigest, error) {
	var rows []checkinUnsentRow
	if err := s.g.WithContext(ctx).Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, s.unavailable("Unsent", err)
	}
	out := make([]UnsentDigest, len(rows))
	for i, r := range rows {
		out[i] = UnsentDigest{Scope: r.Scope, Day: checkin.Day(r.Day), WindowEnd: r.WindowEnd.UTC(), Reason: r.Reason}
	}
	return out, nil
}

// History returns a person's check-ins in scope, newest first, up to
// limit.
func (s *Checkins) History(ctx context.Context, scope, person string, limit int) ([]checkin.Checkin, error) {
	var rows []checkinRow
	err := s.g.WithContext(ctx).Where("scope = ? AND person = ?", scope, person).Order("day DESC").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, s.unavailable("History", err)
	}
	out := make([]checkin.Checkin, len(rows))
	for i, r := range rows {
		out[i] = r.checkin()
	}
	return out, nil
}

// ScopeCount is a scope and how many checked in to it on a day.
type ScopeCount = checkin.ScopeCount

// Scopes lists every scope with check-ins and how many people checked in
// to each on day, busiest first.
func (s *Checkins) Scopes(ctx context.Context, day checkin.Day) ([]ScopeCount, error) {
	var rows []struct {
		Scope string
		N     int
	}
	err := s.g.WithContext(ctx).Model(&checkinRow{}).
		Select("scope, SUM(CASE WHEN day = ? THEN 1 ELSE 0 END) AS n", int(day)).
		Group("scope").Order("n DESC, scope").Scan(&rows).Error
	if err != nil {
		return nil, s.unavailable("Scopes", err)
	}
	out := make([]ScopeCount, len(rows))
	for i, r := range rows {
		out[i] = ScopeCount{Scope: r.Scope, Checkins: r.N}
	}
	return out, nil
}
