// Package storetest gives tests an isolated database and Redis: the real
// servers named by MYSQL_DSN and REDIS_URL when set, embedded ones
// otherwise. Each call gets its own MySQL database and Redis key prefix,
// so packages tested in parallel against one server never collide.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// SQL opens a fresh, migrated database for tb and closes it when tb ends.
func SQL(tb testing.TB) *sqlstore.DB {
	tb.Helper()
	db, err := sqlstore.Open(tb.Context(), SQLConfig(tb))
	if err != nil {
		tb.Fatalf("storetest.SQL: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// SQLConfig creates an empty database for tb and returns the Config that
// opens it, so a test can close and reopen it (a restart). With MYSQL_DSN
// set it is a new database siyu_t_<hex> on that server, dropped when tb
// ends; otherwise a SQLite file in tb.TempDir().
func SQLConfig(tb testing.TB) sqlstore.Config {
	tb.Helper()
	dsn := os.Getenv("MYSQL_DSN")
	if dsn == "" {
		return sqlstore.Config{SQLitePath: filepath.Join(tb.TempDir(), "siyu.db")}
	}
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		tb.Fatalf("storetest: MYSQL_DSN: %v", err)
	}
	name := "siyu_t_" + randomHex()
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	// The name is ours (hex only), so quoting it is enough.
	if _, err := admin.ExecContext(tb.Context(), "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		_ = admin.Close()
		tb.Fatalf("storetest: create database: %v", err)
	}
	tb.Cleanup(func() {
		// tb.Context is already canceled when cleanups run.
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			tb.Errorf("storetest: drop database %s: %v", name, err)
		}
		_ = admin.Close()
	})
	cfg.DBName = name
	return sqlstore.Config{MySQLDSN: cfg.FormatDSN()}
}

// Redis connects to REDIS_URL (with RedisOptions), or starts an embedded
// miniredis, with a key prefix of its own (siyu:t:<hex>:). When tb ends
// it closes the client and then deletes the prefix's keys from a real
// Redis: closing first flushes the writes the client queued without
// waiting (a dedupe result), which would otherwise land after the
// cleanup and leak.
func Redis(tb testing.TB) *redisstore.Client {
	tb.Helper()
	prefix := RedisPrefix(tb)
	c, err := redisstore.Open(tb.Context(), os.Getenv("REDIS_URL"), nil, append(RedisOptions(), redisstore.WithPrefix(prefix))...)
	if err != nil {
		tb.Fatalf("storetest.Redis: %v", err)
	}
	// Cleanups run last-registered first: this one before RedisPrefix's.
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// RedisReplica opens another client on c's Redis with c's prefix, as a
// second replica of siyu would, and closes it when tb ends (before c's
// cleanup deletes the keys).
func RedisReplica(tb testing.TB, c *redisstore.Client) *redisstore.Client {
	tb.Helper()
	url, opts := os.Getenv("REDIS_URL"), RedisOptions()
	if c.Embedded() {
		url, opts = c.EmbeddedURL(), nil
	}
	r, err := redisstore.Open(tb.Context(), url, nil, append(opts, redisstore.WithPrefix(c.Prefix()))...)
	if err != nil {
		tb.Fatalf("storetest.RedisReplica: %v", err)
	}
	tb.Cleanup(func() { _ = r.Close() })
	return r
}

// RedisOptions returns the redisstore options that reach the Redis
// REDIS_URL names, as siyu's configuration reads them: Cluster with
// REDIS_CLUSTER=1 (REDIS_URL in go-redis's cluster form), Sentinel with
// REDIS_SENTINEL_MASTER (REDIS_URL naming the sentinels).
func RedisOptions() []redisstore.Option {
	var opts []redisstore.Option
	if os.Getenv("REDIS_CLUSTER") == "1" {
		opts = append(opts, redisstore.Cluster())
	}
	if m := os.Getenv("REDIS_SENTINEL_MASTER"); m != "" {
		opts = append(opts, redisstore.Sentinel(m))
	}
	return opts
}

// RedisEnv returns the variables that name the test Redis (REDIS_URL,
// REDIS_CLUSTER, REDIS_SENTINEL_MASTER), those set, for a test that runs
// siyu with an environment of its own; empty without REDIS_URL.
func RedisEnv() map[string]string {
	env := map[string]string{}
	if os.Getenv("REDIS_URL") == "" {
		return env
	}
	for _, k := range []string{"REDIS_URL", "REDIS_CLUSTER", "REDIS_SENTINEL_MASTER"} {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	return env
}

// RedisPrefix returns a fresh key prefix (siyu:t:<hex>:) for a test that
// connects to REDIS_URL through its own client (a whole siyu run
// in-process), never siyu's production prefix. When tb ends, after the
// cleanups registered later (which stop that client), it deletes the
// prefix's keys from a real Redis, on every master of a cluster.
func RedisPrefix(tb testing.TB) string {
	tb.Helper()
	prefix := "siyu:t:" + randomHex() + ":"
	url := os.Getenv("REDIS_URL")
	if url == "" {
		return prefix
	}
	tb.Cleanup(func() {
		ctx := context.Background() // tb.Context is canceled by now
		c, err := redisstore.Open(ctx, url, nil, append(RedisOptions(), redisstore.WithPrefix(prefix))...)
		if err != nil {
			tb.Errorf("storetest: delete %s*: %v", prefix, err)
			return
		}
		defer c.Close()
		rdb := c.Redis()
		err = c.ForEachKey(ctx, prefix+"*", func(ctx context.Context, key string) error {
			return rdb.Del(ctx, key).Err()
		})
		if err != nil {
			tb.Errorf("storetest: delete %s*: %v", prefix, err)
		}
	})
	return prefix
}

// Keys returns the keys under c's prefix, on every master of a cluster.
func Keys(tb testing.TB, c *redisstore.Client) []string {
	tb.Helper()
	var keys []string
	err := c.ForEachKey(context.Background(), c.Prefix()+"*", func(_ context.Context, key string) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		tb.Fatalf("storetest.Keys: %v", err)
	}
	return keys
}

// randomHex returns 12 random hex digits: 48 bits, so names drawn by
// concurrent test processes do not collide.
func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand docs)
	return hex.EncodeToString(b[:])
}
