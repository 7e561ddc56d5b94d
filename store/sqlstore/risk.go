package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/risk"
)

// Limits of the risk tables, in characters.
const (
	maxRiskEvidenceLen = 255
	// maxRiskTextLen keeps the masked message staff read and a model is
	// retrained on; longer messages are spam walls whose start suffices.
	maxRiskTextLen = 1000
)

// Risk stores bot/risk's events and reminders.
type Risk struct {
	db *DB
}

var (
	_ risk.RecordStore = (*Risk)(nil)
	_ risk.Reviews     = (*Risk)(nil)
)

// NewRisk returns the risk store in db, creating its tables when
// missing. Errors are bot.ErrUnavailable.
func NewRisk(ctx context.Context, db *DB) (*Risk, error) {
	if err := db.migrateTables(ctx, &riskEventRow{}, &riskReminderRow{}); err != nil {
		return nil, fmt.Errorf("sqlstore.NewRisk: %w", err)
	}
	return &Risk{db: db}, nil
}

// riskEventRow is one recorded risk event. Personal data in evidence and
// text is masked before it gets here.
type riskEventRow struct {
	ID int64 `gorm:"primaryKey;autoIncrement"`
	// EventKey is a hash of the event's key (message and category), or a
	// random token for events without one; unique, so a platform's retry
	// records nothing twice.
	EventKey   string    `gorm:"type:char(64);not null;uniqueIndex:ux_risk_events_key"`
	ClaimToken string    `gorm:"type:char(32);not null"`
	ScopeHash  string    `gorm:"type:char(64);not null;index:ix_risk_events_scope,priority:1"`
	Category   string    `gorm:"type:varchar(16);not null;index:ix_risk_events_scope,priority:2;index:ix_risk_events_status,priority:2"`
	CreatedAt  time.Time `gorm:"precision:6;not null;index:ix_risk_events_scope,priority:3"`
	Severity   int       `gorm:"not null"`
	Source     string    `gorm:"type:varchar(16);not null"`
	Evidence   string    `gorm:"type:varchar(255);not null;default:''"`
	TextMasked string    `gorm:"type:varchar(1000);not null;default:''"`
	Platform   string    `gorm:"type:varchar(16);not null"`
	Account    string    `gorm:"type:varchar(64);not null;default:''"`
	// Brand and RouteName are the configured account the message came
	// through (bot.Route); '' for the environment's account, which is
	// what rows recorded before routes were kept read as. Staff limited
	// to brands list by brand.
	Brand     string    `gorm:"type:varchar(32);not null;default:'';index:ix_risk_events_brand,priority:1"`
	RouteName string    `gorm:"type:varchar(32);not null;default:''"`
	Conv      string    `gorm:"column:conversation;type:varchar(128);not null;default:''"`
	Sender    string    `gorm:"type:varchar(128);not null;default:''"`
	Person    string    `gorm:"type:varchar(191);not null;default:''"`
	Scope     string    `gorm:"type:varchar(400);not null"`
	Count     int       `gorm:"not null"`
	Status    string    `gorm:"type:varchar(16);not null;index:ix_risk_events_status,priority:1;index:ix_risk_events_brand,priority:2"`
	UpdatedAt time.Time `gorm:"precision:6;not null"`
}

func (riskEventRow) TableName() string { return "risk_events" }

// riskReminderRow records that a person was reminded about personal
// data in a scope; its key is unique, so each is reminded once.
type riskReminderRow struct {
	ID         int64     `gorm:"primaryKey;autoIncrement"`
	Key        string    `gorm:"column:reminder_key;type:char(64);not null;uniqueIndex:ux_risk_reminders_key"`
	ClaimToken string    `gorm:"type:char(32);not null"`
	CreatedAt  time.Time `gorm:"precision:6;not null"`
}

func (riskReminderRow) TableName() string { return "risk_reminders" }

// Repeats counts person's events in scope and category since since.
func (s *Risk) Repeats(ctx context.Context, scope string, person bot.PersonID, c risk.Category, since time.Time) (int, error) {
	var n int64
	err := s.db.gorm.WithContext(ctx).Model(&riskEventRow{}).
		Where("scope_hash = ? AND category = ? AND created_at >= ? AND person = ?", hashKey(scope), string(c), dbTime(since), string(person)).
		Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("sqlstore.Risk.Repeats: %w: %w", bot.ErrUnavailable, err)
	}
	return int(n), nil
}

// Record stores e unless its key is stored already.
func (s *Risk) Record(ctx context.Context, e risk.Event) (int64, bool, error) {
	key := claimToken() + claimToken() // 64 random hex characters: unique
	if e.Key != "" {
		key = hashKey(e.Key)
	}
	created := e.CreatedAt
	if created.IsZero() {
		created = s.db.now()
	}
	row := riskEventRow{
		EventKey: key, ClaimToken: claimToken(), ScopeHash: hashKey(e.Scope), Category: string(e.Category),
		CreatedAt: dbTime(created), UpdatedAt: dbTime(created), Severity: int(e.Severity), Source: e.Source,
		Evidence: truncate(e.Evidence, maxRiskEvidenceLen), TextMasked: truncate(e.TextMasked, maxRiskTextLen),
		Platform: string(e.Platform), Account: truncate(string(e.Account), 64), Conv: truncate(string(e.Conversation), 128),
		Brand: e.Route.Brand, RouteName: e.Route.Name,
		Sender: truncate(string(e.Sender), 128), Person: truncate(string(e.Person), 191), Scope: truncate(e.Scope, 400),
		Count: e.Count, Status: string(risk.StatusOpen),
	}
	if e.Status != "" {
		row.Status = string(e.Status)
	}
	g := s.db.gorm.WithContext(ctx)
	// Insert-if-absent, then read back whose row is stored (see
	// WeCom.ClaimContact for why not RowsAffected).
	if err := g.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return 0, false, fmt.Errorf("sqlstore.Risk.Record: %w: %w", bot.ErrUnavailable, err)
	}
	var stored riskEventRow
	if err := g.Select("id", "claim_token").Where("event_key = ?", key).Take(&stored).Error; err != nil {
		return 0, false, fmt.Errorf("sqlstore.Risk.Record: %w: %w", bot.ErrUnavailable, err)
	}
	return stored.ID, stored.ClaimToken == row.ClaimToken, nil
}

// ClaimReminder reports whether this is person's first reminder in
// scope.
func (s *Risk) ClaimReminder(ctx context.Context, person bot.PersonID, scope string, at time.Time) (bool, error) {
	row := riskReminderRow{Key: hashKey(string(person), scope), ClaimToken: claimToken(), CreatedAt: dbTime(at)}
	g := s.db.gorm.WithContext(ctx)
	if err := g.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return false, fmt.Errorf("sqlstore.Risk.ClaimReminder: %w: %w", bot.ErrUnavailable, err)
	}
	var stored riskReminderRow
	if err := g.Select("claim_token").Where("reminder_key = ?", row.Key).Take(&stored).Error; err != nil {
		return false, fmt.Errorf("sqlstore.Risk.ClaimReminder: %w: %w", bot.ErrUnavailable, err)
	}
	return stored.ClaimToken == row.ClaimToken, nil
}

// Summary describes the events of scope and category in [from, to).
func (s *Risk) Summary(ctx context.Context, scope string, c risk.Category, from, to time.Time) (risk.Summary, error) {
	g := s.db.gorm.WithContext(ctx)
	where := g.Model(&riskEventRow{}).Where("scope_hash = ? AND category = ? AND created_at >= ? AND created_at < ?", hashKey(scope), string(c), dbTime(from), dbTime(to))
	var agg struct {
		N       int64
		Senders int64
		Max     *int
	}
	if err := where.Select("COUNT(*) AS n, COUNT(DISTINCT person) AS senders, MAX(severity) AS max").Scan(&agg).Error; err != nil {
		return risk.Summary{}, fmt.Errorf("sqlstore.Risk.Summary: %w: %w", bot.ErrUnavailable, err)
	}
	sum := risk.Summary{Count: int(agg.N), Senders: int(agg.Senders)}
	if agg.Max != nil {
		sum.Max = risk.Severity(*agg.Max)
	}
	if sum.Count == 0 {
		return sum, nil
	}
	var last riskEventRow
	err := g.Where("scope_hash = ? AND category = ? AND created_at >= ? AND created_at < ?", hashKey(scope), string(c), dbTime(from), dbTime(to)).
		Order("id DESC").Take(&last).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return risk.Summary{}, fmt.Errorf("sqlstore.Risk.Summary: %w: %w", bot.ErrUnavailable, err)
	}
	sum.Last = last.event()
	return sum, nil
}

// RiskFilter selects events for staff.
type RiskFilter = risk.Filter

// ListRisk returns events, newest first. Errors are bot.ErrUnavailable.
func (s *Risk) ListRisk(ctx context.Context, f RiskFilter) ([]risk.Event, error) {
	q := s.db.gorm.WithContext(ctx).Model(&riskEventRow{})
	if f.Category != "" {
		q = q.Where("category = ?", string(f.Category))
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if len(f.Brands) > 0 {
		q = q.Where("brand IN ?", f.Brands)
	}
	if a := f.Account; a != nil {
		q = q.Where("platform = ? AND route_name = ?", string(a.Platform), a.Name)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var rows []riskEventRow
	if err := q.Order("id DESC").Limit(f.Limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sqlstore.Risk.List: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]risk.Event, len(rows))
	for i, r := range rows {
		out[i] = r.event()
	}
	return out, nil
}

// SetRiskStatus moves event id to status: staff acknowledged or
// dismissed it. A dismissed event stays, labelled as a false positive.
// Errors: bot.ErrNotFound for an unknown id, bot.ErrUnavailable.
func (s *Risk) SetRiskStatus(ctx context.Context, id int64, status risk.Status) error {
	res := s.db.gorm.WithContext(ctx).Model(&riskEventRow{}).Where("id = ?", id).
		Updates(map[string]any{"status": string(status), "updated_at": dbTime(s.db.now())})
	if res.Error != nil {
		return fmt.Errorf("sqlstore.Risk.SetStatus: %w: %w", bot.ErrUnavailable, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("sqlstore.Risk.SetStatus %d: %w", id, bot.ErrNotFound)
	}
	return nil
}

func (r riskEventRow) event() risk.Event {
	return risk.Event{
		ID: r.ID, Category: risk.Category(r.Category), Severity: risk.Severity(r.Severity), Source: r.Source,
		Evidence: r.Evidence, TextMasked: r.TextMasked, Platform: bot.Platform(r.Platform), Account: bot.AccountID(r.Account),
		Route:        bot.Route{Brand: r.Brand, Name: r.RouteName},
		Conversation: bot.GroupID(r.Conv), Sender: bot.UserID(r.Sender), Person: bot.PersonID(r.Person), Scope: r.Scope,
		Count: r.Count, Status: risk.Status(r.Status), CreatedAt: r.CreatedAt.UTC(),
	}
}

// RiskEvent returns event id. Errors: bot.ErrNotFound for an unknown id,
// bot.ErrUnavailable.
func (s *Risk) RiskEvent(ctx context.Context, id int64) (risk.Event, error) {
	var row riskEventRow
	err := s.db.gorm.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return risk.Event{}, fmt.Errorf("sqlstore.Risk.RiskEvent %d: %w", id, bot.ErrNotFound)
	case err != nil:
		return risk.Event{}, fmt.Errorf("sqlstore.Risk.RiskEvent: %w: %w", bot.ErrUnavailable, err)
	}
	return row.event(), nil
}
