package wecom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// AppAPI is the part of the app's Client the senders use.
type AppAPI interface {
	SendKFText(ctx context.Context, openKfID, externalUserID, text string) error
	TransKFSession(ctx context.Context, openKfID, externalUserID string, state int, servicer string) error
	SendAppText(ctx context.Context, agentID int, toUser, text string) (invalid string, err error)
	SendAppNews(ctx context.Context, agentID int, toUser string, articles []AppArticle) (invalid string, err error)
}

// KFLimits enforces WeCom's 微信客服 reply limits in storage shared by all
// replicas: at most maxReplies messages within window after each message from
// the customer.
type KFLimits interface {
	// ReserveKFReply takes one reply, or fails with bot.ErrInvalid saying
	// why WeCom would refuse it (bot.ErrUnavailable when storage fails).
	ReserveKFReply(ctx context.Context, corpID, openKfID, externalUserID string, now time.Time, window time.Duration, maxReplies int) error
	// ReleaseKFReply gives back a reply that was not sent.
	ReleaseKFReply(ctx context.Context, corpID, openKfID, externalUserID string) error
}

// SenderConfig tunes the Sender.
type SenderConfig struct {
	// KFWindow is how long after a customer's message a 微信客服 account
	// may answer: 48 h (kf/send_msg documentation).
	KFWindow time.Duration
	// KFMaxReplies is how many messages may answer one customer message:
	// 5 (kf/send_msg documentation).
	KFMaxReplies int
	// PersonHolds, when set, is told of a 微信客服 customer whose session
	// WeCom says a person holds (95018 on send): bot/handover then keeps
	// the bot quiet there.
	PersonHolds func(ctx context.Context, to bot.Target)
	Now         func() time.Time
	Logger      *slog.Logger
}

func (c SenderConfig) withDefaults() SenderConfig {
	if c.KFWindow <= 0 {
		c.KFWindow = 48 * time.Hour
	}
	if c.KFMaxReplies <= 0 {
		c.KFMaxReplies = 5
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Reasons the Sender refuses an action. They end up as the outbox row's
// last error, for staff to read.
var (
	errGroupPost = errors.New("wecom: apps cannot post into customer groups " +
		"(group welcomes are WeCom templates synced from welcome.group; other group messages need 企业群发 by a member)")
	errContact1to1 = errors.New("wecom: apps cannot message an external contact 1:1 outside 微信客服 " +
		"(only the new-contact welcome, sent with its code by the callback)")
	errLateWelcome = errors.New("wecom: a welcome goes out with its one-shot code from the callback within 20 s; a queued one is too late")
	errPersonHolds = errors.New("wecom: a person holds this 微信客服 session (95018), so the bot's message was not sent; the conversation is now paused for the bot")
)

// Sender delivers actions addressed to WeCom conversations (see the
// account forms in account.go):
//
//   - a Reply to a 微信客服 customer goes out with kf/send_msg, within
//     WeCom's limits (48 h after the customer's last message, 5 replies
//     per customer message), enforced before sending: a reply outside
//     them fails with bot.ErrInvalid and the outbox dead-letters it with
//     the reason;
//   - a Reply or News to a staff member who wrote to the app goes out as
//     an app message (message/send);
//   - anything to a customer group or to a bare external contact is
//     refused with bot.ErrInvalid: WeCom does not allow it;
//   - a Handover of a 微信客服 customer moves the session with
//     kf/service_state/trans: to the scripts' servicer (人工接待), or to
//     the pool for WeCom to assign; an end ends the session. Other
//     conversations have no WeCom tool to hand to: staff answer from
//     siyu's inbox, and there is nothing to send.
//
// WeCom refuses a 微信客服 reply with 95018 once a person holds the
// session: the sender records it (PersonHolds, and the row's dead letter
// with the reason) and does not retry.
type Sender struct {
	api    AppAPI
	limits KFLimits
	cfg    SenderConfig
}

// Interface guard.
var _ bot.Sender = (*Sender)(nil)

// NewSender returns the WeCom sender.
func NewSender(api AppAPI, limits KFLimits, cfg SenderConfig) *Sender {
	return &Sender{api: api, limits: limits, cfg: cfg.withDefaults()}
}

// Send delivers one action.
func (s *Sender) Send(ctx context.Context, a bot.Action) error {
	to := a.Dest()
	if to.Conversation.IsGroup() {
		return fmt.Errorf("wecom.Send %T: %w: %w", a, errGroupPost, bot.ErrInvalid)
	}
	if _, ok := a.(bot.Welcome); ok {
		return fmt.Errorf("wecom.Send: %w: %w", errLateWelcome, bot.ErrInvalid)
	}
	corpID, kind, id, ok := ParseAccount(to.Account)
	if !ok || to.User == "" {
		return fmt.Errorf("wecom.Send: no WeCom conversation in account %q: %w", to.Account, bot.ErrInvalid)
	}
	if h, ok := a.(bot.Handover); ok {
		if kind != kindKF {
			return nil // staff answer from siyu's inbox
		}
		return s.handoverKF(ctx, id, h)
	}
	switch kind {
	case kindKF:
		r, ok := a.(bot.Reply)
		if !ok {
			return fmt.Errorf("wecom.Send: %T to a 微信客服 customer: siyu sends text only: %w", a, bot.ErrInvalid)
		}
		return s.sendKF(ctx, corpID, id, string(to.User), r.Text)
	case kindApp:
		agentID, err := strconv.Atoi(id)
		if err != nil {
			return fmt.Errorf("wecom.Send: agent id %q: %w", id, bot.ErrInvalid)
		}
		return s.sendApp(ctx, agentID, string(to.User), a)
	}
	return fmt.Errorf("wecom.Send %T: %w: %w", a, errContact1to1, bot.ErrInvalid)
}

func (s *Sender) sendKF(ctx context.Context, corpID, openKfID, user, text string) error {
	if err := s.limits.ReserveKFReply(ctx, corpID, openKfID, user, s.cfg.Now(), s.cfg.KFWindow, s.cfg.KFMaxReplies); err != nil {
		return fmt.Errorf("wecom.Send: 微信客服 limits: %w", err)
	}
	err := s.api.SendKFText(ctx, openKfID, user, text)
	if err != nil {
		// Not sent: the allowance is not used up. (A timeout may hide a
		// message that did go out; counting it twice would be worse.)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := s.limits.ReleaseKFReply(rctx, corpID, openKfID, user); rerr != nil {
			s.cfg.Logger.Warn("wecom: 微信客服 reply allowance not given back", "err", rerr)
		}
		if code, _ := ErrCode(err); code == codeKFSessionHeld {
			// Not an error to retry: WeCom says a person has the
			// customer. Recorded (the dead letter's reason), and the
			// bot pauses there.
			if s.cfg.PersonHolds != nil {
				s.cfg.PersonHolds(rctx, bot.Target{Platform: bot.WeCom, Account: KFAccount(corpID, openKfID), User: bot.UserID(user)})
			}
			s.cfg.Logger.Info("wecom: 微信客服 reply not sent: a person holds the session (95018)")
			return fmt.Errorf("wecom.Send: %w: %w: %w", errPersonHolds, bot.ErrInvalid, err)
		}
		return fmt.Errorf("wecom.Send: %w", err)
	}
	return nil
}

// handoverKF moves a 微信客服 session to a person, or ends it on staff's
// word. A message of a held session needs nothing: WeCom passes it to
// the servicer itself.
func (s *Sender) handoverKF(ctx context.Context, openKfID string, h bot.Handover) error {
	user := string(h.To.User)
	var err error
	switch h.Step {
	case bot.HandoverStart:
		state := KFStateHuman
		if h.Agent == "" {
			state = KFStatePool // WeCom assigns, by the account's own rule
		}
		err = s.api.TransKFSession(ctx, openKfID, user, state, h.Agent)
	case bot.HandoverEnd:
		err = s.api.TransKFSession(ctx, openKfID, user, KFStateEnded, "")
		if code, _ := ErrCode(err); code == codeKFBadTransition {
			return nil // ended already
		}
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("wecom.Send: 微信客服 session %s: %w", h.Step, err)
	}
	return nil
}

func (s *Sender) sendApp(ctx context.Context, agentID int, user string, a bot.Action) error {
	var (
		invalid string
		err     error
	)
	switch a := a.(type) {
	case bot.Reply:
		invalid, err = s.api.SendAppText(ctx, agentID, user, a.Text)
	case bot.News:
		articles := make([]AppArticle, len(a.Articles))
		for i, ar := range a.Articles {
			articles[i] = AppArticle{Title: ar.Title, Description: ar.Description, URL: ar.URL, PicURL: ar.PictureURL}
		}
		invalid, err = s.api.SendAppNews(ctx, agentID, user, articles)
	default:
		return fmt.Errorf("wecom.Send: %T cannot be sent as an app message: %w", a, bot.ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("wecom.Send: %w", err)
	}
	if invalid != "" {
		return fmt.Errorf("wecom.Send: WeCom reports the member invalid: %w", bot.ErrInvalid)
	}
	return nil
}

// maxAppText is message/send's limit on text: 2048 bytes, beyond which
// WeCom truncates.
const maxAppText = 2048

// StaffSender delivers StaffAlerts to the brand's staff as WeCom app
// messages. It is the outbox's sender for bot.Staff. The alert carries
// only what its title and text say: no customer data is added.
type StaffSender struct {
	api     AppAPI
	agentID int
	to      string
	log     *slog.Logger
}

// Interface guard.
var _ bot.Sender = (*StaffSender)(nil)

// NewStaffSender returns a sender of alerts from the app agentID to the
// members with the given userids. A nil logger discards.
func NewStaffSender(api AppAPI, agentID int, to []string, logger *slog.Logger) *StaffSender {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &StaffSender{api: api, agentID: agentID, to: strings.Join(to, "|"), log: logger}
}

// Send delivers a StaffAlert; any other action is bot.ErrInvalid.
func (s *StaffSender) Send(ctx context.Context, a bot.Action) error {
	alert, ok := a.(bot.StaffAlert)
	if !ok {
		return fmt.Errorf("wecom.StaffSender: %T is not a staff alert: %w", a, bot.ErrInvalid)
	}
	invalid, err := s.api.SendAppText(ctx, s.agentID, s.to, truncateBytes(alertText(alert), maxAppText))
	if err != nil {
		return fmt.Errorf("wecom.StaffSender: %w", err)
	}
	if invalid != "" {
		// The others got it; the staff list needs fixing, not a resend.
		s.log.Warn("wecom: staff alert not delivered to some of its staff userids (WECOM_ALERT_TO, or the account's alert_to)", "invalid", invalid)
	}
	return nil
}

// alertText is how staff read an alert: its title in 【】 above its text.
func alertText(a bot.StaffAlert) string {
	if a.Title == "" {
		return a.Text
	}
	return "【" + a.Title + "】\n" + a.Text
}

// truncateBytes cuts s to at most n bytes on a character boundary.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if i > n {
			break
		}
		cut = i
	}
	return s[:cut]
}
