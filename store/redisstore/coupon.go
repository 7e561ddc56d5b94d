package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
)

// CouponCounter is bot/coupon's fast path: per campaign, a hash of its
// state (epoch, the highest seq handed out, imported codes), a list of
// seqs given back, and a hash of claims per person. One Lua script
// reserves a seq and a slot atomically for every replica. The database
// stays the truth: when this state is gone (Redis emptied or restarted)
// it is rebuilt from a coupon.Snapshot.
type CouponCounter struct {
	c       *Client
	reserve *redis.Script
	release *redis.Script
	// mini is the embedded Redis, nil on a real server. miniredis builds
	// a Lua interpreter for every EVAL (about 350 µs of CPU under load,
	// most of an embedded follow's cost), so there the two scripts run
	// in Go on the same keys instead, one at a time under mu; rebuilds
	// and resets take mu too, as a script holds Redis.
	mini *miniredis.Miniredis
	mu   sync.Mutex
}

// Interface guard.
var _ coupon.Counter = (*CouponCounter)(nil)

// NewCouponCounter returns the counters kept in c.
func NewCouponCounter(c *Client) *CouponCounter {
	return &CouponCounter{c: c, reserve: redis.NewScript(couponReserveScript), release: redis.NewScript(couponReleaseScript), mini: c.mini}
}

// couponReserveScript: KEYS state, free, persons; ARGV stock,
// per_person, import-only (1/0), then the person's names (a linked
// person's union name and platform name: a claim counts under both).
// Returns {status, seq, slot, epoch} with status 1 reserved, 2 no state,
// 3 person full, 4 sold out; slot is the highest count among the names
// (when sold out, the count before: whether the person holds any).
const couponReserveScript = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return {2, 0, 0, ''} end
local held = 0
for i = 4, #ARGV do
  local have = tonumber(redis.call('HGET', KEYS[3], ARGV[i]) or '0')
  if have >= tonumber(ARGV[2]) then return {3, 0, 0, epoch} end
  if have > held then held = have end
end
local stock = tonumber(ARGV[1])
if ARGV[3] == '1' then
  local codes = tonumber(redis.call('HGET', KEYS[1], 'codes') or '0')
  if codes < stock then stock = codes end
end
local seq = nil
while true do
  local f = redis.call('LPOP', KEYS[2])
  if not f then break end
  f = tonumber(f)
  if f <= stock then seq = f break end
end
if not seq then
  local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
  if n >= stock then return {4, 0, held, epoch} end
  seq = redis.call('HINCRBY', KEYS[1], 'n', 1)
end
local slot = 0
for i = 4, #ARGV do
  local n = redis.call('HINCRBY', KEYS[3], ARGV[i], 1)
  if n > slot then slot = n end
end
return {1, seq, slot, epoch}
`

// couponReleaseScript: KEYS state, free, persons; ARGV epoch, seq (0:
// keep), slot (1/0), then the person's names. A release into another
// epoch's state is ignored: the rebuild already counted from the
// database.
const couponReleaseScript = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then redis.call('RPUSH', KEYS[2], ARGV[2]) end
if ARGV[3] == '1' then
  for i = 4, #ARGV do
    local n = tonumber(redis.call('HGET', KEYS[3], ARGV[i]) or '0')
    if n > 0 then redis.call('HINCRBY', KEYS[3], ARGV[i], -1) end
  end
end
return 1
`

// keys are the campaign's three keys, in one Redis Cluster slot (the
// {campaign} hash tag) because one script touches all three.
func (k *CouponCounter) keys(campaign string) []string {
	tag := "{" + campaign + "}"
	return []string{
		k.c.key("coupon", tag+":state"),
		k.c.key("coupon", tag+":free"),
		k.c.key("coupon", tag+":persons"),
	}
}

// Reserve implements coupon.Counter.
func (k *CouponCounter) Reserve(ctx context.Context, campaign string, persons []bot.PersonID, stock, perPerson int, importOnly bool) (coupon.Reservation, error) {
	if len(persons) == 0 {
		return coupon.Reservation{}, fmt.Errorf("redisstore.CouponCounter.Reserve: no person: %w", bot.ErrInvalid)
	}
	if k.mini != nil {
		return k.reserveEmbedded(k.keys(campaign), persons, stock, perPerson, importOnly), nil
	}
	imp := "0"
	if importOnly {
		imp = "1"
	}
	args := []any{stock, perPerson, imp}
	for _, p := range persons {
		args = append(args, string(p))
	}
	v, err := k.c.runScript(ctx, k.reserve, k.keys(campaign), args...).Slice()
	if err != nil {
		return coupon.Reservation{}, fmt.Errorf("redisstore.CouponCounter.Reserve: %w: %w", bot.ErrUnavailable, err)
	}
	if len(v) != 4 {
		return coupon.Reservation{}, fmt.Errorf("redisstore.CouponCounter.Reserve: %d values: %w", len(v), bot.ErrUnavailable)
	}
	status, _ := v[0].(int64)
	seq, _ := v[1].(int64)
	slot, _ := v[2].(int64)
	epoch, _ := v[3].(string)
	r := coupon.Reservation{Seq: int(seq), Slot: int(slot), Epoch: epoch}
	switch status {
	case 1:
		r.Status = coupon.Reserved
	case 2:
		r.Status = coupon.NeedRebuild
	case 3:
		r.Status = coupon.FullForPerson
	default:
		r.Status = coupon.SoldOut
	}
	return r, nil
}

// Release implements coupon.Counter.
func (k *CouponCounter) Release(ctx context.Context, campaign string, persons []bot.PersonID, r coupon.Reservation, seq, slot bool) error {
	s, sl := 0, "0"
	if seq {
		s = r.Seq
	}
	if slot {
		sl = "1"
	}
	if k.mini != nil {
		k.releaseEmbedded(k.keys(campaign), persons, r.Epoch, s, slot)
		return nil
	}
	args := []any{r.Epoch, s, sl}
	for _, p := range persons {
		args = append(args, string(p))
	}
	if err := k.release.Run(ctx, k.c.rdb, k.keys(campaign), args...).Err(); err != nil {
		return fmt.Errorf("redisstore.CouponCounter.Release: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// rebuildWait bounds how long a claim waits for another replica's
// rebuild before giving up with bot.ErrUnavailable.
const rebuildWait = 10 * time.Second

// Rebuild implements coupon.Counter. One replica rebuilds under a lock;
// the others wait until the state is back (or the lock is free again,
// then try themselves).
func (k *CouponCounter) Rebuild(ctx context.Context, campaign string, snap func(context.Context) (coupon.Snapshot, error)) error {
	keys := k.keys(campaign)
	deadline := time.Now().Add(rebuildWait)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		ok, err := k.c.rdb.HExists(ctx, keys[0], "epoch").Result()
		if err != nil {
			return fmt.Errorf("redisstore.CouponCounter.Rebuild: %w: %w", bot.ErrUnavailable, err)
		}
		if ok {
			return nil
		}
		release, locked, err := k.c.Lock(ctx, "coupon:"+campaign, 30*time.Second)
		if err != nil {
			return fmt.Errorf("redisstore.CouponCounter.Rebuild: %w", err)
		}
		if locked {
			err := k.rebuild(ctx, keys, snap)
			release()
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redisstore.CouponCounter.Rebuild %s: another replica's rebuild did not finish: %w", campaign, bot.ErrUnavailable)
		}
		// Waiting on another replica's rebuild, which takes one read of
		// the database; polling is simpler than a pub/sub for this rare
		// event.
		select {
		case <-ctx.Done():
			return fmt.Errorf("redisstore.CouponCounter.Rebuild: %w: %w", bot.ErrUnavailable, ctx.Err())
		case <-time.After(wait):
		}
	}
}

func (k *CouponCounter) rebuild(ctx context.Context, keys []string, snap func(context.Context) (coupon.Snapshot, error)) error {
	if k.mini != nil {
		k.mu.Lock()
		defer k.mu.Unlock()
	}
	if ok, err := k.c.rdb.HExists(ctx, keys[0], "epoch").Result(); err != nil || ok {
		if err != nil {
			return fmt.Errorf("redisstore.CouponCounter.Rebuild: %w: %w", bot.ErrUnavailable, err)
		}
		return nil
	}
	s, err := snap(ctx)
	if err != nil {
		return fmt.Errorf("redisstore.CouponCounter.Rebuild: %w", err)
	}
	maxSeq := 0
	if len(s.Seqs) > 0 {
		maxSeq = s.Seqs[len(s.Seqs)-1]
	}
	// Seqs below the highest that no claim holds are free again.
	var free []any
	j := 0
	for seq := 1; seq <= maxSeq; seq++ {
		for j < len(s.Seqs) && s.Seqs[j] < seq {
			j++
		}
		if j < len(s.Seqs) && s.Seqs[j] == seq {
			continue
		}
		free = append(free, seq)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand docs)
	epoch := hex.EncodeToString(b[:])
	_, err = k.c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, keys...)
		const chunk = 1000
		for i := 0; i < len(free); i += chunk {
			p.RPush(ctx, keys[1], free[i:min(i+chunk, len(free))]...)
		}
		persons := make([]any, 0, 2*chunk)
		for person, n := range s.Persons {
			persons = append(persons, string(person), n)
			if len(persons) >= 2*chunk {
				p.HSet(ctx, keys[2], persons...)
				persons = persons[:0]
			}
		}
		if len(persons) > 0 {
			p.HSet(ctx, keys[2], persons...)
		}
		// The epoch last: until EXEC nobody sees any of it anyway.
		p.HSet(ctx, keys[0], "n", maxSeq, "codes", s.Codes, "epoch", epoch)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore.CouponCounter.Rebuild: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// Reset implements coupon.Counter.
func (k *CouponCounter) Reset(ctx context.Context, campaign string) error {
	if k.mini != nil {
		k.mu.Lock()
		defer k.mu.Unlock()
	}
	if err := k.c.rdb.HDel(ctx, k.keys(campaign)[0], "epoch").Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore.CouponCounter.Reset: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// Epoch returns the campaign's current epoch ("" when it has no state),
// for tests and staff.
func (k *CouponCounter) Epoch(ctx context.Context, campaign string) (string, error) {
	v, err := k.c.rdb.HGet(ctx, k.keys(campaign)[0], "epoch").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("redisstore.CouponCounter.Epoch: %w: %w", bot.ErrUnavailable, err)
	}
	return v, nil
}

// reserveEmbedded is couponReserveScript in Go, on the embedded Redis.
func (k *CouponCounter) reserveEmbedded(keys []string, persons []bot.PersonID, stock, perPerson int, importOnly bool) coupon.Reservation {
	db := k.mini.DB(0)
	k.mu.Lock()
	defer k.mu.Unlock()
	epoch := db.HGet(keys[0], "epoch")
	if epoch == "" {
		return coupon.Reservation{Status: coupon.NeedRebuild}
	}
	held := 0
	for _, p := range persons {
		have, _ := strconv.Atoi(db.HGet(keys[2], string(p)))
		if have >= perPerson {
			return coupon.Reservation{Status: coupon.FullForPerson, Epoch: epoch}
		}
		held = max(held, have)
	}
	if importOnly {
		codes, _ := strconv.Atoi(db.HGet(keys[0], "codes"))
		stock = min(stock, codes)
	}
	seq := 0
	for seq == 0 {
		f, err := db.Lpop(keys[1])
		if err != nil {
			break // no list: nothing was given back
		}
		if n, _ := strconv.Atoi(f); n <= stock {
			seq = n
		}
	}
	if seq == 0 {
		n, _ := strconv.Atoi(db.HGet(keys[0], "n"))
		if n >= stock {
			return coupon.Reservation{Status: coupon.SoldOut, Slot: held, Epoch: epoch}
		}
		seq, _ = db.HIncr(keys[0], "n", 1)
	}
	slot := 0
	for _, p := range persons {
		n, _ := db.HIncr(keys[2], string(p), 1)
		slot = max(slot, n)
	}
	return coupon.Reservation{Status: coupon.Reserved, Seq: seq, Slot: slot, Epoch: epoch}
}

// releaseEmbedded is couponReleaseScript in Go, on the embedded Redis.
func (k *CouponCounter) releaseEmbedded(keys []string, persons []bot.PersonID, epoch string, seq int, slot bool) {
	db := k.mini.DB(0)
	k.mu.Lock()
	defer k.mu.Unlock()
	if db.HGet(keys[0], "epoch") != epoch {
		return
	}
	if seq > 0 {
		_, _ = db.Push(keys[1], strconv.Itoa(seq))
	}
	if slot {
		for _, p := range persons {
			if n, _ := strconv.Atoi(db.HGet(keys[2], string(p))); n > 0 {
				_, _ = db.HIncr(keys[2], string(p), -1)
			}
		}
	}
}
