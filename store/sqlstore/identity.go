package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/identity"
)

// Bounds of the identity cache: links are facts that do not change (an
// openid's unionid is fixed), so a replica may keep them for a while.
const (
	identityCacheSize = 100_000
	identityCacheTTL  = 10 * time.Minute
)

// Identities stores the links between platform users and WeChat
// unionids: the database is the truth shared by replicas, and each
// replica keeps an LRU of the unionids it looked up, so a linked
// customer's message costs no query. Users without one (not stored, or
// stored as "none") are never cached: another replica may store their
// link any moment, and one indexed query is cheap.
type Identities struct {
	db    *DB
	cache *expirable.LRU[identityKey, identity.Link]
}

// Interface guard.
var _ identity.Store = (*Identities)(nil)

type identityKey struct {
	platform bot.Platform
	account  bot.AccountID
	user     bot.UserID
}

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
	return &Identities{db: db, cache: expirable.NewLRU[identityKey, identity.Link](identityCacheSize, nil, identityCacheTTL)}, nil
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
	k := identityKey{p, account, user}
	if l, ok := s.cache.Get(k); ok {
		return l, true, nil
	}
	var row identityRow
	err := s.db.gorm.WithContext(ctx).
		Where("platform = ? AND account = ? AND user_id = ?", string(p), string(account), string(user)).
		Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return identity.Link{}, false, nil
	case err != nil:
		return identity.Link{}, false, fmt.Errorf("sqlstore.Identities.Lookup: %w: %w", bot.ErrUnavailable, err)
	}
	l := identity.Link{Platform: p, Account: account, User: user, UnionID: row.UnionID, CheckedAt: row.CheckedAt.UTC()}
	if l.UnionID != "" {
		s.cache.Add(k, l)
	}
	return l, true, nil
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
	err := s.db.gorm.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "platform"}, {Name: "account"}, {Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns(update),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, err)
	}
	k := identityKey{l.Platform, l.Account, l.User}
	if l.UnionID == "" {
		// Another answer may have stored one: read the truth next time.
		s.cache.Remove(k)
		return nil
	}
	l.CheckedAt = row.CheckedAt
	s.cache.Add(k, l)
	return nil
}
