package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/identity"
	"github.com/siyu-bot/siyu/bot/window"
	"github.com/siyu-bot/siyu/handlers/admin"
	"github.com/siyu-bot/siyu/handlers/douyin"
	"github.com/siyu-bot/siyu/handlers/wechat"
	"github.com/siyu-bot/siyu/handlers/wecom"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// platformWiring mounts the platforms' adapters and the staff console on
// the app build made: each adapter registers its sender with the outbox,
// its callback route, and its background work.
type platformWiring struct {
	cfg      config
	logger   *slog.Logger
	st       stores
	tokens   *redisstore.TokenCache
	clients  platformClients
	app      *app
	group    *echo.Group
	identity *identity.Service
}

// mount wires every platform that is configured, then the senders of
// staff alerts, and logs which platforms are on. A platform that is not
// configured has no route: its callback path answers 404.
func (w platformWiring) mount(ctx context.Context) error {
	if err := w.weChat(); err != nil {
		return err
	}
	if err := w.weCom(ctx); err != nil {
		return err
	}
	if err := w.douyin(); err != nil {
		return err
	}
	w.logPlatforms()
	if w.cfg.RiskAlertWebhook != "" && len(w.cfg.WeCom.AlertTo) == 0 {
		robot, err := wecom.NewRobotSender(w.cfg.RiskAlertWebhook, &http.Client{Timeout: 10 * time.Second})
		if err != nil {
			return fmt.Errorf("config: RISK_ALERT_WEBHOOK: %w", err)
		}
		w.app.outbox.SetSender(bot.Staff, robot)
		w.logger.Info("staff alerts go to RISK_ALERT_WEBHOOK")
	}
	return nil
}

// logPlatforms says which platforms answer callbacks, in one line.
func (w platformWiring) logPlatforms() {
	var on []string
	switch {
	case w.cfg.WeChatDemo:
		on = append(on, "wechat (public demo account)")
	case w.cfg.WeChatOn:
		on = append(on, "wechat")
	}
	if w.cfg.WeCom.enabled() {
		on = append(on, "wecom")
	}
	if w.cfg.Douyin.enabled() {
		on = append(on, "douyin")
	}
	if len(on) == 0 {
		w.logger.Warn("no platform is on: siyu answers no callbacks (configure WECHAT_*, WECOM_* or DOUYIN_*, or SIYU_DEMO=1 for the demo account)")
		return
	}
	w.logger.Info("platforms on", "platforms", strings.Join(on, ", "))
}

// weChat mounts the Official Account callback and its sender, when an
// account (real or demo) is on.
func (w platformWiring) weChat() error {
	cfg, ob := w.cfg, w.app.outbox
	if !cfg.WeChatOn {
		w.logger.Info("WeChat off: set WECHAT_APPID and WECHAT_TOKEN (and WECHAT_AES_KEY) to enable it")
		return nil
	}
	var sender bot.Sender = wechat.NewSender(w.clients.oa, w.tokens, cfg.WeChatAppID)
	if cfg.WeChatAppSecret == "" {
		sender = bot.SenderFunc(func(context.Context, bot.Action) error {
			return fmt.Errorf("WECHAT_APPSECRET is not set, so customer-service messages cannot be sent: %w", bot.ErrInvalid)
		})
	}
	ob.SetSender(bot.WeChat, sender)
	h, err := wechat.New(wechat.Config{
		AppID: cfg.WeChatAppID, Token: cfg.WeChatToken, EncodingAESKey: cfg.WeChatAESKey,
		AllowPlain:  cfg.WeChatAllowPlain,
		ReplyBudget: cfg.ReplyBudget, ReplayWindow: cfg.ReplayWindow,
	}, w.app.handler, ob, w.logger)
	if err != nil {
		return err
	}
	// A late callback's stored event is handled again by the outbox if
	// the replica that answered it dies first.
	ob.SetRenderer(wechat.LateRendererName, h.LateRenderer())
	h.Register(w.group)
	return nil
}

// weCom mounts the WeCom callback, registers the WeCom and staff senders
// and adds WeCom's background work: group welcome template sync and,
// when configured, the chat archive poller.
func (w platformWiring) weCom(ctx context.Context) error {
	cfg := w.cfg.WeCom
	if !cfg.enabled() {
		w.logger.Info("WeCom off: set WECOM_CORPID and WECOM_TOKEN to enable it")
		return nil
	}
	log := w.logger.With("platform", "wecom")
	store, err := sqlstore.NewWeCom(ctx, w.st.db)
	if err != nil {
		return err
	}
	st := weComStore{store}
	app, contact, ob := w.clients.weComApp, w.clients.weComContact, w.app.outbox

	var sender bot.Sender = bot.SenderFunc(func(context.Context, bot.Action) error {
		return fmt.Errorf("WECOM_SECRET is not set, so WeCom messages cannot be sent: %w", bot.ErrInvalid)
	})
	var kf *wecom.KFPuller
	if app != nil {
		sender = wecom.NewSender(app, st, wecom.SenderConfig{Logger: log})
		kf = wecom.NewKFPuller(wecom.KFConfig{CorpID: cfg.CorpID}, app, st, w.st.rdb, w.app.handler, ob, log)
	}
	ob.SetSender(bot.WeCom, sender)
	if len(cfg.AlertTo) > 0 {
		agentID, _ := strconv.Atoi(cfg.AgentID) // checked by loadWeComConfig
		ob.SetSender(bot.Staff, wecom.NewStaffSender(app, agentID, cfg.AlertTo, log))
	} else {
		log.Info("WeCom staff alerts off: set WECOM_ALERT_TO to the staff userids who should get them")
	}

	d := wecom.Deps{Handler: w.app.handler, Outbox: ob, Contacts: st, Groups: st, Scripts: w.app.library, KF: kf, Logger: log}
	if w.identity != nil {
		d.Identity = w.identity
	}
	if contact != nil {
		d.Welcomes = contact
		sync := wecom.NewTemplateSyncer(wecom.TemplateSyncConfig{CorpID: cfg.CorpID}, w.app.library, contact, st, w.st.rdb, log)
		w.app.workers = append(w.app.workers, sync.Run)
	} else {
		log.Warn("WeCom welcomes off: set WECOM_CONTACT_SECRET (or WECOM_SECRET with 客户联系 permission)")
	}
	h, err := wecom.New(wecom.Config{
		CorpID: cfg.CorpID, AgentID: cfg.AgentID, Token: cfg.Token, EncodingAESKey: cfg.AESKey,
		ReplayWindow: w.cfg.ReplayWindow,
	}, d)
	if err != nil {
		return err
	}
	h.Register(w.group)
	w.app.drains = append(w.app.drains, h.Wait)
	ob.SetRenderer(wecom.LateRendererName, h.LateRenderer())

	if cfg.ArchiveSecret != "" {
		key, err := os.ReadFile(cfg.ArchiveKey)
		if err != nil {
			return fmt.Errorf("config: WECOM_ARCHIVE_KEY_FILE: %w", err)
		}
		src, closeArchive, err := wecom.OpenArchive(cfg.CorpID, cfg.ArchiveSecret, string(key))
		if err != nil {
			return err
		}
		poller := wecom.NewArchivePoller(wecom.ArchiveConfig{CorpID: cfg.CorpID}, src, st, w.st.rdb, w.app.handler, ob, log)
		w.app.workers = append(w.app.workers, func(ctx context.Context) {
			defer closeArchive()
			poller.Run(ctx)
		})
		log.Info("WeCom chat archive on")
	}
	log.Info("WeCom on", "corp", cfg.CorpID, "agent", cfg.AgentID, "callback", "/wecom/callback",
		"welcomes", contact != nil, "kf", kf != nil, "alerts", len(cfg.AlertTo) > 0)
	return nil
}

// douyin mounts the Douyin webhook and registers its sender.
func (w platformWiring) douyin() error {
	cfg := w.cfg.Douyin
	if !cfg.enabled() {
		if cfg.ClientKey != "" || cfg.ClientSecret != "" {
			w.logger.Warn("only one of DOUYIN_CLIENT_KEY and DOUYIN_CLIENT_SECRET is set; Douyin stays off")
		}
		w.logger.Info("Douyin off: set DOUYIN_CLIENT_KEY and DOUYIN_CLIENT_SECRET to enable it")
		return nil
	}
	api, err := douyin.NewClient(douyin.ClientConfig{BaseURL: cfg.APIBase, ClientKey: cfg.ClientKey, ClientSecret: cfg.ClientSecret})
	if err != nil {
		return fmt.Errorf("douyin: %w", err)
	}
	state := redisstore.NewDouyinState(w.st.rdb, window.DefaultLimits())
	w.app.outbox.SetSender(bot.Douyin, douyin.NewSender(douyin.SenderConfig{
		API:     api,
		Tokens:  douyin.NewClientTokens(api, w.tokens, w.st.rdb.Lock),
		Windows: state,
		Logger:  w.logger,
	}))
	h, err := douyin.New(douyin.Config{
		ClientKey: cfg.ClientKey, ClientSecret: cfg.ClientSecret, Account: bot.AccountID(cfg.AccountOpenID),
		ReplayWindow: w.cfg.ReplayWindow,
	}, w.app.handler, w.app.outbox, state, w.logger)
	if err != nil {
		return fmt.Errorf("douyin: %w", err)
	}
	h.Register(w.group)
	w.logger.Info("Douyin on", "webhook", douyin.WebhookPath, "client_key", cfg.ClientKey)
	return nil
}

// console mounts the admin API and the staff console at /admin/ (only
// with SIYU_ADMIN_TOKEN set): the modules the capabilities offer, the
// dry-run over the engine, saving into the scripts folder (editDir, ""
// for the embedded examples), and the WeCom contacts report.
func (w platformWiring) console(ctx context.Context, outbox admin.OutboxAdmin, editDir string) error {
	if w.cfg.AdminToken == "" {
		w.logger.Info("admin API and console off: set SIYU_ADMIN_TOKEN to enable them")
		return nil
	}
	if len(w.cfg.AdminToken) < 16 {
		// The token is the console's only lock; a short one can be guessed.
		w.logger.Warn("SIYU_ADMIN_TOKEN is shorter than 16 characters; use a long random value (openssl rand -hex 24)")
	}
	modules, holds := admin.FromCapabilities(w.app.stack.Capabilities())
	h := admin.New(w.cfg.AdminToken, outbox, w.app.library, w.logger, modules...)
	h.WithDryRun(w.app.engine, holds)
	if editDir != "" {
		h.WithScriptsDir(editDir)
	}
	if w.cfg.WeCom.enabled() {
		store, err := sqlstore.NewWeCom(ctx, w.st.db)
		if err != nil {
			return err
		}
		h.WithContacts(contactsReport{store})
	}
	h.Register(w.group)
	w.logger.Info("admin API and console on", "path", "/admin/", "scripts_save", editDir != "")
	return nil
}

// weComStore adapts sqlstore.WeCom to the wecom package's storage
// interfaces. The record types are mirrored field for field, so each
// adapter is a conversion; if one side changes, this stops compiling.
type weComStore struct{ *sqlstore.WeCom }

// ClaimContact implements wecom.ContactStore.
func (s weComStore) ClaimContact(ctx context.Context, c wecom.ContactRecord) (bool, error) {
	return s.WeCom.ClaimContact(ctx, sqlstore.WeComContact(c))
}

// ApplyGroupChange implements wecom.GroupStore.
func (s weComStore) ApplyGroupChange(ctx context.Context, ch wecom.GroupChange) error {
	return s.WeCom.ApplyGroupChange(ctx, sqlstore.WeComGroupChange(ch))
}

// Templates implements wecom.TemplateStore.
func (s weComStore) Templates(ctx context.Context, corpID string) ([]wecom.Template, error) {
	ts, err := s.WeCom.Templates(ctx, corpID)
	out := make([]wecom.Template, len(ts))
	for i, t := range ts {
		out[i] = wecom.Template(t)
	}
	return out, err
}

// contactsReport adapts sqlstore.WeCom to admin.ContactsAdmin; the record
// types are mirrored field for field.
type contactsReport struct{ s *sqlstore.WeCom }

// NewContactsByDay implements admin.ContactsAdmin.
func (r contactsReport) NewContactsByDay(ctx context.Context, since time.Time, loc *time.Location) ([]admin.ContactDay, error) {
	ds, err := r.s.NewContactsByDay(ctx, since, loc)
	out := make([]admin.ContactDay, len(ds))
	for i, d := range ds {
		out[i] = admin.ContactDay(d)
	}
	return out, err
}
