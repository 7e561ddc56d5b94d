package main

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount"
	offConfig "github.com/silenceper/wechat/v2/officialaccount/config"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/identity"
	"github.com/siyu-bot/siyu/handlers/wechat"
	"github.com/siyu-bot/siyu/handlers/wecom"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// identityCapability wires bot/identity: the middleware that fills each
// event's unionid from the links in the database (first inside dedupe,
// before every other capability's middleware), the send gate's wrapper
// that links queued pushes, and the fetchers that learn links from the
// Official Account's user/info and WeCom's externalcontact/get. It comes
// last in capabilities(), so it wraps the gate do-not-disturb set.
func identityCapability() capability {
	return capability{name: "identity", wire: wireIdentity}
}

func wireIdentity(ctx context.Context, w capWiring, p *parts) error {
	store, err := sqlstore.NewIdentities(ctx, w.db)
	if err != nil {
		return err
	}
	cfg := identity.Config{
		Store: store, Fetchers: map[bot.Platform]identity.Fetcher{}, Scope: identityScope,
		// Replicas tell each other the links they learn, so none waits
		// for the database for a sender it has not cached (svc.Run).
		Announcer: redisstore.NewIdentityLinks(w.rdb),
		Logger:    w.logger,
	}
	if cfg.ContactWait, err = waitEnv(w.getenv, "SIYU_UNIONID_CONTACT_WAIT"); err != nil {
		return err
	}
	if cfg.FollowWait, err = waitEnv(w.getenv, "SIYU_UNIONID_FOLLOW_WAIT"); err != nil {
		return err
	}
	tokens := redisstore.NewTokenCache(w.rdb)
	if c := w.cfg; c.WeChatAppSecret != "" {
		// The same account and token cache as wire_wechat.go's, so both
		// share one access token.
		oa := officialaccount.NewOfficialAccount(&offConfig.Config{
			AppID: c.WeChatAppID, AppSecret: c.WeChatAppSecret, Token: c.WeChatToken, EncodingAESKey: c.WeChatAESKey,
			Cache: tokens, UseStableAK: true,
		})
		cfg.Fetchers[bot.WeChat] = wechat.NewUsers(oa, tokens, c.WeChatAppID)
	}
	wc, err := loadWeComConfig(w.getenv)
	if err != nil {
		return err
	}
	switch {
	case !wc.enabled():
	case wc.ContactSecret != "":
		cfg.Fetchers[bot.WeCom] = wecom.NewClient(wc.CorpID, wc.ContactSecret, "contact", tokens)
	case wc.Secret != "":
		// The app's secret serves 客户联系 when the app has its permission,
		// as wire_wecom.go assumes for welcomes.
		cfg.Fetchers[bot.WeCom] = wecom.NewClient(wc.CorpID, wc.Secret, cmp.Or(wc.AgentID, "app"), tokens)
	}
	svc := identity.New(cfg)
	p.identity = svc
	p.workers = append(p.workers, svc.Run)
	// Outermost of the capabilities' middleware: the opt-out check, the
	// caps and coupon claims all read Event.UnionID.
	p.middleware = append([]bot.Middleware{svc.Middleware()}, p.middleware...)
	p.gate = svc.Gate(p.gate)
	platforms := make([]string, 0, len(cfg.Fetchers))
	for pl := range cfg.Fetchers {
		platforms = append(platforms, string(pl))
	}
	w.logger.Info("identity: unionid links learnt from", "platforms", platforms)
	return nil
}

// identityScope keeps a WeCom user's link under the corp, whichever of
// the corp's conversations the user is met in (a contact, a group, 微信客服:
// one external_userid), and keeps none for the app's chats with staff.
func identityScope(p bot.Platform, account bot.AccountID) bot.AccountID {
	if p != bot.WeCom {
		return account
	}
	corp, kind, _, ok := wecom.ParseAccount(account)
	if !ok || kind == "app" {
		return ""
	}
	return bot.AccountID(corp)
}

// waitEnv reads a wait for a unionid before the engine runs: 0 when
// unset, at most 3 s so the platforms' 5 s answer stays safe.
func waitEnv(getenv func(string) string, name string) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > 3*time.Second {
		return 0, fmt.Errorf("config: %s must be a duration between 0 and 3s, got %q", name, v)
	}
	return d, nil
}
