package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot"
)

// AdminSession is one signed-in staff member (admin.Session, mirrored
// field for field): ID is the digest of the session cookie.
type AdminSession struct {
	ID   string
	Name string
	Role string
	// Brands limit the member (none: every brand, as sessions stored
	// before brands existed read).
	Brands  []string `json:",omitempty"`
	CSRF    string
	Expires time.Time
}

// AdminSessions keeps the staff console's sessions in Redis, shared by
// every replica, each expiring with its session. A set per staff member
// lists their sessions, so a role change ends all of them.
type AdminSessions struct{ c *Client }

// NewAdminSessions returns the console's sessions kept in c.
func NewAdminSessions(c *Client) *AdminSessions { return &AdminSessions{c: c} }

// Every session key and every staff member's set share the hash tag
// {admin:sessions}, so PutSession's transaction and DeleteSessionsOf's
// DEL stay in one cluster slot: a session is found by its id alone, so
// no finer tag (the name) would do, and staff sessions are few.

func (s *AdminSessions) sessionKey(id string) string {
	return s.c.tagged("admin", "sessions", "session:"+id)
}

func (s *AdminSessions) ofKey(name string) string { return s.c.tagged("admin", "sessions", "of:"+name) }

// PutSession stores ss until ss.Expires.
func (s *AdminSessions) PutSession(ctx context.Context, ss AdminSession) error {
	ttl := time.Until(ss.Expires)
	if ttl < time.Second {
		return fmt.Errorf("redisstore.AdminSessions.PutSession: expires %v: %w", ss.Expires, bot.ErrInvalid)
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return fmt.Errorf("redisstore.AdminSessions.PutSession: %w", err)
	}
	_, err = s.c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.sessionKey(ss.ID), b, ttl)
		p.SAdd(ctx, s.ofKey(ss.Name), ss.ID)
		// The set outlives its newest session by a little; ended sessions'
		// ids in it are harmless (DeleteSessionsOf deletes what is gone).
		p.Expire(ctx, s.ofKey(ss.Name), ttl+time.Hour)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore.AdminSessions.PutSession: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// Session returns the session of id; bot.ErrNotFound when none or
// expired.
func (s *AdminSessions) Session(ctx context.Context, id string) (AdminSession, error) {
	b, err := s.c.rdb.Get(ctx, s.sessionKey(id)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return AdminSession{}, fmt.Errorf("redisstore.AdminSessions.Session: %w", bot.ErrNotFound)
	case err != nil:
		return AdminSession{}, fmt.Errorf("redisstore.AdminSessions.Session: %w: %w", bot.ErrUnavailable, err)
	}
	var ss AdminSession
	if err := json.Unmarshal(b, &ss); err != nil {
		return AdminSession{}, fmt.Errorf("redisstore.AdminSessions.Session: %w", bot.ErrNotFound)
	}
	return ss, nil
}

// DeleteSession ends one session.
func (s *AdminSessions) DeleteSession(ctx context.Context, id string) error {
	if err := s.c.rdb.Del(ctx, s.sessionKey(id)).Err(); err != nil {
		return fmt.Errorf("redisstore.AdminSessions.DeleteSession: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// DeleteSessionsOf ends every session of the staff member name.
func (s *AdminSessions) DeleteSessionsOf(ctx context.Context, name string) error {
	ids, err := s.c.rdb.SMembers(ctx, s.ofKey(name)).Result()
	if err != nil {
		return fmt.Errorf("redisstore.AdminSessions.DeleteSessionsOf: %w: %w", bot.ErrUnavailable, err)
	}
	keys := []string{s.ofKey(name)}
	for _, id := range ids {
		keys = append(keys, s.sessionKey(id))
	}
	if err := s.c.rdb.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("redisstore.AdminSessions.DeleteSessionsOf: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// failScript counts one failure and starts the window at the first.
const failScript = `local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
return n`

// SignInLimiter counts failed sign-ins per key (a name, an address) in
// Redis, shared by every replica, so guessing is not multiplied by the
// number of replicas.
type SignInLimiter struct {
	c    *Client
	fail *redis.Script
}

// NewSignInLimiter returns the limiter kept in c.
func NewSignInLimiter(c *Client) *SignInLimiter {
	return &SignInLimiter{c: c, fail: redis.NewScript(failScript)}
}

// Failures returns the failures counted under key in its window.
func (l *SignInLimiter) Failures(ctx context.Context, key string) (int, error) {
	n, err := l.c.rdb.Get(ctx, l.c.key("signin-fail", key)).Int()
	switch {
	case errors.Is(err, redis.Nil):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("redisstore.SignInLimiter.Failures: %w: %w", bot.ErrUnavailable, err)
	}
	return n, nil
}

// Fail counts one failure under key; the count ends window after the
// first failure.
func (l *SignInLimiter) Fail(ctx context.Context, key string, window time.Duration) (int, error) {
	n, err := l.fail.Run(ctx, l.c.rdb, []string{l.c.key("signin-fail", key)}, window.Milliseconds()).Int()
	if err != nil {
		return 0, fmt.Errorf("redisstore.SignInLimiter.Fail: %w: %w", bot.ErrUnavailable, err)
	}
	return n, nil
}
