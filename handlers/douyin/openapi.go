package douyin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/siyu-bot/siyu/bot"
)

// The OpenAPI is called by hand on net/http: silenceper/wechat, the SDK
// siyu uses for WeChat and WeCom, has no Douyin support, and no
// maintained Go SDK covers Douyin's IM API.

// DefaultAPIBase is Douyin's OpenAPI host.
const DefaultAPIBase = "https://open.douyin.com"

// OpenAPI paths.
const (
	pathClientToken = "/oauth/client_token/"
	pathSendPrivate = "/im/send/msg/"
	// pathSendGroup is reconstructed: the group-message doc pages
	// (…/group-chat/group-message/im.group.message.send) were not in the
	// corpus; the path and body come from two third-party SDKs that agree.
	pathSendGroup = "/im/send/msg/group/"
)

// Scenes of /im/send/msg/ that siyu uses. The send API also knows
// im_authorize_message (proactive messages to customers who authorized
// them) and im_b2b_direct_message, which siyu never sends.
const (
	SceneReply = "im_reply_msg"        // reply to a customer message
	SceneEnter = "im_enter_direct_msg" // greet a customer who opened the chat
)

// msgTypeText is content.msg_type for text. Every third-party client read
// (a typed .NET SDK, Rust and Python clients and their tests) sends the
// integer 1, not the string "text".
const msgTypeText = 1

// textContent is the content of a text message.
type textContent struct {
	MsgType int `json:"msg_type"`
	Text    struct {
		Text string `json:"text"`
	} `json:"text"`
}

func newTextContent(text string) textContent {
	c := textContent{MsgType: msgTypeText}
	c.Text.Text = text
	return c
}

// privateMessageBody is the body of POST /im/send/msg/?open_id=<account>.
// It is the one place this shape is written down. No official sample was
// found: the keys msg_id, conversation_id, to_user_id, content and scene
// are those third-party clients agree on, and msg_id is the
// server_message_id being answered (or the im_enter_direct_msg event's),
// conversation_id the webhook's conversation_short_id.
type privateMessageBody struct {
	MsgID          string      `json:"msg_id"`
	ConversationID string      `json:"conversation_id"`
	ToUserID       string      `json:"to_user_id"`
	Scene          string      `json:"scene"`
	Content        textContent `json:"content"`
}

// groupMessageBody is the body of POST /im/send/msg/group/?open_id=…
// (reconstructed, see pathSendGroup).
type groupMessageBody struct {
	GroupID string      `json:"group_id"`
	Content textContent `json:"content"`
}

// PrivateMessage is a text to one customer in a 1:1 chat.
type PrivateMessage struct {
	To             bot.UserID
	ConversationID string
	// ReplyTo is the server_message_id the message answers.
	ReplyTo string
	Scene   string
	Text    string
}

// ClientConfig configures the OpenAPI client.
type ClientConfig struct {
	BaseURL      string // DefaultAPIBase when empty; tests point it at a fake
	ClientKey    string
	ClientSecret string
	// HTTPClient defaults to a client with a 10-second timeout: the
	// outbox bounds a send at 15 s, and a hung call must not outlive it.
	HTTPClient *http.Client
}

// Client calls Douyin's OpenAPI.
type Client struct {
	base   string
	key    string
	secret string
	http   *http.Client
}

// NewClient returns an OpenAPI client. Errors wrap bot.ErrInvalid.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.ClientKey == "" || cfg.ClientSecret == "" {
		return nil, fmt.Errorf("douyin.NewClient: client key and secret are required: %w", bot.ErrInvalid)
	}
	base := strings.TrimRight(cmp.Or(cfg.BaseURL, DefaultAPIBase), "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("douyin.NewClient: API base %q is not an http(s) URL: %w", base, bot.ErrInvalid)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: base, key: cfg.ClientKey, secret: cfg.ClientSecret, http: hc}, nil
}

// FetchClientToken gets a new client token (POST /oauth/client_token/,
// grant_type client_credential) and how long it lives. Douyin keeps only
// the two newest tokens, the older one for 5 more minutes, so callers
// share one token through a cache instead of fetching per call.
func (c *Client) FetchClientToken(ctx context.Context) (string, time.Duration, error) {
	const op = "douyin.FetchClientToken"
	req := map[string]string{"client_key": c.key, "client_secret": c.secret, "grant_type": "client_credential"}
	var res struct {
		Data struct {
			AccessToken string  `json:"access_token"`
			ExpiresIn   flexInt `json:"expires_in"`
		} `json:"data"`
	}
	if err := c.post(ctx, op, pathClientToken, nil, "", req, &res); err != nil {
		return "", 0, err
	}
	if res.Data.AccessToken == "" || res.Data.ExpiresIn <= 0 {
		return "", 0, fmt.Errorf("%s: answer without a token: %w", op, bot.ErrUnavailable)
	}
	return res.Data.AccessToken, time.Duration(res.Data.ExpiresIn) * time.Second, nil
}

// SendPrivate sends m from account through POST /im/send/msg/.
func (c *Client) SendPrivate(ctx context.Context, token string, account bot.AccountID, m PrivateMessage) error {
	body := privateMessageBody{
		MsgID: m.ReplyTo, ConversationID: m.ConversationID, ToUserID: string(m.To),
		Scene: m.Scene, Content: newTextContent(m.Text),
	}
	return c.post(ctx, "douyin.SendPrivate", pathSendPrivate, url.Values{"open_id": {string(account)}}, token, body, nil)
}

// SendGroup sends text from account into a fan group through POST
// /im/send/msg/group/ (reconstructed).
func (c *Client) SendGroup(ctx context.Context, token string, account bot.AccountID, group bot.GroupID, text string) error {
	body := groupMessageBody{GroupID: string(group), Content: newTextContent(text)}
	return c.post(ctx, "douyin.SendGroup", pathSendGroup, url.Values{"open_id": {string(account)}}, token, body, nil)
}

// maxAnswer bounds how much of an answer is read: OpenAPI answers are a
// few hundred bytes, and a broken proxy must not fill memory.
const maxAnswer = 1 << 20

// post sends a JSON request and decodes the answer into out (when not
// nil). The token goes in the access-token header and never into errors.
// Transport failures wrap bot.ErrUnavailable; platform refusals are
// *APIError.
func (c *Client) post(ctx context.Context, op, path string, q url.Values, token string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", op, bot.ErrInvalid, err)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s: %w: %w", op, bot.ErrInvalid, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("access-token", token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w: %w", op, bot.ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &APIError{Op: op, Status: resp.StatusCode}
	}
	if code, desc := answerError(raw); code != 0 {
		return &APIError{Op: op, Status: resp.StatusCode, Code: code, Description: desc}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s: answer: %w: %w", op, bot.ErrUnavailable, err)
		}
	}
	return nil
}

// answerError finds the error code in an OpenAPI answer. Douyin uses
// several envelopes: {"data": {"error_code", "description"}, "extra":
// {"error_code", "description", "sub_description"}} on open.douyin.com
// and {"err_no", "err_msg"/"err_tips"} on newer APIs. 0 means success. An
// answer that is not JSON is an error (code -1).
func answerError(raw []byte) (int64, string) {
	type block struct {
		ErrorCode      flexInt `json:"error_code"`
		Description    string  `json:"description"`
		SubDescription string  `json:"sub_description"`
	}
	var a struct {
		ErrNo   flexInt `json:"err_no"`
		ErrMsg  string  `json:"err_msg"`
		ErrTips string  `json:"err_tips"`
		Data    *block  `json:"data"`
		Extra   *block  `json:"extra"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return -1, "answer is not JSON"
	}
	if a.ErrNo != 0 {
		return int64(a.ErrNo), cmp.Or(a.ErrMsg, a.ErrTips)
	}
	for _, b := range []*block{a.Extra, a.Data} {
		if b != nil && b.ErrorCode != 0 {
			return int64(b.ErrorCode), cmp.Or(b.Description, b.SubDescription)
		}
	}
	return 0, ""
}

// APIError is Douyin refusing a call: a non-200 status or a non-zero
// error code.
type APIError struct {
	Op          string
	Status      int
	Code        int64
	Description string
}

// maxDescription keeps a platform's description short in outbox rows.
const maxDescription = 200

// Error returns the operation, the code and Douyin's description.
func (e *APIError) Error() string {
	if e.Code == 0 {
		return fmt.Sprintf("%s: HTTP %d", e.Op, e.Status)
	}
	d := e.Description
	if utf8.RuneCountInString(d) > maxDescription {
		d = string([]rune(d)[:maxDescription]) + "…"
	}
	return e.Op + ": douyin error " + strconv.FormatInt(e.Code, 10) + ": " + d
}

// TokenRejected reports whether the token was refused as expired or
// invalid, so a fresh one may succeed. Codes from the OpenAPI status-code
// page (…/dop/develop/openapi/status-code): 28001008 (new), 2190002 and
// 2190008 (old); 10008 from the token docs.
func (e *APIError) TokenRejected() bool {
	switch e.Code {
	case 28001008, 2190002, 2190008, 10008:
		return true
	}
	return e.Status == http.StatusUnauthorized
}

// Permanent reports whether retrying cannot help. From the status-code
// page: bad parameters (28001007, 2100005), missing authorization or
// capability (28001012, 28001014, 28001015, 28001018, 2100007), app,
// capability or user banned, deleted or private (28001016, 28001019,
// 28001045–47, 2100009), API retired (28001056), quota used up (28003017,
// 2190001). From the client-token page (…/preparation/client_token): bad
// configuration, key or secret (10003, 20010002, 20010003, 20010013).
// From third-party clients (not in the official corpus): the
// reply window closed or used up (28003070, 28003080, 28003081), wrong
// peer (28003082), content refused (28001038), sending banned (28029004,
// 28003101). Everything else — busy (28001005, 2100004), network
// (28001006), rate-limited (28003018), HTTP errors, unknown codes — is
// retried by the outbox.
func (e *APIError) Permanent() bool {
	switch e.Code {
	case 28001007, 2100005,
		28001012, 28001014, 28001015, 28001018, 2100007, 2190015,
		28001016, 28001019, 28001045, 28001046, 28001047, 2100009,
		28001056, 28003017, 2190001,
		10003, 20010002, 20010003, 20010013,
		28003070, 28003080, 28003081, 28003082, 28001038, 28029004, 28003101:
		return true
	}
	return false
}
