package wechat

import (
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
	"github.com/siyu-bot/siyu/handlers/internal/flatxml"
	"github.com/siyu-bot/siyu/handlers/internal/wxcrypt"
)

// inbound is the part of an Official Account callback siyu reads. Our own
// struct with explicit tags, not the SDK's 95-field MixMessage: parsing is
// the largest cost of a callback.
type inbound struct {
	ToUserName   string `xml:"ToUserName" json:"ToUserName"`
	FromUserName string `xml:"FromUserName" json:"FromUserName"`
	CreateTime   int64  `xml:"CreateTime" json:"CreateTime"`
	MsgType      string `xml:"MsgType" json:"MsgType"`
	Content      string `xml:"Content" json:"Content"`
	MsgID        int64  `xml:"MsgId" json:"MsgId"`
	Event        string `xml:"Event" json:"Event"`
	EventKey     string `xml:"EventKey" json:"EventKey"`
}

// parseInbound decodes into a local of each fallback branch: passing the
// result's own address to encoding/json or encoding/xml would move it to
// the heap on every callback, the flat fast path included.
func parseInbound(body []byte) (inbound, error) {
	var m inbound
	var err error
	switch {
	case wxcrypt.IsJSON(body):
		var j inbound
		err = json.Unmarshal(body, &j)
		m = j
	default:
		err = scanInbound(body, &m)
		if errors.Is(err, flatxml.ErrNotFlat) {
			var x inbound
			err = xml.Unmarshal(body, &x)
			m = x
		}
	}
	if err != nil {
		return m, fmt.Errorf("wechat: message: %w", err)
	}
	if m.FromUserName == "" || m.MsgType == "" {
		return m, fmt.Errorf("wechat: message lacks FromUserName or MsgType")
	}
	return m, nil
}

// scanInbound reads a flat callback into m; ErrNotFlat sends the caller
// to encoding/xml, which reads the same fields the same way.
func scanInbound(body []byte, m *inbound) error {
	var numErr error // the first bad number
	number := func(value []byte) int64 {
		n, err := parseInt(value)
		if numErr == nil {
			numErr = err
		}
		return n
	}
	err := flatxml.Scan(body, func(name, value []byte) {
		switch string(name) {
		case "ToUserName":
			m.ToUserName = string(value)
		case "FromUserName":
			m.FromUserName = string(value)
		case "CreateTime":
			m.CreateTime = number(value)
		case "MsgType":
			m.MsgType = string(value)
		case "Content":
			m.Content = string(value)
		case "MsgId":
			m.MsgID = number(value)
		case "Event":
			m.Event = string(value)
		case "EventKey":
			m.EventKey = string(value)
		}
	})
	if err != nil {
		return err
	}
	return numErr
}

func parseInt(b []byte) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("wechat: number %q: %w", b, err)
	}
	return n, nil
}

// toEvent maps a callback to a bot.Event. It reports false for callbacks
// siyu does not act on (images, location reports, template-send receipts…),
// which are acknowledged and dropped.
func toEvent(account bot.AccountID, m inbound) (bot.Event, bool) {
	ev := bot.Event{
		Platform: bot.WeChat,
		Account:  account,
		Sender:   bot.UserID(m.FromUserName),
		Time:     time.Unix(m.CreateTime, 0),
	}
	// WeChat's documented dedupe keys: MsgId for messages, FromUserName +
	// CreateTime for events. The documented event key is not enough: one
	// person can click two menu items, or follow and scan a channel code,
	// in one second, and those are different events. So the key holds
	// everything that makes two events differ: the event and its EventKey.
	eventKey := func() string {
		return m.FromUserName + ":" + strconv.FormatInt(m.CreateTime, 10) + ":" + strings.ToLower(m.Event) + ":" + boundedKey(m.EventKey)
	}
	switch m.MsgType {
	case "text":
		ev.Kind = bot.KindMessage
		ev.Text = m.Content
		if m.MsgID != 0 {
			ev.MessageID = strconv.FormatInt(m.MsgID, 10)
			ev.DedupeKey = "msg:" + ev.MessageID
		} else {
			ev.DedupeKey = "msg:" + eventKey()
		}
		return ev, true
	case "image", "voice", "video", "shortvideo", "location", "link", "file":
		// Answered by nobody, but passed on to 客服 while a person holds
		// the conversation (the Official Account forwards only what the
		// callback answers with transfer_customer_service).
		ev.Kind, ev.Key = bot.KindMedia, m.MsgType
		if m.MsgID != 0 {
			ev.MessageID = strconv.FormatInt(m.MsgID, 10)
			ev.DedupeKey = "msg:" + ev.MessageID
		} else {
			ev.DedupeKey = "msg:" + eventKey()
		}
		return ev, true
	case "event":
	default:
		return ev, false
	}
	ev.DedupeKey = "ev:" + eventKey()
	switch strings.ToLower(m.Event) {
	case "subscribe":
		ev.Kind = bot.KindFollow
		// A follow through a parametric QR code carries "qrscene_<scene>".
		ev.Channel = strings.TrimPrefix(m.EventKey, "qrscene_")
	case "unsubscribe":
		ev.Kind = bot.KindUnfollow
	case "scan":
		ev.Kind = bot.KindScan
		ev.Channel = m.EventKey
	case "click":
		ev.Kind = bot.KindMenuClick
		ev.Key = m.EventKey
	case "kf_close_session":
		// The 客服 who held the follower closed the session (or it timed
		// out): the bot answers again.
		ev.Kind = bot.KindSessionClosed
	default:
		return ev, false
	}
	return ev, true
}

// maxKeyPart is the longest EventKey kept verbatim in a dedupe key. The
// dedupe key is also the outbox key (at most sqlstore.MaxOutboxKeyLen
// characters), and a menu key may be 128 bytes; longer ones are digested.
const maxKeyPart = 40

// boundedKey returns k, or a digest of it when k is longer than
// maxKeyPart.
func boundedKey(k string) string {
	if len(k) <= maxKeyPart {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256-" + hex.EncodeToString(sum[:16])
}

// appendCDATA writes s as CDATA, splitting any "]]>" it contains.
func appendCDATA(b []byte, s string) []byte {
	b = append(b, "<![CDATA["...)
	for {
		i := strings.Index(s, "]]>")
		if i < 0 {
			break
		}
		b = append(b, s[:i+2]...)
		b = append(b, "]]><![CDATA["...)
		s = s[i+2:]
	}
	b = append(b, s...)
	return append(b, "]]>"...)
}

// textReply renders a passive text reply from the account to a follower.
func textReply(to, from, text string, now time.Time) []byte {
	const markup = len("<xml><ToUserName><![CDATA[]]></ToUserName><FromUserName><![CDATA[]]></FromUserName><CreateTime></CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[]]></Content></xml>")
	// 20: the time's digits; a "]]>" in the text adds a few bytes more.
	b := make([]byte, 0, markup+20+len(text)+len(to)+len(from))
	b = append(b, "<xml><ToUserName>"...)
	b = appendCDATA(b, to)
	b = append(b, "</ToUserName><FromUserName>"...)
	b = appendCDATA(b, from)
	b = append(b, "</FromUserName><CreateTime>"...)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>"...)
	b = appendCDATA(b, text)
	return append(b, "</Content></xml>"...)
}

// transferReply renders the passive reply that passes the follower's
// message to the Official Account's customer-service system (多客服):
// MsgType transfer_customer_service, with TransInfo naming a KfAccount
// when the scripts chose one (otherwise WeChat picks a free one).
func transferReply(to, from, kfAccount string, now time.Time) []byte {
	b := make([]byte, 0, 256)
	b = append(b, "<xml><ToUserName>"...)
	b = appendCDATA(b, to)
	b = append(b, "</ToUserName><FromUserName>"...)
	b = appendCDATA(b, from)
	b = append(b, "</FromUserName><CreateTime>"...)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, "</CreateTime><MsgType><![CDATA[transfer_customer_service]]></MsgType>"...)
	if kfAccount != "" {
		b = append(b, "<TransInfo><KfAccount>"...)
		b = appendCDATA(b, kfAccount)
		b = append(b, "</KfAccount></TransInfo>"...)
	}
	return append(b, "</xml>"...)
}

// newsReply renders a passive news (图文) reply.
func newsReply(to, from string, articles []bot.Article, now time.Time) []byte {
	b := make([]byte, 0, 256)
	b = append(b, "<xml><ToUserName>"...)
	b = appendCDATA(b, to)
	b = append(b, "</ToUserName><FromUserName>"...)
	b = appendCDATA(b, from)
	b = append(b, "</FromUserName><CreateTime>"...)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, "</CreateTime><MsgType><![CDATA[news]]></MsgType><ArticleCount>"...)
	b = strconv.AppendInt(b, int64(len(articles)), 10)
	b = append(b, "</ArticleCount><Articles>"...)
	for _, a := range articles {
		b = append(b, "<item><Title>"...)
		b = appendCDATA(b, a.Title)
		b = append(b, "</Title><Description>"...)
		b = appendCDATA(b, a.Description)
		b = append(b, "</Description><PicUrl>"...)
		b = appendCDATA(b, a.PictureURL)
		b = append(b, "</PicUrl><Url>"...)
		b = appendCDATA(b, a.URL)
		b = append(b, "</Url></item>"...)
	}
	return append(b, "</Articles></xml>"...)
}

// encryptedReply wraps a sealed reply in the safe-mode answer envelope.
func encryptedReply(encrypted, msgSignature, timestamp, nonce string) []byte {
	const markup = len("<xml><Encrypt><![CDATA[]]></Encrypt><MsgSignature><![CDATA[]]></MsgSignature><TimeStamp></TimeStamp><Nonce><![CDATA[]]></Nonce></xml>")
	b := make([]byte, 0, markup+len(encrypted)+len(msgSignature)+len(timestamp)+len(nonce))
	b = append(b, "<xml><Encrypt><![CDATA["...)
	b = append(b, encrypted...)
	b = append(b, "]]></Encrypt><MsgSignature><![CDATA["...)
	b = append(b, msgSignature...)
	b = append(b, "]]></MsgSignature><TimeStamp>"...)
	b = append(b, timestamp...)
	b = append(b, "</TimeStamp><Nonce><![CDATA["...)
	b = append(b, nonce...)
	return append(b, "]]></Nonce></xml>"...)
}
