package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
)

// CheckinBoards keeps check-in leaderboards as sorted sets: per scope,
// points and streaks for a day, an ISO week and all time, each day's
// order of check-in (by the database's id), and a marker saying the
// scope's boards hold everything in the database. Without the marker
// (a new scope, Redis emptied, or a day since the last full load) callers
// rebuild from the database; every check-in since is added as it happens.
type CheckinBoards struct {
	c   *Client
	top *redis.Script
	add *redis.Script
}

// Interface guards.
var _ checkin.Boards = (*CheckinBoards)(nil)

// How long period boards and markers live: past their period by enough
// for late readers, bounded so old days do not pile up.
const (
	checkinDayTTL  = 3 * 24 * time.Hour
	checkinWeekTTL = 9 * 24 * time.Hour
	// checkinBuiltTTL makes every scope's boards reload from the database
	// once a day at most, so a lost update (Redis briefly down) does not
	// stay on a board for good.
	checkinBuiltTTL = 24 * time.Hour
	// checkinLoadLock bounds one rebuild; only one caller rebuilds a
	// scope at a time, the others count ranks in the database meanwhile.
	checkinLoadLock = 30 * time.Second
)

// checkinAddScript adds a check-in in one round trip: its scores on the
// six boards (ZADD GT: a score only rises), its place in the day's order
// (ZADD NX by id), the TTLs, and returns its rank of the day, or 0 when
// the marker is missing (the order may lack earlier check-ins).
//
// KEYS: day points, day streak, week points, week streak, all points, all
// streak, day order, marker. ARGV: person, day points, week points,
// total, streak, id, day TTL, week TTL (seconds).
const checkinAddScript = `
local p = ARGV[1]
redis.call("ZADD", KEYS[1], "GT", ARGV[2], p)
redis.call("ZADD", KEYS[2], "GT", ARGV[5], p)
redis.call("ZADD", KEYS[3], "GT", ARGV[3], p)
redis.call("ZADD", KEYS[4], "GT", ARGV[5], p)
redis.call("ZADD", KEYS[5], "GT", ARGV[4], p)
redis.call("ZADD", KEYS[6], "GT", ARGV[5], p)
redis.call("ZADD", KEYS[7], "NX", ARGV[6], p)
redis.call("EXPIRE", KEYS[1], ARGV[7])
redis.call("EXPIRE", KEYS[2], ARGV[7])
redis.call("EXPIRE", KEYS[7], ARGV[7])
redis.call("EXPIRE", KEYS[3], ARGV[8])
redis.call("EXPIRE", KEYS[4], ARGV[8])
if redis.call("EXISTS", KEYS[8]) == 0 then return 0 end
return redis.call("ZRANK", KEYS[7], p) + 1`

// checkinTopScript reads one period's boards in one round trip: nil when
// the day's marker is missing; otherwise the top n by points and by
// streak with both scores, and the person's ranks and scores.
//
// KEYS: points, streak, marker. ARGV: n, person.
const checkinTopScript = `
if redis.call("EXISTS", KEYS[3]) == 0 then return false end
local n = tonumber(ARGV[1])
local function top(key, other)
  local r = redis.call("ZREVRANGE", key, 0, n - 1, "WITHSCORES")
  local out = {}
  for i = 1, #r, 2 do
    out[#out + 1] = r[i]
    out[#out + 1] = r[i + 1]
    out[#out + 1] = redis.call("ZSCORE", other, r[i]) or "0"
  end
  return out
end
local me = ARGV[2]
-- rank counts those strictly ahead (0-based, -1: absent), so equal
-- scores share a rank as checkin.Rank gives them.
local function rank(key)
  local s = redis.call("ZSCORE", key, me)
  if not s then return -1 end
  return redis.call("ZCOUNT", key, "(" .. s, "+inf")
end
return {
  top(KEYS[1], KEYS[2]), top(KEYS[2], KEYS[1]),
  rank(KEYS[1]), redis.call("ZSCORE", KEYS[1], me) or "0",
  rank(KEYS[2]), redis.call("ZSCORE", KEYS[2], me) or "0",
}`

// NewCheckinBoards returns the boards kept in c.
func NewCheckinBoards(c *Client) *CheckinBoards {
	return &CheckinBoards{c: c, top: redis.NewScript(checkinTopScript), add: redis.NewScript(checkinAddScript)}
}

// keys returns the points and streak keys of scope's board for period on
// day, and their TTL (0: none).
func (b *CheckinBoards) keys(scope string, p checkin.Period, day checkin.Day) (pts, st string, ttl time.Duration) {
	var suffix string
	switch p {
	case checkin.Today:
		suffix, ttl = ":d:"+strconv.Itoa(int(day)), checkinDayTTL
	case checkin.Week:
		suffix, ttl = ":w:"+strconv.Itoa(day.Week()), checkinWeekTTL
	default:
		suffix = ":all"
	}
	return b.c.tagged("checkin", scope, "pts"+suffix), b.c.tagged("checkin", scope, "st"+suffix), ttl
}

// A scope's keys share the hash tag {checkin:<scope>}: one script reads
// or writes its boards, order and marker together.

func (b *CheckinBoards) marker(scope string) string { return b.c.tagged("checkin", scope, "built") }

func (b *CheckinBoards) order(scope string, day checkin.Day) string {
	return b.c.tagged("checkin", scope, "order:"+strconv.Itoa(int(day)))
}

// Add implements checkin.Boards in one script call.
func (b *CheckinBoards) Add(ctx context.Context, c checkin.Checkin) (int, error) {
	keys := make([]string, 0, 8)
	for _, p := range checkin.Periods() {
		pts, st, _ := b.keys(c.Scope, p, c.Day)
		keys = append(keys, pts, st)
	}
	keys = append(keys, b.order(c.Scope, c.Day), b.marker(c.Scope))
	args := make([]any, 0, 3+len(keys)+8)
	args = append(args, "evalsha", b.add.Hash(), len(keys))
	for _, k := range keys {
		args = append(args, k)
	}
	args = append(args, c.Person, c.Points, c.WeekPoints, c.Total, c.Streak, c.ID,
		int64(checkinDayTTL/time.Second), int64(checkinWeekTTL/time.Second))
	// Through the batcher: concurrent check-ins share its pipelines
	// (with the dedupe commands) instead of a round trip each.
	cmd := redis.NewIntCmd(ctx, args...)
	b.c.batch.do(ctx, cmd)
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		// Redis restarted or was flushed of scripts: load it, once.
		if err := b.add.Load(ctx, b.c.rdb).Err(); err != nil {
			return 0, fmt.Errorf("redisstore.CheckinBoards.Add: %w: %w", bot.ErrUnavailable, err)
		}
		cmd = redis.NewIntCmd(ctx, args...)
		b.c.batch.do(ctx, cmd)
	}
	rank, err := cmd.Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore.CheckinBoards.Add: %w: %w", bot.ErrUnavailable, err)
	}
	return int(rank), nil
}

// Load implements checkin.Boards. It merges (ZADD GT) rather than
// replaces, so check-ins added while it runs are kept.
func (b *CheckinBoards) Load(ctx context.Context, scope string, day checkin.Day, load func(context.Context) (checkin.Standings, error)) error {
	release, ok, err := b.c.Lock(ctx, "checkin-load:"+scope, checkinLoadLock)
	if err != nil {
		return fmt.Errorf("redisstore.CheckinBoards.Load: %w", err)
	}
	if !ok {
		return fmt.Errorf("redisstore.CheckinBoards.Load: another caller is loading: %w", bot.ErrConflict)
	}
	defer release()
	s, err := load(ctx)
	if err != nil {
		return fmt.Errorf("redisstore.CheckinBoards.Load: %w", err)
	}
	_, err = b.c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, period := range checkin.Periods() {
			pts, st, ttl := b.keys(scope, period, day)
			scores := s[period]
			if len(scores) == 0 {
				continue
			}
			zp := make([]redis.Z, len(scores))
			zs := make([]redis.Z, len(scores))
			for i, sc := range scores {
				zp[i] = redis.Z{Score: float64(sc.Points), Member: sc.Person}
				zs[i] = redis.Z{Score: float64(sc.Streak), Member: sc.Person}
			}
			p.ZAddGT(ctx, pts, zp...)
			p.ZAddGT(ctx, st, zs...)
			if ttl > 0 {
				p.Expire(ctx, pts, ttl)
				p.Expire(ctx, st, ttl)
			}
		}
		if today := s[checkin.Today]; len(today) > 0 {
			order := make([]redis.Z, len(today))
			for i, sc := range today {
				order[i] = redis.Z{Score: float64(sc.ID), Member: sc.Person}
			}
			p.ZAddNX(ctx, b.order(scope, day), order...)
			p.Expire(ctx, b.order(scope, day), checkinDayTTL)
		}
		p.Set(ctx, b.marker(scope), "1", checkinBuiltTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore.CheckinBoards.Load: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// Top implements checkin.Boards.
func (b *CheckinBoards) Top(ctx context.Context, scope string, period checkin.Period, day checkin.Day, n int, person string) (checkin.Board, bool, error) {
	pts, st, _ := b.keys(scope, period, day)
	res, err := b.top.Run(ctx, b.c.rdb, []string{pts, st, b.marker(scope)}, n, person).Slice()
	if err == redis.Nil {
		return checkin.Board{}, false, nil
	}
	if err != nil {
		return checkin.Board{}, false, fmt.Errorf("redisstore.CheckinBoards.Top: %w: %w", bot.ErrUnavailable, err)
	}
	bad := func() (checkin.Board, bool, error) {
		return checkin.Board{}, false, fmt.Errorf("redisstore.CheckinBoards.Top: unexpected reply: %w", bot.ErrUnavailable)
	}
	if len(res) != 6 {
		return bad()
	}
	board := checkin.Board{Scope: scope, Period: period}
	var ok bool
	if board.ByPoints, ok = entries(res[0], false); !ok {
		return bad()
	}
	if board.ByStreak, ok = entries(res[1], true); !ok {
		return bad()
	}
	board.MeByPoints = checkin.Entry{Person: person, Rank: rankOf(res[2]), Points: scoreOf(res[3]), Streak: scoreOf(res[5])}
	board.MeByStreak = checkin.Entry{Person: person, Rank: rankOf(res[4]), Points: scoreOf(res[3]), Streak: scoreOf(res[5])}
	return board, true, nil
}

// entries decodes top's triples (member, score, other score).
func entries(v any, byStreak bool) ([]checkin.Entry, bool) {
	list, ok := v.([]any)
	if !ok || len(list)%3 != 0 {
		return nil, false
	}
	out := make([]checkin.Entry, 0, len(list)/3)
	for i := 0; i < len(list); i += 3 {
		person, _ := list[i].(string)
		e := checkin.Entry{Rank: i/3 + 1, Person: person, Points: scoreOf(list[i+1]), Streak: scoreOf(list[i+2])}
		if byStreak {
			e.Points, e.Streak = e.Streak, e.Points
		}
		out = append(out, e)
	}
	by := "points"
	if byStreak {
		by = "streak"
	}
	checkin.ShareTies(out, by)
	return out, true
}

// rankOf turns the script's 0-based rank (-1: absent) into a 1-based one
// (0: absent).
func rankOf(v any) int {
	n, _ := v.(int64)
	return int(n) + 1
}

// scoreOf parses a score, which Lua returns as text.
func scoreOf(v any) int {
	s, _ := v.(string)
	f, _ := strconv.ParseFloat(s, 64)
	return int(f)
}
