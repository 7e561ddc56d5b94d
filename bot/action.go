package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Target is who an action is addressed to: one customer in a 1:1 chat, or
// a group.
type Target struct {
	Platform Platform  `json:"platform"`
	Account  AccountID `json:"account,omitempty"`
	// Route is the configured account whose credentials send the action.
	Route        Route        `json:"route,omitzero"`
	Conversation Conversation `json:"conversation,omitzero"`
	User         UserID       `json:"user,omitempty"`
	// UnionID links the user across WeChat and WeCom when known.
	UnionID string `json:"union_id,omitempty"`
}

// Person returns the PersonID of the user the action goes to ("" for a
// whole group).
func (t Target) Person() PersonID {
	if t.User == "" && t.UnionID == "" {
		return ""
	}
	return PersonOf(t.Platform, t.Account, t.User, t.UnionID)
}

// Action is something the engine wants done. It says what to send and to
// whom, never how a platform sends it; senders switch on the concrete type.
// The set is sealed: only types in this package implement it.
type Action interface {
	// Dest is where the action goes.
	Dest() Target
	actionType() string
}

// Reply is a text message to a customer or a group.
type Reply struct {
	To   Target `json:"to"`
	Text string `json:"text"`
	// InReplyTo is the platform's id of the message this reply answers,
	// when it answers one. Senders that must name it (Douyin) use it.
	InReplyTo string `json:"in_reply_to,omitempty"`
	// OutboxKey, when set, is the outbox row the reply is queued as,
	// instead of one keyed by its event and index: a reply whose row was
	// written ahead of the answer (a coupon's code, on standby since its
	// claim, OutboxStandby) is then queued as that row, never twice.
	OutboxKey string `json:"outbox_key,omitempty"`
}

// Article is one item of a News message.
type Article struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url"`
	PictureURL  string `json:"picture_url,omitempty"`
}

// News is a card message (图文) with one or more articles.
type News struct {
	To       Target    `json:"to"`
	Articles []Article `json:"articles"`
}

// Welcome greets a new contact or follower. On WeCom it must go out with
// its WelcomeCode within 20 seconds of the event.
type Welcome struct {
	To          Target `json:"to"`
	Text        string `json:"text"`
	Channel     string `json:"channel,omitempty"`
	WelcomeCode string `json:"welcome_code,omitempty"`
}

// StaffAlert tells the brand's staff about something that needs a person:
// a risky conversation, a complaint, a dead-lettered message.
type StaffAlert struct {
	To    Target `json:"to"` // the conversation the alert is about
	Title string `json:"title"`
	Text  string `json:"text"`
}

// Handover hands a 1:1 conversation to a person on the brand's side, or
// passes on a message of a conversation a person holds, or tells the
// platform that staff ended it. It says what, not how; each platform's
// adapter turns it into its own mechanism:
//
//   - the Official Account answers the customer's message with the
//     transfer_customer_service passive reply, so the OA's 客服 system
//     gets it (start and forward alike; the OA forwards message by
//     message);
//   - WeCom 微信客服 moves the session to a person with the session-state
//     API (kf/service_state/trans) on start and ends it on end; WeCom
//     passes the customer's messages on itself;
//   - Douyin and WeCom external contacts have no staff tool siyu can hand
//     to: staff answer from siyu's inbox, and the sender has nothing to do.
//
// bot/handover pauses the bot for the conversation while a person holds
// it; any stage may ask for a hand-over by adding a Handover (the intent
// classifier's human_agent, the 人工 keyword, a risk).
type Handover struct {
	To Target `json:"to"`
	// Step is what to do: HandoverStart, HandoverForward or HandoverEnd.
	Step HandoverStep `json:"step"`
	// Reason is why the conversation was handed over: "keyword",
	// "intent", "risk", "platform" (the platform said a person holds it),
	// for counts and staff.
	Reason string `json:"reason,omitempty"`
	// Agent names the person on the platform's side when the scripts
	// choose one: an Official Account KfAccount (kf2001@gh_…), a 微信客服
	// servicer's userid. Empty lets the platform choose.
	Agent string `json:"agent,omitempty"`
}

// HandoverStep is what a Handover asks for.
type HandoverStep string

// Handover steps.
const (
	// HandoverStart hands the conversation to a person.
	HandoverStart HandoverStep = "start"
	// HandoverForward passes on a customer's message of a conversation a
	// person holds (the Official Account forwards message by message).
	HandoverForward HandoverStep = "forward"
	// HandoverEnd tells the platform that staff ended the conversation:
	// the bot answers again.
	HandoverEnd HandoverStep = "end"
)

// Batched delays an action and merges it with others of the same Key:
// of all actions enqueued with one Key, only the first is kept, and it is
// sent at SendAt. A group's welcome for everyone who joined within a window
// is one Batched reply keyed by the group and the window.
type Batched struct {
	Action Action    `json:"-"`
	Key    string    `json:"key"`
	SendAt time.Time `json:"send_at"`
}

func (a Batched) Dest() Target { return a.Action.Dest() }

// Push is an action siyu sends on its own initiative rather than as the
// answer to the person's own message: a group's check-in digest, a
// milestone reward, a coupon push, a reminder. Do-not-disturb checks a
// Push when the engine produces it and again when the outbox sends it;
// replies are never held back. Topic names what kind of push it is, for
// caps by rule and for staff ("checkin_digest", "checkin_reward",
// "coupon", "reminder").
type Push struct {
	Action Action `json:"-"`
	Topic  string `json:"topic"`
}

func (a Push) Dest() Target { return a.Action.Dest() }

func (Push) actionType() string { return "push" }

// MarshalJSON encodes the wrapped action with its type.
func (a Push) MarshalJSON() ([]byte, error) {
	type plain Push // without the methods, so encoding does not recurse
	return marshalWrapper(plain(a), a.Action)
}

// UnmarshalJSON decodes what MarshalJSON encoded.
func (a *Push) UnmarshalJSON(b []byte) error {
	type plain Push
	var v plain
	inner, err := unmarshalWrapper(b, &v)
	if err != nil {
		return err
	}
	*a = Push(v)
	a.Action = inner
	return nil
}

// Render is an action whose content is built when it is sent, not when
// it is queued: a group's check-in digest at the end of its window lists
// everyone who checked in by then, read from the database at that moment.
// The outbox asks the Renderer registered under Renderer for the action
// to send; a renderer may answer nothing (no one to list).
type Render struct {
	To       Target `json:"to"`
	Renderer string `json:"renderer"` // "checkin_digest"
	Key      string `json:"key"`      // what to render: the renderer's own reference
}

func (a Render) Dest() Target { return a.To }

func (Render) actionType() string { return "render" }

// Renderer builds a Render action's content when the outbox sends it.
type Renderer interface {
	// Render returns the action to send for r, or nil to send nothing.
	// Errors are retried like a failed send.
	Render(ctx context.Context, r Render) (Action, error)
}

// Retarget returns a with its destination changed by f, through Batched
// and Push wrappers. The action set is sealed here, so a new action type
// is retargeted where it is defined, not in every caller.
func Retarget(a Action, f func(Target) Target) Action {
	switch v := a.(type) {
	case Push:
		v.Action = Retarget(v.Action, f)
		return v
	case Batched:
		v.Action = Retarget(v.Action, f)
		return v
	case Reply:
		v.To = f(v.To)
		return v
	case News:
		v.To = f(v.To)
		return v
	case Welcome:
		v.To = f(v.To)
		return v
	case StaffAlert:
		v.To = f(v.To)
		return v
	case Render:
		v.To = f(v.To)
		return v
	case Handover:
		v.To = f(v.To)
		return v
	}
	return a
}

// marshalWrapper encodes a wrapper action (Batched, Push): its own
// fields, whose Action field is tagged json:"-", and the wrapped action
// with its type under "action".
func marshalWrapper(fields any, inner Action) ([]byte, error) {
	own, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	in, err := MarshalAction(inner)
	if err != nil {
		return nil, err
	}
	b := append(own[:len(own)-1:len(own)-1], `,"action":`...)
	if len(own) == 2 { // "{}"
		b = append(own[:1:1], `"action":`...)
	}
	b = append(b, in...)
	return append(b, '}'), nil
}

// unmarshalWrapper decodes what marshalWrapper encoded into fields and
// returns the wrapped action.
func unmarshalWrapper(b []byte, fields any) (Action, error) {
	var v struct {
		Action json.RawMessage `json:"action"`
	}
	if err := json.Unmarshal(b, fields); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return UnmarshalAction(v.Action)
}

// IsProactive reports whether a is sent to customers on siyu's own
// initiative (a Push, or a Batched action such as a group's welcome)
// rather than as a reply. What goes to staff (alerts, however batched) is
// never proactive: do-not-disturb protects customers, and quiet hours
// must not delay a risk alert.
func IsProactive(a Action) bool {
	if a.Dest().Platform == Staff {
		return false
	}
	if _, ok := Unwrap(a).(StaffAlert); ok {
		return false
	}
	switch a.(type) {
	case Push, Batched:
		return true
	}
	return false
}

// Unwrap returns the action a platform sends for a: the innermost action
// of Batched and Push wrappers.
func Unwrap(a Action) Action {
	for {
		switch w := a.(type) {
		case Batched:
			a = w.Action
		case Push:
			a = w.Action
		default:
			return a
		}
	}
}

func (Batched) actionType() string { return "batched" }

// MarshalJSON encodes the wrapped action with its type.
func (a Batched) MarshalJSON() ([]byte, error) {
	type plain Batched // without the methods, so encoding does not recurse
	return marshalWrapper(plain(a), a.Action)
}

// UnmarshalJSON decodes what MarshalJSON encoded.
func (a *Batched) UnmarshalJSON(b []byte) error {
	type plain Batched
	var v plain
	inner, err := unmarshalWrapper(b, &v)
	if err != nil {
		return err
	}
	*a = Batched(v)
	a.Action = inner
	return nil
}

func (a Reply) Dest() Target      { return a.To }
func (a News) Dest() Target       { return a.To }
func (a Welcome) Dest() Target    { return a.To }
func (a StaffAlert) Dest() Target { return a.To }
func (a Handover) Dest() Target   { return a.To }

func (Reply) actionType() string      { return "reply" }
func (News) actionType() string       { return "news" }
func (Welcome) actionType() string    { return "welcome" }
func (StaffAlert) actionType() string { return "staff_alert" }
func (Handover) actionType() string   { return "handover" }

// TextOf returns the text an action would show a customer, for actions that
// carry one, and reports whether it has one.
func TextOf(a Action) (string, bool) {
	switch a := a.(type) {
	case Reply:
		return a.Text, true
	case Welcome:
		return a.Text, true
	case Push:
		return TextOf(a.Action)
	case Batched:
		return TextOf(a.Action)
	}
	return "", false
}

type actionEnvelope struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// MarshalActions encodes actions for storage (outbox rows, the dedupe
// cache of answered callbacks).
func MarshalActions(actions []Action) ([]byte, error) {
	return appendActions(make([]byte, 0, 128*len(actions)+2), actions)
}

// appendActions appends MarshalActions' encoding of actions to b.
func appendActions(b []byte, actions []Action) ([]byte, error) {
	b = append(b, '[')
	for i, a := range actions {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendAction(b, a); err != nil {
			return nil, fmt.Errorf("bot.MarshalActions: %w", err)
		}
	}
	return append(b, ']'), nil
}

// appendAction appends a's envelope, {"type":…,"data":…}. It writes the
// envelope itself: encoding/json would re-validate the action's JSON, and
// this runs for every callback.
func appendAction(b []byte, a Action) ([]byte, error) {
	if r, ok := a.(Reply); ok {
		b = append(b, `{"type":"reply","data":`...)
		return append(appendReply(b, r), '}'), nil
	}
	data, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	b = append(b, `{"type":"`...)
	b = append(b, a.actionType()...) // a fixed identifier, no escaping needed
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}'), nil
}

// UnmarshalActions decodes what MarshalActions encoded.
func UnmarshalActions(b []byte) ([]Action, error) {
	var envs []actionEnvelope
	if err := json.Unmarshal(b, &envs); err != nil {
		return nil, fmt.Errorf("bot.UnmarshalActions: %w: %w", ErrInvalid, err)
	}
	actions := make([]Action, 0, len(envs))
	for _, env := range envs {
		a, err := decodeAction(env)
		if err != nil {
			return nil, err
		}
		actions = append(actions, a)
	}
	return actions, nil
}

// MarshalAction encodes one action.
func MarshalAction(a Action) ([]byte, error) {
	b, err := appendAction(make([]byte, 0, 128), a)
	if err != nil {
		return nil, fmt.Errorf("bot.MarshalAction: %w", err)
	}
	return b, nil
}

// UnmarshalAction decodes what MarshalAction encoded.
func UnmarshalAction(b []byte) (Action, error) {
	var env actionEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("bot.UnmarshalAction: %w: %w", ErrInvalid, err)
	}
	return decodeAction(env)
}

func decodeAction(env actionEnvelope) (Action, error) {
	var (
		a   Action
		err error
	)
	switch env.Type {
	case "reply":
		var v Reply
		err = json.Unmarshal(env.Data, &v)
		a = v
	case "news":
		var v News
		err = json.Unmarshal(env.Data, &v)
		a = v
	case "welcome":
		var v Welcome
		err = json.Unmarshal(env.Data, &v)
		a = v
	case "staff_alert":
		var v StaffAlert
		err = json.Unmarshal(env.Data, &v)
		a = v
	case "batched":
		var v Batched
		err = json.Unmarshal(env.Data, &v)
		a = v
	case "render":
		var v Render
		err = json.Unmarshal(env.Data, &v)
		a = v
	case "push":
		var v Push
		err = json.Unmarshal(env.Data, &v)
		a = v
	case "handover":
		var v Handover
		err = json.Unmarshal(env.Data, &v)
		a = v
	default:
		return nil, fmt.Errorf("bot.UnmarshalAction: unknown type %q: %w", env.Type, ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("bot.UnmarshalAction %s: %w: %w", env.Type, ErrInvalid, err)
	}
	return a, nil
}

// appendReply appends json.Marshal's encoding of r, byte for byte
// (TestAppendReplyMatchesJSON, FuzzAppendReply). Written by hand because
// a text reply is stored with nearly every callback's answer, and
// encoding/json's reflection was 3% of siyu's CPU under load.
func appendReply(b []byte, r Reply) []byte {
	b = append(b, `{"to":`...)
	b = appendTarget(b, r.To)
	b = append(b, `,"text":`...)
	b = appendJSONString(b, r.Text)
	b = appendField(b, "in_reply_to", r.InReplyTo)
	b = appendField(b, "outbox_key", r.OutboxKey)
	return append(b, '}')
}

// appendTarget appends json.Marshal's encoding of t.
func appendTarget(b []byte, t Target) []byte {
	b = append(b, `{"platform":`...)
	b = appendJSONString(b, string(t.Platform))
	b = appendField(b, "account", string(t.Account))
	if !t.Route.IsZero() {
		b = append(b, `,"route":{`...)
		n := len(b)
		b = appendField(b, "brand", t.Route.Brand)
		b = appendField(b, "name", t.Route.Name)
		if len(b) > n {
			b = append(b[:n], b[n+1:]...) // the first field's comma
		}
		b = append(b, '}')
	}
	if t.Conversation != (Conversation{}) {
		b = append(b, `,"conversation":{"group":`...)
		b = appendJSONString(b, string(t.Conversation.Group))
		b = append(b, '}')
	}
	b = appendField(b, "user", string(t.User))
	b = appendField(b, "union_id", t.UnionID)
	return append(b, '}')
}

// appendField appends ,"name":v unless v is empty (omitempty).
func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

// appendJSONString appends s quoted as encoding/json does: HTML
// characters, control characters, U+2028 and U+2029 escaped, invalid
// UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
