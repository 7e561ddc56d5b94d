package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/siyu-bot/siyu/bot"
)

// alertWebhook delivers StaffAlerts to a chat robot's webhook (RISK_ALERT_WEBHOOK):
// a WeCom group robot, or any endpoint taking the same JSON
// ({"msgtype":"text","text":{"content":…}}). Hand-written: it is one POST,
// and the WeChat SDK has no group-robot client. The URL holds the robot's
// key: it is never logged.
type alertWebhook struct {
	url    string
	client *http.Client
}

func newAlertWebhook(raw string, client *http.Client) (*alertWebhook, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("config: RISK_ALERT_WEBHOOK is not an http(s) URL: %w", bot.ErrInvalid)
	}
	return &alertWebhook{url: raw, client: client}, nil
}

// maxWebhookText is the group robot's limit on a text message: 2048
// bytes.
const maxWebhookText = 2048

// Send posts a StaffAlert; any other action is bot.ErrInvalid, as is a
// refusal (4xx, or a non-zero errcode) that retrying cannot fix.
func (h *alertWebhook) Send(ctx context.Context, a bot.Action) error {
	alert, ok := a.(bot.StaffAlert)
	if !ok {
		return fmt.Errorf("risk webhook: %T is not a staff alert: %w", a, bot.ErrInvalid)
	}
	text := alert.Text
	if alert.Title != "" {
		text = "【" + alert.Title + "】\n" + text
	}
	for len(text) > maxWebhookText {
		_, size := utf8.DecodeLastRuneInString(text)
		text = text[:len(text)-size]
	}
	body, _ := json.Marshal(map[string]any{"msgtype": "text", "text": map[string]string{"content": text}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("risk webhook: %w: %w", bot.ErrInvalid, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		// The url.Error names the URL, and with it the robot's key.
		return fmt.Errorf("risk webhook: post failed: %w", bot.ErrUnavailable)
	}
	defer resp.Body.Close()
	var res struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&res)
	switch {
	case resp.StatusCode >= 500:
		return fmt.Errorf("risk webhook: status %d: %w", resp.StatusCode, bot.ErrUnavailable)
	case resp.StatusCode >= 400:
		return fmt.Errorf("risk webhook: status %d: %w", resp.StatusCode, bot.ErrInvalid)
	case res.ErrCode == 45009:
		// The robot's rate limit (20 messages a minute): retry later.
		return fmt.Errorf("risk webhook: rate limited: %w", bot.ErrUnavailable)
	case res.ErrCode != 0:
		return fmt.Errorf("risk webhook: errcode %d %s: %w", res.ErrCode, res.ErrMsg, bot.ErrInvalid)
	}
	return nil
}
