package main

import (
	"context"
	"fmt"

	"github.com/silenceper/wechat/v2/officialaccount"
	offConfig "github.com/silenceper/wechat/v2/officialaccount/config"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers/wechat"
)

// wireWeChat mounts the Official Account callback and its sender.
func wireWeChat(_ context.Context, w wiring) error {
	cfg := w.cfg
	oa := officialaccount.NewOfficialAccount(&offConfig.Config{
		AppID: cfg.WeChatAppID, AppSecret: cfg.WeChatAppSecret, Token: cfg.WeChatToken, EncodingAESKey: cfg.WeChatAESKey,
		Cache: w.tokens,
		// The stable token is not invalidated when another replica
		// fetches one, so replicas refreshing at once do not log each
		// other out.
		UseStableAK: true,
	})
	var sender bot.Sender = wechat.NewSender(oa, w.tokens, cfg.WeChatAppID)
	if cfg.WeChatAppSecret == "" {
		sender = bot.SenderFunc(func(context.Context, bot.Action) error {
			return fmt.Errorf("WECHAT_APPSECRET is not set, so customer-service messages cannot be sent: %w", bot.ErrInvalid)
		})
	}
	w.outbox.SetSender(bot.WeChat, sender)
	h, err := wechat.New(wechat.Config{
		AppID: cfg.WeChatAppID, Token: cfg.WeChatToken, EncodingAESKey: cfg.WeChatAESKey,
		AllowPlain:  cfg.WeChatAllowPlain,
		ReplyBudget: cfg.ReplyBudget, ReplayWindow: cfg.ReplayWindow,
	}, w.handler, w.outbox, w.logger)
	if err != nil {
		return err
	}
	// A late callback's stored event is handled again by the outbox if
	// the replica that answered it dies first.
	w.outbox.SetRenderer(wechat.LateRendererName, h.LateRenderer())
	h.Register(w.group)
	return nil
}
