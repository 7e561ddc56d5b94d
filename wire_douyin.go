package main

import (
	"context"
	"fmt"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/window"
	"github.com/siyu-bot/siyu/handlers/douyin"
	"github.com/siyu-bot/siyu/store/redisstore"
)

// wireDouyin mounts the Douyin webhook and registers its sender. It reads
// DOUYIN_CLIENT_KEY and DOUYIN_CLIENT_SECRET (Douyin is off without
// both), DOUYIN_API_BASE (default https://open.douyin.com; a fake or a
// gateway in tests) and DOUYIN_ACCOUNT_OPEN_ID (optional: the enterprise
// account for events that name none).
func wireDouyin(_ context.Context, w wiring) error {
	key, secret := w.getenv("DOUYIN_CLIENT_KEY"), w.getenv("DOUYIN_CLIENT_SECRET")
	if key == "" || secret == "" {
		if key != "" || secret != "" {
			w.logger.Warn("only one of DOUYIN_CLIENT_KEY and DOUYIN_CLIENT_SECRET is set; Douyin stays off")
		}
		w.logger.Info("Douyin off: set DOUYIN_CLIENT_KEY and DOUYIN_CLIENT_SECRET to enable it")
		return nil
	}
	api, err := douyin.NewClient(douyin.ClientConfig{
		BaseURL: w.getenv("DOUYIN_API_BASE"), ClientKey: key, ClientSecret: secret,
	})
	if err != nil {
		return fmt.Errorf("douyin: %w", err)
	}
	state := redisstore.NewDouyinState(w.rdb, window.DefaultLimits())
	w.outbox.SetSender(bot.Douyin, douyin.NewSender(douyin.SenderConfig{
		API:     api,
		Tokens:  douyin.NewClientTokens(api, w.tokens, w.rdb.Lock),
		Windows: state,
		Logger:  w.logger,
	}))
	h, err := douyin.New(douyin.Config{
		ClientKey: key, ClientSecret: secret, Account: bot.AccountID(w.getenv("DOUYIN_ACCOUNT_OPEN_ID")),
		ReplayWindow: w.cfg.ReplayWindow,
	}, w.handler, w.outbox, state, w.logger)
	if err != nil {
		return fmt.Errorf("douyin: %w", err)
	}
	h.Register(w.group)
	w.logger.Info("Douyin on", "webhook", douyin.WebhookPath, "client_key", key)
	return nil
}
