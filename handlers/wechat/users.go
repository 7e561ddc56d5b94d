package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/officialaccount"
	"github.com/silenceper/wechat/v2/util"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers/internal/wxapi"
)

// userInfoURL is the follower information API. The SDK's
// user.GetUserInfo takes no context, and a hung call must not outlive
// the deadline its caller set; it is called through the SDK's util here.
const userInfoURL = "https://api.weixin.qq.com/cgi-bin/user/info"

// Users asks the Official Account about its followers.
type Users struct {
	oa    *officialaccount.OfficialAccount
	cache cache.Cache
	appID string
}

// NewUsers returns Users for the account; tokens live in tokenCache, which
// must be the cache the account was built with.
func NewUsers(oa *officialaccount.OfficialAccount, tokenCache cache.Cache, appID string) *Users {
	return &Users{oa: oa, cache: tokenCache, appID: appID}
}

// UnionID returns a follower's WeChat unionid (cgi-bin/user/info), ""
// when WeChat gives none: the account is not bound to an Open Platform
// account. It implements bot/identity's Fetcher for this account.
// An openid WeChat refuses (40003) is bot.ErrInvalid; anything else that
// fails is bot.ErrUnavailable or carries the errcode.
func (u *Users) UnionID(ctx context.Context, _ bot.AccountID, openID bot.UserID) (string, error) {
	var unionID string
	err := wxapi.WithFreshToken(func() error {
		var err error
		unionID, err = u.get(ctx, openID)
		return err
	}, func() error {
		_ = u.cache.Delete(credential.CacheKeyOfficialAccountPrefix + "_stable_access_token_" + u.appID)
		_ = u.cache.Delete(credential.CacheKeyOfficialAccountPrefix + "_access_token_" + u.appID)
		return nil
	})
	return unionID, err
}

func (u *Users) get(ctx context.Context, openID bot.UserID) (string, error) {
	const op = "wechat.UnionID"
	token, err := u.oa.GetAccessTokenContext(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: access token: %w: %w", op, bot.ErrUnavailable, err)
	}
	q := url.Values{"access_token": {token}, "openid": {string(openID)}, "lang": {"zh_CN"}}
	body, err := util.HTTPGetContext(ctx, userInfoURL+"?"+q.Encode())
	if err != nil {
		// The SDK quotes the URL: the token and the customer's openid.
		return "", fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, wxapi.Redact(err, token, string(openID)))
	}
	if err := util.DecodeWithCommonError(body, "user/info"); err != nil {
		var ce *util.CommonError
		if errors.As(err, &ce) && permanent(ce.ErrCode) {
			return "", fmt.Errorf("%s: %w: %w", op, bot.ErrInvalid, err)
		}
		return "", fmt.Errorf("%s: %w", op, err)
	}
	var resp struct {
		UnionID string `json:"unionid"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return "", fmt.Errorf("%s: malformed answer: %w: %w", op, bot.ErrUnavailable, err)
	}
	return resp.UnionID, nil
}
