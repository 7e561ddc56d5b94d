package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/identity"
)

// Identities stores the links between platform users and WeChat
// unionids: the database is the truth shared by replicas. It caches
// nothing: bot/identity keeps each replica's cache and index, which
// know when another replica learnt a link.
type Identities struct {
	db *DB
}

// Interface guard.
var _ identity.Store = (*Identities)(nil)

// NewIdentities returns the identity store in db, creating its table when
// missing. Errors are bot.ErrUnavailable.
func NewIdentities(ctx context.Context, db *DB) (*Identities, error) {
	g := db.migrator(ctx)
	err := g.AutoMigrate(&identityRow{})
	if err != nil {
		// Two replicas starting at once may race to create the table.
		err = g.AutoMigrate(&identityRow{})
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore.NewIdentities: migrate: %w: %w", bot.ErrUnavailable, err)
	}
	return &Identities{db: db}, nil
}

// identityRow is one user's link; UnionID empty means the platform was
// asked and gave none.
type identityRow struct {
	ID        int64     `gorm:"primaryKey;autoIncrement"`
	Platform  string    `gorm:"type:varchar(16);not null;uniqueIndex:ux_identity_user,priority:1"`
	Account   string    `gorm:"type:varchar(96);not null;uniqueIndex:ux_identity_user,priority:2"`
	UserID    string    `gorm:"type:varchar(96);not null;uniqueIndex:ux_identity_user,priority:3"`
	UnionID   string    `gorm:"type:varchar(64);not null;default:'';index:ix_identity_union"`
	CheckedAt time.Time `gorm:"precision:6;not null"`
}

func (identityRow) TableName() string { return "identity_links" }

// Lookup implements identity.Store.
func (s *Identities) Lookup(ctx context.Context, p bot.Platform, account bot.AccountID, user bot.UserID) (identity.Link, bool, error) {
	var row identityRow
	err := s.db.prepared(ctx).
		Where("platform = ? AND account = ? AND user_id = ?", string(p), string(account), string(user)).
		Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return identity.Link{}, false, nil
	case err != nil:
		return identity.Link{}, false, fmt.Errorf("sqlstore.Identities.Lookup: %w: %w", bot.ErrUnavailable, err)
	}
	return identity.Link{Platform: p, Account: account, User: user, UnionID: row.UnionID, CheckedAt: row.CheckedAt.UTC()}, true, nil
}

// Save implements identity.Store. A unionid once stored is kept when a
// later answer has none (a contact who was removed since).
func (s *Identities) Save(ctx context.Context, l identity.Link) error {
	const op = "sqlstore.Identities.Save"
	if l.Platform == "" || l.Account == "" || l.User == "" || len(l.Platform) > 16 || len(l.Account) > 96 || len(l.User) > 96 || len(l.UnionID) > 64 {
		return fmt.Errorf("%s: ids empty or too long: %w", op, bot.ErrInvalid)
	}
	row := identityRow{Platform: string(l.Platform), Account: string(l.Account), UserID: string(l.User), UnionID: l.UnionID, CheckedAt: dbTime(l.CheckedAt)}
	if row.CheckedAt.IsZero() {
		row.CheckedAt = dbTime(s.db.now())
	}
	update := []string{"checked_at"}
	if l.UnionID != "" {
		update = append(update, "union_id")
	}
	err := s.db.prepared(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "platform"}, {Name: "account"}, {Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns(update),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, err)
	}
	return nil
}

// linkedBatch is how many linked users one query of Linked reads: short
// queries, so a large table never holds SQLite's one connection (or a
// MySQL one) for long, and little memory per batch.
const linkedBatch = 5000

// Linked implements identity.Store, in batches in id order. A user
// linked after its batch was read is left out (the caller hears of it
// otherwise); one whose row was linked in place after the scan passed
// it too.
func (s *Identities) Linked(ctx context.Context, fn func(p bot.Platform, account bot.AccountID, user bot.UserID)) error {
	return s.linked(ctx, linkedBatch, fn)
}

func (s *Identities) linked(ctx context.Context, batch int, fn func(p bot.Platform, account bot.AccountID, user bot.UserID)) error {
	var after int64
	for {
		var rows []identityRow
		err := s.db.gorm.WithContext(ctx).Select("id", "platform", "account", "user_id").
			Where("union_id <> '' AND id > ?", after).Order("id").Limit(batch).Find(&rows).Error
		if err != nil {
			return fmt.Errorf("sqlstore.Identities.Linked: %w: %w", bot.ErrUnavailable, err)
		}
		for _, r := range rows {
			fn(bot.Platform(r.Platform), bot.AccountID(r.Account), bot.UserID(r.UserID))
		}
		if len(rows) < batch {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}
