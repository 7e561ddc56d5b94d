package bot

import (
	"fmt"
	"time"
)

// Platform names where an event came from and where its actions go.
type Platform string

// Platforms siyu serves.
const (
	WeChat Platform = "wechat" // WeChat Official Account (公众号)
	WeCom  Platform = "wecom"  // WeCom (企业微信): external contacts, customer groups, 微信客服
	Douyin Platform = "douyin" // Douyin (抖音) enterprise account
	// Staff is not a customer platform: the outbox routes StaffAlert
	// actions to the sender registered for it (WeCom app messages).
	Staff Platform = "staff"
)

// EventKind is what happened.
type EventKind string

// Event kinds. The set is closed: adapters map every platform event they
// understand to one of these and drop the rest.
const (
	KindMessage        EventKind = "message"         // a customer sent text
	KindFollow         EventKind = "follow"          // a new follower (OA subscribe)
	KindUnfollow       EventKind = "unfollow"        // a follower left
	KindScan           EventKind = "scan"            // an existing follower scanned a parametric QR code
	KindMenuClick      EventKind = "menu_click"      // a custom menu item was clicked
	KindContactAdded   EventKind = "contact_added"   // WeCom: a customer became an external contact
	KindContactRemoved EventKind = "contact_removed" // WeCom: an external contact was removed
	KindMemberJoined   EventKind = "member_joined"   // members joined a group
	KindMemberLeft     EventKind = "member_left"     // members left a group
	KindSessionOpened  EventKind = "session_opened"  // a customer opened the 1:1 chat page (Douyin)
	KindRecall         EventKind = "recall"          // a customer recalled a message
	// KindMedia: a customer sent something that is not text (an image, a
	// voice message, a video, a location, a link, a file). Key names what
	// ("image", "voice", …). The engine answers none; a conversation a
	// person holds passes it on to them.
	KindMedia EventKind = "media"
	// KindStaffMessage: a person on the brand's side wrote to the customer
	// in the platform's own staff tool (a 微信客服 servicer in the WeCom
	// client). Sender is the customer the conversation is with; Text is
	// what staff wrote. The engine answers nothing.
	KindStaffMessage EventKind = "staff_message"
	// KindSessionClosed: the platform's staff tool ended the session a
	// person held with the customer (the Official Account's
	// kf_close_session, 微信客服's session end). Sender is the customer.
	KindSessionClosed EventKind = "session_closed"
)

// AccountID is the brand's account on a platform: an OA's original id or
// appid, a WeCom corp id, a Douyin account's open id.
type AccountID string

// Route names a configured account and the brand it belongs to, from the
// accounts file (SIYU_ACCOUNTS). The zero Route is the single account of
// the environment variables and the scripts folder's top level.
type Route struct {
	// Brand owns the account: its scripts are scripts/brands/<Brand>/.
	Brand string `json:"brand,omitempty"`
	// Name is the account's name in the file (oa-main): its callback
	// path, its credentials, its scripts/brands/<Brand>/<Name>/.
	Name string `json:"name,omitempty"`
}

// IsZero reports whether r is the environment's account.
func (r Route) IsZero() bool { return r == Route{} }

// String is brand/name, or "" for the environment's account.
func (r Route) String() string {
	if r.IsZero() {
		return ""
	}
	return r.Brand + "/" + r.Name
}

// UserID is a customer's id on one platform and account: an OA openid, a
// WeCom external_userid, a Douyin open_id. IDs of different platforms are
// never comparable.
type UserID string

// GroupID is a group conversation: a WeCom customer group chat id or a
// Douyin fan group id.
type GroupID string

// Conversation is where an event happened and where a reply goes: a 1:1
// chat with the sender (Group empty) or a group.
type Conversation struct {
	Group GroupID `json:"group,omitempty"`
}

// IsGroup reports whether the conversation is a group chat.
func (c Conversation) IsGroup() bool { return c.Group != "" }

// Event is the only input of the engine: one thing that happened on one
// platform, stripped of the platform's wire format. It never carries the raw
// payload, which holds customers' personal data.
type Event struct {
	Platform Platform
	Account  AccountID
	// Route is the configured account the callback came in through
	// (SIYU_ACCOUNTS): its answers go out with that account's
	// credentials and its brand's scripts answer it. Zero for the
	// account configured by environment variables.
	Route        Route
	Kind         EventKind
	Conversation Conversation
	Sender       UserID
	// Members are the users a MemberJoined or MemberLeft event is about; a
	// platform that reports joins in batches reports them in one event.
	Members []UserID
	Text    string
	// Key is a menu item's key for MenuClick.
	Key string
	// Channel is how the customer was acquired: an OA parametric QR code's
	// scene, a WeCom channel QR code's State.
	Channel string
	// MessageID is the platform's id of the message, when it has one.
	MessageID string
	// DedupeKey identifies the callback across the platform's retries and
	// across replicas. Adapters compute it the way the platform documents
	// (OA: MsgId, events: FromUserName+CreateTime).
	DedupeKey string
	// WelcomeCode is WeCom's one-shot, 20-second code for a new contact's
	// welcome message.
	WelcomeCode string
	// UnionID is the WeChat unionid of the sender when it is known: it
	// links an Official Account follower and a WeCom external contact of
	// the same brand (same Open Platform account). bot/identity's
	// middleware fills it from the stored links before the engine runs.
	// Empty when unknown; Douyin has none.
	UnionID string
	// Observe marks an event seen after the fact (chat archive): the engine
	// may record and alert but no direct reply is possible.
	Observe bool
	Time    time.Time
}

// MaxIDLen is the longest platform id siyu accepts, in bytes. Real ids
// are far shorter (an openid has 28 characters, an external_userid 32,
// a Douyin open_id about 40); the stores keep ids in columns of 128
// characters or fewer, so a longer one would fail there, as a server
// error the platform retries, instead of as a bad request.
const MaxIDLen = 128

// LongID reports whether any of ids is longer than MaxIDLen bytes.
// Adapters refuse such a callback with 400 before it reaches the engine.
func LongID(ids ...string) bool {
	for _, id := range ids {
		if len(id) > MaxIDLen {
			return true
		}
	}
	return false
}

// Validate reports whether the event is complete enough for the engine,
// with no id longer than MaxIDLen.
func (e *Event) Validate() error {
	switch {
	case LongID(string(e.Account), string(e.Sender), string(e.Conversation.Group), e.UnionID, e.MessageID) || longMember(e.Members):
		return fmt.Errorf("bot.Event: an id is longer than %d bytes: %w", MaxIDLen, ErrInvalid)
	case e.Platform == "":
		return fmt.Errorf("bot.Event: no platform: %w", ErrInvalid)
	case e.Kind == "":
		return fmt.Errorf("bot.Event: no kind: %w", ErrInvalid)
	case e.Sender == "" && !e.Conversation.IsGroup():
		return fmt.Errorf("bot.Event: no sender: %w", ErrInvalid)
	case e.Time.IsZero():
		return fmt.Errorf("bot.Event: no time: %w", ErrInvalid)
	}
	return nil
}

func longMember(ms []UserID) bool {
	for _, m := range ms {
		if len(m) > MaxIDLen {
			return true
		}
	}
	return false
}

// ReplyTarget is where a reply to this event goes.
func (e *Event) ReplyTarget() Target {
	return Target{Platform: e.Platform, Account: e.Account, Route: e.Route, Conversation: e.Conversation, User: e.Sender, UnionID: e.UnionID}
}

// PersonID names one person across platforms as far as siyu can link
// them: "union:<unionid>" when the WeChat unionid is known (an Official
// Account follower and a WeCom contact are then one person), else
// "<platform>:<account>:<user>". Per-person limits (coupons, caps,
// opt-outs) key on it. It holds a customer id: never log it.
type PersonID string

// PersonOf returns the PersonID of a user.
func PersonOf(p Platform, account AccountID, user UserID, unionID string) PersonID {
	if unionID != "" {
		return PersonID("union:" + unionID)
	}
	return PersonID(string(p) + ":" + string(account) + ":" + string(user))
}

// Person returns the PersonID of the event's sender.
func (e *Event) Person() PersonID { return PersonOf(e.Platform, e.Account, e.Sender, e.UnionID) }
