package wecom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers/internal/wxcrypt"
)

// flexString is a value WeCom sends as a string in XML and as a string or
// a number in JSON (AgentID, MsgId).
type flexString string

// UnmarshalJSON accepts "218", 218 and null.
func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*f = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("wecom: want a string or a number, got %.20s", b)
	}
	*f = flexString(n.String())
	return nil
}

// memberList is MemChangeList: <Item> elements in XML; in JSON a list of
// ids or an object with an Item list.
type memberList []string

// UnmarshalXML reads the <Item> children.
func (m *memberList) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var v struct {
		Items []string `xml:"Item"`
	}
	if err := d.DecodeElement(&v, &start); err != nil {
		return err
	}
	*m = trimAll(v.Items)
	return nil
}

// UnmarshalJSON reads ["a","b"] or {"Item":["a","b"]}.
func (m *memberList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var v struct {
			Item json.RawMessage `json:"Item"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		b = v.Item
		if len(b) > 0 && b[0] == '"' { // a single item
			var s string
			if err := json.Unmarshal(b, &s); err != nil {
				return err
			}
			*m = trimAll([]string{s})
			return nil
		}
	}
	if len(b) == 0 || string(b) == "null" {
		*m = nil
		return nil
	}
	var items []string
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	*m = trimAll(items)
	return nil
}

func trimAll(s []string) []string {
	out := s[:0]
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// inbound is the part of a decrypted callback siyu reads: app messages
// from staff, 客户联系 contact and customer-group changes, and 微信客服
// notifications. Our own struct with explicit tags: the SDK's
// EventCallbackMessage has JSON tags only (so ChatId comes out empty from
// XML) and no group fields.
type inbound struct {
	ToUserName   string     `xml:"ToUserName" json:"ToUserName"`
	FromUserName string     `xml:"FromUserName" json:"FromUserName"`
	CreateTime   int64      `xml:"CreateTime" json:"CreateTime"`
	MsgType      string     `xml:"MsgType" json:"MsgType"`
	Content      string     `xml:"Content" json:"Content"`
	MsgID        flexString `xml:"MsgId" json:"MsgId"`
	AgentID      flexString `xml:"AgentID" json:"AgentID"`
	Event        string     `xml:"Event" json:"Event"`
	ChangeType   string     `xml:"ChangeType" json:"ChangeType"`

	// change_external_contact
	UserID         string `xml:"UserID" json:"UserID"` // the staff member
	ExternalUserID string `xml:"ExternalUserID" json:"ExternalUserID"`
	State          string `xml:"State" json:"State"`
	WelcomeCode    string `xml:"WelcomeCode" json:"WelcomeCode"`

	// change_external_chat
	ChatID        string     `xml:"ChatId" json:"ChatId"`
	UpdateDetail  string     `xml:"UpdateDetail" json:"UpdateDetail"`
	JoinScene     int        `xml:"JoinScene" json:"JoinScene"`
	QuitScene     int        `xml:"QuitScene" json:"QuitScene"`
	MemChangeCnt  int        `xml:"MemChangeCnt" json:"MemChangeCnt"`
	MemChangeList memberList `xml:"MemChangeList" json:"MemChangeList"`
	LastMemVer    string     `xml:"LastMemVer" json:"LastMemVer"`
	CurMemVer     string     `xml:"CurMemVer" json:"CurMemVer"`

	// kf_msg_or_event
	Token    string `xml:"Token" json:"Token"`
	OpenKfID string `xml:"OpenKfId" json:"OpenKfId"`
}

// longID reports whether any id of m is longer than bot.MaxIDLen.
func (m inbound) longID() bool {
	return bot.LongID(m.ToUserName, m.FromUserName, string(m.MsgID), m.UserID, m.ExternalUserID, m.ChatID, m.OpenKfID) ||
		bot.LongID(m.MemChangeList...)
}

// WeCom event and change names siyu acts on.
const (
	eventContact = "change_external_contact"
	eventChat    = "change_external_chat"
	eventKF      = "kf_msg_or_event"
)

func decode(body []byte, v any) error {
	if wxcrypt.IsJSON(body) {
		return json.Unmarshal(body, v)
	}
	return xml.Unmarshal(body, v)
}

func parseInbound(plain []byte) (inbound, error) {
	var m inbound
	if err := decode(plain, &m); err != nil {
		return m, fmt.Errorf("wecom: message: %w", err)
	}
	if m.MsgType == "" {
		return m, errors.New("wecom: message has no MsgType")
	}
	return m, nil
}

// toEvent maps a decrypted callback to a bot.Event. agentID is the app's,
// used when a staff message does not say. It reports false for callbacks
// that are not engine events: 微信客服 notifications (messages are pulled,
// see KFPuller), group creation, renames and dismissal (recorded only, see
// groupChange), and everything siyu does not act on.
//
// WeCom events carry no MsgId, so the dedupe key is built from what
// identifies the change: who, when, what (and for member changes, which
// members), which is the same in every retry.
func toEvent(corpID, agentID string, m inbound) (bot.Event, bool) {
	ev := bot.Event{Platform: bot.WeCom, Account: bot.AccountID(corpID), Time: time.Unix(m.CreateTime, 0)}
	created := strconv.FormatInt(m.CreateTime, 10)
	switch {
	case m.MsgType == "text":
		if m.AgentID != "" {
			agentID = string(m.AgentID)
		}
		ev.Kind = bot.KindMessage
		ev.Account = AppAccount(corpID, agentID)
		ev.Sender = bot.UserID(m.FromUserName)
		ev.Text = m.Content
		ev.MessageID = string(m.MsgID)
		ev.DedupeKey = "msg:" + ev.MessageID
		if ev.MessageID == "" {
			ev.DedupeKey = "msg:" + m.FromUserName + ":" + created
		}
		return ev, true
	case m.MsgType != "event":
		return ev, false
	case m.Event == eventContact:
		switch m.ChangeType {
		case "add_external_contact", "add_half_external_contact":
			ev.Kind = bot.KindContactAdded
			ev.Channel = m.State
			ev.WelcomeCode = m.WelcomeCode
		case "del_external_contact", "del_follow_user":
			ev.Kind = bot.KindContactRemoved
		default:
			return ev, false
		}
		ev.Sender = bot.UserID(m.ExternalUserID)
		ev.DedupeKey = "contact:" + m.ChangeType + ":" + m.UserID + ":" + m.ExternalUserID + ":" + created
		return ev, true
	case m.Event == eventChat && m.ChangeType == "update":
		switch m.UpdateDetail {
		case "add_member":
			ev.Kind = bot.KindMemberJoined
		case "del_member":
			ev.Kind = bot.KindMemberLeft
		default:
			return ev, false
		}
		ev.Conversation = bot.Conversation{Group: bot.GroupID(m.ChatID)}
		for _, id := range m.MemChangeList {
			ev.Members = append(ev.Members, bot.UserID(id))
		}
		ev.DedupeKey = "chat:" + m.ChatID + ":" + created + ":" + m.ChangeType + ":" + m.UpdateDetail + ":" + membersHash(m.MemChangeList)
		return ev, true
	}
	return ev, false
}

// membersHash is a short fingerprint of a member list, so that two
// changes of one group in the same second stay apart.
func membersHash(members []string) string {
	h := sha256.New()
	for _, m := range members {
		h.Write([]byte(m))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// groupChange maps a change_external_chat callback to the change siyu
// records, and reports false for every other callback.
func groupChange(corpID string, m inbound) (GroupChange, bool) {
	if m.MsgType != "event" || m.Event != eventChat || m.ChatID == "" {
		return GroupChange{}, false
	}
	return GroupChange{
		CorpID: corpID, ChatID: m.ChatID, ChangeType: m.ChangeType, UpdateDetail: m.UpdateDetail,
		Members: append([]string(nil), m.MemChangeList...), JoinScene: m.JoinScene, QuitScene: m.QuitScene,
		MemberVersion: m.CurMemVer, At: time.Unix(m.CreateTime, 0),
	}, true
}

// maxOutboxKey keeps outbox keys (plus the "#i" suffix the outbox adds)
// under the outbox table's 191 characters.
const maxOutboxKey = 180

// outboxKey is the outbox key of an event's actions: its dedupe key,
// prefixed so that it cannot collide with another platform's, and hashed
// when long.
func outboxKey(ev bot.Event) string {
	if ev.DedupeKey == "" {
		return "" // the outbox draws a random key
	}
	k := "wecom:" + ev.DedupeKey
	if len(k) <= maxOutboxKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "wecom:h:" + hex.EncodeToString(sum[:])
}
