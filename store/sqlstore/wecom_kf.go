package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/siyu-bot/siyu/bot"
)

// weComCursorRow is a named position in a WeCom pull API: a 微信客服
// account's sync_msg cursor, the chat archive's seq.
type weComCursorRow struct {
	ID        int64     `gorm:"primaryKey;autoIncrement"`
	CorpID    string    `gorm:"type:varchar(32);not null;uniqueIndex:ux_wecom_cursors,priority:1"`
	Name      string    `gorm:"type:varchar(128);not null;uniqueIndex:ux_wecom_cursors,priority:2"`
	Value     string    `gorm:"type:varchar(256);not null"`
	UpdatedAt time.Time `gorm:"precision:6;not null"`
}

func (weComCursorRow) TableName() string { return "wecom_cursors" }

// Cursor returns the cursor stored under name, or "" when there is none.
// Errors are bot.ErrUnavailable.
func (s *WeCom) Cursor(ctx context.Context, corpID, name string) (string, error) {
	var row weComCursorRow
	err := s.db.gorm.WithContext(ctx).Where("corp_id = ? AND name = ?", corpID, name).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlstore.WeCom.Cursor %s: %w: %w", name, bot.ErrUnavailable, err)
	}
	return row.Value, nil
}

// SetCursor stores a cursor under name. Names are at most 128 characters
// and values 256 (else bot.ErrInvalid); WeCom's cursors are at most 64
// bytes. Errors are otherwise bot.ErrUnavailable.
func (s *WeCom) SetCursor(ctx context.Context, corpID, name, value string) error {
	if corpID == "" || name == "" || len(name) > 128 || len(value) > 256 {
		return fmt.Errorf("sqlstore.WeCom.SetCursor %q: %w", name, bot.ErrInvalid)
	}
	row := weComCursorRow{CorpID: corpID, Name: name, Value: value, UpdatedAt: dbTime(s.db.now())}
	err := s.db.gorm.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "corp_id"}, {Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("sqlstore.WeCom.SetCursor %s: %w: %w", name, bot.ErrUnavailable, err)
	}
	return nil
}

// weComKFSessionRow tracks one customer's reply allowance on one 微信客服
// account: WeCom lets an app send a few messages within a window after
// each message from the customer.
type weComKFSessionRow struct {
	ID             int64     `gorm:"primaryKey;autoIncrement"`
	CorpID         string    `gorm:"type:varchar(32);not null;uniqueIndex:ux_wecom_kf_sessions,priority:1"`
	OpenKfID       string    `gorm:"type:varchar(64);not null;uniqueIndex:ux_wecom_kf_sessions,priority:2"`
	ExternalUserID string    `gorm:"type:varchar(64);not null;uniqueIndex:ux_wecom_kf_sessions,priority:3"`
	LastCustomerAt time.Time `gorm:"precision:6;not null"`
	Replies        int       `gorm:"not null;default:0"` // sent since LastCustomerAt
	CreatedAt      time.Time `gorm:"precision:6;not null"`
	UpdatedAt      time.Time `gorm:"precision:6;not null"`
}

func (weComKFSessionRow) TableName() string { return "wecom_kf_sessions" }

// TouchKFSession records a customer's message at time at: the reply
// allowance starts afresh from it. An older message (a re-pulled page)
// changes nothing. Errors are bot.ErrUnavailable.
func (s *WeCom) TouchKFSession(ctx context.Context, corpID, openKfID, externalUserID string, at time.Time) error {
	at = dbTime(at)
	row := weComKFSessionRow{CorpID: corpID, OpenKfID: openKfID, ExternalUserID: externalUserID, LastCustomerAt: at}
	err := upsertThenUpdate(s.db.gorm.WithContext(ctx), &row, &weComKFSessionRow{},
		"corp_id = ? AND open_kf_id = ? AND external_user_id = ? AND last_customer_at < ?",
		[]any{corpID, openKfID, externalUserID, at},
		map[string]any{"last_customer_at": at, "replies": 0, "updated_at": dbTime(s.db.now())})
	if err != nil {
		return fmt.Errorf("sqlstore.WeCom.TouchKFSession: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// ReserveKFReply takes one of the maxReplies replies allowed since the
// customer's last message, if that message is within window of now. It
// fails with bot.ErrInvalid, saying why, when the customer never wrote,
// the window has closed or the replies are used up: WeCom would refuse
// the message, and retrying cannot help. Other errors are
// bot.ErrUnavailable.
func (s *WeCom) ReserveKFReply(ctx context.Context, corpID, openKfID, externalUserID string, now time.Time, window time.Duration, maxReplies int) error {
	g := s.db.gorm.WithContext(ctx)
	since := dbTime(now.Add(-window))
	res := g.Model(&weComKFSessionRow{}).
		Where("corp_id = ? AND open_kf_id = ? AND external_user_id = ? AND replies < ? AND last_customer_at >= ?",
			corpID, openKfID, externalUserID, maxReplies, since).
		Updates(map[string]any{"replies": gorm.Expr("replies + 1"), "updated_at": dbTime(s.db.now())})
	if res.Error != nil {
		return fmt.Errorf("sqlstore.WeCom.ReserveKFReply: %w: %w", bot.ErrUnavailable, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	var row weComKFSessionRow
	err := g.Where("corp_id = ? AND open_kf_id = ? AND external_user_id = ?", corpID, openKfID, externalUserID).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("sqlstore.WeCom.ReserveKFReply: the customer has not written to this 微信客服 account: %w", bot.ErrInvalid)
	case err != nil:
		return fmt.Errorf("sqlstore.WeCom.ReserveKFReply: %w: %w", bot.ErrUnavailable, err)
	case row.LastCustomerAt.Before(since):
		return fmt.Errorf("sqlstore.WeCom.ReserveKFReply: the customer's last message is older than %s: %w", window, bot.ErrInvalid)
	}
	return fmt.Errorf("sqlstore.WeCom.ReserveKFReply: %d replies already sent since the customer's last message: %w", row.Replies, bot.ErrInvalid)
}

// ReleaseKFReply gives back a reply reserved for a message that was not
// sent after all. Errors are bot.ErrUnavailable.
func (s *WeCom) ReleaseKFReply(ctx context.Context, corpID, openKfID, externalUserID string) error {
	err := s.db.gorm.WithContext(ctx).Model(&weComKFSessionRow{}).
		Where("corp_id = ? AND open_kf_id = ? AND external_user_id = ? AND replies > 0", corpID, openKfID, externalUserID).
		Updates(map[string]any{"replies": gorm.Expr("replies - 1"), "updated_at": dbTime(s.db.now())}).Error
	if err != nil {
		return fmt.Errorf("sqlstore.WeCom.ReleaseKFReply: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// weComTemplateRow is one group welcome template (入群欢迎语素材) siyu
// created in WeCom from the scripts' welcome.group texts: slot i holds
// the i-th text.
type weComTemplateRow struct {
	ID         int64     `gorm:"primaryKey;autoIncrement"`
	CorpID     string    `gorm:"type:varchar(32);not null;uniqueIndex:ux_wecom_templates,priority:1"`
	Slot       int       `gorm:"not null;uniqueIndex:ux_wecom_templates,priority:2"`
	TemplateID string    `gorm:"type:varchar(128);not null"`
	Text       string    `gorm:"type:text;not null"`
	UpdatedAt  time.Time `gorm:"precision:6;not null"`
}

func (weComTemplateRow) TableName() string { return "wecom_group_welcome_templates" }

// WeComTemplate is a group welcome template siyu manages.
type WeComTemplate struct {
	Slot       int
	TemplateID string
	Text       string
}

// Templates returns the group welcome templates of a corp by slot.
// Errors are bot.ErrUnavailable.
func (s *WeCom) Templates(ctx context.Context, corpID string) ([]WeComTemplate, error) {
	var rows []weComTemplateRow
	if err := s.db.gorm.WithContext(ctx).Where("corp_id = ?", corpID).Order("slot").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sqlstore.WeCom.Templates: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]WeComTemplate, len(rows))
	for i, r := range rows {
		out[i] = WeComTemplate{Slot: r.Slot, TemplateID: r.TemplateID, Text: r.Text}
	}
	return out, nil
}

// PutTemplate stores the template in a slot, replacing what was there.
// Texts longer than 4000 characters are bot.ErrInvalid (WeCom refuses
// them too); other errors are bot.ErrUnavailable.
func (s *WeCom) PutTemplate(ctx context.Context, corpID string, slot int, templateID, text string) error {
	if len([]rune(text)) > maxWeComTextLen || templateID == "" {
		return fmt.Errorf("sqlstore.WeCom.PutTemplate %d: %w", slot, bot.ErrInvalid)
	}
	row := weComTemplateRow{CorpID: corpID, Slot: slot, TemplateID: templateID, Text: text, UpdatedAt: dbTime(s.db.now())}
	err := s.db.gorm.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "corp_id"}, {Name: "slot"}},
		DoUpdates: clause.AssignmentColumns([]string{"template_id", "text", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("sqlstore.WeCom.PutTemplate %d: %w: %w", slot, bot.ErrUnavailable, err)
	}
	return nil
}

// DeleteTemplate forgets the template in a slot. Errors are
// bot.ErrUnavailable.
func (s *WeCom) DeleteTemplate(ctx context.Context, corpID string, slot int) error {
	err := s.db.gorm.WithContext(ctx).Where("corp_id = ? AND slot = ?", corpID, slot).Delete(&weComTemplateRow{}).Error
	if err != nil {
		return fmt.Errorf("sqlstore.WeCom.DeleteTemplate %d: %w: %w", slot, bot.ErrUnavailable, err)
	}
	return nil
}
