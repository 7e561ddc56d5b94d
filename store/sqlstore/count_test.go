package sqlstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/identity"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestOnStatement: every statement a store sends is reported, once to
// each registration, with its SQL and never its values.
func TestOnStatement(t *testing.T) {
	ctx := t.Context()
	db := storetest.SQL(t)
	s, err := sqlstore.NewIdentities(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var first, second []sqlstore.Statement
	record := func(to *[]sqlstore.Statement) func(context.Context, sqlstore.Statement) {
		return func(_ context.Context, st sqlstore.Statement) {
			mu.Lock()
			defer mu.Unlock()
			*to = append(*to, st)
		}
	}
	if err := sqlstore.OnStatement(db, record(&first)); err != nil {
		t.Fatal(err)
	}
	if err := sqlstore.OnStatement(db, record(&second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, identity.Link{Platform: bot.WeChat, Account: "gh", User: "o-secret", UnionID: "un-secret", CheckedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Lookup(ctx, bot.WeChat, "gh", "o-secret"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(first) != 2 || len(second) != 2 {
		t.Fatalf("reported %d and %d statements, want 2 each: %v", len(first), len(second), first)
	}
	for i, want := range []struct{ op, sql string }{{"create", "INSERT INTO `identity_links`"}, {"query", "SELECT * FROM `identity_links`"}} {
		st := first[i]
		if st.Op != want.op || st.Table != "identity_links" || !strings.HasPrefix(st.SQL, want.sql) {
			t.Errorf("statement %d = %+v, want %s on identity_links starting %q", i, st, want.op, want.sql)
		}
		if strings.Contains(st.SQL, "secret") {
			t.Errorf("statement %d carries a value: %s", i, st.SQL)
		}
	}
}
