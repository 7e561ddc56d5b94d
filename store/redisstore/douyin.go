package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/window"
)

// DouyinState is Douyin's window.Recorder and window.Windows on Redis,
// shared by replicas.
// Each 1:1 conversation is one hash that expires a while after its reply
// window closes; each customer message's time, and each recalled message
// id, is one key with the same life.
// Every check-and-count runs as one Lua script, so replicas never
// oversend.
type DouyinState struct {
	rdb    redis.UniversalClient
	c      *Client
	limits window.Limits
	ttl    time.Duration

	recordMessage, recordEnter, markRecalled, reserve, release *redis.Script
}

// Interface guards.
var (
	_ window.Recorder = (*DouyinState)(nil)
	_ window.Windows  = (*DouyinState)(nil)
)

// stateSlack keeps conversation state an hour past its window, so a
// retried webhook or a late send still finds it and is refused for the
// right reason.
const stateSlack = time.Hour

// NewDouyinState returns conversation state stored in c under c's prefix.
func NewDouyinState(c *Client, limits window.Limits) *DouyinState {
	limits = limits.WithDefaults()
	return &DouyinState{
		rdb: c.Redis(), c: c, limits: limits,
		ttl:           max(limits.ReplyWindow, limits.EnterWindow) + stateSlack,
		recordMessage: redis.NewScript(recordMessageScript),
		recordEnter:   redis.NewScript(recordEnterScript),
		markRecalled:  redis.NewScript(markRecalledScript),
		reserve:       redis.NewScript(reserveScript),
		release:       redis.NewScript(releaseScript),
	}
}

// An account's keys share the hash tag {douyin:<account>}: a script
// reads a conversation with a message's keys, and a message id does not
// name its conversation (IsRecalled knows only the account).

func (s *DouyinState) convKey(account bot.AccountID, user bot.UserID) string {
	return s.c.tagged("douyin", string(account), "conv:"+string(user))
}

func (s *DouyinState) recalledKey(account bot.AccountID, messageID string) string {
	return s.c.tagged("douyin", string(account), "recalled:"+messageID)
}

// msgKey holds when a customer message was sent, so a reply naming it can
// be checked against its own window.
func (s *DouyinState) msgKey(account bot.AccountID, messageID string) string {
	return s.c.tagged("douyin", string(account), "msg:"+messageID)
}

// recordMessageScript: KEYS conv, recalled-key-of-this-message,
// msg-key-of-this-message; ARGV conversation, message id, time (ms), ttl
// (ms). Every message's time is kept; a retry (same id) and a message
// older than the recorded one change nothing else.
const recordMessageScript = `
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
if redis.call('HGET', KEYS[1], 'msg') == ARGV[2] then return 0 end
local at = tonumber(redis.call('HGET', KEYS[1], 'msg_at') or '0')
if at > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'msg', ARGV[2], 'msg_at', ARGV[3], 'sent', 0, 'recalled', redis.call('EXISTS', KEYS[2]))
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'conv', ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`

// RecordMessage implements window.Recorder. A message without an id cannot be
// replied to and is not recorded.
func (s *DouyinState) RecordMessage(ctx context.Context, account bot.AccountID, user bot.UserID, conversation, messageID string, at time.Time) error {
	if messageID == "" {
		return nil
	}
	keys := []string{s.convKey(account, user), s.recalledKey(account, messageID), s.msgKey(account, messageID)}
	if err := s.recordMessage.Run(ctx, s.rdb, keys, conversation, messageID, at.UnixMilli(), s.ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("douyin.RecordMessage: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// recordEnterScript: KEYS conv; ARGV conversation, event message id, time
// (ms), ttl (ms).
const recordEnterScript = `
if redis.call('HGET', KEYS[1], 'enter') == ARGV[2] then return 0 end
local at = tonumber(redis.call('HGET', KEYS[1], 'enter_at') or '0')
if at > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'enter', ARGV[2], 'enter_at', ARGV[3], 'enter_sent', 0)
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'conv', ARGV[1]) end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 1`

// RecordEnter implements window.Recorder. An event without a message id cannot
// be answered (the enter scene needs it) and is not recorded.
func (s *DouyinState) RecordEnter(ctx context.Context, account bot.AccountID, user bot.UserID, conversation, messageID string, at time.Time) error {
	if messageID == "" {
		return nil
	}
	if err := s.recordEnter.Run(ctx, s.rdb, []string{s.convKey(account, user)}, conversation, messageID, at.UnixMilli(), s.ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("douyin.RecordEnter: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// markRecalledScript: KEYS recalled, conv; ARGV message id, ttl (ms).
const markRecalledScript = `
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
if redis.call('HGET', KEYS[2], 'msg') == ARGV[1] then redis.call('HSET', KEYS[2], 'recalled', 1) end
return 1`

// MarkRecalled implements window.Recorder. The mark outlives the reply window,
// so a recall that arrives before its message (webhooks are unordered)
// still stops the answer.
func (s *DouyinState) MarkRecalled(ctx context.Context, account bot.AccountID, user bot.UserID, messageID string) error {
	keys := []string{s.recalledKey(account, messageID), s.convKey(account, user)}
	if err := s.markRecalled.Run(ctx, s.rdb, keys, messageID, s.ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("douyin.MarkRecalled: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// IsRecalled implements window.Recorder.
func (s *DouyinState) IsRecalled(ctx context.Context, account bot.AccountID, messageID string) (bool, error) {
	if messageID == "" {
		return false, nil
	}
	n, err := s.rdb.Exists(ctx, s.recalledKey(account, messageID)).Result()
	if err != nil {
		return false, fmt.Errorf("douyin.IsRecalled: %w: %w", bot.ErrUnavailable, err)
	}
	return n > 0, nil
}

// reserveScript: KEYS conv, and with a reply-to id its recalled key and
// msg key; ARGV now (ms), reply window (ms), replies per message, enter
// window (ms), enter replies, reply-to id (empty when unknown). Returns
// {"ok", scene, id answered, conversation, id counted} or {reason}.
//
// A reply answers the reply-to message when that is not recalled and is
// the latest message or within its own window; otherwise the customer's
// latest message while its window is open; otherwise a message may
// follow the customer opening the chat. A recalled message stops
// answering it, and a recalled latest message stops the fallbacks.
// Replies count against the latest message whichever they answer.
const reserveScript = `
local replyTo = ARGV[6]
if replyTo ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then return {'recalled'} end
local h = redis.call('HMGET', KEYS[1], 'conv', 'msg', 'msg_at', 'sent', 'recalled', 'enter', 'enter_at', 'enter_sent')
local conv, msg, enter = h[1], h[2], h[6]
if not conv or conv == '' or (not msg and not enter) then return {'none'} end
local now = tonumber(ARGV[1])
local id, at, recalled = msg, tonumber(h[3] or '0'), h[5] == '1'
if replyTo ~= '' and replyTo ~= msg then
  local rat = tonumber(redis.call('GET', KEYS[3]) or '')
  if rat and now - rat <= tonumber(ARGV[2]) then id, at, recalled = replyTo, rat, false end
end
if id and recalled then return {'recalled'} end
local reason = 'expired'
if id and now - at <= tonumber(ARGV[2]) then
  if tonumber(h[4] or '0') < tonumber(ARGV[3]) then
    redis.call('HINCRBY', KEYS[1], 'sent', 1)
    return {'ok', 'im_reply_msg', id, conv, msg or ''}
  end
  reason = 'quota'
end
if enter and now - tonumber(h[7] or '0') <= tonumber(ARGV[4]) then
  if tonumber(h[8] or '0') < tonumber(ARGV[5]) then
    redis.call('HINCRBY', KEYS[1], 'enter_sent', 1)
    return {'ok', 'im_enter_direct_msg', enter, conv, enter}
  end
  if reason == 'expired' then reason = 'enter_quota' end
end
return {reason}`

// Reserve implements window.Windows.
func (s *DouyinState) Reserve(ctx context.Context, account bot.AccountID, user bot.UserID, replyTo string, now time.Time) (window.Grant, error) {
	l := s.limits
	keys := []string{s.convKey(account, user)}
	if replyTo != "" {
		keys = append(keys, s.recalledKey(account, replyTo), s.msgKey(account, replyTo))
	}
	res, err := s.reserve.Run(ctx, s.rdb, keys,
		now.UnixMilli(), l.ReplyWindow.Milliseconds(), l.RepliesPerMessage, l.EnterWindow.Milliseconds(), l.EnterReplies, replyTo).StringSlice()
	if err != nil || len(res) == 0 {
		return window.Grant{}, fmt.Errorf("douyin.Reserve: %w: %w", bot.ErrUnavailable, err)
	}
	if res[0] == "ok" && len(res) == 5 {
		return window.Grant{Scene: res[1], ReplyTo: res[2], ConversationID: res[3], Counted: res[4]}, nil
	}
	return window.Grant{}, fmt.Errorf("douyin.Reserve: %s: %w", s.refusal(res[0]), bot.ErrInvalid)
}

// refusal is what staff read in the dead-lettered row.
func (s *DouyinState) refusal(reason string) string {
	l := s.limits
	switch reason {
	case "recalled":
		return "recalled: the customer recalled the message this reply answers"
	case "quota":
		return "reply quota used: " + strconv.Itoa(l.RepliesPerMessage) + " messages already answer the customer's last message; Douyin allows no more until the customer writes again"
	case "enter_quota":
		return "outside the reply window: the customer has not written in " + l.ReplyWindow.String() + ", and the " + strconv.Itoa(l.EnterReplies) + " messages allowed after opening the chat are used"
	case "expired":
		return "outside the reply window: the customer's last message is older than " + l.ReplyWindow.String() + " and the chat was not opened in the last " + l.EnterWindow.String()
	case "none":
		return "no customer message or opened chat to reply to: a proactive message needs the customer's authorization (scene im_authorize_message), which siyu does not send"
	}
	return "refused (" + reason + ")"
}

// releaseScript: KEYS conv; ARGV scene, id counted. Only the count of
// the message the grant was counted against is given back.
const releaseScript = `
local field, id = 'sent', 'msg'
if ARGV[1] == 'im_enter_direct_msg' then field, id = 'enter_sent', 'enter' end
if redis.call('HGET', KEYS[1], id) == ARGV[2] and tonumber(redis.call('HGET', KEYS[1], field) or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], field, -1)
end
return 1`

// Release implements window.Windows.
func (s *DouyinState) Release(ctx context.Context, account bot.AccountID, user bot.UserID, g window.Grant) error {
	if err := s.release.Run(ctx, s.rdb, []string{s.convKey(account, user)}, g.Scene, g.Counted).Err(); err != nil {
		return fmt.Errorf("douyin.Release: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}
