package wechat

import (
	"context"
	"errors"
	"fmt"

	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/officialaccount"
	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers/internal/wxapi"
)

// customSendURL is the customer-service message API. The SDK's
// Manager.Send flattens API errors into strings; posting through its util
// keeps the typed *util.CommonError so failures can be classified.
const customSendURL = "https://api.weixin.qq.com/cgi-bin/message/custom/send"

// Sender delivers actions to Official Account followers through the
// customer-service message API (客服消息), with the SDK's access token
// shared by all replicas through its cache.
type Sender struct {
	oa    *officialaccount.OfficialAccount
	cache cache.Cache
	appID string
}

// Interface guard.
var _ bot.Sender = (*Sender)(nil)

// NewSender returns a Sender for the account; tokens live in tokenCache,
// which must be the cache the account was built with.
func NewSender(oa *officialaccount.OfficialAccount, tokenCache cache.Cache, appID string) *Sender {
	return &Sender{oa: oa, cache: tokenCache, appID: appID}
}

// The customer-service session API (会话控制): a hand-over that missed
// its passive reply opens a session with a named 客服 through it, and an
// end from siyu's console closes one.
const (
	kfSessionCreateURL = "https://api.weixin.qq.com/customservice/kfsession/create"
	kfSessionCloseURL  = "https://api.weixin.qq.com/customservice/kfsession/close"
)

// Errors of a hand-over the Official Account cannot carry out late. They
// end up as the outbox row's last error, for staff to read.
var (
	errLateTransfer = errors.New("wechat: the hand-over missed the 5 s passive reply, and without a KfAccount (handover.agents.wechat in the scripts) " +
		"the Official Account can pass a conversation to 客服 only in a passive reply; the customer's next message is passed on")
	errLateForward = errors.New("wechat: the message of a conversation 客服 holds missed the 5 s passive reply, so 客服 did not get it; " +
		"the Official Account passes messages on only in a passive reply")
)

// Send delivers one action.
func (s *Sender) Send(ctx context.Context, a bot.Action) error {
	if h, ok := a.(bot.Handover); ok {
		return s.handover(ctx, h)
	}
	msg, err := customerMessage(a)
	if err != nil {
		return err
	}
	return s.withToken(func() error { return s.post(ctx, customSendURL, "message/custom/send", msg) })
}

// handover carries out a hand-over the callback could not answer
// passively (it was late), or staff's end of one.
func (s *Sender) handover(ctx context.Context, h bot.Handover) error {
	to := string(h.To.User)
	if to == "" || h.To.Conversation.IsGroup() {
		return fmt.Errorf("wechat.Send: hand-overs are of followers 1:1: %w", bot.ErrInvalid)
	}
	body := map[string]string{"kf_account": h.Agent, "openid": to}
	switch {
	case h.Step == bot.HandoverEnd && h.Agent == "":
		return nil // WeChat chose the 客服; its session ends on its own
	case h.Step == bot.HandoverEnd:
		err := s.withToken(func() error { return s.post(ctx, kfSessionCloseURL, "kfsession/close", body) })
		var ce *util.CommonError
		if errors.As(err, &ce) && ce.ErrCode == codeNoSession {
			return nil // closed already
		}
		return err
	case h.Step == bot.HandoverForward:
		return fmt.Errorf("wechat.Send: %w: %w", errLateForward, bot.ErrInvalid)
	case h.Agent == "":
		return fmt.Errorf("wechat.Send: %w: %w", errLateTransfer, bot.ErrInvalid)
	}
	err := s.withToken(func() error { return s.post(ctx, kfSessionCreateURL, "kfsession/create", body) })
	var ce *util.CommonError
	if errors.As(err, &ce) && ce.ErrCode == codeHeldByOther {
		return nil // a person holds the follower already
	}
	return err
}

// codeHeldByOther is kfsession/create's "another 客服 holds the follower"
// (65414).
const codeHeldByOther = 65414

// codeNoSession is kfsession/close's "no session for this user" (65413).
const codeNoSession = 65413

// withToken calls call, and once more with a fresh token when WeChat
// rejects the cached one.
func (s *Sender) withToken(call func() error) error {
	return wxapi.WithFreshToken(call, func() error {
		// Both keys: the stable token and the plain one. A failed delete
		// still leaves the retry worth trying.
		_ = s.cache.Delete(credential.CacheKeyOfficialAccountPrefix + "_stable_access_token_" + s.appID)
		_ = s.cache.Delete(credential.CacheKeyOfficialAccountPrefix + "_access_token_" + s.appID)
		return nil
	})
}

func (s *Sender) post(ctx context.Context, url, api string, body any) error {
	token, err := s.oa.GetAccessTokenContext(ctx)
	if err != nil {
		return fmt.Errorf("wechat.Send: access token: %w: %w", bot.ErrUnavailable, err)
	}
	resp, err := util.PostJSONContext(ctx, url+"?access_token="+token, body)
	if err != nil {
		return fmt.Errorf("wechat.Send: %w: %w", bot.ErrUnavailable, wxapi.Redact(err, token))
	}
	if err := util.DecodeWithCommonError(resp, api); err != nil {
		var ce *util.CommonError
		if errors.As(err, &ce) && permanent(ce.ErrCode) {
			return fmt.Errorf("wechat.Send: %w: %w", bot.ErrInvalid, err)
		}
		return fmt.Errorf("wechat.Send: %w", err)
	}
	return nil
}

// permanent reports whether retrying cannot help: the follower left
// (43004), the 48-hour window for customer-service messages closed
// (45015), the openid is wrong (40003), too many messages (45047), or,
// for a hand-over, 客服 is off (65400), the KfAccount is unknown or
// unbound (65401, 65402) or offline (65415), or another 客服 holds the
// follower (65414).
func permanent(code int64) bool {
	switch code {
	case 43004, 45015, 40003, 45047, 65400, 65401, 65402, 65414, 65415:
		return true
	}
	return false
}

func customerMessage(a bot.Action) (*message.CustomerMessage, error) {
	to := string(a.Dest().User)
	if to == "" || a.Dest().Conversation.IsGroup() {
		return nil, fmt.Errorf("wechat.Send: Official Accounts message followers 1:1 only: %w", bot.ErrInvalid)
	}
	switch a := a.(type) {
	case bot.Reply:
		return message.NewCustomerTextMessage(to, a.Text), nil
	case bot.Welcome:
		return message.NewCustomerTextMessage(to, a.Text), nil
	case bot.News:
		news := &message.MediaNews{}
		for _, ar := range a.Articles {
			news.Articles = append(news.Articles, message.MediaArticles{Title: ar.Title, Description: ar.Description, URL: ar.URL, Picurl: ar.PictureURL})
		}
		return &message.CustomerMessage{ToUser: to, Msgtype: message.MsgTypeNews, News: news}, nil
	}
	return nil, fmt.Errorf("wechat.Send: %T cannot be sent to a follower: %w", a, bot.ErrInvalid)
}
