package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/risk"
)

// Overview answers the staff console's home page with aggregates over
// the risk, outbox and do-not-disturb tables: counts grouped in the
// database, never rows read to be counted here. Each query is bounded
// by an index or a limit, so the page costs the same at 100k rows.
type Overview struct {
	db *DB
}

// NewOverview returns the home page's aggregates over db, creating the
// tables it reads when missing (an unused capability's table is then
// empty). Errors are bot.ErrUnavailable.
func NewOverview(ctx context.Context, db *DB) (*Overview, error) {
	if err := db.migrateTables(ctx, &riskEventRow{}, &dndOptOutRow{}, &dndHeldRow{}); err != nil {
		return nil, fmt.Errorf("sqlstore.NewOverview: %w", err)
	}
	// Counting open alerts by category and severity from an index alone:
	// risk's own status index is (status, category), which leaves a row
	// read per open alert (BenchmarkConsoleQueries: 33k open of 100k on MariaDB,
	// 33 ms without it, 12-20 ms with it on a loaded 2-core host).
	m := db.migrator(ctx).Migrator()
	if !m.HasIndex(&riskEventRow{}, openAlertsIndex) {
		err := db.gorm.WithContext(ctx).Exec("CREATE INDEX " + openAlertsIndex + " ON risk_events (status, category, severity)").Error
		if err != nil && !m.HasIndex(&riskEventRow{}, openAlertsIndex) { // another replica may have made it meanwhile
			return nil, fmt.Errorf("sqlstore.NewOverview: %w: %w", bot.ErrUnavailable, err)
		}
	}
	return &Overview{db: db}, nil
}

// openAlertsIndex lets OpenAlerts count from the index.
const openAlertsIndex = "ix_risk_events_open"

// AlertCount is how many open risk events have one category and
// severity.
type AlertCount struct {
	Category string
	Severity string
	Count    int
}

// OpenAlerts counts the open risk events by category and severity, from
// the (status, category, severity) index: the caller knows which of them
// alert staff (risk's scripts section).
func (o *Overview) OpenAlerts(ctx context.Context) ([]AlertCount, error) {
	var res []struct {
		Category string
		Severity int
		N        int
	}
	err := o.db.gorm.WithContext(ctx).Model(&riskEventRow{}).Where("status = ?", string(risk.StatusOpen)).
		Select("category, severity, COUNT(*) AS n").Group("category, severity").Scan(&res).Error
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Overview.OpenAlerts: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]AlertCount, len(res))
	for i, r := range res {
		out[i] = AlertCount{Category: r.Category, Severity: risk.Severity(r.Severity).String(), Count: r.N}
	}
	return out, nil
}

// ReasonCount is how many dead outbox rows failed with one error.
type ReasonCount struct {
	Reason   string
	Platform string
	Count    int
	// Newest is the id of the newest row with this error.
	Newest int64
}

// deadSample bounds the dead rows DeadReasons groups: the newest ones
// say what is failing now, and grouping them costs the same however
// many older rows wait.
const deadSample = 2000

// DeadReasons groups the newest dead outbox rows by their last error
// and platform, most frequent first.
func (o *Overview) DeadReasons(ctx context.Context, limit int) ([]ReasonCount, error) {
	g := o.db.gorm.WithContext(ctx)
	sample := g.Model(&outboxRow{}).Select("id, platform, last_error").Where("status = ?", string(bot.OutboxDead)).
		Order("id DESC").Limit(deadSample)
	var res []struct {
		LastError string
		Platform  string
		N         int
		Newest    int64
	}
	err := g.Table("(?) AS d", sample).Select("last_error, platform, COUNT(*) AS n, MAX(id) AS newest").
		Group("last_error, platform").Order("n DESC, newest DESC").Limit(limit).Scan(&res).Error
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Overview.DeadReasons: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]ReasonCount, len(res))
	for i, r := range res {
		out[i] = ReasonCount{Reason: r.LastError, Platform: r.Platform, Count: r.N, Newest: r.Newest}
	}
	return out, nil
}

// StuckPending counts pending outbox rows due before cutoff: messages
// that should have gone and have not (retrying, or no worker running).
func (o *Overview) StuckPending(ctx context.Context, cutoff time.Time) (int, error) {
	var n int64
	err := o.db.gorm.WithContext(ctx).Model(&outboxRow{}).
		Where("status = ? AND next_at < ?", string(bot.OutboxPending), dbTime(cutoff)).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("sqlstore.Overview.StuckPending: %w: %w", bot.ErrUnavailable, err)
	}
	return int(n), nil
}

// OptOutsSince counts the people who opted out at or after since (and
// have not opted back in).
func (o *Overview) OptOutsSince(ctx context.Context, since time.Time) (int, error) {
	var n int64
	err := o.db.gorm.WithContext(ctx).Model(&dndOptOutRow{}).
		Where("opted_out = ? AND since >= ?", true, dbTime(since)).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("sqlstore.Overview.OptOutsSince: %w: %w", bot.ErrUnavailable, err)
	}
	return int(n), nil
}

// DeadIDs returns the ids of up to limit newest dead rows of platform
// that failed with reason, for a bulk requeue.
func (o *Overview) DeadIDs(ctx context.Context, reason, platform string, limit int) ([]int64, error) {
	var ids []int64
	err := o.db.gorm.WithContext(ctx).Model(&outboxRow{}).
		Where("status = ? AND platform = ? AND last_error = ?", string(bot.OutboxDead), platform, reason).
		Order("id DESC").Limit(limit).Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Overview.DeadIDs: %w: %w", bot.ErrUnavailable, err)
	}
	return ids, nil
}
