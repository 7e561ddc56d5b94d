// Package sqlstore implements siyu's durable stores on a SQL database
// through gorm: MySQL/MariaDB in production, a SQLite file when no MySQL
// DSN is configured (development, tests, a single small replica).
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/siyu-bot/siyu/bot"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names returned by (*DB).Dialect.
const (
	DialectMySQL  = "mysql"
	DialectSQLite = "sqlite"
)

// Config says which database to open.
type Config struct {
	// MySQLDSN is a go-sql-driver/mysql DSN. When set it wins over
	// SQLitePath. parseTime=true, loc=UTC and charset=utf8mb4 are added
	// when missing.
	MySQLDSN string
	// SQLitePath is the SQLite database file used when MySQLDSN is empty.
	SQLitePath string
	// Logger receives database errors (never SQL values). Nil discards.
	Logger *slog.Logger
	// Now is the clock for created_at/updated_at and for Enqueue's
	// default due time. Nil means time.Now.
	Now func() time.Time
	// MaxOpenConns bounds this process's MySQL connections; 0 means
	// DefaultMaxOpenConns.
	MaxOpenConns int
}

// DefaultMaxOpenConns is each replica's share of MariaDB's connections:
// its default max_connections is 151 for every replica, admin tool and
// backup together, and without a cap a burst after a stall opened one
// connection per waiting callback and hit Error 1040 (too many
// connections), failing callbacks and the outbox's mark-as-sent. With 20,
// six replicas fit with room to spare; callers beyond it queue for a
// connection within their own deadlines instead of failing.
const DefaultMaxOpenConns = 20

// DB is an open database with siyu's tables migrated.
type DB struct {
	gorm *gorm.DB
	// prep is gorm with PrepareStmt, for the statements that run per
	// callback, per claim or per send (see prepared).
	prep    *gorm.DB
	dialect string
	now     func() time.Time
	// hooks numbers OnStatement's registrations, whose names gorm wants
	// unique.
	hooks int
}

// Open connects to the configured database and migrates its tables.
// Errors wrap bot.ErrInvalid for a bad configuration and
// bot.ErrUnavailable when the database cannot be reached.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	var (
		dialector gorm.Dialector
		dialect   string
	)
	switch {
	case cfg.MySQLDSN != "":
		dsn, err := mysqlDSN(cfg.MySQLDSN)
		if err != nil {
			return nil, fmt.Errorf("sqlstore.Open: mysql dsn: %w: %w", bot.ErrInvalid, err)
		}
		dialector, dialect = mysql.Open(dsn), DialectMySQL
	case cfg.SQLitePath != "":
		dialector, dialect = sqlite.Open(sqliteDSN(cfg.SQLitePath)), DialectSQLite
	default:
		return nil, fmt.Errorf("sqlstore.Open: neither MySQLDSN nor SQLitePath set: %w", bot.ErrInvalid)
	}

	g, err := gorm.Open(dialector, &gorm.Config{
		Logger: gormLogger{log: cfg.Logger},
		// Times are stored in UTC at microsecond precision (DATETIME(6)),
		// so what is read back compares equal to what was written.
		NowFunc: func() time.Time { return dbTime(now()) },
		// Every write here is a single statement or an explicit
		// transaction; gorm's implicit ones would only add round trips.
		SkipDefaultTransaction: true,
		// Bounds the prepared statements (see prepared): each is
		// prepared once on every connection that runs it, and MariaDB
		// allows 16,382 in all (max_prepared_stmt_count) for every
		// replica's 20 connections together.
		PrepareStmtMaxSize: maxPrepared,
		PrepareStmtTTL:     time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Open: %w: %w", bot.ErrUnavailable, err)
	}
	if err := withholdValues(g); err != nil {
		return nil, fmt.Errorf("sqlstore.Open: %w", err)
	}
	db := &DB{gorm: g, prep: g.Session(&gorm.Session{PrepareStmt: true}), dialect: dialect, now: now}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Open: %w: %w", bot.ErrUnavailable, err)
	}
	switch dialect {
	case DialectSQLite:
		// SQLite allows one writer at a time. One connection serialises
		// all statements in-process, so callers never see SQLITE_BUSY and
		// an open read never blocks a write on another connection.
		sqlDB.SetMaxOpenConns(1)
	case DialectMySQL:
		// Servers and proxies drop idle connections (wait_timeout); the
		// driver's README recommends recycling well under five minutes.
		sqlDB.SetConnMaxLifetime(3 * time.Minute)
		n := cfg.MaxOpenConns
		if n <= 0 {
			n = DefaultMaxOpenConns
		}
		sqlDB.SetMaxOpenConns(n)
		// Keep what a burst opened for reuse (database/sql keeps only 2
		// idle by default, and reopening costs a handshake per query
		// under load), but let it shrink once the burst is over.
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxIdleTime(time.Minute)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("sqlstore.Open: %s: %w: %w", dialect, bot.ErrUnavailable, err)
	}
	if err := db.migrate(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("sqlstore.Open: migrate: %w: %w", bot.ErrUnavailable, err)
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	return db.migrator(ctx).AutoMigrate(&outboxRow{})
}

// migrateTables creates or updates a store's tables. Errors are
// bot.ErrUnavailable.
func (db *DB) migrateTables(ctx context.Context, tables ...any) error {
	g := db.migrator(ctx)
	err := g.AutoMigrate(tables...)
	if err != nil {
		// Two replicas starting at once may race to create a table; the
		// loser's second look finds it.
		err = g.AutoMigrate(tables...)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// migrator returns the session every table of siyu's is created through.
func (db *DB) migrator(ctx context.Context) *gorm.DB {
	g := db.gorm.WithContext(ctx)
	if db.dialect == DialectMySQL {
		// utf8mb4 whatever the server's default, so Chinese text and
		// emoji fit; a binary collation, so keys built from platform IDs
		// (which are case-sensitive) compare as SQLite compares them;
		// InnoDB for row locks (SKIP LOCKED).
		g = g.Set("gorm:table_options", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
	}
	return g
}

// Close closes the database.
func (db *DB) Close() error {
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return fmt.Errorf("sqlstore.Close: %w", err)
	}
	if err := sqlDB.Close(); err != nil {
		return fmt.Errorf("sqlstore.Close: %w", err)
	}
	return nil
}

// maxPrepared bounds the statements prepared() keeps: the hot stores'
// statements, with room for the shapes multi-row inserts take (one per
// row count). 100 statements on 20 connections are 2,000 of MariaDB's
// 16,382, so six replicas fit with room for everything else.
const maxPrepared = 100

// prepared returns the session for statements that run per callback,
// per claim or per send: each is prepared once per connection and then
// only executed. On MySQL that is one round trip either way (the DSN's
// InterpolateParams sends any other statement with its values inline),
// but the server no longer parses it: an identity lookup cost MariaDB
// about 50 µs of CPU instead of 69 (BenchmarkIdentitiesLookup). Writes
// gain little (their commit is most of their cost), and SQLite showed no
// difference. Statements whose text varies with their arguments (IN
// lists of any length) are not prepared: they would crowd the others
// out.
//
// Not for transactions: gorm prepares a statement first met in one on
// the transaction itself, which closes it at the end, and so prepares
// and closes it again in every later transaction, a round trip more
// than the interpolated statement (MariaDB's Com_stmt_prepare: 1.2 per
// coupon claim with it, 0 without).
func (db *DB) prepared(ctx context.Context) *gorm.DB { return db.prep.WithContext(ctx) }

// Gorm returns the underlying gorm handle, for stores added in other
// files of this package and for tests.
func (db *DB) Gorm() *gorm.DB { return db.gorm }

// Dialect returns DialectMySQL or DialectSQLite.
func (db *DB) Dialect() string { return db.dialect }

// mysqlDSN makes sure the options siyu relies on are in effect: times
// come back as time.Time in UTC, text is utf8mb4, and RowsAffected counts
// matched rows (so an UPDATE that changes nothing still proves the row
// exists).
func mysqlDSN(dsn string) (string, error) {
	c, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	c.ParseTime = true
	c.Loc = time.UTC
	c.ClientFoundRows = true
	// Send each statement with its values in one round trip, instead of
	// preparing it, executing it and closing it: a coupon claim's
	// transaction went from six round trips to four, and claims/s up by
	// about half under load (BenchmarkClaim). The driver escapes values
	// for the utf8mb4 connection.
	c.InterpolateParams = true
	if c.Params == nil {
		c.Params = map[string]string{}
	}
	if _, ok := c.Params["charset"]; !ok {
		c.Params["charset"] = "utf8mb4"
	}
	return c.FormatDSN(), nil
}

// sqliteDSN adds a busy timeout (5 s: long enough to ride out another
// process's write, such as a backup, short enough to fail a request in
// time) and WAL, so readers in other processes do not block the writer.
func sqliteDSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
}

// dbTime is t as stored: UTC, truncated to the microsecond that
// DATETIME(6) keeps. Truncating (not rounding, as MySQL would) keeps the
// value identical on both databases. SQLite stores times as text in the
// driver's "2006-01-02 15:04:05.999999999-07:00" format; only because
// every time is UTC ("+00:00") does comparing that text (next_at <= ?)
// order times correctly.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// gormLogger reports failed statements to slog. It never logs
// statement parameters: they hold customers' personal data.
type gormLogger struct{ log *slog.Logger }

var (
	_ logger.Interface  = gormLogger{}
	_ gorm.ParamsFilter = gormLogger{}
)

func (l gormLogger) LogMode(logger.LogLevel) logger.Interface { return l }
func (l gormLogger) Info(context.Context, string, ...any)     {}
func (l gormLogger) Warn(context.Context, string, ...any)     {}

func (l gormLogger) Error(ctx context.Context, msg string, args ...any) {
	l.log.ErrorContext(ctx, "sqlstore: "+fmt.Sprintf(msg, args...))
}

func (l gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if err == nil || errors.Is(err, gorm.ErrRecordNotFound) || errors.Is(err, context.Canceled) {
		return
	}
	sql, _ := fc()
	if isDuplicate(err) {
		// A unique key met: the callers' conflicts (a coupon's seq taken
		// by a claim in flight, a retried insert), which they resolve or
		// report themselves.
		l.log.DebugContext(ctx, "sqlstore: statement met a unique key", "sql", sql, "elapsed", time.Since(begin), "err", err)
		return
	}
	l.log.ErrorContext(ctx, "sqlstore: statement failed", "sql", sql, "elapsed", time.Since(begin), "err", err)
}

// ParamsFilter drops the parameters, so Trace gets the statement with
// placeholders instead of values.
func (l gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

// withholdValues has every statement's error pass through withheld
// before gorm logs it (Trace runs after the callbacks) and returns it.
func withholdValues(g *gorm.DB) error {
	return afterEach(g, "siyu:withhold_values", func(_ string, g *gorm.DB) {
		if g.Error != nil {
			g.Error = withheld(g.Error)
		}
	})
}

// afterEach registers fn as name after each of gorm's statement
// callbacks (query, create, update, delete, row, raw), telling it which.
func afterEach(g *gorm.DB, name string, fn func(op string, g *gorm.DB)) error {
	cb := g.Callback()
	for _, p := range []struct {
		op  string
		reg func(name string, fn func(*gorm.DB)) error
	}{
		{"query", cb.Query().After("gorm:query").Register},
		{"create", cb.Create().After("gorm:create").Register},
		{"update", cb.Update().After("gorm:update").Register},
		{"delete", cb.Delete().After("gorm:delete").Register},
		{"row", cb.Row().After("gorm:row").Register},
		{"raw", cb.Raw().After("gorm:raw").Register},
	} {
		op := p.op
		if err := p.reg(name, func(g *gorm.DB) { fn(op, g) }); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return nil
}

// withheld is err without the value MySQL quotes in some messages
// ("Duplicate entry 'o6_bmjr…' for key …", "Incorrect string value:
// '…'"): values are customers' data, and errors reach logs. The number,
// state and what follows the value (the key or column) stay, so callers
// still tell a duplicate. SQLite's messages name no values.
func withheld(err error) error {
	var me *mysqldrv.MySQLError
	if !errors.As(err, &me) {
		return err
	}
	var what string
	switch me.Number {
	case 1062, 1586: // ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME
		what = "Duplicate entry"
	case 1292, 1366, 1367, 1411: // truncated or incorrect values
		what = "Incorrect value"
	default:
		return err
	}
	msg := what + " (value withheld)"
	if i := strings.LastIndex(me.Message, " for "); i >= 0 {
		msg += me.Message[i:]
	}
	return &mysqldrv.MySQLError{Number: me.Number, SQLState: me.SQLState, Message: msg}
}
