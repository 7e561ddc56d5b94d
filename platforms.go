package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/silenceper/wechat/v2/officialaccount"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/handover"
	"github.com/siyu-bot/siyu/bot/identity"
	"github.com/siyu-bot/siyu/bot/nlp"
	"github.com/siyu-bot/siyu/bot/window"
	"github.com/siyu-bot/siyu/handlers/accounts"
	"github.com/siyu-bot/siyu/handlers/admin"
	"github.com/siyu-bot/siyu/handlers/douyin"
	"github.com/siyu-bot/siyu/handlers/wechat"
	"github.com/siyu-bot/siyu/handlers/wecom"
	"github.com/siyu-bot/siyu/knowledge"
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
	handover *handover.Service
	// accts are the accounts of the accounts file (nil without one).
	accts *accounts.Set
	// senders and lates are the environment's accounts' senders (its
	// staff alerts' under bot.Staff) and late renderers, by platform;
	// mount registers them with the outbox, behind the accounts file's
	// routing when there is one.
	senders map[bot.Platform]bot.Sender
	lates   map[bot.Platform]bot.Renderer
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
	if err := w.accountsFile(ctx); err != nil {
		return err
	}
	if w.cfg.RiskAlertWebhook != "" && len(w.cfg.WeCom.AlertTo) == 0 {
		robot, err := wecom.NewRobotSender(w.cfg.RiskAlertWebhook, &http.Client{Timeout: 10 * time.Second})
		if err != nil {
			return fmt.Errorf("config: RISK_ALERT_WEBHOOK: %w", err)
		}
		w.senders[bot.Staff] = robot
		w.logger.Info("staff alerts go to RISK_ALERT_WEBHOOK")
	}
	w.routeSends()
	w.logPlatforms()
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

// weChat mounts the environment's Official Account callback and its
// sender, when an account (real or demo) is on.
func (w platformWiring) weChat() error {
	cfg := w.cfg
	if !cfg.WeChatOn {
		w.logger.Info("WeChat off: set WECHAT_APPID and WECHAT_TOKEN (and WECHAT_AES_KEY) to enable it")
		return nil
	}
	h, sender, err := w.weChatAdapter(wechat.Config{
		AppID: cfg.WeChatAppID, Token: cfg.WeChatToken, EncodingAESKey: cfg.WeChatAESKey, AllowPlain: cfg.WeChatAllowPlain,
	}, w.clients.oa, cfg.WeChatAppSecret != "", "WECHAT_APPSECRET", w.logger)
	if err != nil {
		return err
	}
	w.senders[bot.WeChat] = sender
	w.lates[bot.WeChat] = h.LateRenderer()
	h.Register(w.group)
	return nil
}

// weChatAdapter builds an Official Account's callback handler and its
// sender on oa. Without its AppSecret (secretKey names where it is set)
// customer-service messages are refused with the reason.
func (w platformWiring) weChatAdapter(c wechat.Config, oa *officialaccount.OfficialAccount, hasSecret bool, secretKey string, log *slog.Logger) (*wechat.Handler, bot.Sender, error) {
	var sender bot.Sender = wechat.NewSender(oa, w.tokens, c.AppID)
	if !hasSecret {
		sender = bot.SenderFunc(func(context.Context, bot.Action) error {
			return fmt.Errorf("%s is not set, so customer-service messages cannot be sent: %w", secretKey, bot.ErrInvalid)
		})
	}
	c.ReplyBudget, c.ReplayWindow = w.cfg.ReplyBudget, w.cfg.ReplayWindow
	h, err := wechat.New(c, w.app.handler, w.app.outbox, log)
	if err != nil {
		return nil, nil, err
	}
	return h, sender, nil
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
	app := w.clients.weComApp
	if len(cfg.AlertTo) == 0 {
		log.Info("WeCom staff alerts off: set WECOM_ALERT_TO to the staff userids who should get them")
	}
	m, h, err := w.weComAdapter(ctx, cfg, bot.Route{}, app, w.clients.weComContact, "WECOM_SECRET", log)
	if err != nil {
		return err
	}
	h.Register(w.group)
	if m.Staff != nil {
		w.senders[bot.Staff] = m.Staff
	}
	w.senders[bot.WeCom] = m.Sender
	w.lates[bot.WeCom] = m.Late
	w.app.drains = append(w.app.drains, m.Wait)
	w.app.workers = append(w.app.workers, m.Run)
	log.Info("WeCom on", "corp", cfg.CorpID, "agent", cfg.AgentID, "callback", "/wecom/callback",
		"welcomes", w.clients.weComContact != nil, "kf", app != nil, "alerts", len(cfg.AlertTo) > 0)
	return nil
}

// weComAccount builds a WeCom app of the accounts file.
func (w platformWiring) weComAccount(ctx context.Context, a accounts.Account, log *slog.Logger) (*accounts.Mounted, error) {
	cfg := weComConfig{CorpID: a.CorpID, AgentID: a.AgentID, Secret: a.Secret, ContactSecret: a.ContactSecret, Token: a.Token, AESKey: a.AESKey, AlertTo: a.AlertTo}
	app, contact := weComClients(cfg, w.tokens)
	m, _, err := w.weComAdapter(ctx, cfg, a.Route(), app, contact, "secret", log)
	if err == nil && m.Staff != nil {
		log.Info("the brand's staff alerts go to this app's alert_to", "staff", len(a.AlertTo))
	}
	return m, err
}

// weComAdapter builds a WeCom app's callback handler, its sender, its
// staff alerts' sender when it names staff (cfg.AlertTo) and its
// background work (group welcome template sync, and the chat archive
// poller when configured). app and contact are nil without their
// secrets (secretKey names where the app's is set).
func (w platformWiring) weComAdapter(ctx context.Context, cfg weComConfig, route bot.Route, app, contact *wecom.Client, secretKey string, log *slog.Logger) (*accounts.Mounted, *wecom.Handler, error) {
	store, err := sqlstore.NewWeCom(ctx, w.st.db)
	if err != nil {
		return nil, nil, err
	}
	st := weComStore{store}
	ob := w.app.outbox
	m := &accounts.Mounted{Sender: bot.SenderFunc(func(context.Context, bot.Action) error {
		return fmt.Errorf("%s is not set, so WeCom messages cannot be sent: %w", secretKey, bot.ErrInvalid)
	})}
	var kf *wecom.KFPuller
	if app != nil {
		m.Sender = wecom.NewSender(app, st, wecom.SenderConfig{Logger: log, PersonHolds: w.personHolds})
		if len(cfg.AlertTo) > 0 {
			agentID, _ := strconv.Atoi(cfg.AgentID) // checked by loadWeComConfig and the accounts file
			m.Staff = wecom.NewStaffSender(app, agentID, cfg.AlertTo, log)
		}
		kf = wecom.NewKFPuller(wecom.KFConfig{Route: route, CorpID: cfg.CorpID}, app, st, w.st.rdb, w.app.handler, ob, log)
	}
	d := wecom.Deps{Handler: w.app.handler, Outbox: ob, Contacts: st, Groups: st, Scripts: w.app.library, KF: kf, Logger: log}
	if w.identity != nil {
		d.Identity = w.identity
	}
	var runs []func(context.Context)
	if contact != nil {
		d.Welcomes = contact
		m.UnionIDs = contact
		sync := wecom.NewTemplateSyncer(wecom.TemplateSyncConfig{Route: route, CorpID: cfg.CorpID}, w.app.library, contact, st, w.st.rdb, log)
		runs = append(runs, sync.Run)
	} else {
		log.Warn("WeCom welcomes off: set the contact secret (or the app's secret with 客户联系 permission)")
	}
	h, err := wecom.New(wecom.Config{
		Route: route, CorpID: cfg.CorpID, AgentID: cfg.AgentID, Token: cfg.Token, EncodingAESKey: cfg.AESKey,
		ReplayWindow: w.cfg.ReplayWindow,
	}, d)
	if err != nil {
		return nil, nil, err
	}
	m.Verify, m.Callback = h.Handlers()
	m.Late, m.Wait = h.LateRenderer(), h.Wait
	if cfg.ArchiveSecret != "" {
		key, err := os.ReadFile(cfg.ArchiveKey)
		if err != nil {
			return nil, nil, fmt.Errorf("config: WECOM_ARCHIVE_KEY_FILE: %w", err)
		}
		src, closeArchive, err := wecom.OpenArchive(cfg.CorpID, cfg.ArchiveSecret, string(key))
		if err != nil {
			return nil, nil, err
		}
		poller := wecom.NewArchivePoller(wecom.ArchiveConfig{Route: route, CorpID: cfg.CorpID}, src, st, w.st.rdb, w.app.handler, ob, log)
		runs = append(runs, func(ctx context.Context) {
			defer closeArchive()
			poller.Run(ctx)
		})
		log.Info("WeCom chat archive on")
	}
	m.Run = func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, run := range runs {
			wg.Go(func() { run(ctx) })
		}
		wg.Wait()
	}
	return m, h, nil
}

// personHolds keeps the bot quiet in a 微信客服 conversation WeCom says a
// person holds (95018), as after a hand-over.
func (w platformWiring) personHolds(ctx context.Context, to bot.Target) {
	if w.handover == nil {
		return
	}
	if err := w.handover.Hold(ctx, to, handover.ReasonPlatform); err != nil {
		w.logger.WarnContext(ctx, "wecom: 微信客服 session held by a person, but the bot's pause was not recorded", "err", err)
	}
}

// douyin mounts the environment's Douyin webhook and registers its
// sender.
func (w platformWiring) douyin() error {
	cfg := w.cfg.Douyin
	if !cfg.enabled() {
		if cfg.ClientKey != "" || cfg.ClientSecret != "" {
			w.logger.Warn("only one of DOUYIN_CLIENT_KEY and DOUYIN_CLIENT_SECRET is set; Douyin stays off")
		}
		w.logger.Info("Douyin off: set DOUYIN_CLIENT_KEY and DOUYIN_CLIENT_SECRET to enable it")
		return nil
	}
	h, sender, err := w.douyinAdapter(douyin.Config{ClientKey: cfg.ClientKey, ClientSecret: cfg.ClientSecret, Account: bot.AccountID(cfg.AccountOpenID)}, cfg.APIBase, w.logger)
	if err != nil {
		return err
	}
	w.senders[bot.Douyin] = sender
	h.Register(w.group)
	w.logger.Info("Douyin on", "webhook", douyin.WebhookPath, "client_key", cfg.ClientKey)
	return nil
}

// douyinAdapter builds a Douyin application's webhook handler and its
// sender, with its API at apiBase ("" for the real one).
func (w platformWiring) douyinAdapter(c douyin.Config, apiBase string, log *slog.Logger) (*douyin.Handler, bot.Sender, error) {
	api, err := douyin.NewClient(douyin.ClientConfig{BaseURL: apiBase, ClientKey: c.ClientKey, ClientSecret: c.ClientSecret})
	if err != nil {
		return nil, nil, fmt.Errorf("douyin: %w", err)
	}
	state := redisstore.NewDouyinState(w.st.rdb, window.DefaultLimits())
	sender := douyin.NewSender(douyin.SenderConfig{
		API:     api,
		Tokens:  douyin.NewClientTokens(api, w.tokens, w.st.rdb.Lock),
		Windows: state,
		Logger:  log,
	})
	c.ReplayWindow = w.cfg.ReplayWindow
	h, err := douyin.New(c, w.app.handler, w.app.outbox, state, log)
	if err != nil {
		return nil, nil, fmt.Errorf("douyin: %w", err)
	}
	return h, sender, nil
}

// accountsFile serves the accounts of the accounts file (SIYU_ACCOUNTS)
// at their own paths, and reloads them when the file changes. A file
// with a mistake stops siyu from starting, naming its file and line.
func (w platformWiring) accountsFile(ctx context.Context) error {
	if w.accts == nil {
		return nil
	}
	accts, err := accounts.Load(w.cfg.AccountsFile)
	if err != nil {
		return fmt.Errorf("config: SIYU_ACCOUNTS: %w", err)
	}
	if _, err := w.accts.Apply(ctx, accts); err != nil {
		return fmt.Errorf("config: SIYU_ACCOUNTS: %w", err)
	}
	w.accts.Register(w.group)
	w.app.workers = append(w.app.workers, w.accts.Start, func(ctx context.Context) {
		w.accts.Watch(ctx, w.cfg.AccountsFile, w.cfg.AccountsReload)
	})
	w.app.drains = append(w.app.drains, w.accts.Wait)
	w.logger.Info("accounts file on", "file", w.cfg.AccountsFile, "accounts", len(accts), "reload_every", w.cfg.AccountsReload)
	return nil
}

// routeSends registers each platform's sender, the staff alerts' sender
// and the late renderers with the outbox: the environment's account's,
// behind the accounts file's routing by Target.Route when there is a
// file.
func (w platformWiring) routeSends() {
	for _, p := range []bot.Platform{bot.WeChat, bot.WeCom, bot.Douyin} {
		s := w.senders[p]
		if w.accts != nil {
			s = w.accts.Sender(p, s)
		}
		if s != nil {
			w.app.outbox.SetSender(p, s)
		}
	}
	// Staff alerts go to their brand's staff when one of its accounts
	// names them (alert_to), else to the environment's.
	staff := w.senders[bot.Staff]
	if w.accts != nil {
		staff = w.accts.StaffSender(staff)
	}
	if staff != nil {
		w.app.outbox.SetSender(bot.Staff, staff)
	}
	for p, name := range map[bot.Platform]string{bot.WeChat: wechat.LateRendererName, bot.WeCom: wecom.LateRendererName} {
		r := w.lates[p]
		if w.accts != nil {
			r = w.accts.Renderer(p, r)
		}
		if r != nil {
			w.app.outbox.SetRenderer(name, r)
		}
	}
}

// account builds one account of the accounts file.
func (w platformWiring) account(ctx context.Context, a accounts.Account) (*accounts.Mounted, error) {
	log := w.logger.With("account", a.Name, "brand", a.Brand)
	switch a.Platform {
	case bot.WeChat:
		oa := newOA(a.AppID, a.AppSecret, a.Token, a.AESKey, w.tokens)
		h, sender, err := w.weChatAdapter(wechat.Config{
			Route: a.Route(), AppID: a.AppID, Token: a.Token, EncodingAESKey: a.AESKey, AllowPlain: a.PlainMode,
		}, oa, a.AppSecret != "", "appsecret", log)
		if err != nil {
			return nil, err
		}
		m := &accounts.Mounted{Sender: sender, Late: h.LateRenderer()}
		m.Verify, m.Callback = h.Handlers()
		if a.AppSecret != "" {
			m.UnionIDs = wechat.NewUsers(oa, w.tokens, a.AppID)
		}
		return m, nil
	case bot.Douyin:
		h, sender, err := w.douyinAdapter(douyin.Config{
			Route: a.Route(), ClientKey: a.ClientKey, ClientSecret: a.ClientSecret, Account: bot.AccountID(a.AccountOpenID),
		}, a.APIBase, log)
		if err != nil {
			return nil, err
		}
		return &accounts.Mounted{Callback: h.Webhook(), Sender: sender}, nil
	case bot.WeCom:
		return w.weComAccount(ctx, a, log)
	}
	return nil, fmt.Errorf("platform %q: %w", a.Platform, bot.ErrInvalid)
}

// console mounts the admin API and the staff console at /admin/ (only
// with SIYU_ADMIN_TOKEN set): the modules the capabilities offer, the
// dry-run over the engine, saving into the scripts folder (editDir, ""
// for the embedded examples), and the WeCom contacts report.
func (w platformWiring) console(ctx context.Context, outbox admin.OutboxAdmin, editDir string) error {
	staff, people, err := consoleStaff(ctx, w.st)
	if err != nil {
		return err
	}
	accounts, err := staff.Staff.ListStaff(ctx)
	if err != nil {
		return err
	}
	if w.cfg.AdminToken == "" && len(accounts) == 0 {
		w.logger.Info("admin API and console off: set SIYU_ADMIN_TOKEN, or add a staff account (siyu staff add NAME --role admin)")
		return nil
	}
	if w.cfg.AdminToken != "" && len(w.cfg.AdminToken) < 16 {
		// The token is an admin's key; a short one can be guessed.
		w.logger.Warn("SIYU_ADMIN_TOKEN is shorter than 16 characters; use a long random value (openssl rand -hex 24)")
	}
	modules, holds := admin.FromCapabilities(w.app.stack.Capabilities())
	h := admin.New(w.cfg.AdminToken, outbox, w.app.library, w.logger, modules...)
	h.WithStaff(staff).WithPeople(people)
	if labels, err := nlp.DatasetLabels(knowledge.FS, intentsDataset); err == nil {
		h.WithIntents(labels) // the rule form's choice of intents
	}
	ov, err := sqlstore.NewOverview(ctx, w.st.db)
	if err != nil {
		return err
	}
	h.WithOverview(overviewStore{ov}, redisstore.NewDailyCounts(w.st.rdb))
	dndStore, err := sqlstore.NewDND(ctx, w.st.db)
	if err != nil {
		return err
	}
	h.WithOptOuts(optOutLister{dndStore})
	h.WithDryRun(w.app.engine, holds)
	h.WithAccounts(accountList{w})
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
	w.logger.Info("admin API and console on", "path", "/admin/", "scripts_save", editDir != "", "staff_accounts", len(accounts), "token", w.cfg.AdminToken != "")
	return nil
}

// accountList lists the accounts for the console: the environment's, one
// per platform it configures, then the accounts file's as served now.
type accountList struct{ w platformWiring }

// Accounts implements admin.AccountLister.
func (l accountList) Accounts(context.Context) []admin.AccountInfo {
	cfg := l.w.cfg
	var out []admin.AccountInfo
	if cfg.WeChatOn {
		out = append(out, admin.AccountInfo{Platform: bot.WeChat, CallbackPath: "/wechat/callback", SecretSet: cfg.WeChatAppSecret != ""})
	}
	if cfg.WeCom.enabled() {
		out = append(out, admin.AccountInfo{Platform: bot.WeCom, CallbackPath: "/wecom/callback", SecretSet: cfg.WeCom.Secret != ""})
	}
	if cfg.Douyin.enabled() {
		out = append(out, admin.AccountInfo{Platform: bot.Douyin, CallbackPath: douyin.WebhookPath, SecretSet: true})
	}
	if l.w.accts == nil {
		return out
	}
	for _, a := range l.w.accts.Accounts() {
		out = append(out, admin.AccountInfo{Name: a.Name, Platform: a.Platform, Brand: a.Brand, CallbackPath: a.CallbackPath(),
			SecretSet: a.AppSecret != "" || a.Secret != "" || a.ClientSecret != ""})
	}
	return out
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

// The staff console's stores: accounts, the audit log and the people
// directory in the database, sessions and sign-in failure counts in
// Redis, all shared by every replica. The adapters below convert the
// stores' record types, which mirror admin's, field for field.

// consoleStaff returns the staff console's StaffConfig and its people
// directory on st.
func consoleStaff(ctx context.Context, st stores) (admin.StaffConfig, admin.PeopleDirectory, error) {
	s, err := sqlstore.NewAdmin(ctx, st.db)
	if err != nil {
		return admin.StaffConfig{}, nil, err
	}
	return admin.StaffConfig{
		Staff:    staffStore{s},
		Sessions: sessionStore{redisstore.NewAdminSessions(st.rdb)},
		Audit:    auditLog{s},
		Limiter:  redisstore.NewSignInLimiter(st.rdb),
	}, s, nil
}

type staffStore struct{ s *sqlstore.Admin }

func toStaff(m sqlstore.StaffMember) admin.StaffMember {
	return admin.StaffMember{Name: m.Name, Role: admin.Role(m.Role), PasswordHash: m.PasswordHash, Disabled: m.Disabled, Brands: m.Brands, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func fromStaff(m admin.StaffMember) sqlstore.StaffMember {
	return sqlstore.StaffMember{Name: m.Name, Role: string(m.Role), PasswordHash: m.PasswordHash, Disabled: m.Disabled, Brands: m.Brands, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func (a staffStore) Staff(ctx context.Context, name string) (admin.StaffMember, error) {
	m, err := a.s.Staff(ctx, name)
	return toStaff(m), err
}

func (a staffStore) ListStaff(ctx context.Context) ([]admin.StaffMember, error) {
	ms, err := a.s.ListStaff(ctx)
	out := make([]admin.StaffMember, len(ms))
	for i, m := range ms {
		out[i] = toStaff(m)
	}
	return out, err
}

func (a staffStore) AddStaff(ctx context.Context, m admin.StaffMember) error {
	return a.s.AddStaff(ctx, fromStaff(m))
}

func (a staffStore) UpdateStaff(ctx context.Context, m admin.StaffMember) error {
	return a.s.UpdateStaff(ctx, fromStaff(m))
}

func (a staffStore) RemoveStaff(ctx context.Context, name string) error {
	return a.s.RemoveStaff(ctx, name)
}

type sessionStore struct{ s *redisstore.AdminSessions }

func (a sessionStore) PutSession(ctx context.Context, s admin.Session) error {
	return a.s.PutSession(ctx, redisstore.AdminSession{ID: s.ID, Name: s.Name, Role: string(s.Role), Brands: s.Brands, CSRF: s.CSRF, Expires: s.Expires})
}

func (a sessionStore) Session(ctx context.Context, id string) (admin.Session, error) {
	s, err := a.s.Session(ctx, id)
	return admin.Session{ID: s.ID, Name: s.Name, Role: admin.Role(s.Role), Brands: s.Brands, CSRF: s.CSRF, Expires: s.Expires}, err
}

func (a sessionStore) DeleteSession(ctx context.Context, id string) error {
	return a.s.DeleteSession(ctx, id)
}

func (a sessionStore) DeleteSessionsOf(ctx context.Context, name string) error {
	return a.s.DeleteSessionsOf(ctx, name)
}

type auditLog struct{ s *sqlstore.Admin }

func (a auditLog) Record(ctx context.Context, e admin.AuditEntry) error {
	return a.s.Record(ctx, sqlstore.AuditEntry(e))
}

// Recent implements admin.HandledLog.
func (a auditLog) Recent(ctx context.Context, actions []string, limit int) ([]admin.AuditEntry, error) {
	es, err := a.s.Recent(ctx, actions, limit)
	out := make([]admin.AuditEntry, len(es))
	for i, e := range es {
		out[i] = admin.AuditEntry(e)
	}
	return out, err
}

func (a auditLog) Audit(ctx context.Context, before int64, limit int) ([]admin.AuditEntry, error) {
	es, err := a.s.Audit(ctx, before, limit)
	out := make([]admin.AuditEntry, len(es))
	for i, e := range es {
		out[i] = admin.AuditEntry(e)
	}
	return out, err
}

// overviewStore adapts sqlstore.Overview to admin.OverviewStore.
type overviewStore struct{ *sqlstore.Overview }

// OpenAlerts implements admin.OverviewStore.
func (o overviewStore) OpenAlerts(ctx context.Context) ([]admin.AlertCount, error) {
	cs, err := o.Overview.OpenAlerts(ctx)
	out := make([]admin.AlertCount, len(cs))
	for i, c := range cs {
		out[i] = admin.AlertCount(c)
	}
	return out, err
}

// DeadReasons implements admin.OverviewStore.
func (o overviewStore) DeadReasons(ctx context.Context, limit int) ([]admin.DeadReason, error) {
	rs, err := o.Overview.DeadReasons(ctx, limit)
	out := make([]admin.DeadReason, len(rs))
	for i, r := range rs {
		out[i] = admin.DeadReason(r)
	}
	return out, err
}

// optOutLister adapts sqlstore.DND to admin.OptOutLister.
type optOutLister struct{ *sqlstore.DND }

// OptedOut implements admin.OptOutLister.
func (l optOutLister) OptedOut(ctx context.Context, cursor string, limit int) ([]admin.OptOut, error) {
	rs, err := l.DND.OptedOut(ctx, cursor, limit)
	out := make([]admin.OptOut, len(rs))
	for i, r := range rs {
		out[i] = admin.OptOut(r)
	}
	return out, err
}

// Interface guards.
var (
	_ admin.StaffStore      = staffStore{}
	_ admin.SessionStore    = sessionStore{}
	_ admin.AuditLog        = auditLog{}
	_ admin.HandledLog      = auditLog{}
	_ admin.Limiter         = (*redisstore.SignInLimiter)(nil)
	_ admin.PeopleDirectory = (*sqlstore.Admin)(nil)
	_ admin.OverviewStore   = overviewStore{}
	_ admin.DeadGrouper     = overviewStore{}
	_ admin.OptOutLister    = optOutLister{}
	_ admin.AccountLister   = accountList{}
	_ admin.OutboxPager     = (*sqlstore.Outbox)(nil)
	_ admin.DailyCounter    = (*redisstore.DailyCounts)(nil)
)

const staffUsage = `usage:
  siyu staff add NAME --role viewer|operator|admin [--brand B1,B2]
                                                     password read from stdin (one line); --brand limits
                                                     them to those brands' accounts (default: every brand)
  siyu staff passwd NAME                             new password read from stdin; ends their sessions
  siyu staff role NAME viewer|operator|admin         change a role; ends their sessions
  siyu staff brands NAME B1,B2|all                   limit to brands, or every brand; ends their sessions
  siyu staff disable|enable NAME
  siyu staff remove NAME
  siyu staff list
`
