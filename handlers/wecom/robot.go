package wecom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers/internal/wxapi"
)

// maxRobotText is the group robot's limit on a text message: 2048 bytes
// (developer.work.weixin.qq.com/document/path/91770).
const maxRobotText = 2048

// codeRobotRateLimited is the robot's answer past its 20 messages a
// minute.
const codeRobotRateLimited = 45009

// RobotSender delivers StaffAlerts to a WeCom group robot (群机器人)
// webhook, or to any endpoint taking the same JSON
// ({"msgtype":"text","text":{"content":…}}). It can be the outbox's
// sender for bot.Staff where no app sends alerts. Hand-written: it is one
// POST, and the WeChat SDK has no group-robot client.
//
// The webhook URL holds the robot's key, which lets anyone post into the
// group: it never appears in RobotSender's errors, and it logs nothing.
type RobotSender struct {
	url    string
	key    string // the URL's key parameter, redacted from errors
	client *http.Client
}

// Interface guard.
var _ bot.Sender = (*RobotSender)(nil)

// NewRobotSender returns a sender posting to rawURL, the robot's webhook
// address (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…), with
// client; nil means a client with a 10 s timeout. A rawURL that is not an
// http(s) URL is bot.ErrInvalid; the error does not quote it.
func NewRobotSender(rawURL string, client *http.Client) (*RobotSender, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// url.Parse's error quotes the URL, key included.
		return nil, fmt.Errorf("wecom.NewRobotSender: the webhook is not an http(s) URL: %w", bot.ErrInvalid)
	}
	if client == nil {
		// An alert that hangs would hold an outbox worker; the robot
		// answers in well under a second.
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &RobotSender{url: rawURL, key: u.Query().Get("key"), client: client}, nil
}

// Send posts a StaffAlert as a text message, cut to the robot's 2048
// bytes. Any other action is bot.ErrInvalid, as is a refusal that
// retrying cannot fix (a 4xx other than 429, or a non-zero errcode);
// an unreachable robot, a 5xx, a 429 and the robot's "busy" and rate-limit
// errcodes (-1, 45009) are bot.ErrUnavailable.
func (s *RobotSender) Send(ctx context.Context, a bot.Action) error {
	alert, ok := a.(bot.StaffAlert)
	if !ok {
		return fmt.Errorf("wecom.RobotSender: %T is not a staff alert: %w", a, bot.ErrInvalid)
	}
	if err := s.post(ctx, truncateBytes(alertText(alert), maxRobotText)); err != nil {
		// Belt and braces: no error below should quote the URL, but an
		// errmsg or a transport's cause is not siyu's to vouch for.
		return wxapi.Redact(err, s.url, s.key)
	}
	return nil
}

func (s *RobotSender) post(ctx context.Context, text string) error {
	body, err := json.Marshal(robotText{MsgType: "text", Text: robotContent{Content: text}})
	if err != nil {
		return fmt.Errorf("wecom.RobotSender: %w: %w", bot.ErrInvalid, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("wecom.RobotSender: %w: %w", bot.ErrInvalid, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		// Not the *url.Error itself: it holds the URL, and with it the
		// key, for anyone who unwraps it. Its cause does not.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("wecom.RobotSender: post: %w: %w", bot.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	var res struct {
		ErrCode int64  `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	// An endpoint other than WeCom's may answer 200 with no JSON: sent.
	_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&res)
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("wecom.RobotSender: status %d: %w", resp.StatusCode, bot.ErrUnavailable)
	case resp.StatusCode >= 400:
		return fmt.Errorf("wecom.RobotSender: status %d: %w", resp.StatusCode, bot.ErrInvalid)
	case res.ErrCode == -1 || res.ErrCode == codeRobotRateLimited:
		return fmt.Errorf("wecom.RobotSender: errcode %d %s: %w", res.ErrCode, res.ErrMsg, bot.ErrUnavailable)
	case res.ErrCode != 0:
		return fmt.Errorf("wecom.RobotSender: errcode %d %s: %w", res.ErrCode, res.ErrMsg, bot.ErrInvalid)
	}
	return nil
}

// robotText is the robot's text message.
type robotText struct {
	MsgType string       `json:"msgtype"`
	Text    robotContent `json:"text"`
}

type robotContent struct {
	Content string `json:"content"`
}
