package sqlstore_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func mustAdmin(tb testing.TB) *sqlstore.Admin {
	tb.Helper()
	s, err := sqlstore.NewAdmin(tb.Context(), storetest.SQL(tb))
	if err != nil {
		tb.Fatalf("NewAdmin: %v", err)
	}
	return s
}

func TestAdminStaff(t *testing.T) {
	s := mustAdmin(t)
	ctx := t.Context()
	t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	amy := sqlstore.StaffMember{Name: "amy", Role: "admin", PasswordHash: "$argon2id$x", CreatedAt: t0, UpdatedAt: t0}
	if err := s.AddStaff(ctx, amy); err != nil {
		t.Fatal(err)
	}
	if err := s.AddStaff(ctx, amy); !errors.Is(err, bot.ErrConflict) {
		t.Errorf("AddStaff twice = %v, want ErrConflict", err)
	}
	got, err := s.Staff(ctx, "amy")
	if err != nil || !reflect.DeepEqual(got, amy) {
		t.Fatalf("Staff = %+v, %v, want %+v", got, err, amy)
	}
	amy.Role, amy.Disabled, amy.UpdatedAt = "viewer", true, t0.Add(time.Hour)
	if err := s.UpdateStaff(ctx, amy); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Staff(ctx, "amy"); !reflect.DeepEqual(got, amy) {
		t.Errorf("after update = %+v, want %+v", got, amy)
	}
	if err := s.UpdateStaff(ctx, sqlstore.StaffMember{Name: "nobody"}); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("UpdateStaff(nobody) = %v, want ErrNotFound", err)
	}
	if err := s.AddStaff(ctx, sqlstore.StaffMember{Name: "张三", Role: "operator", PasswordHash: "h", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListStaff(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListStaff = %+v, %v", list, err)
	}
	if err := s.RemoveStaff(ctx, "amy"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Staff(ctx, "amy"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("Staff after removal = %v, want ErrNotFound", err)
	}
	if err := s.RemoveStaff(ctx, "amy"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("RemoveStaff twice = %v, want ErrNotFound", err)
	}
}

func TestAdminAudit(t *testing.T) {
	s := mustAdmin(t)
	ctx := t.Context()
	t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	for i, a := range []string{"script.save", "risk.ack", "dnd.set"} {
		if err := s.Record(ctx, sqlstore.AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), Actor: "otto", Action: a, Target: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Audit(ctx, 0, 2)
	if err != nil || len(got) != 2 || got[0].Action != "dnd.set" || got[1].Action != "risk.ack" || !got[0].At.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("Audit(0, 2) = %+v, %v, want the newest two", got, err)
	}
	older, err := s.Audit(ctx, got[1].ID, 10)
	if err != nil || len(older) != 1 || older[0].Action != "script.save" {
		t.Fatalf("Audit(before) = %+v, %v, want the oldest", older, err)
	}
	if _, err := s.Audit(ctx, 0, 0); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("Audit(limit 0) = %v, want ErrInvalid", err)
	}
}

func TestAdminPeople(t *testing.T) {
	s := mustAdmin(t)
	ctx := t.Context()
	persons := []string{"wechat:gh_1:o_abc", "union:u-1", "wecom:corp:wm_abc"}
	if err := s.Remember(ctx, persons); err != nil {
		t.Fatal(err)
	}
	if err := s.Remember(ctx, persons[:1]); err != nil { // again: harmless
		t.Fatal(err)
	}
	fp := bot.Fingerprint("union:u-1")[1:]
	tests := []struct {
		name, fp, suffix string
		want             []string
	}{
		{"a board's tag (4 digits)", fp[:4], "", []string{"union:u-1"}},
		{"a masked id (12 digits)", fp, "", []string{"union:u-1"}},
		{"a bare openid", "", "o_abc", []string{"wechat:gh_1:o_abc"}},
		{"an underscore is not a wildcard", "", "o-abc", nil},
		{"nobody", "", "zzz", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.FindPeople(ctx, tc.fp, tc.suffix, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("FindPeople(%q, %q) = %v, want %v", tc.fp, tc.suffix, got, tc.want)
			}
		})
	}
}

func TestAdminAuditRecent(t *testing.T) {
	s := mustAdmin(t)
	ctx := t.Context()
	for _, a := range []string{"risk.ack", "script.save", "risk.bulk", "risk.dismiss"} {
		if err := s.Record(ctx, sqlstore.AuditEntry{At: time.Now(), Actor: "otto", Action: a, Target: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Recent(ctx, []string{"risk.ack", "risk.dismiss", "risk.bulk"}, 2)
	if err != nil || len(got) != 2 || got[0].Action != "risk.dismiss" || got[1].Action != "risk.bulk" {
		t.Errorf("Recent = %+v, %v, want the newest 2 risk decisions", got, err)
	}
}

// TestAdminStaffBrands: a member's brands are kept, changed, and
// cleared (every brand again); a brand that cannot be kept in the column
// is refused, not mangled.
func TestAdminStaffBrands(t *testing.T) {
	s := mustAdmin(t)
	ctx := t.Context()
	t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		brands []string
	}{
		{"one brand", []string{"shancha"}},
		{"two brands, one Chinese", []string{"other", "山茶"}},
		{"every brand", nil},
	}
	m := sqlstore.StaffMember{Name: "otto", Role: "operator", PasswordHash: "h", CreatedAt: t0, UpdatedAt: t0}
	if err := s.AddStaff(ctx, m); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m.Brands = tc.brands
			if err := s.UpdateStaff(ctx, m); err != nil {
				t.Fatal(err)
			}
			got, err := s.Staff(ctx, "otto")
			if err != nil || !slices.Equal(got.Brands, tc.brands) || (tc.brands == nil) != (got.Brands == nil) {
				t.Fatalf("Staff().Brands = %#v, %v, want %#v", got.Brands, err, tc.brands)
			}
			list, err := s.ListStaff(ctx)
			if err != nil || len(list) != 1 || !slices.Equal(list[0].Brands, tc.brands) {
				t.Fatalf("ListStaff = %+v, %v", list, err)
			}
		})
	}
	added := sqlstore.StaffMember{Name: "ann", Role: "viewer", PasswordHash: "h", Brands: []string{"a", "b"}, CreatedAt: t0, UpdatedAt: t0}
	if err := s.AddStaff(ctx, added); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Staff(ctx, "ann"); err != nil || !slices.Equal(got.Brands, added.Brands) {
		t.Fatalf("added with brands = %+v, %v", got, err)
	}
	for _, bad := range [][]string{{"a,b"}, {""}} {
		m.Brands = bad
		if err := s.UpdateStaff(ctx, m); !errors.Is(err, bot.ErrInvalid) {
			t.Errorf("UpdateStaff(brands %q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestAdminStaffBrandsMigrate: a table made before brands existed gets
// the column, and its members see every brand, as they did.
func TestAdminStaffBrandsMigrate(t *testing.T) {
	db := storetest.SQL(t)
	ctx := t.Context()
	g := db.Gorm().WithContext(ctx)
	// The table as the previous release made it.
	if err := g.AutoMigrate(&staffRowBeforeBrands{}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := g.Create(&staffRowBeforeBrands{Name: "old", Role: "admin", PasswordHash: "h", CreatedAt: now, UpdatedAt: now}).Error; err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.NewAdmin(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	old, err := s.Staff(ctx, "old")
	if err != nil || old.Brands != nil || old.Role != "admin" {
		t.Fatalf("the member made before brands = %+v, %v, want every brand", old, err)
	}
	old.Brands = []string{"shancha"}
	if err := s.UpdateStaff(ctx, old); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Staff(ctx, "old"); !slices.Equal(got.Brands, []string{"shancha"}) {
		t.Fatalf("after the migration, brands = %#v", got.Brands)
	}
}

// staffRowBeforeBrands is admin_staff as the release before brands made
// it.
type staffRowBeforeBrands struct {
	Name         string    `gorm:"type:varchar(128);primaryKey"`
	Role         string    `gorm:"type:varchar(16);not null"`
	PasswordHash string    `gorm:"type:varchar(255);not null"`
	Disabled     bool      `gorm:"not null;default:false"`
	CreatedAt    time.Time `gorm:"precision:6;not null"`
	UpdatedAt    time.Time `gorm:"precision:6;not null"`
}

func (staffRowBeforeBrands) TableName() string { return "admin_staff" }
