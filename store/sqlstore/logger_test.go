package sqlstore_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestStatementLogLevels: a statement that meets a unique key (a
// conflict its caller resolves, as a coupon's seq taken by a claim in
// flight) is logged at debug; any other failure at error; neither the
// log nor the error returned holds the value (MySQL quotes a duplicate
// entry's value in its message).
func TestStatementLogLevels(t *testing.T) {
	logs := &bottest.Logs{}
	cfg := storetest.SQLConfig(t)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := sqlstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := db.Gorm().WithContext(t.Context())
	table := "log_levels_" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_"))
	_ = g.Exec("DROP TABLE IF EXISTS " + table).Error
	if err := g.Exec("CREATE TABLE " + table + " (k VARCHAR(20) PRIMARY KEY)").Error; err != nil {
		t.Fatal(err)
	}
	defer g.Exec("DROP TABLE " + table)
	if err := g.Exec("INSERT INTO "+table+" (k) VALUES (?)", "secret-openid").Error; err != nil {
		t.Fatal(err)
	}
	mark := logs.Len()
	if err := g.Exec("INSERT INTO "+table+" (k) VALUES (?)", "secret-openid").Error; err == nil {
		t.Fatal("a duplicate key was inserted")
	} else if strings.Contains(err.Error(), "secret-openid") {
		t.Errorf("the error names the value: %v", err)
	}
	dup := logs.String()[mark:]
	if !strings.Contains(dup, "level=DEBUG") || strings.Contains(dup, "level=ERROR") {
		t.Errorf("a unique key met logged %q, want debug only", dup)
	}
	mark = logs.Len()
	if err := g.Exec("SELECT k FROM no_such_table_" + table).Error; err == nil {
		t.Fatal("a missing table was read")
	}
	if other := logs.String()[mark:]; !strings.Contains(other, "level=ERROR") {
		t.Errorf("a failed statement logged %q, want error", other)
	}
	if strings.Contains(logs.String(), "secret-openid") {
		t.Errorf("a bound value reached the log:\n%s", logs)
	}
}
