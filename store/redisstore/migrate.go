package redisstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot"
)

// schemaVersion is the key scheme this package writes. Version 2 put
// hash tags in the names of keys that scripts use together, so they share
// a Redis Cluster slot; version 1 (no record) had none for check-in
// boards, do-not-disturb counts and Douyin's conversations.
const schemaVersion = 2

// migrateLockTTL bounds one carry-over: a scan of the keyspace and a COPY
// per old key, seconds for millions of keys.
const migrateLockTTL = 5 * time.Minute

// oldKeyLife is what an old key that never expired is given once copied:
// longer than a rolling upgrade, so old replicas keep it meanwhile.
const oldKeyLife = 24 * time.Hour

// oldCheckinKey splits a version-1 check-in key into its scope and the
// rest ("pts:d:20261126", "order:20261126", "built", …); a scope holds
// colons itself, so the rest is matched from the end.
var oldCheckinKey = regexp.MustCompile(`^(.+):((?:pts|st):(?:d:\d+|w:\d+|all)|order:\d+|built)$`)

// renamed returns the version-2 name of a version-1 key (without the
// prefix), or false for a key that is not one.
func renamed(key string) (string, bool) {
	switch {
	case strings.HasPrefix(key, "dnd:n:"):
		return "{dnd:n}:" + strings.TrimPrefix(key, "dnd:n:"), true
	case strings.HasPrefix(key, "checkin:"):
		m := oldCheckinKey.FindStringSubmatch(strings.TrimPrefix(key, "checkin:"))
		if m == nil {
			return "", false
		}
		return "{checkin:" + m[1] + "}:" + m[2], true
	case strings.HasPrefix(key, "douyin:"):
		kind, rest, ok := strings.Cut(strings.TrimPrefix(key, "douyin:"), ":")
		if !ok || (kind != "conv" && kind != "recalled" && kind != "msg") {
			return "", false
		}
		// Account ids hold no colon; a key whose does is left to expire.
		account, id, ok := strings.Cut(rest, ":")
		if !ok {
			return "", false
		}
		return "{douyin:" + account + "}:" + kind + ":" + id, true
	}
	return "", false
}

// Migrate carries the keys of the version-1 scheme over to their new
// names, once per Redis (a record under the prefix says it was done), and
// returns how many it copied. Call it once after Open, before serving.
//
// Only a single server or one behind Sentinel can hold old keys: version
// 1 could not run on a cluster, so on one (and on the embedded miniredis)
// Migrate does nothing. Old keys are copied, not moved, with their TTLs,
// so replicas of the old version that still run during a rolling upgrade
// keep theirs; those that never expire (all-time check-in boards) are
// given a day. What old replicas write after the copy is not carried
// over (see README.md). While another replica migrates, Migrate returns
// at once. Errors wrap bot.ErrUnavailable; the next call tries again, and
// nothing is lost for good meanwhile: check-in boards rebuild from the
// database and the rest is short-lived.
func (c *Client) Migrate(ctx context.Context) (int, error) {
	if c.mini != nil || c.mode == modeCluster {
		return 0, nil
	}
	done := c.prefix + "schema"
	v, err := c.rdb.Get(ctx, done).Int()
	if err == nil && v >= schemaVersion {
		return 0, nil
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("redisstore.Migrate: %w: %w", bot.ErrUnavailable, err)
	}
	release, ok, err := c.Lock(ctx, "schema", migrateLockTTL)
	if err != nil {
		return 0, fmt.Errorf("redisstore.Migrate: %w", err)
	}
	if !ok {
		return 0, nil // another replica is at it
	}
	defer release()
	n, err := c.carryOver(ctx)
	if err != nil {
		return n, fmt.Errorf("redisstore.Migrate: %w", err)
	}
	if err := c.rdb.Set(ctx, done, schemaVersion, 0).Err(); err != nil {
		return n, fmt.Errorf("redisstore.Migrate: record version: %w: %w", bot.ErrUnavailable, err)
	}
	return n, nil
}

// carryOver copies every version-1 key under the prefix to its new name
// and returns how many it copied.
func (c *Client) carryOver(ctx context.Context) (int, error) {
	n := 0
	for _, ns := range []string{"dnd:n:", "checkin:", "douyin:"} {
		err := c.ForEachKey(ctx, globEscape(c.prefix+ns)+"*", func(ctx context.Context, key string) error {
			to, ok := renamed(strings.TrimPrefix(key, c.prefix))
			if !ok {
				return nil
			}
			// COPY keeps the TTL and leaves a key the new version wrote
			// already alone.
			copied, err := c.rdb.Copy(ctx, key, c.prefix+to, 0, false).Result()
			if err != nil {
				return fmt.Errorf("copy: %w: %w", bot.ErrUnavailable, err)
			}
			if copied == 1 {
				n++
			}
			// go-redis reports "no expiry" as -1 (not scaled to ms).
			if ttl, err := c.rdb.PTTL(ctx, key).Result(); err == nil && ttl == -1 {
				if err := c.rdb.Expire(ctx, key, oldKeyLife).Err(); err != nil {
					return fmt.Errorf("expire: %w: %w", bot.ErrUnavailable, err)
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// globEscape escapes SCAN's pattern characters in s.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
