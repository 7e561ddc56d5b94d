package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/handover"
)

// Handovers is bot/handover's durable record: each hand-over (when, why,
// the first staff reply, the end) and the text of held conversations,
// for the staff inbox and the counts. Text is kept for the retention the
// capability purges by; nothing here logs it.
type Handovers struct {
	db *DB
}

// Interface guards.
var (
	_ handover.Log     = (*Handovers)(nil)
	_ handover.History = (*Handovers)(nil)
	_ handover.Purger  = (*Handovers)(nil)
)

// NewHandovers returns the hand-over record in db, creating its tables
// when missing. Errors are bot.ErrUnavailable.
func NewHandovers(ctx context.Context, db *DB) (*Handovers, error) {
	if err := db.migrateTables(ctx, &handoverSessionRow{}, &handoverMessageRow{}); err != nil {
		return nil, fmt.Errorf("sqlstore.NewHandovers: %w", err)
	}
	return &Handovers{db: db}, nil
}

// handoverSessionRow is one hand-over.
type handoverSessionRow struct {
	ID       string `gorm:"type:varchar(32);primaryKey"`
	Conv     string `gorm:"type:varchar(191);not null;index:ix_handover_sessions_conv"`
	Platform string `gorm:"type:varchar(16);not null"`
	Account  string `gorm:"type:varchar(128);not null"`
	UserID   string `gorm:"column:user_id;type:varchar(128);not null"`
	// RouteBrand and RouteName are the configured account the customer
	// wrote to (bot.Route; '' for the environment's, and in rows made
	// before accounts existed).
	RouteBrand   string     `gorm:"type:varchar(64);not null;default:''"`
	RouteName    string     `gorm:"type:varchar(64);not null;default:''"`
	Reason       string     `gorm:"type:varchar(32);not null"`
	StartedAt    time.Time  `gorm:"precision:6;not null;index:ix_handover_sessions_started"`
	FirstReplyAt *time.Time `gorm:"precision:6"`
	EndedAt      *time.Time `gorm:"precision:6;index:ix_handover_sessions_ended"`
	EndReason    string     `gorm:"type:varchar(16);not null;default:''"`
}

func (handoverSessionRow) TableName() string { return "handover_sessions" }

// handoverMessageRow is one message of a held conversation.
type handoverMessageRow struct {
	ID      int64     `gorm:"primaryKey;autoIncrement"`
	Session string    `gorm:"type:varchar(32);not null"`
	Conv    string    `gorm:"type:varchar(191);not null;index:ix_handover_messages_conv,priority:1"`
	Party   string    `gorm:"type:varchar(16);not null"`
	Author  string    `gorm:"type:varchar(64);not null;default:''"`
	Text    string    `gorm:"type:text;not null"`
	At      time.Time `gorm:"precision:6;not null;index:ix_handover_messages_at"`
}

func (handoverMessageRow) TableName() string { return "handover_messages" }

// maxConvLen bounds a stored conversation: the longest, a 微信客服
// conversation, is "wecom:" with a corp id, an open_kfid and an
// external_userid, under 100 characters; 191 keeps the index within 767
// bytes of utf8mb4.
const maxConvLen = 191

// Open implements handover.Log.
func (s *Handovers) Open(ctx context.Context, se handover.Session) error {
	const op = "sqlstore.Handovers.Open"
	if se.ID == "" || len(se.ID) > 32 || len(se.Conv) > maxConvLen {
		return fmt.Errorf("%s: id or conversation too long: %w", op, bot.ErrInvalid)
	}
	row := handoverSessionRow{
		ID: se.ID, Conv: string(se.Conv), Platform: truncate(string(se.To.Platform), 16), Account: truncate(string(se.To.Account), 128),
		UserID: truncate(string(se.To.User), 128), Reason: truncate(se.Reason, 32), StartedAt: dbTime(se.StartedAt),
		RouteBrand: se.To.Route.Brand, RouteName: se.To.Route.Name,
	}
	if utf8.RuneCountInString(row.RouteBrand) > 128 || utf8.RuneCountInString(row.RouteName) > 128 {
		// Cut, a route would name another account: refuse it whole.
		return fmt.Errorf("%s: route %q too long: %w", op, se.To.Route.String(), bot.ErrInvalid)
	}
	if err := s.db.gorm.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, err)
	}
	return nil
}

// Close implements handover.Log.
func (s *Handovers) Close(ctx context.Context, id, reason string, at time.Time) error {
	err := s.db.gorm.WithContext(ctx).Model(&handoverSessionRow{}).Where("id = ? AND ended_at IS NULL", id).
		Updates(map[string]any{"ended_at": dbTime(at), "end_reason": truncate(reason, 16)}).Error
	if err != nil {
		return fmt.Errorf("sqlstore.Handovers.Close: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// Replied implements handover.Log: only the first reply's update matches
// the row (first_reply_at IS NULL), whichever replica makes it.
func (s *Handovers) Replied(ctx context.Context, id string, at time.Time) (bool, error) {
	res := s.db.gorm.WithContext(ctx).Model(&handoverSessionRow{}).Where("id = ? AND first_reply_at IS NULL", id).
		Update("first_reply_at", dbTime(at))
	if res.Error != nil {
		return false, fmt.Errorf("sqlstore.Handovers.Replied: %w: %w", bot.ErrUnavailable, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// Add implements handover.Log.
func (s *Handovers) Add(ctx context.Context, m handover.Message) error {
	if len(m.Conv) > maxConvLen {
		return fmt.Errorf("sqlstore.Handovers.Add: conversation too long: %w", bot.ErrInvalid)
	}
	row := handoverMessageRow{
		Session: truncate(m.Session, 32), Conv: string(m.Conv), Party: truncate(string(m.From), 16),
		Author: truncate(m.Author, 64), Text: truncate(m.Text, 4000), At: dbTime(m.At),
	}
	if err := s.db.gorm.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("sqlstore.Handovers.Add: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// Session implements handover.History.
func (s *Handovers) Session(ctx context.Context, id string) (handover.Session, error) {
	var row handoverSessionRow
	err := s.db.gorm.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return handover.Session{}, fmt.Errorf("sqlstore.Handovers.Session: %w", bot.ErrNotFound)
	case err != nil:
		return handover.Session{}, fmt.Errorf("sqlstore.Handovers.Session: %w: %w", bot.ErrUnavailable, err)
	}
	return row.session(), nil
}

func (r handoverSessionRow) session() handover.Session {
	se := handover.Session{
		ID: r.ID, Conv: handover.Conv(r.Conv), Reason: r.Reason, StartedAt: r.StartedAt.UTC(), EndReason: r.EndReason,
		To: bot.Target{Platform: bot.Platform(r.Platform), Account: bot.AccountID(r.Account), User: bot.UserID(r.UserID),
			Route: bot.Route{Brand: r.RouteBrand, Name: r.RouteName}},
	}
	if r.FirstReplyAt != nil {
		se.FirstReplyAt = r.FirstReplyAt.UTC()
	}
	if r.EndedAt != nil {
		se.EndedAt = r.EndedAt.UTC()
	}
	return se
}

// Messages implements handover.History.
func (s *Handovers) Messages(ctx context.Context, conv handover.Conv, limit int) ([]handover.Message, error) {
	if limit <= 0 || limit > MaxListLimit {
		return nil, fmt.Errorf("sqlstore.Handovers.Messages: limit %d: %w", limit, bot.ErrInvalid)
	}
	var rows []handoverMessageRow
	if err := s.db.gorm.WithContext(ctx).Where("conv = ?", string(conv)).Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sqlstore.Handovers.Messages: %w: %w", bot.ErrUnavailable, err)
	}
	slices.Reverse(rows)
	out := make([]handover.Message, len(rows))
	for i, r := range rows {
		out[i] = handover.Message{Session: r.Session, Conv: handover.Conv(r.Conv), From: handover.Party(r.Party), Author: r.Author, Text: r.Text, At: r.At.UTC()}
	}
	return out, nil
}

// Sessions implements handover.History.
func (s *Handovers) Sessions(ctx context.Context, since time.Time, limit int) ([]handover.Session, error) {
	var rows []handoverSessionRow
	if err := s.db.gorm.WithContext(ctx).Where("started_at >= ?", dbTime(since)).Order("started_at").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sqlstore.Handovers.Sessions: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]handover.Session, len(rows))
	for i, r := range rows {
		out[i] = r.session()
	}
	return out, nil
}

// Purge implements handover.Purger: messages older than before, then
// hand-overs that ended before it, at most batch of each, by id (a
// DELETE … LIMIT is MySQL's alone, and MySQL refuses LIMIT in an IN
// subquery, so the ids are read first).
func (s *Handovers) Purge(ctx context.Context, before time.Time, batch int) (int, error) {
	const op = "sqlstore.Handovers.Purge"
	g := s.db.gorm.WithContext(ctx)
	cut := dbTime(before)
	var msgIDs []int64
	if err := g.Model(&handoverMessageRow{}).Where("at < ?", cut).Order("id").Limit(batch).Pluck("id", &msgIDs).Error; err != nil {
		return 0, fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, err)
	}
	n := 0
	if len(msgIDs) > 0 {
		res := g.Where("id IN ?", msgIDs).Delete(&handoverMessageRow{})
		if res.Error != nil {
			return 0, fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, res.Error)
		}
		n += int(res.RowsAffected)
	}
	var ids []string
	if err := g.Model(&handoverSessionRow{}).Where("ended_at < ?", cut).Order("ended_at").Limit(batch).Pluck("id", &ids).Error; err != nil {
		return n, fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, err)
	}
	if len(ids) > 0 {
		res := g.Where("id IN ?", ids).Delete(&handoverSessionRow{})
		if res.Error != nil {
			return n, fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, res.Error)
		}
		n += int(res.RowsAffected)
	}
	return n, nil
}
