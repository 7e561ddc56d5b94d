package sqlstore

import (
	"context"
	"fmt"
	"strconv"

	"gorm.io/gorm"
)

// Statement is one SQL statement a DB sent to the database, as
// OnStatement reports it.
type Statement struct {
	// Op is gorm's processor that ran it: "query", "create", "update",
	// "delete", "row" or "raw".
	Op string
	// Table is the statement's table, "" when gorm does not know it.
	Table string
	// SQL is the statement with its placeholders, never its values: they
	// hold customers' data.
	SQL string
}

// String returns the statement's SQL.
func (s Statement) String() string { return s.SQL }

// OnStatement has fn told of every statement db sends from now on, on
// the goroutine that sends it, with its context (so a caller can tell
// its own statements apart by a context value). Statements inside a
// transaction are reported one by one; BEGIN and COMMIT are not.
// Tests count the statements an event costs with it, and a replica may
// export the count. Call it before db is used concurrently: gorm's
// callbacks are not safe to register while statements run. fn must be
// safe for concurrent use and quick.
func OnStatement(db *DB, fn func(ctx context.Context, s Statement)) error {
	db.hooks++
	name := "siyu:on_statement_" + strconv.Itoa(db.hooks)
	err := afterEach(db.gorm, name, func(op string, g *gorm.DB) {
		st := g.Statement
		// Nothing built means nothing sent (a hook or a validation
		// failed first); DryRun sessions send nothing either.
		if st == nil || st.SQL.Len() == 0 || g.DryRun {
			return
		}
		fn(st.Context, Statement{Op: op, Table: st.Table, SQL: st.SQL.String()})
	})
	if err != nil {
		return fmt.Errorf("sqlstore.OnStatement: %w", err)
	}
	return nil
}
