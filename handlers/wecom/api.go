package wecom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/util"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers/internal/wxapi"
)

// apiBase is WeCom's server API. main's URI modifier (WECOM_API_BASE) and
// tests' util.SetURIModifier rewrite it.
const apiBase = "https://qyapi.weixin.qq.com/cgi-bin/"

// WeCom error codes siyu tells apart.
const (
	codeWelcomeDelivered = 41051 // the welcome code was used already
	codeWelcomeBusy      = 41096 // another app is sending with this welcome code
	codeTagExists        = 40071 // add_corp_tag: a tag of that name exists already
	// codeKFSessionHeld is kf/send_msg's "send msg session status
	// invalid": the 微信客服 session is not one the API may answer (a person
	// holds it, or it waits in the pool for one).
	codeKFSessionHeld = 95018
	// codeKFBadTransition is kf/service_state/trans's "the session cannot
	// move to that state" (as third-party clients report it): ending a
	// session that has ended.
	codeKFBadTransition = 95016
)

// Client calls WeCom's server API with one secret: the self-built app's
// or 客户联系's. The access token comes from the SDK's credential.WorkAccessToken and lives
// in the cache shared by all replicas, one key per secret.
//
// Requests are posted through the SDK's util.PostJSONContext rather than
// its API methods: those take no context (a welcome has 20 s, and each
// call must fit in it), and some flatten WeCom's errcode into a string
// (kf.SyncMsg, kf.SendMsg), where siyu must tell 41051 from 41096.
type Client struct {
	tokens   credential.AccessTokenContextHandle
	cache    cache.Cache
	cacheKey string
	secret   string
}

// NewClient returns a client for one secret. tokenKey tells the secret's
// access token apart from other secrets' in the shared cache (the SDK
// appends it to the key as the "AgentID"): give the app its agent id and
// 客户联系 a fixed name such as "contact".
func NewClient(corpID, secret, tokenKey string, c cache.Cache) *Client {
	// The handle work.NewWork would build, without the rest of Work.
	h := credential.NewWorkAccessToken(corpID, secret, tokenKey, credential.CacheKeyWorkPrefix, c)
	// The key credential.WorkAccessToken uses, so a rejected token can be
	// dropped.
	key := credential.CacheKeyWorkPrefix + "_access_token_" + corpID
	if tokenKey != "" {
		key += "_" + tokenKey
	}
	return &Client{tokens: h, cache: c, cacheKey: key, secret: secret}
}

// ErrCode returns the WeCom errcode an error carries and reports whether
// it carries one.
func ErrCode(err error) (int64, bool) {
	var ce *util.CommonError
	if errors.As(err, &ce) {
		return ce.ErrCode, true
	}
	return 0, false
}

// permanent reports whether retrying a call cannot help.
func permanent(code int64) bool {
	switch code {
	case 40003, // invalid userid
		40058, // invalid parameter
		40096, // invalid external_userid
		codeWelcomeDelivered,
		48002,        // API forbidden: the secret lacks the permission
		81013,        // every recipient invalid
		84061,        // not an external contact of the member
		95000, 95004, // invalid or unknown open_kfid
		95017: // 微信客服 API not enabled for this app
		return true
	}
	return false
}

// transient reports whether an errcode means "try again later".
func transient(code int64) bool {
	return code == -1 || code == 45009 || code == codeWelcomeBusy // system busy, rate limited, another app sending
}

// call posts req to the API at path and decodes the answer into resp (if
// not nil). On a rejected access token it drops the cached token and
// tries once more. Errors wrap *util.CommonError when WeCom answered with
// an errcode (ErrCode extracts it), bot.ErrInvalid when retrying cannot
// help and bot.ErrUnavailable when WeCom could not be reached.
func (c *Client) call(ctx context.Context, op, path string, req, resp any) error {
	return wxapi.WithFreshToken(func() error { return c.post(ctx, op, path, req, resp) }, func() error {
		if err := c.cache.Delete(c.cacheKey); err != nil {
			return fmt.Errorf("%s: drop rejected token: %w", op, err)
		}
		return nil
	})
}

func (c *Client) post(ctx context.Context, op, path string, req, resp any) error {
	return c.do(ctx, op, path, nil, req, resp)
}

// do calls the API at path: a GET with query when req is nil, else a
// POST of req as JSON.
func (c *Client) do(ctx context.Context, op, path string, query url.Values, req, resp any) error {
	token, err := c.tokens.GetAccessTokenContext(ctx)
	if err != nil {
		return fmt.Errorf("%s: access token: %w: %w", op, bot.ErrUnavailable, wxapi.Redact(err, c.secret))
	}
	uri := apiBase + path + "?access_token=" + url.QueryEscape(token)
	if len(query) > 0 {
		uri += "&" + query.Encode()
	}
	var body []byte
	if req == nil {
		body, err = util.HTTPGetContext(ctx, uri)
	} else {
		body, err = util.PostJSONContext(ctx, uri, req)
	}
	if err != nil {
		// The SDK quotes the URL: the token and, for a GET, the query
		// (a customer's external_userid).
		secrets := []string{c.secret, token}
		for _, vs := range query {
			secrets = append(secrets, vs...)
		}
		return fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, wxapi.Redact(err, secrets...))
	}
	if err := util.DecodeWithCommonError(body, op); err != nil {
		var ce *util.CommonError
		switch {
		case errors.As(err, &ce) && permanent(ce.ErrCode):
			return fmt.Errorf("wecom: %w: %w", bot.ErrInvalid, err)
		case errors.As(err, &ce):
			return fmt.Errorf("wecom: %w", err)
		}
		return fmt.Errorf("%s: malformed answer: %w: %w", op, bot.ErrUnavailable, err)
	}
	if resp != nil {
		if err := json.Unmarshal(body, resp); err != nil {
			return fmt.Errorf("%s: malformed answer: %w: %w", op, bot.ErrUnavailable, err)
		}
	}
	return nil
}

// ExternalContact is the part of externalcontact/get's answer siyu reads.
type ExternalContact struct {
	ExternalUserID string `json:"external_userid"`
	// Type is 1 for a WeChat user, 2 for a WeCom user of another corp.
	Type int `json:"type"`
	// UnionID is the WeChat unionid: present only for WeChat users of a
	// corp bound to a WeChat Open Platform account (and, for third-party
	// apps, with the customer's consent).
	UnionID string `json:"unionid"`
}

// ExternalContact returns an external contact's details
// (externalcontact/get, a GET; the 客户联系 secret). Only the first page
// of the contact's follow_user list is asked for: siyu reads the
// contact, not the staff who added it.
func (c *Client) ExternalContact(ctx context.Context, externalUserID string) (ExternalContact, error) {
	const op = "wecom.ExternalContact"
	var resp struct {
		ExternalContact ExternalContact `json:"external_contact"`
	}
	err := wxapi.WithFreshToken(func() error {
		return c.do(ctx, op, "externalcontact/get", url.Values{"external_userid": {externalUserID}}, nil, &resp)
	}, func() error {
		if err := c.cache.Delete(c.cacheKey); err != nil {
			return fmt.Errorf("%s: drop rejected token: %w", op, err)
		}
		return nil
	})
	return resp.ExternalContact, err
}

type textContent struct {
	Content string `json:"content"`
}

// SendWelcome sends a new contact's welcome with its one-shot code
// (externalcontact/send_welcome_msg). 41051 and 41096 come back as
// errcodes (ErrCode).
func (c *Client) SendWelcome(ctx context.Context, welcomeCode, text string) error {
	req := struct {
		WelcomeCode string      `json:"welcome_code"`
		Text        textContent `json:"text"`
	}{welcomeCode, textContent{text}}
	return c.call(ctx, "wecom.SendWelcome", "externalcontact/send_welcome_msg", req, nil)
}

// AddGroupWelcomeTemplate creates a group welcome template and returns
// its id. WeCom replaces %NICKNAME% with each new member's name.
func (c *Client) AddGroupWelcomeTemplate(ctx context.Context, text string) (string, error) {
	req := struct {
		Text textContent `json:"text"`
	}{textContent{text}}
	var resp struct {
		TemplateID string `json:"template_id"`
	}
	if err := c.call(ctx, "wecom.AddGroupWelcomeTemplate", "externalcontact/group_welcome_template/add", req, &resp); err != nil {
		return "", err
	}
	if resp.TemplateID == "" {
		return "", fmt.Errorf("wecom.AddGroupWelcomeTemplate: no template_id in the answer: %w", bot.ErrUnavailable)
	}
	return resp.TemplateID, nil
}

// EditGroupWelcomeTemplate replaces a template's text.
func (c *Client) EditGroupWelcomeTemplate(ctx context.Context, templateID, text string) error {
	req := struct {
		TemplateID string      `json:"template_id"`
		Text       textContent `json:"text"`
	}{templateID, textContent{text}}
	return c.call(ctx, "wecom.EditGroupWelcomeTemplate", "externalcontact/group_welcome_template/edit", req, nil)
}

// DelGroupWelcomeTemplate deletes a template.
func (c *Client) DelGroupWelcomeTemplate(ctx context.Context, templateID string) error {
	req := struct {
		TemplateID string `json:"template_id"`
	}{templateID}
	return c.call(ctx, "wecom.DelGroupWelcomeTemplate", "externalcontact/group_welcome_template/del", req, nil)
}

// CorpTagGroup is a group of the corp's customer tags (企业客户标签).
type CorpTagGroup struct {
	GroupID   string    `json:"group_id"`
	GroupName string    `json:"group_name"`
	Tag       []CorpTag `json:"tag"`
}

// CorpTag is one of the corp's customer tags.
type CorpTag struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Deleted bool   `json:"deleted"` // only reported when tags are asked for by id
}

// CorpTags lists every group of the corp's customer tags
// (externalcontact/get_corp_tag_list). It needs the 客户联系 secret.
func (c *Client) CorpTags(ctx context.Context) ([]CorpTagGroup, error) {
	var resp struct {
		TagGroup []CorpTagGroup `json:"tag_group"`
	}
	err := c.call(ctx, "wecom.CorpTags", "externalcontact/get_corp_tag_list", struct{}{}, &resp)
	return resp.TagGroup, err
}

// AddCorpTags creates tags in the tag group named groupName, which WeCom
// creates if the corp has none of that name
// (externalcontact/add_corp_tag), and returns the group with the new
// tags. A name the corp has already comes back as errcode 40071.
func (c *Client) AddCorpTags(ctx context.Context, groupName string, names []string) (CorpTagGroup, error) {
	type tagName struct {
		Name string `json:"name"`
	}
	req := struct {
		GroupName string    `json:"group_name"`
		Tag       []tagName `json:"tag"`
	}{GroupName: groupName}
	for _, n := range names {
		req.Tag = append(req.Tag, tagName{n})
	}
	var resp struct {
		TagGroup CorpTagGroup `json:"tag_group"`
	}
	err := c.call(ctx, "wecom.AddCorpTags", "externalcontact/add_corp_tag", req, &resp)
	return resp.TagGroup, err
}

// MarkTags adds the tags to the external contact as the staff member
// userID sees them (externalcontact/mark_tag).
func (c *Client) MarkTags(ctx context.Context, userID, externalUserID string, tagIDs []string) error {
	req := struct {
		UserID         string   `json:"userid"`
		ExternalUserID string   `json:"external_userid"`
		AddTag         []string `json:"add_tag"`
	}{userID, externalUserID, tagIDs}
	return c.call(ctx, "wecom.MarkTags", "externalcontact/mark_tag", req, nil)
}

// KFSyncRequest asks kf/sync_msg for a 微信客服 account's messages after a
// cursor.
type KFSyncRequest struct {
	Cursor   string `json:"cursor,omitempty"`
	Token    string `json:"token,omitempty"` // from the callback; without it the API is rate-limited hard
	Limit    int    `json:"limit,omitempty"`
	OpenKfID string `json:"open_kfid"`
}

// KFSyncResponse is one page of kf/sync_msg.
type KFSyncResponse struct {
	NextCursor string      `json:"next_cursor"`
	HasMore    int         `json:"has_more"`
	MsgList    []KFMessage `json:"msg_list"`
}

// KF message origins (KFMessage.Origin).
const (
	KFOriginCustomer = 3 // sent by the WeChat customer
	KFOriginEvent    = 4 // a system event
	KFOriginServicer = 5 // sent by a staff member from the WeCom client
)

// KFMessage is one message of a 微信客服 conversation; siyu reads text only.
type KFMessage struct {
	MsgID          string `json:"msgid"`
	OpenKfID       string `json:"open_kfid"`
	ExternalUserID string `json:"external_userid"`
	SendTime       int64  `json:"send_time"`
	Origin         int    `json:"origin"`
	MsgType        string `json:"msgtype"`
	Text           struct {
		Content string `json:"content"`
	} `json:"text"`
	// Event is a system event's (origin 4, msgtype event), which carries
	// the account and customer inside it rather than beside it.
	Event KFEvent `json:"event"`
}

// KFEvent is the part of a 微信客服 event siyu reads.
type KFEvent struct {
	EventType      string `json:"event_type"` // "session_status_change", "enter_session", …
	OpenKfID       string `json:"open_kfid"`
	ExternalUserID string `json:"external_userid"`
	// ChangeType of a session_status_change: 1 a servicer took it from
	// the pool, 2 passed to another servicer, 3 ended, 4 taken up again.
	ChangeType int `json:"change_type"`
}

// KFChangeEnded is a session_status_change's change_type when the
// session ended.
const KFChangeEnded = 3

// SyncKFMsg pulls one page of 微信客服 messages (kf/sync_msg).
func (c *Client) SyncKFMsg(ctx context.Context, req KFSyncRequest) (KFSyncResponse, error) {
	var resp KFSyncResponse
	err := c.call(ctx, "wecom.SyncKFMsg", "kf/sync_msg", req, &resp)
	return resp, err
}

// SendKFText sends text to a customer of a 微信客服 account (kf/send_msg).
func (c *Client) SendKFText(ctx context.Context, openKfID, externalUserID, text string) error {
	req := struct {
		ToUser   string      `json:"touser"`
		OpenKfID string      `json:"open_kfid"`
		MsgType  string      `json:"msgtype"`
		Text     textContent `json:"text"`
	}{externalUserID, openKfID, "text", textContent{text}}
	return c.call(ctx, "wecom.SendKFText", "kf/send_msg", req, nil)
}

// 微信客服 session states (kf/service_state, developer.work.weixin.qq.com
// document/path/94669): 0 new, 1 the API (智能助手) answers, 2 waiting in
// the pool for a servicer, 3 a servicer (人工) holds it, 4 ended.
const (
	KFStatePool  = 2
	KFStateHuman = 3
	KFStateEnded = 4
)

// TransKFSession moves a 微信客服 session to state
// (kf/service_state/trans): to servicer (KFStateHuman; the servicer must
// be 接待中), to the pool for WeCom to assign (KFStatePool), or ended
// (KFStateEnded).
func (c *Client) TransKFSession(ctx context.Context, openKfID, externalUserID string, state int, servicer string) error {
	req := struct {
		OpenKfID       string `json:"open_kfid"`
		ExternalUserID string `json:"external_userid"`
		ServiceState   int    `json:"service_state"`
		ServicerUserID string `json:"servicer_userid,omitempty"`
	}{openKfID, externalUserID, state, servicer}
	return c.call(ctx, "wecom.TransKFSession", "kf/service_state/trans", req, nil)
}

// AppArticle is one item of an app news message.
type AppArticle struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url"`
	PicURL      string `json:"picurl,omitempty"`
}

// appSendResponse is message/send's answer: recipients it could not
// reach are listed, the rest got the message.
type appSendResponse struct {
	InvalidUser string `json:"invaliduser"`
}

// SendAppText sends text as the app to staff members (message/send);
// toUser is userids joined by "|". It returns the recipients WeCom
// reported invalid, who did not get it.
func (c *Client) SendAppText(ctx context.Context, agentID int, toUser, text string) (invalid string, err error) {
	req := struct {
		ToUser  string      `json:"touser"`
		MsgType string      `json:"msgtype"`
		AgentID int         `json:"agentid"`
		Text    textContent `json:"text"`
	}{toUser, "text", agentID, textContent{text}}
	var resp appSendResponse
	err = c.call(ctx, "wecom.SendAppText", "message/send", req, &resp)
	return resp.InvalidUser, err
}

// SendAppNews sends a news card as the app to staff members.
func (c *Client) SendAppNews(ctx context.Context, agentID int, toUser string, articles []AppArticle) (invalid string, err error) {
	req := struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
		AgentID int    `json:"agentid"`
		News    struct {
			Articles []AppArticle `json:"articles"`
		} `json:"news"`
	}{ToUser: toUser, MsgType: "news", AgentID: agentID}
	req.News.Articles = articles
	var resp appSendResponse
	err = c.call(ctx, "wecom.SendAppNews", "message/send", req, &resp)
	return resp.InvalidUser, err
}

// UnionID returns an external contact's WeChat unionid, "" when WeCom
// gives none (the corp is not bound to an Open Platform account, or the
// contact is a WeCom user of another corp). It implements
// bot/identity's Fetcher for the corp the client belongs to; errors are
// those of ExternalContact (bot.ErrInvalid for an id that is no contact).
func (c *Client) UnionID(ctx context.Context, _ bot.AccountID, user bot.UserID) (string, error) {
	ec, err := c.ExternalContact(ctx, string(user))
	if err != nil {
		return "", err
	}
	return ec.UnionID, nil
}
