package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot"
)

// Questions keeps the confirming questions siyu asked instead of acting
// (bot.Confirmations), one hash per person's chat: field q holds the
// question, field by the message that claimed it. The key expires with
// the question, so every replica sees it, and none after a few minutes.
type Questions struct {
	c     *Client
	claim *redis.Script
}

// Interface guard.
var _ bot.QuestionStore = (*Questions)(nil)

// NewQuestions returns the question store in c, under its prefix.
func NewQuestions(c *Client) *Questions {
	return &Questions{c: c, claim: redis.NewScript(claimQuestionScript)}
}

// claimQuestionScript: KEYS[1] the question; ARGV[1] the claiming
// message, ARGV[2] how long (ms) a claimed question stays for the
// message's retries. It returns the question to the first message that
// claims it and to that message again, and false to any other, in one
// step, so two replicas handling two messages cannot both get it.
const claimQuestionScript = `
local q = redis.call('HGET', KEYS[1], 'q')
if not q then return false end
local by = redis.call('HGET', KEYS[1], 'by')
if by and by ~= ARGV[1] then return false end
if not by then
  redis.call('HSET', KEYS[1], 'by', ARGV[1])
  if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
end
return q`

func (s *Questions) key(k string) string { return s.c.key("confirm", k) }

// Put implements bot.QuestionStore: the question replaces the key's
// hash, claimed or not, in one transaction.
func (s *Questions) Put(ctx context.Context, key string, q []byte, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("redisstore.Questions.Put: ttl %v: %w", ttl, bot.ErrInvalid)
	}
	k := s.key(key)
	_, err := s.c.Redis().TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, "q", q)
		p.PExpire(ctx, k, ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore.Questions.Put: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// Claim implements bot.QuestionStore in one script call. It runs for
// every 1:1 message, so it rides the Client's batcher with the dedupe
// commands (runScript).
func (s *Questions) Claim(ctx context.Context, key, msg string, keep time.Duration) ([]byte, bool, error) {
	v, err := s.c.runScript(ctx, s.claim, []string{s.key(key)}, msg, max(keep, time.Millisecond).Milliseconds()).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("redisstore.Questions.Claim: %w: %w", bot.ErrUnavailable, err)
	}
	return []byte(v), true, nil
}
