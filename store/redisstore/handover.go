package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/handover"
)

// Handovers keeps which conversations a person holds (bot/handover's
// pauses) on Redis, so every replica sees them and they outlive a
// replica's restart. Each pause is one hash that expires its quiet time
// after its last message, so a pause ends on time with no one watching;
// an index of the hand-overs in force (a sorted set by start) lists them
// for the inbox and lets the sweeper find those that ran out. Scripts
// keep each change atomic, so a message arriving as staff end a
// hand-over cannot bring the ended pause back.
type Handovers struct {
	c                         *Client
	rdb                       redis.UniversalClient
	prefix                    string // of a pause's key
	index                     string
	turns                     string
	start, touch, end, assign *redis.Script
}

// Interface guards.
var (
	_ handover.Pauses = (*Handovers)(nil)
	_ handover.Board  = (*Handovers)(nil)
	_ handover.Turns  = (*Handovers)(nil)
)

// NewHandovers returns the hand-over pauses stored in c under c's prefix.
func NewHandovers(c *Client) *Handovers {
	return &Handovers{
		// Start and End change a pause and the index in one script, so
		// every pause and the index share the hash tag {handover:open}
		// and one cluster slot: Get reads one small hash per 1:1
		// message there, a few thousand a second at most, far below what
		// one Redis node serves. A finer tag would need the index split
		// by it.
		c: c, rdb: c.Redis(), prefix: c.tagged("handover", "open", "p:"), index: c.tagged("handover", "open", "index"), turns: c.key("handover", "rr:"),
		start: redis.NewScript(handoverStartScript), touch: redis.NewScript(handoverTouchScript),
		end: redis.NewScript(handoverEndScript), assign: redis.NewScript(handoverAssignScript),
	}
}

// Hash fields of a pause; times are Unix milliseconds.
const (
	hfID, hfPlatform, hfAccount, hfUser = "id", "plat", "acct", "user"
	hfReason, hfAgent, hfAssignee       = "reason", "agent", "assignee"
	hfSince, hfWaiting                  = "since", "waiting"
	hfLastCustomer, hfLastStaff         = "lastc", "lasts"
	// The route of the customer's account (bot.Route), when not zero:
	// staff's replies go out through that account, under its scripts.
	hfBrand, hfRouteName = "brand", "rname"
)

// handoverStartScript: KEYS pause, index; ARGV ttl (ms), index member,
// score, then the hash's fields and values. It returns {1} after storing
// the pause, or {0, fields…} of the pause already in force.
const handoverStartScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGETALL', KEYS[1])}
end
local fv = {}
for i = 4, #ARGV do fv[#fv + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fv))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return {1}`

// handoverTouchScript: KEYS pause; ARGV party (c or s), at (ms), ttl
// (ms). 0 when there is no pause: nothing is created.
const handoverTouchScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == 'c' then
  redis.call('HSET', KEYS[1], 'lastc', ARGV[2])
  redis.call('HSETNX', KEYS[1], 'waiting', ARGV[2])
else
  redis.call('HSET', KEYS[1], 'lasts', ARGV[2])
  redis.call('HDEL', KEYS[1], 'waiting')
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`

// handoverEndScript: KEYS pause, index; ARGV the expected id ("" for
// any), the conversation. It returns the ended pause's fields, or
// nothing.
const handoverEndScript = `
local id = redis.call('HGET', KEYS[1], 'id')
if not id or (ARGV[1] ~= '' and id ~= ARGV[1]) then return {} end
local all = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], id .. ' ' .. ARGV[2])
return all`

// handoverAssignScript: KEYS pause; ARGV the staff member ("" for
// nobody). 0 when there is no pause.
const handoverAssignScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'assignee') else redis.call('HSET', KEYS[1], 'assignee', ARGV[1]) end
return 1`

func (h *Handovers) key(conv handover.Conv) string { return h.prefix + string(conv) }

// member is a hand-over's entry in the index: "<id> <conversation>"
// (ids are hex, so the first space splits them).
func member(id string, conv handover.Conv) string { return id + " " + string(conv) }

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func ttlMS(ttl time.Duration) int64 { return max(ttl, time.Millisecond).Milliseconds() }

// Get implements handover.Pauses. It runs for every 1:1 message, so it
// rides the Client's batcher with the dedupe commands: under load it adds
// a command to a pipeline, not a round trip of its own.
func (h *Handovers) Get(ctx context.Context, conv handover.Conv) (handover.Pause, bool, error) {
	cmd := redis.NewMapStringStringCmd(ctx, "hgetall", h.key(conv))
	h.c.batch.do(ctx, cmd)
	m, err := cmd.Result()
	if err != nil {
		return handover.Pause{}, false, fmt.Errorf("redisstore.Handovers.Get: %w: %w", bot.ErrUnavailable, err)
	}
	if m[hfID] == "" {
		return handover.Pause{}, false, nil
	}
	return pauseOf(conv, m), true, nil
}

// Start implements handover.Pauses.
func (h *Handovers) Start(ctx context.Context, p handover.Pause, ttl time.Duration) (handover.Pause, bool, error) {
	args := []any{ttlMS(ttl), member(p.ID, p.Conv), p.Since.UnixMilli(),
		hfID, p.ID, hfPlatform, string(p.To.Platform), hfAccount, string(p.To.Account), hfUser, string(p.To.User),
		hfReason, p.Reason, hfSince, ms(p.Since)}
	for _, f := range []struct {
		name string
		v    string
	}{{hfAgent, p.Agent}, {hfAssignee, p.Assignee}, {hfBrand, p.To.Route.Brand}, {hfRouteName, p.To.Route.Name}} {
		if f.v != "" {
			args = append(args, f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{hfWaiting, p.Waiting}, {hfLastCustomer, p.LastCustomer}, {hfLastStaff, p.LastStaff}} {
		if !f.t.IsZero() {
			args = append(args, f.name, ms(f.t))
		}
	}
	res, err := h.start.Run(ctx, h.rdb, []string{h.key(p.Conv), h.index}, args...).Slice()
	if err != nil {
		return handover.Pause{}, false, fmt.Errorf("redisstore.Handovers.Start: %w: %w", bot.ErrUnavailable, err)
	}
	if n, _ := res[0].(int64); n == 1 {
		return p, true, nil
	}
	var fields []any
	if len(res) > 1 {
		fields, _ = res[1].([]any)
	}
	return pauseOf(p.Conv, fieldMap(fields)), false, nil
}

// Touch implements handover.Pauses.
func (h *Handovers) Touch(ctx context.Context, conv handover.Conv, by handover.Party, at time.Time, ttl time.Duration) (bool, error) {
	party := "c"
	if by == handover.Staff {
		party = "s"
	}
	n, err := h.touch.Run(ctx, h.rdb, []string{h.key(conv)}, party, at.UnixMilli(), ttlMS(ttl)).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore.Handovers.Touch: %w: %w", bot.ErrUnavailable, err)
	}
	return n == 1, nil
}

// End implements handover.Pauses.
func (h *Handovers) End(ctx context.Context, conv handover.Conv, id string) (handover.Pause, bool, error) {
	res, err := h.end.Run(ctx, h.rdb, []string{h.key(conv), h.index}, id, string(conv)).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return handover.Pause{}, false, fmt.Errorf("redisstore.Handovers.End: %w: %w", bot.ErrUnavailable, err)
	}
	if len(res) == 0 {
		return handover.Pause{}, false, nil
	}
	return pauseOf(conv, fieldMap(res)), true, nil
}

// Assign implements handover.Board.
func (h *Handovers) Assign(ctx context.Context, conv handover.Conv, staff string) (bool, error) {
	n, err := h.assign.Run(ctx, h.rdb, []string{h.key(conv)}, staff).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore.Handovers.Assign: %w: %w", bot.ErrUnavailable, err)
	}
	return n == 1, nil
}

// indexed is one entry of the index with its pause as read.
type indexed struct {
	member string
	id     string
	conv   handover.Conv
	fields *redis.MapStringStringCmd
}

// scan reads up to limit entries of the index, oldest first, with their
// pauses, in one pipeline.
func (h *Handovers) scan(ctx context.Context, limit int) ([]indexed, error) {
	members, err := h.rdb.ZRange(ctx, h.index, 0, int64(limit)-1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]indexed, 0, len(members))
	pipe := h.rdb.Pipeline()
	for _, m := range members {
		id, conv, ok := strings.Cut(m, " ")
		if !ok {
			continue
		}
		out = append(out, indexed{member: m, id: id, conv: handover.Conv(conv), fields: pipe.HGetAll(ctx, h.key(handover.Conv(conv)))})
	}
	if len(out) == 0 {
		return nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// Held implements handover.Board.
func (h *Handovers) Held(ctx context.Context, limit int) ([]handover.Pause, error) {
	entries, err := h.scan(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("redisstore.Handovers.Held: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]handover.Pause, 0, len(entries))
	for _, e := range entries {
		if m := e.fields.Val(); m[hfID] == e.id {
			out = append(out, pauseOf(e.conv, m))
		}
	}
	return out, nil
}

// expiredScan bounds how much of the index one Expired call reads: the
// index holds the hand-overs in force, a few hundred at most.
const expiredScan = 1000

// Expired implements handover.Board: an index entry whose pause is gone,
// or belongs to a later hand-over, ran out. Removing the entry is the
// claim: only the caller whose ZREM removed it gets it.
func (h *Handovers) Expired(ctx context.Context, limit int) ([]handover.Pause, error) {
	entries, err := h.scan(ctx, expiredScan)
	if err != nil {
		return nil, fmt.Errorf("redisstore.Handovers.Expired: %w: %w", bot.ErrUnavailable, err)
	}
	var out []handover.Pause
	for _, e := range entries {
		if len(out) == limit {
			break
		}
		if e.fields.Val()[hfID] == e.id {
			continue
		}
		n, err := h.rdb.ZRem(ctx, h.index, e.member).Result()
		if err != nil {
			return out, fmt.Errorf("redisstore.Handovers.Expired: %w: %w", bot.ErrUnavailable, err)
		}
		if n == 1 {
			out = append(out, handover.Pause{ID: e.id, Conv: e.conv})
		}
	}
	return out, nil
}

// Conversations implements handover.Board: the index's entries, held or
// run out and not swept yet.
func (h *Handovers) Conversations(ctx context.Context) ([]handover.Conv, error) {
	members, err := h.rdb.ZRange(ctx, h.index, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore.Handovers.Conversations: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]handover.Conv, 0, len(members))
	for _, m := range members {
		if _, conv, ok := strings.Cut(m, " "); ok {
			out = append(out, handover.Conv(conv))
		}
	}
	return out, nil
}

// Next implements handover.Turns.
func (h *Handovers) Next(ctx context.Context, key string) (int64, error) {
	n, err := h.rdb.Incr(ctx, h.turns+key).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore.Handovers.Next: %w: %w", bot.ErrUnavailable, err)
	}
	return n, nil
}

// fieldMap turns HGETALL's flat reply, as a script returns it, into a
// map.
func fieldMap(flat []any) map[string]string {
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		m[k] = v
	}
	return m
}

func pauseOf(conv handover.Conv, m map[string]string) handover.Pause {
	at := func(f string) time.Time {
		n, err := strconv.ParseInt(m[f], 10, 64)
		if err != nil || n == 0 {
			return time.Time{}
		}
		return time.UnixMilli(n)
	}
	return handover.Pause{
		ID: m[hfID], Conv: conv,
		To: bot.Target{Platform: bot.Platform(m[hfPlatform]), Account: bot.AccountID(m[hfAccount]), User: bot.UserID(m[hfUser]),
			Route: bot.Route{Brand: m[hfBrand], Name: m[hfRouteName]}},
		Reason: m[hfReason], Agent: m[hfAgent], Assignee: m[hfAssignee],
		Since: at(hfSince), Waiting: at(hfWaiting), LastCustomer: at(hfLastCustomer), LastStaff: at(hfLastStaff),
	}
}
