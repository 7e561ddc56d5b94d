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

// Send delivers one action.
func (s *Sender) Send(ctx context.Context, a bot.Action) error {
	msg, err := customerMessage(a)
	if err != nil {
		return err
	}
	return wxapi.WithFreshToken(func() error { return s.post(ctx, msg) }, func() error {
		// Both keys: the stable token and the plain one. A failed delete
		// still leaves the retry worth trying.
		_ = s.cache.Delete(credential.CacheKeyOfficialAccountPrefix + "_stable_access_token_" + s.appID)
		_ = s.cache.Delete(credential.CacheKeyOfficialAccountPrefix + "_access_token_" + s.appID)
		return nil
	})
}

func (s *Sender) post(ctx context.Context, msg *message.CustomerMessage) error {
	token, err := s.oa.GetAccessTokenContext(ctx)
	if err != nil {
		return fmt.Errorf("wechat.Send: access token: %w: %w", bot.ErrUnavailable, err)
	}
	resp, err := util.PostJSONContext(ctx, customSendURL+"?access_token="+token, msg)
	if err != nil {
		return fmt.Errorf("wechat.Send: %w: %w", bot.ErrUnavailable, wxapi.Redact(err, token))
	}
	if err := util.DecodeWithCommonError(resp, "message/custom/send"); err != nil {
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
// (45015), or the openid is wrong (40003).
func permanent(code int64) bool {
	return code == 43004 || code == 45015 || code == 40003 || code == 45047
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
