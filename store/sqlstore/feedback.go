package sqlstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/feedback"
)

// Feedback keeps bot/feedback's labelled lines: masked messages staff
// labelled (risk events dismissed or acknowledged, dry-runs corrected),
// exported into knowledge/ for retraining.
type Feedback struct {
	db *DB
}

// Interface guard.
var _ feedback.Store = (*Feedback)(nil)

// NewFeedback returns the labelled-lines store in db, creating its table
// when missing. Errors are bot.ErrUnavailable.
func NewFeedback(ctx context.Context, db *DB) (*Feedback, error) {
	if err := db.migrateTables(ctx, &feedbackLineRow{}); err != nil {
		return nil, fmt.Errorf("sqlstore.NewFeedback: %w", err)
	}
	return &Feedback{db: db}, nil
}

// maxFeedbackTextLen holds feedback.MaxRunes characters; longer texts
// are cut before they get here.
const maxFeedbackTextLen = 500

// feedbackLineRow is one labelled line. It holds no customer id and no
// time of the message: the line is the masked text and its label.
type feedbackLineRow struct {
	ID int64 `gorm:"primaryKey;autoIncrement"`
	// LineKey is a hash of the line's origin (feedback.Line.Key): unique,
	// so labelling the same origin again replaces the line.
	LineKey   string    `gorm:"type:char(64);not null;uniqueIndex:ux_feedback_lines_key"`
	Dataset   string    `gorm:"type:varchar(32);not null;index:ix_feedback_lines_dataset,priority:1"`
	Label     string    `gorm:"type:varchar(64);not null"`
	Text      string    `gorm:"type:varchar(500);not null"`
	Source    string    `gorm:"type:varchar(32);not null;default:''"`
	Was       string    `gorm:"type:varchar(64);not null;default:''"`
	CreatedAt time.Time `gorm:"precision:6;not null"`
	UpdatedAt time.Time `gorm:"precision:6;not null;index:ix_feedback_lines_dataset,priority:2"`
}

func (feedbackLineRow) TableName() string { return "feedback_lines" }

// Put implements feedback.Store: an upsert on the line's key.
func (s *Feedback) Put(ctx context.Context, l feedback.Line) error {
	at := l.At
	if at.IsZero() {
		at = s.db.now()
	}
	row := feedbackLineRow{
		LineKey: hashKey(l.Key), Dataset: truncate(l.Dataset, 32), Label: truncate(l.Label, 64),
		Text: truncate(l.Text, maxFeedbackTextLen), Source: truncate(l.Source, 32), Was: truncate(l.Was, 64),
		CreatedAt: dbTime(at), UpdatedAt: dbTime(at),
	}
	err := s.db.gorm.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "line_key"}},
		DoUpdates: clause.AssignmentColumns([]string{"dataset", "label", "text", "source", "was", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("sqlstore.Feedback.Put: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// Lines implements feedback.Store: the latest labelled first.
func (s *Feedback) Lines(ctx context.Context, dataset string, limit int) ([]feedback.Line, error) {
	if limit <= 0 {
		limit = 100
	}
	var rows []feedbackLineRow
	err := s.db.gorm.WithContext(ctx).Where("dataset = ?", dataset).
		Order("updated_at DESC").Order("id DESC").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Feedback.Lines: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]feedback.Line, len(rows))
	for i, r := range rows {
		out[i] = feedback.Line{Dataset: r.Dataset, Label: r.Label, Text: r.Text, Source: r.Source, Was: r.Was, Key: r.LineKey, At: r.UpdatedAt.UTC()}
	}
	return out, nil
}
