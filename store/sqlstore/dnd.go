package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/dnd"
)

// maxPersonLen bounds stored person ids: a PersonID is at most
// "douyin:" plus two platform ids of a few dozen characters; 191
// characters of utf8mb4 keep the primary key within 767 bytes.
const maxPersonLen = 191

// DND is do-not-disturb's durable state: who opted out (the truth every
// replica reads before a proactive message goes out) and what was held
// back, for staff.
type DND struct {
	db *DB
}

// Interface guard.
var _ dnd.Store = (*DND)(nil)

// NewDND returns the do-not-disturb store in db, creating its tables when
// missing. Errors are bot.ErrUnavailable.
func NewDND(ctx context.Context, db *DB) (*DND, error) {
	if err := db.migrateTables(ctx, &dndOptOutRow{}, &dndHeldRow{}); err != nil {
		return nil, fmt.Errorf("sqlstore.NewDND: %w", err)
	}
	return &DND{db: db}, nil
}

// dndOptOutRow is one person's choice. A row with opted_out false is a
// person who opted back in (since is then when).
type dndOptOutRow struct {
	Person   string `gorm:"type:varchar(191);primaryKey"`
	OptedOut bool   `gorm:"not null;index:ix_dnd_opt_outs_out_since,priority:1"`
	// The index serves the console: counting who opted out (since
	// midnight) and listing them newest first, without reading rows.
	Since     time.Time `gorm:"precision:6;not null;index:ix_dnd_opt_outs_out_since,priority:2"`
	UpdatedAt time.Time `gorm:"precision:6;not null"`
}

func (dndOptOutRow) TableName() string { return "dnd_opt_outs" }

// dndHeldRow is one proactive action held back.
type dndHeldRow struct {
	ID int64 `gorm:"primaryKey;autoIncrement"`
	// HoldKey names the push (dnd.HeldBack.Key); NULL for none.
	HoldKey   *string    `gorm:"type:varchar(64);index:ix_dnd_held_key"`
	Person    string     `gorm:"type:varchar(191);not null;index:ix_dnd_held_person"`
	Platform  string     `gorm:"type:varchar(16);not null"`
	Topic     string     `gorm:"type:varchar(64);not null;default:''"`
	Reason    string     `gorm:"type:varchar(64);not null"`
	Action    string     `gorm:"type:varchar(32);not null"`
	Until     *time.Time `gorm:"precision:6"`
	CreatedAt time.Time  `gorm:"precision:6;not null;index:ix_dnd_held_created"`
}

func (dndHeldRow) TableName() string { return "dnd_held" }

func personKey(op string, p bot.PersonID) (string, error) {
	if p == "" || len(p) > maxPersonLen {
		return "", fmt.Errorf("%s: person id empty or longer than %d: %w", op, maxPersonLen, bot.ErrInvalid)
	}
	return string(p), nil
}

// SetOptOut implements dnd.Store.
func (s *DND) SetOptOut(ctx context.Context, person bot.PersonID, optedOut bool, at time.Time) (bool, error) {
	const op = "sqlstore.DND.SetOptOut"
	key, err := personKey(op, person)
	if err != nil {
		return false, err
	}
	g := s.db.gorm.WithContext(ctx)
	now := dbTime(s.db.now())
	// Change the row only when it says otherwise: RowsAffected (matched
	// rows, see mysqlDSN) then tells whether this call changed it.
	res := g.Model(&dndOptOutRow{}).Where("person = ? AND opted_out <> ?", key, optedOut).
		Updates(map[string]any{"opted_out": optedOut, "since": dbTime(at), "updated_at": now})
	if res.Error != nil {
		return false, fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, res.Error)
	}
	if res.RowsAffected > 0 {
		return true, nil
	}
	var row dndOptOutRow
	err = g.Where("person = ?", key).Take(&row).Error
	switch {
	case err == nil:
		return false, nil // already so
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return false, fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, err)
	}
	if !optedOut {
		return false, nil // never opted out: nothing to record
	}
	row = dndOptOutRow{Person: key, OptedOut: true, Since: dbTime(at), UpdatedAt: now}
	if err := g.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return false, fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, err)
	}
	// Two replicas racing on the first opt-out may both say changed; the
	// person is then confirmed twice, once per replica, and never again.
	return true, nil
}

// AnyOptedOut implements dnd.Store.
func (s *DND) AnyOptedOut(ctx context.Context, persons ...bot.PersonID) (bool, error) {
	if len(persons) == 0 {
		return false, nil
	}
	keys := make([]string, len(persons))
	for i, p := range persons {
		keys[i] = string(p)
	}
	var n int64
	// Prepared: one or two names, so two shapes, asked of every push.
	err := s.db.prepared(ctx).Model(&dndOptOutRow{}).
		Where("person IN ? AND opted_out = ?", keys, true).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("sqlstore.DND.AnyOptedOut: %w: %w", bot.ErrUnavailable, err)
	}
	return n > 0, nil
}

// OptOut implements dnd.Store: since is when the person opted out (or
// back in); zero when siyu has never recorded a choice.
func (s *DND) OptOut(ctx context.Context, person bot.PersonID) (bool, time.Time, error) {
	var row dndOptOutRow
	err := s.db.gorm.WithContext(ctx).Where("person = ?", string(person)).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return false, time.Time{}, nil
	case err != nil:
		return false, time.Time{}, fmt.Errorf("sqlstore.DND.OptOut: %w: %w", bot.ErrUnavailable, err)
	}
	return row.OptedOut, row.Since.UTC(), nil
}

// RecordHeld implements dnd.Store.
func (s *DND) RecordHeld(ctx context.Context, h dnd.HeldBack) error {
	row := dndHeldRow{
		Person: truncate(h.Person, maxPersonLen), Platform: truncate(string(h.Platform), 16),
		Topic: truncate(h.Topic, 64), Reason: truncate(h.Reason, 64), Action: truncate(h.Action, 32),
		CreatedAt: dbTime(h.At),
	}
	if row.CreatedAt.IsZero() {
		row.CreatedAt = dbTime(s.db.now())
	}
	if !h.Until.IsZero() {
		u := dbTime(h.Until)
		row.Until = &u
	}
	g := s.db.prepared(ctx)
	if h.Key != "" {
		key := truncate(h.Key, 64)
		row.HoldKey = &key
		// The same push come back when it was due and held again: its
		// record says what happened last (dnd.Store's contract). One
		// replica holds a due row's lease, so no other writes this record
		// meanwhile.
		var prev dndHeldRow
		err := g.Where("hold_key = ? AND until IS NOT NULL AND until <= ?", key, row.CreatedAt).
			Order("id DESC").Limit(1).Find(&prev).Error
		if err != nil {
			return fmt.Errorf("sqlstore.DND.RecordHeld: %w: %w", bot.ErrUnavailable, err)
		}
		if prev.ID != 0 {
			row.ID = prev.ID
			err := g.Model(&dndHeldRow{}).Where("id = ?", prev.ID).Updates(map[string]any{
				"person": row.Person, "platform": row.Platform, "topic": row.Topic, "reason": row.Reason,
				"action": row.Action, "until": row.Until, "created_at": row.CreatedAt,
			}).Error
			if err != nil {
				return fmt.Errorf("sqlstore.DND.RecordHeld: %w: %w", bot.ErrUnavailable, err)
			}
			return nil
		}
	}
	if err := g.Create(&row).Error; err != nil {
		return fmt.Errorf("sqlstore.DND.RecordHeld: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// Held implements dnd.Store. limit must be 1…MaxListLimit (else
// bot.ErrInvalid).
func (s *DND) Held(ctx context.Context, limit int) ([]dnd.HeldBack, error) {
	if limit <= 0 || limit > MaxListLimit {
		return nil, fmt.Errorf("sqlstore.DND.Held: limit %d: %w", limit, bot.ErrInvalid)
	}
	var rows []dndHeldRow
	// Newest first by when it was last held: a record replaced by its
	// push's later hold moves up.
	if err := s.db.gorm.WithContext(ctx).Order("created_at DESC, id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sqlstore.DND.Held: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]dnd.HeldBack, len(rows))
	for i, r := range rows {
		out[i] = dnd.HeldBack{Key: deref(r.HoldKey), Person: r.Person, Platform: bot.Platform(r.Platform), Topic: r.Topic, Reason: r.Reason, Action: r.Action, At: r.CreatedAt.UTC()}
		if r.Until != nil {
			out[i].Until = r.Until.UTC()
		}
	}
	return out, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// OptOutRecord is one person who opted out (admin.OptOut).
type OptOutRecord struct {
	Person string
	Since  time.Time
}

// OptedOut returns up to limit people who opted out, newest first,
// after cursor ("<since RFC3339Nano>|<person>" of the last of the page
// before; "" for the first page), over the since index.
func (s *DND) OptedOut(ctx context.Context, cursor string, limit int) ([]OptOutRecord, error) {
	if limit <= 0 || limit > MaxListLimit+1 {
		return nil, fmt.Errorf("sqlstore.DND.OptedOut: limit %d: %w", limit, bot.ErrInvalid)
	}
	q := s.db.gorm.WithContext(ctx).Where("opted_out = ?", true).Order("since DESC, person DESC").Limit(limit)
	if cursor != "" {
		ts, person, ok := strings.Cut(cursor, "|")
		since, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil {
			return nil, fmt.Errorf("sqlstore.DND.OptedOut: cursor: %w", bot.ErrInvalid)
		}
		since = dbTime(since)
		q = q.Where("since < ? OR (since = ? AND person < ?)", since, since, person)
	}
	var rows []dndOptOutRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sqlstore.DND.OptedOut: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]OptOutRecord, len(rows))
	for i, r := range rows {
		out[i] = OptOutRecord{Person: r.Person, Since: r.Since.UTC()}
	}
	return out, nil
}

// CountOptedOut counts everyone opted out, and those who did since
// then.
func (s *DND) CountOptedOut(ctx context.Context, since time.Time) (total, sinceThen int, err error) {
	var res struct {
		Total, Recent int64
	}
	err = s.db.gorm.WithContext(ctx).Model(&dndOptOutRow{}).Where("opted_out = ?", true).
		Select("COUNT(*) AS total, COALESCE(SUM(CASE WHEN since >= ? THEN 1 ELSE 0 END), 0) AS recent", dbTime(since)).Scan(&res).Error
	if err != nil {
		return 0, 0, fmt.Errorf("sqlstore.DND.CountOptedOut: %w: %w", bot.ErrUnavailable, err)
	}
	return int(res.Total), int(res.Recent), nil
}
