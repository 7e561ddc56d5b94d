package wechat

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/siyu-bot/siyu/handlers/internal/wxcrypt"
)

// Simulator plays WeChat's side of a callback: it builds a message, signs
// and encrypts it exactly as the platform does, posts it, and verifies and
// decrypts the answer. `siyu simulate` and the end-to-end tests use it.
type Simulator struct {
	URL            string // the callback URL, e.g. http://127.0.0.1:8080/wechat/callback
	Token          string
	EncodingAESKey string // empty: plain mode
	AppID          string
	OriginalID     string // the account's gh_ id, ToUserName
	Client         *http.Client
	Now            func() time.Time
}

// SimReply is what the server answered.
type SimReply struct {
	Status  int
	MsgType string // "" when the server answered "success" or nothing
	Content string
	ToUser  string
	// KfAccount is the 客服 account a transfer_customer_service reply
	// names ("" when WeChat is to choose).
	KfAccount string
	Raw       string // the body as received
}

// TextXML is a text message from openid, as WeChat posts it.
func (s *Simulator) TextXML(openid, text string, msgID int64) []byte {
	return fmt.Appendf(nil, "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId></xml>",
		s.OriginalID, openid, s.now().Unix(), text, msgID)
}

// EventXML is an event from openid (subscribe, unsubscribe, SCAN, CLICK).
func (s *Simulator) EventXML(openid, event, key string, createTime int64) []byte {
	return fmt.Appendf(nil, "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event><EventKey><![CDATA[%s]]></EventKey></xml>",
		s.OriginalID, openid, createTime, event, key)
}

func (s *Simulator) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// NewMsgID returns a random positive 63-bit message id.
func NewMsgID() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:]) >> 1)
}

// Request builds the signed (and, with a key, encrypted) callback request
// for a plaintext message.
func (s *Simulator) Request(ctx context.Context, plain []byte) (*http.Request, error) {
	c, err := wxcrypt.New(s.Token, s.EncodingAESKey, s.AppID)
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	var nb [6]byte
	_, _ = rand.Read(nb[:])
	nonce := strconv.FormatUint(uint64(binary.BigEndian.Uint32(nb[:4])), 10)
	q := url.Values{}
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	q.Set("signature", wxcrypt.Sign(s.Token, ts, nonce))
	body := plain
	if s.EncodingAESKey != "" {
		enc, msgSig, err := c.Seal(plain, ts, nonce)
		if err != nil {
			return nil, err
		}
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", msgSig)
		body = fmt.Appendf(nil, "<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>", s.OriginalID, enc)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	return req, nil
}

// Post sends a plaintext message as a callback and decodes the answer.
func (s *Simulator) Post(ctx context.Context, plain []byte) (SimReply, error) {
	req, err := s.Request(ctx, plain)
	if err != nil {
		return SimReply{}, err
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return SimReply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return SimReply{}, err
	}
	return s.DecodeReply(resp.StatusCode, raw)
}

// DecodeReply verifies and decrypts a passive reply.
func (s *Simulator) DecodeReply(status int, raw []byte) (SimReply, error) {
	r := SimReply{Status: status, Raw: string(raw)}
	if status != http.StatusOK {
		return r, fmt.Errorf("wechat simulate: HTTP %d: %s", status, strings.TrimSpace(string(raw)))
	}
	body := bytes.TrimSpace(raw)
	if len(body) == 0 || string(body) == "success" {
		return r, nil
	}
	if s.EncodingAESKey != "" {
		var env struct {
			Encrypt      string `xml:"Encrypt"`
			MsgSignature string `xml:"MsgSignature"`
			TimeStamp    string `xml:"TimeStamp"`
			Nonce        string `xml:"Nonce"`
		}
		if err := xml.Unmarshal(body, &env); err != nil {
			return r, fmt.Errorf("wechat simulate: reply envelope: %w", err)
		}
		c, err := wxcrypt.New(s.Token, s.EncodingAESKey, s.AppID)
		if err != nil {
			return r, err
		}
		if err := c.VerifyMsg(env.MsgSignature, env.TimeStamp, env.Nonce, env.Encrypt); err != nil {
			return r, fmt.Errorf("wechat simulate: reply signature: %w", err)
		}
		if body, _, err = c.Decrypt(env.Encrypt); err != nil {
			return r, fmt.Errorf("wechat simulate: reply: %w", err)
		}
	}
	var m struct {
		ToUserName string `xml:"ToUserName"`
		MsgType    string `xml:"MsgType"`
		Content    string `xml:"Content"`
		Title      string `xml:"Articles>item>Title"`
		KfAccount  string `xml:"TransInfo>KfAccount"`
	}
	if err := xml.Unmarshal(body, &m); err != nil {
		return r, fmt.Errorf("wechat simulate: reply message: %w", err)
	}
	r.MsgType, r.Content, r.ToUser, r.KfAccount = m.MsgType, m.Content, m.ToUserName, m.KfAccount
	if m.MsgType == "news" {
		r.Content = m.Title
	}
	return r, nil
}
