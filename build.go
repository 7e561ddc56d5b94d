package main

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/silenceper/wechat/v2/officialaccount"
	offConfig "github.com/silenceper/wechat/v2/officialaccount/config"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/bot/feedback"
	"github.com/siyu-bot/siyu/bot/handover"
	"github.com/siyu-bot/siyu/bot/identity"
	"github.com/siyu-bot/siyu/bot/nlp"
	"github.com/siyu-bot/siyu/bot/risk"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/accounts"
	"github.com/siyu-bot/siyu/handlers/admin"
	"github.com/siyu-bot/siyu/handlers/metrics"
	"github.com/siyu-bot/siyu/handlers/wechat"
	"github.com/siyu-bot/siyu/handlers/wecom"
	"github.com/siyu-bot/siyu/knowledge"
	"github.com/siyu-bot/siyu/scripts"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// stores are the backends siyu runs on: serve opens them from the
// configuration, tests bring their own.
type stores struct {
	db  *sqlstore.DB
	rdb *redisstore.Client
}

// app is siyu built from its configuration and stores: the routes, and
// what serve runs beside them and drains when it stops.
type app struct {
	st        stores
	echo      *echo.Echo
	readiness *handlers.Readiness
	library   *bot.Library
	stack     *bot.Stack
	engine    *bot.Engine
	handler   bot.Handler // the engine behind its middleware
	outbox    *bot.Outbox
	metrics   *metrics.Metrics
	identity  *identity.Service // learns links; tests wait on its index
	handover  *handover.Service // keeps the index of hand-overs; tests wait on it
	// workers run until the server stops: script reloads, the
	// capabilities' and the platforms' background work.
	workers []func(ctx context.Context)
	// drains wait for work callbacks started that outlives them; serve
	// runs them after the last callback was answered, before the outbox
	// stops.
	drains []func()
}

// build makes siyu from cfg on st. It opens nothing and starts nothing:
// serve runs what it returns, tests call it with stores of their own.
func build(ctx context.Context, cfg config, st stores, logger *slog.Logger) (*app, error) {
	tokens := redisstore.NewTokenCache(st.rdb)
	sqlOutbox := sqlstore.NewOutbox(st.db)
	obs := metrics.New(sqlOutbox)
	tokens.OnSet(obs.TokenRefreshKey)
	clients := newPlatformClients(cfg, tokens)

	src := &scriptsSource{}
	// The console's home page counts answers and refused coupons per day.
	daily := admin.NewRecorder(redisstore.NewDailyCounts(st.rdb), src, logger)
	ob := &outboxRef{}
	// The accounts file's accounts are built once the app they answer
	// through is (w, below); identity asks them for unionids before.
	var w platformWiring
	var accts *accounts.Set
	if cfg.AccountsFile != "" {
		accts = accounts.NewSet(func(ctx context.Context, a accounts.Account) (*accounts.Mounted, error) { return w.account(ctx, a) }, logger)
	}
	caps, err := capabilities(ctx, capDeps{cfg: cfg, logger: logger, st: st, scripts: src, obs: obs, clients: clients, accts: accts, daily: daily, outbox: ob})
	if err != nil {
		return nil, err
	}
	stack, err := bot.NewStack(caps.list...)
	if err != nil {
		return nil, err
	}
	fsys, source := scriptsFS(cfg.ScriptsDir)
	library, err := bot.NewLibrary(fsys, logger, stack.ScriptSections()...)
	if err != nil {
		return nil, fmt.Errorf("reply scripts in %s: %w", source, err)
	}
	src.lib = library
	logger.Info("reply scripts loaded", "from", source, "rules", len(library.Scripts().Rules()), "scopes", len(library.Scopes()))

	a := &app{st: st, library: library, stack: stack, metrics: obs, identity: caps.identity, handover: caps.handover}
	if source == cfg.ScriptsDir {
		a.workers = append(a.workers, func(ctx context.Context) { library.Watch(ctx, 2*time.Second) })
	}
	a.workers = append(a.workers, stack.Workers()...)
	a.workers = append(a.workers, daily.Run)
	a.workers = append(a.workers, bot.OutboxPurger{Outbox: sqlOutbox, Locks: st.rdb, Retention: cfg.OutboxRetention, Now: time.Now, Logger: logger}.Run)
	outboxCfg := bot.OutboxConfig{Logger: logger, Gate: stack.Gate(), Renderers: stack.Renderers(),
		OnResult: func(p bot.Platform, result string) {
			obs.Sent(p, result)
			if result == "ambiguous" {
				obs.Ambiguous(p)
			}
		}}
	if cfg.AccountsFile != "" {
		// Many accounts share the send slots (8): a hung one holds at
		// most 6 until its circuit opens.
		outboxCfg.Concurrency, outboxCfg.AccountSlots = 8, 6
	}
	a.outbox = bot.NewOutbox(sqlOutbox, nil, outboxCfg)
	ob.Outbox = a.outbox
	a.engine = stack.Engine(bot.EngineConfig{Scripts: library, Logger: logger, OnTurn: func(t *bot.Turn) {
		obs.ObserveTurn(t)
		daily.ObserveTurn(t)
	}})
	a.handler = bot.Chain(a.engine, append([]bot.Middleware{
		bot.Recover(logger),
		bot.Validate(),
		bot.Dedupe(redisstore.NewDeduper(st.rdb), bot.DedupeConfig{TTL: cfg.DedupeTTL, OnHit: func(ctx context.Context) {
			obs.DedupeHit()
			handlers.SetOutcome(ctx, metrics.OutcomeDeduplicated)
		}}, logger),
	}, stack.Middleware()...)...)

	a.echo = handlers.NewEcho(logger, cfg.TrustedProxies...)
	// /healthz (in NewEcho) says the process answers; /readyz says it can
	// serve callbacks, for load balancers.
	a.readiness = handlers.NewReadiness(logger,
		handlers.Check{Name: "database", Pinger: st.db},
		handlers.Check{Name: "redis", Pinger: st.rdb})
	a.readiness.Register(a.echo)
	// Prometheus scrapes every replica; the figures hold no customer data,
	// but they are served on the public listener only when no private
	// one is configured (SIYU_METRICS_ADDR, served by serve).
	if cfg.MetricsAddr == "" {
		a.echo.GET("/metrics", echo.WrapHandler(obs.Handler()))
	}
	g := a.echo.Group("", obs.Callbacks())
	// An outer bound for every route; callback handlers read at most
	// 64 KiB of it (handlers/internal/body).
	g.Use(middleware.BodyLimit("1M"))
	w = platformWiring{cfg: cfg, logger: logger, st: st, tokens: tokens, clients: clients, app: a, group: g, identity: caps.identity, handover: caps.handover,
		accts: accts, senders: map[bot.Platform]bot.Sender{}, lates: map[bot.Platform]bot.Renderer{}}
	if err := w.mount(ctx); err != nil {
		return nil, err
	}
	editDir := ""
	if source == cfg.ScriptsDir {
		editDir = cfg.ScriptsDir
	}
	if err := w.console(ctx, sqlOutbox, editDir); err != nil {
		return nil, err
	}
	return a, nil
}

// capDeps are what the capabilities are built from. With zero stores
// (check-scripts) they can only install their script sections.
type capDeps struct {
	cfg     config
	logger  *slog.Logger
	st      stores
	scripts bot.ScriptSource
	obs     *metrics.Metrics
	accts   *accounts.Set // nil without an accounts file
	clients platformClients
	// daily, when set, counts coupons refused for want of stock.
	daily *admin.Recorder
	// outbox sends staff's hand-over replies and tells platforms of
	// hand-overs' ends; it is filled once build has made the outbox.
	outbox *outboxRef
	now    func() time.Time
}

// outboxRef is the app's outbox for capabilities built before it.
type outboxRef struct{ *bot.Outbox }

// capSet is what capabilities returns: the stack's list, and the
// capabilities the adapters are given (WeCom tells identity of new
// contacts' links, and the hand-over of 微信客服 sessions a person holds).
type capSet struct {
	list     []bot.Capability
	identity *identity.Service
	handover *handover.Service
}

// capabilities builds siyu's capabilities on their stores. The list it
// returns is the stack's order (bot.NewStack): identity first, so its
// middleware and gate fill unionids before everyone reads them; the
// confirmations' observer, which finds the open question a message
// answers before any command asks; intents before risk, which reads them;
// opting out before check-ins before coupons, so 退订 is never taken for
// anything else and 签到 with a coupon reward is one command; the
// hand-over after check-ins and before coupons, so that in a
// conversation a person holds 退订 and 签到 still answer and nothing after
// them does (bot/handover's stage.go says why); feedback, which adds no
// stage (the console finds it in the list).
func capabilities(ctx context.Context, d capDeps) (_ capSet, err error) {
	intentModel, err := loadIntentModel(d.cfg.ModelsDir)
	if err != nil {
		return capSet{}, err
	}
	riskModel, err := loadRiskModel()
	if err != nil {
		return capSet{}, err
	}
	scanner, err := newRiskScanner(riskModel)
	if err != nil {
		return capSet{}, err
	}
	var s capStores
	if d.st.db != nil {
		if s, err = openCapStores(ctx, d.st); err != nil {
			return capSet{}, err
		}
	}
	var onClaim func(campaign, outcome string)
	var onHeld func(reason string)
	var onHandover func(reason string)
	var onFirstReply func(time.Duration)
	if d.obs != nil {
		onClaim, onHeld = d.obs.CouponClaim, d.obs.HeldBack
		onHandover, onFirstReply = d.obs.Handover, d.obs.FirstReply
	}
	if d.daily != nil {
		metric := onClaim
		onClaim = func(campaign, outcome string) {
			if metric != nil {
				metric(campaign, outcome)
			}
			d.daily.CouponOutcome(campaign, outcome)
		}
	}

	// Confirming questions live in Redis, shared by replicas, so the
	// answer counts whichever replica it reaches.
	var questions bot.QuestionStore
	if d.st.rdb != nil {
		questions = redisstore.NewQuestions(d.st.rdb)
	}
	confirm := bot.NewConfirmations(bot.ConfirmConfig{Store: questions, Logger: d.logger, Now: d.now})
	// Lines staff label (reviewed risk events, corrected dry-runs) are
	// masked by risk's detectors before they are kept.
	learn := feedback.New(feedback.Config{
		Store:  s.feedback,
		Labels: map[string][]string{intentsDataset: intentModel.Labels(), risk.Dataset: risk.Labels()},
		Mask:   scanner.MaskPII, Logger: d.logger, Now: d.now,
	})

	ids := identity.New(identity.Config{
		Store: s.identities, Fetchers: d.clients.fetchers(d.accts), Scope: identityScope, Logger: d.logger,
		// Replicas tell each other the links they learn, so none waits
		// for the database for a sender it has not cached.
		Announcer:  s.identityLinks,
		FollowWait: d.cfg.UnionIDFollowWait, ContactWait: d.cfg.UnionIDContactWait,
		// An Official Account gives unionids to all its followers or to
		// none; a WeCom contact has one or not by its own kind.
		AccountWide: []bot.Platform{bot.WeChat},
	})
	// A reading is sure on its own only where the model carries a
	// threshold right ≥ 99% of the time on sources it was not trained on
	// (siyu train fits and checks them; the shipped model has none yet):
	// otherwise opting out, check-ins, coupons and hand-overs read from
	// the intent ask first, unless the scripts set a sure_confidence.
	intents := nlp.Intents{Model: intentModel, Confirm: confirm, Sure: intentModel.IsSure}
	risks := risk.NewService(risk.ServiceConfig{Scanner: scanner, Store: s.risk, Reviews: s.risk, Logger: d.logger, Learner: learn})
	optOuts := dnd.New(dnd.Config{Store: s.dnd, Counters: s.dndCounters, Scripts: d.scripts, Logger: d.logger, OnHeld: onHeld, Now: d.now, Confirm: confirm})
	coupons := coupon.New(coupon.Config{Store: s.coupons, Reports: s.coupons, Counter: s.couponCounter, Scripts: d.scripts, Logger: d.logger, OnClaim: onClaim, Now: d.now, Confirm: confirm})
	// Milestone rewards claim through the coupon campaigns.
	checkins := checkin.New(checkin.Options{Store: s.checkins, Records: s.checkins, Boards: s.boards, Coupons: coupons, Scripts: d.scripts, Logger: d.logger, Now: d.now, Confirm: confirm})
	hc := handover.Config{
		Scripts: d.scripts, Retention: d.cfg.InboxRetention, Logger: d.logger, Now: d.now,
		OnHandover: onHandover, OnFirstReply: onFirstReply,
	}
	if s.pauses != nil {
		hc.Pauses, hc.Board, hc.Turns = s.pauses, s.pauses, s.pauses
		hc.Log, hc.History, hc.Purger = s.handovers, s.handovers, s.handovers
		// Each replica indexes the hand-overs, so an ordinary message
		// reads no pause.
		hc.Announcer = s.announcer
	}
	if d.outbox != nil {
		hc.Sender, hc.Outbox = d.outbox, d.outbox
	}
	handovers := handover.New(hc)

	return capSet{
		list:     []bot.Capability{ids, confirm, intents, risks, optOuts, checkins, handovers, coupons, learn},
		identity: ids, handover: handovers,
	}, nil
}

// capStores are the capabilities' stores on the shared backends.
type capStores struct {
	identities    identity.Store
	identityLinks identity.Announcer
	risk          *sqlstore.Risk
	dnd           *sqlstore.DND
	dndCounters   dnd.Counters
	coupons       *sqlstore.Coupons
	couponCounter coupon.Counter
	checkins      *sqlstore.Checkins
	boards        checkin.Boards
	pauses        *redisstore.Handovers
	announcer     *redisstore.HandoverAnnouncements
	handovers     *sqlstore.Handovers
	feedback      feedback.Store
}

func openCapStores(ctx context.Context, st stores) (capStores, error) {
	var s capStores
	var err error
	if s.identities, err = sqlstore.NewIdentities(ctx, st.db); err != nil {
		return s, err
	}
	if s.risk, err = sqlstore.NewRisk(ctx, st.db); err != nil {
		return s, err
	}
	if s.dnd, err = sqlstore.NewDND(ctx, st.db); err != nil {
		return s, err
	}
	if s.coupons, err = sqlstore.NewCoupons(ctx, st.db); err != nil {
		return s, err
	}
	if s.checkins, err = sqlstore.NewCheckins(ctx, st.db); err != nil {
		return s, err
	}
	if s.handovers, err = sqlstore.NewHandovers(ctx, st.db); err != nil {
		return s, err
	}
	s.pauses = redisstore.NewHandovers(st.rdb)
	s.announcer = redisstore.NewHandoverAnnouncements(st.rdb)
	if s.feedback, err = sqlstore.NewFeedback(ctx, st.db); err != nil {
		return s, err
	}
	s.identityLinks = redisstore.NewIdentityLinks(st.rdb)
	s.dndCounters = redisstore.NewDNDCounters(st.rdb)
	s.couponCounter = redisstore.NewCouponCounter(st.rdb)
	s.boards = redisstore.NewCheckinBoards(st.rdb)
	return s, nil
}

// intentsDataset is the knowledge/ dataset the engine's intent model is
// trained from; its model is knowledge/intents.model.
const intentsDataset = "intents"

// loadRiskModel loads the risk model trained by `siyu train` from
// knowledge/risk/ (built into the binary): it catches what the lexicons
// miss (fraud phrased politely, complaints without keywords).
func loadRiskModel() (risk.Classifier, error) {
	f, err := knowledge.FS.Open("risk.model")
	if err != nil {
		return nil, fmt.Errorf("risk model: %w", err)
	}
	defer f.Close()
	m, err := nlp.LoadModel(f)
	if err != nil {
		return nil, fmt.Errorf("risk model: %w", err)
	}
	// The scanner asks "how likely is any risk, and which": the most
	// likely category with the probability that the line is not "none".
	// The best label's own confidence splits when two categories share
	// the evidence (fraud or poaching?). Measured on the held-out set:
	// with an earlier training set the best label reached 94.7% of risky
	// lines at 1.5% of ordinary chat or 96.1% at 2.7%, never both
	// targets, where P(risky) gave 95.5% at 1.8%; with the shipped model
	// the best label reaches 95.3% at 2.4% (0.75) or 94.1% at 1.8% (0.85),
	// P(risky) 95.5% at 1.8% (0.95).
	return riskClassifier(m), nil
}

// riskClassifier is the risk model as the scanner asks it: the likeliest
// category and the probability that the text is not "none".
func riskClassifier(m *nlp.Model) risk.Classifier {
	return risk.ClassifierFunc(func(text string) (string, float64) { return m.ClassifyOther(nlp.Canonical(text), "none") })
}

// newRiskScanner builds the scanner over the lexicons built into the
// binary (knowledge/risk/lexicon) and c (nil: no model).
func newRiskScanner(c risk.Classifier) (*risk.Scanner, error) {
	lex, err := risk.LoadLexicon(knowledge.FS, "risk/lexicon")
	if err != nil {
		return nil, fmt.Errorf("risk lexicons: %w", err)
	}
	return risk.NewScanner(lex, risk.ScannerConfig{Classifier: c}), nil
}

// scriptsSource is the library in force, for capabilities built before
// it: the library's sections come from the stack they install.
type scriptsSource struct{ lib *bot.Library }

// Scripts implements bot.ScriptSource.
func (s *scriptsSource) Scripts() *bot.Scripts { return s.lib.Scripts() }

// ScriptsFor implements bot.RoutedScripts: a brand's or an account's
// scripts for what the capabilities do outside a turn.
func (s *scriptsSource) ScriptsFor(r bot.Route) *bot.Scripts { return s.lib.ScriptsFor(r) }

// scriptsFS is the folder staff edit when it exists, else the example
// scripts built into the binary, so `siyu` runs from any directory.
func scriptsFS(dir string) (fsys fs.FS, source string) {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return os.DirFS(dir), dir
	}
	return scripts.FS, "built-in examples"
}

// platformClients are the platform API clients, one per account and
// secret, built once: the adapters send with them and identity learns
// links through them, sharing their access tokens.
type platformClients struct {
	oa *officialaccount.OfficialAccount
	// weComApp and weComContact are nil without their secrets; the app's
	// serves 客户联系 too when no contact secret is set.
	weComApp, weComContact *wecom.Client
	oaUsers                *wechat.Users // nil without an AppSecret
}

func newPlatformClients(cfg config, tokens *redisstore.TokenCache) platformClients {
	var c platformClients
	c.oa = newOA(cfg.WeChatAppID, cfg.WeChatAppSecret, cfg.WeChatToken, cfg.WeChatAESKey, tokens)
	if cfg.WeChatAppSecret != "" {
		c.oaUsers = wechat.NewUsers(c.oa, tokens, cfg.WeChatAppID)
	}
	if cfg.WeCom.enabled() {
		c.weComApp, c.weComContact = weComClients(cfg.WeCom, tokens)
	}
	return c
}

// newOA is an Official Account's API client, its access token in the
// shared cache.
func newOA(appID, appSecret, token, aesKey string, tokens *redisstore.TokenCache) *officialaccount.OfficialAccount {
	return officialaccount.NewOfficialAccount(&offConfig.Config{
		AppID: appID, AppSecret: appSecret, Token: token, EncodingAESKey: aesKey,
		Cache: tokens,
		// The stable token is not invalidated when another replica
		// fetches one, so replicas refreshing at once do not log each
		// other out.
		UseStableAK: true,
	})
}

// weComClients are a WeCom app's API clients: the app's and the 客户联系
// one (the app's when no contact secret is set), nil without secrets.
// One client per secret, each with its own token key in the shared
// cache, so their tokens do not overwrite each other.
func weComClients(wc weComConfig, tokens *redisstore.TokenCache) (app, contact *wecom.Client) {
	if wc.Secret != "" {
		app = wecom.NewClient(wc.CorpID, wc.Secret, cmp.Or(wc.AgentID, "app"), tokens)
		contact = app
	}
	if wc.ContactSecret != "" {
		contact = wecom.NewClient(wc.CorpID, wc.ContactSecret, "contact", tokens)
	}
	return app, contact
}

// fetchers are the platforms identity asks for unionids: the accounts
// file's accounts by the id each event names, else the environment's.
func (c platformClients) fetchers(accts *accounts.Set) map[bot.Platform]identity.Fetcher {
	env := map[bot.Platform]identity.Fetcher{}
	if c.oaUsers != nil {
		env[bot.WeChat] = c.oaUsers
	}
	if c.weComContact != nil {
		env[bot.WeCom] = c.weComContact
	}
	if accts == nil {
		return env
	}
	f := map[bot.Platform]identity.Fetcher{}
	for _, p := range []bot.Platform{bot.WeChat, bot.WeCom} {
		var fallback accounts.UnionIDFetcher
		if e, ok := env[p]; ok {
			fallback = e
		}
		f[p] = accts.UnionIDs(p, fallback)
	}
	return f
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

// loadIntentModel loads the intent model: a brand's retrained one from
// dir (SIYU_MODELS) when set, refused with the intents it lacks, else the
// one built into the binary.
func loadIntentModel(dir string) (*nlp.Model, error) {
	if dir == "" {
		return nlp.LoadDatasetModel(knowledge.FS, intentsDataset)
	}
	// The intents the capabilities act on themselves (opting out,
	// check-ins, coupons, the hand-over) must be known; the scripts' own
	// are checked when they load, with their file and line.
	need := []string{"unsubscribe", "checkin", "coupon", "human_agent"}
	m, err := nlp.LoadRetrained(os.DirFS(dir), intentsDataset+".model", need)
	if err != nil {
		return nil, fmt.Errorf("config: SIYU_MODELS: %w", err)
	}
	return m, nil
}
