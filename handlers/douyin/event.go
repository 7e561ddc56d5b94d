package douyin

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// Webhook event names (…/dop/develop/webhooks/event-list).
const (
	eventVerify       = "verify_webhook"
	eventReceive      = "im_receive_msg"
	eventSend         = "im_send_msg"
	eventEnter        = "im_enter_direct_msg"
	eventRecall       = "im_recall_msg"
	eventGroupReceive = "im_group_receive_msg"
	eventGroupSend    = "im_group_send_msg"
	eventGroupJoin    = "group_fans_event"
	eventGroupApply   = "enter_group_audit_change"
	messageTypeText   = "text"
)

// envelope is the shape every Douyin webhook shares: event, from_user_id,
// to_user_id, client_key, content and log_id (…/webhooks/event-list).
// im_recall_msg also carries a top-level msg_id.
type envelope struct {
	Event      string          `json:"event"`
	FromUserID string          `json:"from_user_id"`
	ToUserID   string          `json:"to_user_id"`
	Content    json.RawMessage `json:"content"`
	MsgID      string          `json:"msg_id"`
}

// content is the union of the content fields siyu reads across events.
// Fields of the private-message events follow their documented tables;
// the group fields (group_id, im_group_id, owner_id, open_id) are
// reconstructed from third-party SDK models, since Douyin publishes no
// group samples, and are all optional.
type content struct {
	Challenge           json.RawMessage `json:"challenge"`
	ConversationShortID string          `json:"conversation_short_id"`
	ServerMessageID     string          `json:"server_message_id"`
	ConversationType    flexInt         `json:"conversation_type"`
	MessageType         string          `json:"message_type"`
	Text                flexText        `json:"text"`
	Source              string          `json:"source"`
	CreateTime          flexInt         `json:"create_time"`
	UserInfos           []userInfo      `json:"user_infos"`
	GroupID             flexString      `json:"group_id"`
	IMGroupID           flexString      `json:"im_group_id"`
	OwnerID             string          `json:"owner_id"`
	OpenID              string          `json:"open_id"`
}

type userInfo struct {
	OpenID string `json:"open_id"`
	// nick_name and avatar are personal data siyu does not keep.
}

// flexInt is a JSON number that may arrive as a string.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	s = strings.Trim(s, `"`)
	if s == "" {
		return nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = flexInt(v)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64) // 1.7e12 is a valid JSON number
	if err != nil {
		return errors.New("not a number")
	}
	*n = flexInt(f)
	return nil
}

// flexString is an ID that may arrive as a JSON string or number.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return errors.New("not a string or number")
		}
		*s = flexString(n.String())
	}
	return nil
}

// flexText is a message's text: a string in the documented field table,
// an object {"text": "…"} in some third-party readings.
type flexText string

func (t *flexText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '{':
		var v struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*t = flexText(v.Text)
	default:
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*t = flexText(v)
	}
	return nil
}

// parseWebhook decodes a verified webhook body. content is accepted both
// as an object (verify_webhook, im_receive_msg) and as a JSON-encoded
// string holding an object (im_enter_direct_msg, im_recall_msg). Errors
// describe the shape, never the values.
func parseWebhook(body []byte) (envelope, content, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return env, content{}, fmt.Errorf("douyin: body: %w", err)
	}
	if env.Event == "" {
		return env, content{}, errors.New("douyin: body has no event")
	}
	c, err := decodeContent(env.Content)
	if err != nil {
		return env, content{}, err
	}
	return env, c, nil
}

func decodeContent(raw json.RawMessage) (content, error) {
	var c content
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return c, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return c, fmt.Errorf("douyin: content string: %w", err)
		}
		raw = bytes.TrimSpace([]byte(s))
		if len(raw) == 0 {
			return c, nil
		}
	}
	if raw[0] != '{' {
		return c, errors.New("douyin: content is neither an object nor a JSON-encoded object")
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("douyin: content: %w", err)
	}
	return c, nil
}

// effect is what the adapter records before the engine runs.
type effect int

const (
	effectNone    effect = iota
	effectMessage        // a customer message: opens the 24-hour reply window
	effectEnter          // the customer opened the chat: opens the short enter window
	effectRecall         // a message was recalled: its reply must not go out
)

// route is one row of the event table: how a Douyin event becomes a
// bot.Event and what happens around the engine.
type route struct {
	event  string
	kind   bot.EventKind // empty: acknowledged and ignored
	group  bool
	effect effect
}

// routeFor looks event up in the event table.
func routeFor(event string) (route, bool) {
	for _, r := range [...]route{
		{event: eventReceive, kind: bot.KindMessage, effect: effectMessage},
		{event: eventEnter, kind: bot.KindSessionOpened, effect: effectEnter},
		{event: eventRecall, kind: bot.KindRecall, effect: effectRecall},
		// Douyin publishes no sample of these two: their field names follow
		// the documented common shape and third-party SDK models, and the
		// mapping tolerates their absence.
		{event: eventGroupReceive, kind: bot.KindMessage, group: true},
		{event: eventGroupJoin, kind: bot.KindMemberJoined, group: true},
		// Echoes of what the account sent (through siyu or from the app):
		// answering them would loop.
		{event: eventSend},
		{event: eventGroupSend, group: true},
		// An application to join is not a member yet; the welcome waits
		// for group_fans_event.
		{event: eventGroupApply, group: true},
	} {
		if r.event == event {
			return r, true
		}
	}
	return route{}, false
}

// inbound is a mapped webhook: the event for the engine plus what the
// adapter needs around it.
type inbound struct {
	ev bot.Event
	// conversation is the 1:1 conversation_short_id Douyin wants back
	// with a reply.
	conversation string
	effect       effect
	// answer is false for events that are recorded but not handed to the
	// engine (a private image opens the reply window but has no text).
	answer bool
}

// mapOptions are toEvent's inputs beyond the payload.
type mapOptions struct {
	// clientKey is siyu's application: a group message whose source is
	// it was sent by siyu and is not answered.
	clientKey string
	// account is used when the payload names no account.
	account bot.AccountID
	// now is the event time when the payload carries none.
	now time.Time
}

// longID reports whether any id of a webhook is longer than
// bot.MaxIDLen.
func longID(env envelope, c content) bool {
	if bot.LongID(env.FromUserID, env.ToUserID, env.MsgID, c.ConversationShortID, c.ServerMessageID,
		string(c.GroupID), string(c.IMGroupID), c.OwnerID, c.OpenID) {
		return true
	}
	for _, u := range c.UserInfos {
		if bot.LongID(u.OpenID) {
			return true
		}
	}
	return false
}

// toEvent maps a webhook to an inbound event. It reports false for
// events siyu acknowledges without acting on (own sends, join
// applications, authorization notices, unknown events), and an error
// wrapping bot.ErrInvalid for a handled event that lacks required fields.
func toEvent(env envelope, c content, o mapOptions) (inbound, bool, error) {
	r, ok := routeFor(env.Event)
	if !ok || r.kind == "" {
		return inbound{}, false, nil
	}
	ev := bot.Event{
		Platform:  bot.Douyin,
		Kind:      r.kind,
		Sender:    bot.UserID(env.FromUserID),
		MessageID: c.ServerMessageID,
		Time:      eventTime(c.CreateTime, o.now),
	}
	in := inbound{effect: r.effect, answer: true}
	// Other types (image, emoji, video, cards…) carry no text siyu can
	// answer.
	isText := c.MessageType == "" || c.MessageType == messageTypeText
	missing := func(field string) (inbound, bool, error) {
		return inbound{}, false, fmt.Errorf("douyin: %s without %s: %w", env.Event, field, bot.ErrInvalid)
	}

	if !r.group {
		ev.Account = cmp.Or(bot.AccountID(env.ToUserID), o.account)
		if ev.Sender == "" {
			return missing("from_user_id")
		}
		in.conversation = c.ConversationShortID
		switch r.effect {
		case effectMessage:
			if c.ServerMessageID == "" {
				return missing("server_message_id")
			}
			if isText {
				ev.Text = string(c.Text)
			}
			// Other types still open the reply window.
			in.answer = isText
		case effectRecall:
			if c.ServerMessageID == "" {
				return missing("server_message_id")
			}
		}
		ev.DedupeKey = dedupeKey(env.MsgID, env.Event, c.ServerMessageID, env.FromUserID, int64(c.CreateTime))
		in.ev = ev
		return in, true, nil
	}

	// Group events: reconstructed, so every field is looked up among
	// the names seen for it, in order.
	group := cmp.Or(string(c.GroupID), string(c.IMGroupID), c.ConversationShortID)
	if group == "" {
		return missing("a group id (group_id, im_group_id or conversation_short_id)")
	}
	ev.Conversation = bot.Conversation{Group: bot.GroupID(group)}
	ev.Account = cmp.Or(bot.AccountID(env.ToUserID), bot.AccountID(c.OwnerID), bot.AccountID(c.OpenID), o.account)
	switch r.kind {
	case bot.KindMessage:
		if ev.Sender == "" {
			return missing("from_user_id")
		}
		own := (o.clientKey != "" && c.Source == o.clientKey) || (ev.Account != "" && string(ev.Sender) == string(ev.Account))
		if own || !isText {
			return inbound{}, false, nil
		}
		ev.Text = string(c.Text)
	case bot.KindMemberJoined:
		// content.open_id is the group owner in the SDK models, not a
		// member; members are the sender and any listed users.
		ev.Members = members(ev.Account, c.OpenID, env.FromUserID, c.UserInfos)
		if len(ev.Members) == 0 {
			return missing("a member (from_user_id or user_infos)")
		}
	}
	ev.DedupeKey = dedupeKey(env.MsgID, env.Event, c.ServerMessageID, group+":"+env.FromUserID, int64(c.CreateTime))
	in.ev = ev
	return in, true, nil
}

// dedupeKey is built only from what the signature covers: the body's
// top-level msg_id when present, else the server message id for messages
// and recalls, else the sender and time for events that have neither.
// Not the Msg-Id header, although Douyin documents it as the dedupe key:
// the signature does not cover headers, so one signed body resent with
// new Msg-Ids would be handled, and answered, again. Empty when nothing
// identifies the webhook; the handler then uses a digest of the body,
// which a retry repeats byte for byte.
func dedupeKey(envMsgID, event, serverMsgID, who string, createTime int64) string {
	switch {
	case envMsgID != "":
		return "mid:" + envMsgID
	case serverMsgID != "":
		return event + ":" + serverMsgID
	case who != "" && createTime != 0:
		return event + ":" + who + ":" + strconv.FormatInt(createTime, 10)
	}
	return ""
}

// eventTime reads create_time: 13-digit milliseconds as documented, or
// seconds from payloads that use them.
func eventTime(v flexInt, now time.Time) time.Time {
	switch n := int64(v); {
	case n <= 0:
		return now
	case n < 1e12: // before 2001 in milliseconds: these are seconds
		return time.Unix(n, 0)
	default:
		return time.UnixMilli(n)
	}
}

func members(account bot.AccountID, owner, from string, infos []userInfo) []bot.UserID {
	var out []bot.UserID
	add := func(id string) {
		if id == "" || id == string(account) || id == owner || slices.Contains(out, bot.UserID(id)) {
			return
		}
		out = append(out, bot.UserID(id))
	}
	add(from)
	for _, u := range infos {
		add(u.OpenID)
	}
	return out
}
