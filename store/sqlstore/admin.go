package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/siyu-bot/siyu/bot"
)

// Admin is the staff console's durable state: staff accounts, the audit
// log of their changes, and the directory of customers the console has
// shown (so a masked id can be looked up again). Every replica reads it.
// Its record types mirror handlers/admin's field for field; the root
// package adapts them, so this package never imports handlers.
type Admin struct {
	db *DB
}

// NewAdmin returns the console's store in db, creating its tables when
// missing. Errors are bot.ErrUnavailable.
func NewAdmin(ctx context.Context, db *DB) (*Admin, error) {
	if err := db.migrateTables(ctx, &staffRow{}, &auditRow{}, &personRow{}); err != nil {
		return nil, fmt.Errorf("sqlstore.NewAdmin: %w", err)
	}
	return &Admin{db: db}, nil
}

// StaffMember is one staff account (admin.StaffMember).
type StaffMember struct {
	Name         string
	Role         string
	PasswordHash string
	Disabled     bool
	// Brands limit the member to those brands; none is every brand.
	Brands    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

type staffRow struct {
	Name         string `gorm:"type:varchar(128);primaryKey"`
	Role         string `gorm:"type:varchar(16);not null"`
	PasswordHash string `gorm:"type:varchar(255);not null"`
	Disabled     bool   `gorm:"not null;default:false"`
	// Brands are the member's brands joined by commas (a brand's name
	// has none); '' is every brand, which is what a table made before
	// brands existed gets when the column is added.
	Brands    string    `gorm:"type:varchar(2200);not null;default:''"`
	CreatedAt time.Time `gorm:"precision:6;not null"`
	UpdatedAt time.Time `gorm:"precision:6;not null"`
}

func (staffRow) TableName() string { return "admin_staff" }

// maxBrandsLen bounds the joined brands: 32 brands of 64 characters
// and their commas.
const maxBrandsLen = 2200

func (r staffRow) member() StaffMember {
	m := StaffMember{Name: r.Name, Role: r.Role, PasswordHash: r.PasswordHash, Disabled: r.Disabled, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if r.Brands != "" {
		m.Brands = strings.Split(r.Brands, ",")
	}
	return m
}

func rowOf(m StaffMember) (staffRow, error) {
	brands, err := joinBrands(m.Brands)
	return staffRow{Name: m.Name, Role: m.Role, PasswordHash: m.PasswordHash, Disabled: m.Disabled, Brands: brands, CreatedAt: dbTime(m.CreatedAt), UpdatedAt: dbTime(m.UpdatedAt)}, err
}

// joinBrands keeps brands in one column; a brand with a comma, an empty
// one or too many are bot.ErrInvalid (handlers/admin checks them first).
func joinBrands(brands []string) (string, error) {
	for _, b := range brands {
		if b == "" || strings.Contains(b, ",") {
			return "", fmt.Errorf("sqlstore.Admin: brand %q: %w", b, bot.ErrInvalid)
		}
	}
	s := strings.Join(brands, ",")
	if utf8.RuneCountInString(s) > maxBrandsLen {
		return "", fmt.Errorf("sqlstore.Admin: brands too long: %w", bot.ErrInvalid)
	}
	return s, nil
}

// Staff returns the account named name; bot.ErrNotFound when none.
func (s *Admin) Staff(ctx context.Context, name string) (StaffMember, error) {
	var r staffRow
	err := s.db.gorm.WithContext(ctx).Where("name = ?", name).Take(&r).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return StaffMember{}, fmt.Errorf("sqlstore.Admin.Staff: %w", bot.ErrNotFound)
	case err != nil:
		return StaffMember{}, fmt.Errorf("sqlstore.Admin.Staff: %w: %w", bot.ErrUnavailable, err)
	}
	return r.member(), nil
}

// ListStaff returns every account by name.
func (s *Admin) ListStaff(ctx context.Context) ([]StaffMember, error) {
	var rows []staffRow
	if err := s.db.gorm.WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sqlstore.Admin.ListStaff: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]StaffMember, len(rows))
	for i, r := range rows {
		out[i] = r.member()
	}
	return out, nil
}

// AddStaff creates an account; bot.ErrConflict when the name is taken.
func (s *Admin) AddStaff(ctx context.Context, m StaffMember) error {
	row, err := rowOf(m)
	if err != nil {
		return err
	}
	err = s.db.gorm.WithContext(ctx).Create(&row).Error
	switch {
	case err != nil && isDuplicate(err):
		return fmt.Errorf("sqlstore.Admin.AddStaff %s: %w", m.Name, bot.ErrConflict)
	case err != nil:
		return fmt.Errorf("sqlstore.Admin.AddStaff: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// UpdateStaff replaces an account's role, hash, disabled flag and
// brands; bot.ErrNotFound when none.
func (s *Admin) UpdateStaff(ctx context.Context, m StaffMember) error {
	brands, err := joinBrands(m.Brands)
	if err != nil {
		return err
	}
	res := s.db.gorm.WithContext(ctx).Model(&staffRow{}).Where("name = ?", m.Name).Updates(map[string]any{
		"role": m.Role, "password_hash": m.PasswordHash, "disabled": m.Disabled, "brands": brands, "updated_at": dbTime(m.UpdatedAt),
	})
	if res.Error != nil {
		return fmt.Errorf("sqlstore.Admin.UpdateStaff: %w: %w", bot.ErrUnavailable, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("sqlstore.Admin.UpdateStaff %s: %w", m.Name, bot.ErrNotFound)
	}
	return nil
}

// RemoveStaff deletes an account; bot.ErrNotFound when none.
func (s *Admin) RemoveStaff(ctx context.Context, name string) error {
	res := s.db.gorm.WithContext(ctx).Where("name = ?", name).Delete(&staffRow{})
	if res.Error != nil {
		return fmt.Errorf("sqlstore.Admin.RemoveStaff: %w: %w", bot.ErrUnavailable, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("sqlstore.Admin.RemoveStaff %s: %w", name, bot.ErrNotFound)
	}
	return nil
}

// AuditEntry is one change staff made (admin.AuditEntry).
type AuditEntry struct {
	ID     int64
	At     time.Time
	Actor  string
	Action string
	Target string
	Detail string
}

type auditRow struct {
	ID     int64     `gorm:"primaryKey;autoIncrement"`
	At     time.Time `gorm:"precision:6;not null"`
	Actor  string    `gorm:"type:varchar(128);not null"`
	Action string    `gorm:"type:varchar(64);not null;index:ix_admin_audit_action"`
	Target string    `gorm:"type:varchar(255);not null;default:''"`
	Detail string    `gorm:"type:varchar(512);not null;default:''"`
}

func (auditRow) TableName() string { return "admin_audit" }

// Record appends an entry to the audit log.
func (s *Admin) Record(ctx context.Context, e AuditEntry) error {
	row := auditRow{At: dbTime(e.At), Actor: truncate(e.Actor, 128), Action: truncate(e.Action, 64), Target: truncate(e.Target, 255), Detail: truncate(e.Detail, 512)}
	if row.At.IsZero() {
		row.At = dbTime(s.db.now())
	}
	if err := s.db.gorm.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("sqlstore.Admin.Record: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// Audit returns up to limit entries older than before (an id; 0 for the
// newest), newest first. limit must be 1…MaxListLimit (else
// bot.ErrInvalid).
func (s *Admin) Audit(ctx context.Context, before int64, limit int) ([]AuditEntry, error) {
	if limit <= 0 || limit > MaxListLimit {
		return nil, fmt.Errorf("sqlstore.Admin.Audit: limit %d: %w", limit, bot.ErrInvalid)
	}
	q := s.db.gorm.WithContext(ctx).Order("id DESC").Limit(limit)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var rows []auditRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sqlstore.Admin.Audit: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = AuditEntry{ID: r.ID, At: r.At.UTC(), Actor: r.Actor, Action: r.Action, Target: r.Target, Detail: r.Detail}
	}
	return out, nil
}

// Recent returns the newest entries of actions, up to limit, newest
// first (who handled which alerts).
func (s *Admin) Recent(ctx context.Context, actions []string, limit int) ([]AuditEntry, error) {
	var rows []auditRow
	err := s.db.gorm.WithContext(ctx).Where("action IN ?", actions).Order("id DESC").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Admin.Recent: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = AuditEntry{ID: r.ID, At: r.At.UTC(), Actor: r.Actor, Action: r.Action, Target: r.Target, Detail: r.Detail}
	}
	return out, nil
}

// personRow is a customer the console showed staff, by the fingerprint
// of their PersonID (bot.Fingerprint's 12 hex digits).
type personRow struct {
	Person string    `gorm:"type:varchar(191);primaryKey"`
	FP     string    `gorm:"column:fp;type:char(12);not null;index:ix_admin_people_fp"`
	SeenAt time.Time `gorm:"precision:6;not null"`
}

func (personRow) TableName() string { return "admin_people" }

// fingerprint is bot.Fingerprint without its "#".
func fingerprint(p string) string {
	sum := sha256.Sum256([]byte(p))
	return hex.EncodeToString(sum[:6])
}

// Remember records persons shown to staff; repeats only move seen_at.
func (s *Admin) Remember(ctx context.Context, persons []string) error {
	if len(persons) == 0 {
		return nil
	}
	now := dbTime(s.db.now())
	rows := make([]personRow, 0, len(persons))
	for _, p := range persons {
		if p == "" || len(p) > maxPersonLen {
			continue
		}
		rows = append(rows, personRow{Person: p, FP: fingerprint(p), SeenAt: now})
	}
	err := s.db.gorm.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "person"}}, DoUpdates: clause.AssignmentColumns([]string{"seen_at"}),
	}).CreateInBatches(rows, 200).Error
	if err != nil {
		return fmt.Errorf("sqlstore.Admin.Remember: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// FindPeople returns up to limit remembered persons whose fingerprint
// starts with fpPrefix (hex), or, when fpPrefix is "", whose PersonID
// ends with ":"+idSuffix.
func (s *Admin) FindPeople(ctx context.Context, fpPrefix, idSuffix string, limit int) ([]string, error) {
	q := s.db.gorm.WithContext(ctx).Model(&personRow{}).Order("person").Limit(limit)
	switch {
	case fpPrefix != "":
		q = q.Where("fp LIKE ? ESCAPE '!'", likeEscape(strings.ToLower(fpPrefix))+"%")
	case idSuffix != "":
		// A suffix cannot use an index; the table holds only the people
		// staff were shown.
		q = q.Where("person LIKE ? ESCAPE '!'", "%:"+likeEscape(idSuffix))
	default:
		return nil, nil
	}
	var out []string
	if err := q.Pluck("person", &out).Error; err != nil {
		return nil, fmt.Errorf("sqlstore.Admin.FindPeople: %w: %w", bot.ErrUnavailable, err)
	}
	return out, nil
}

// likeEscape escapes LIKE's wildcards with '!', an escape character
// MySQL and SQLite read alike (a backslash is not: SQLite has no default).
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}
