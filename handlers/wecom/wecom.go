// Package wecom adapts WeCom (企业微信) to siyu: a self-built app's
// callback URL (URL verification, 客户联系 contact and customer-group
// events, 微信客服 notifications, staff messages to the app), new contacts'
// per-channel welcomes and tags, customer-group records, 微信客服 1:1 chat pulled
// with sync_msg, group welcome templates kept in sync with the scripts,
// staff alerts as app messages, and an optional chat-archive poller.
//
// WeCom does not let an app post into customer groups or message an
// external contact 1:1 outside 微信客服; the sender refuses such actions
// (bot.ErrInvalid) rather than pretend. See handlers/wecom/README.md.
package wecom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/internal/body"
	"github.com/siyu-bot/siyu/handlers/internal/late"
	"github.com/siyu-bot/siyu/handlers/internal/wxcrypt"
)

// Config is a WeCom self-built app's callback settings.
type Config struct {
	// Route is the configured account these callbacks belong to
	// (SIYU_ACCOUNTS); every event is stamped with it. Zero for the
	// account of the environment variables.
	Route          bot.Route
	CorpID         string
	AgentID        string // the self-built app's agent id
	Token          string
	EncodingAESKey string
	// AckBudget is how long a callback waits for its processing before it
	// answers anyway and lets the processing finish in the background.
	// WeCom drops the connection at 5 s and retries.
	AckBudget time.Duration
	// ReplayWindow refuses callbacks whose signed timestamp is further
	// than this from now, so a captured callback cannot be replayed later.
	ReplayWindow time.Duration
	// ProcessTimeout bounds a callback's processing in the background.
	ProcessTimeout time.Duration
	// RetryBackoff is the first wait before a late callback's failed
	// processing is tried again; it doubles up to 5 s, within
	// ProcessTimeout.
	RetryBackoff time.Duration
	// WelcomeWindow is how long a welcome code is good for after its
	// event: 20 s, by WeCom's documentation.
	WelcomeWindow time.Duration
	// WelcomeBackoff is the first wait before a welcome is tried again
	// (41096, WeCom unreachable); it doubles up to 2 s.
	WelcomeBackoff time.Duration
	// LateDelay is how long after the ack budget ran out a late message
	// callback's stored copy comes due in the outbox. It must exceed the
	// dedupe lease (bot.DedupeConfig.Lease, 6 s by default): see package
	// handlers/internal/late.
	LateDelay time.Duration
	Now       func() time.Time
}

func (c Config) withDefaults() Config {
	if c.AckBudget <= 0 {
		c.AckBudget = 4 * time.Second // under WeCom's 5 s, with room for the network
	}
	if c.ReplayWindow <= 0 {
		c.ReplayWindow = time.Hour // generous: clocks drift, retries come within ~15 s
	}
	if c.ProcessTimeout <= 0 {
		c.ProcessTimeout = time.Minute
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 200 * time.Millisecond // a blip passes; a second try comes quickly
	}
	if c.LateDelay <= 0 {
		// The default dedupe lease (6 s) with room for clock skew and a
		// renewal's round trip: a replica that died when it answered has
		// lost its claim by then.
		c.LateDelay = 10 * time.Second
	}
	if c.WelcomeWindow <= 0 {
		c.WelcomeWindow = 20 * time.Second // welcome_code validity (developer.work.weixin.qq.com/document/path/92599)
	}
	if c.WelcomeBackoff <= 0 {
		c.WelcomeBackoff = 500 * time.Millisecond // several tries fit in the window
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Deps are the handler's collaborators.
type Deps struct {
	// Handler is the engine behind its middleware; it must include
	// bot.Dedupe, which makes each callback's effects happen once.
	Handler bot.Handler
	// Outbox delivers every action except welcomes.
	Outbox   Enqueuer
	Contacts ContactStore
	Groups   GroupStore
	// Scripts names channels and gives their tags: the scripts of the
	// events' route (bot.ScriptsFor).
	Scripts bot.ScriptSource
	// Welcomes sends welcomes (客户联系 secret). Nil records every
	// welcome as failed.
	Welcomes WelcomeAPI
	// Tags applies channels' tags to new contacts (客户联系 secret). Nil
	// means Welcomes, when it implements TagAPI (as *Client does); if
	// neither, contacts with tags are recorded with their tags failed.
	Tags TagAPI
	// KF pulls 微信客服 messages when notified. Nil ignores 微信客服.
	KF *KFPuller
	// Identity learns a new contact's WeChat unionid (externalcontact/get)
	// once the welcome is on its way. Nil learns nothing.
	Identity IdentityLearner
	Logger   *slog.Logger
}

// IdentityLearner fetches and records, in the background, the WeChat
// unionid of a platform user (bot/identity.Service implements it).
type IdentityLearner interface {
	Learn(ctx context.Context, p bot.Platform, account bot.AccountID, user bot.UserID)
}

// Handler serves a WeCom self-built app's callback URL.
type Handler struct {
	cfg    Config
	crypto *wxcrypt.Crypto
	d      Deps
	log    *slog.Logger
	// wg tracks work that outlives its callback: late processing and
	// welcomes being sent.
	wg sync.WaitGroup
	// late stores, renders and retries callbacks answered before their
	// processing finished (ack).
	late *late.Callbacks[inbound]
}

// New returns the callback handler of one self-built app.
func New(cfg Config, d Deps) (*Handler, error) {
	cfg = cfg.withDefaults()
	if cfg.CorpID == "" || cfg.Token == "" || cfg.EncodingAESKey == "" {
		return nil, fmt.Errorf("wecom.New: CorpID, Token and EncodingAESKey are required: %w", bot.ErrInvalid)
	}
	if d.Handler == nil || d.Outbox == nil || d.Contacts == nil || d.Groups == nil || d.Scripts == nil {
		return nil, fmt.Errorf("wecom.New: Handler, Outbox, Contacts, Groups and Scripts are required: %w", bot.ErrInvalid)
	}
	// WeCom always encrypts, and frames end with the corp id.
	c, err := wxcrypt.New(cfg.Token, cfg.EncodingAESKey, cfg.CorpID)
	if err != nil {
		return nil, fmt.Errorf("wecom.New: %w: %w", bot.ErrInvalid, err)
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Tags == nil {
		d.Tags, _ = d.Welcomes.(TagAPI)
	}
	h := &Handler{cfg: cfg, crypto: c, d: d, log: d.Logger}
	h.late = h.newLate()
	return h, nil
}

// Register mounts the callback routes on g.
func (h *Handler) Register(g *echo.Group) {
	g.GET("/wecom/callback", h.verifyURL)
	g.POST("/wecom/callback", h.callback)
}

// Handlers returns the URL check (GET) and the callback (POST), for a
// caller that mounts them at a path of its own (one per account).
func (h *Handler) Handlers() (verify, callback echo.HandlerFunc) { return h.verifyURL, h.callback }

// Wait blocks until work started by callbacks (late processing, welcomes
// being sent) has finished. Tests use it; a shutdown may too.
func (h *Handler) Wait() { h.wg.Wait() }

// verifyURL answers the URL-verification GET: msg_signature is checked
// over the encrypted echostr, and the answer is its plaintext. The replay
// window does not apply: the handshake has no effect, and WeCom's console
// may reuse a timestamp.
func (h *Handler) verifyURL(c echo.Context) error {
	q := c.QueryParams()
	echostr := q.Get("echostr")
	if err := h.crypto.VerifyMsg(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), echostr); err != nil {
		h.log.WarnContext(c.Request().Context(), "wecom: URL verification with a bad msg_signature", "remote", c.RealIP())
		return echo.NewHTTPError(http.StatusUnauthorized, "bad signature")
	}
	plain, _, err := h.crypto.Decrypt(echostr)
	if err != nil {
		h.log.WarnContext(c.Request().Context(), "wecom: URL verification: cannot decrypt echostr", "err", err)
		return echo.NewHTTPError(http.StatusBadRequest, "malformed echostr")
	}
	// The echo is the sender's plaintext: no browser may read it as HTML.
	c.Response().Header().Set(echo.HeaderXContentTypeOptions, "nosniff")
	return c.Blob(http.StatusOK, echo.MIMETextPlainCharsetUTF8, plain)
}

func (h *Handler) callback(c echo.Context) error {
	q := c.QueryParams()
	timestamp, nonce := q.Get("timestamp"), q.Get("nonce")
	raw, err := body.Read(c.Request())
	if err != nil {
		return err // 413 or 400
	}
	// WeCom always encrypts: msg_signature over the ciphertext is the only
	// authentication there is, checked before anything in the body is
	// parsed or believed (wxcrypt.Crypto.Open scans for <Encrypt> only).
	plain, err := h.crypto.Open(q.Get("msg_signature"), timestamp, nonce, raw)
	switch {
	case errors.Is(err, wxcrypt.ErrSignature):
		h.log.WarnContext(c.Request().Context(), "wecom: callback with a bad msg_signature", "remote", c.RealIP())
		return echo.NewHTTPError(http.StatusUnauthorized, "bad signature")
	case err != nil:
		h.log.WarnContext(c.Request().Context(), "wecom: malformed callback body", "err", err)
		return echo.NewHTTPError(http.StatusBadRequest, "malformed body")
	}
	if age, err := wxcrypt.CheckTimestamp(timestamp, h.cfg.Now(), h.cfg.ReplayWindow); errors.Is(err, wxcrypt.ErrStale) {
		h.log.WarnContext(c.Request().Context(), "wecom: callback outside the replay window refused", "age", age.Round(time.Second).String())
		return handlers.StaleTimestamp()
	} else if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "bad timestamp")
	}
	m, err := parseInbound(plain)
	if err != nil {
		h.log.WarnContext(c.Request().Context(), "wecom: malformed message", "err", err)
		return echo.NewHTTPError(http.StatusBadRequest, "malformed message")
	}
	if m.longID() {
		// No store would take it: refused here as a bad request, not
		// failed there as an error WeCom retries.
		h.log.WarnContext(c.Request().Context(), "wecom: callback with an id longer than bot.MaxIDLen refused", "event", m.Event, "change", m.ChangeType)
		return echo.NewHTTPError(http.StatusBadRequest, "id too long")
	}

	if m.MsgType == "event" && m.Event == eventKF {
		// The callback only says there is something to pull; the pull
		// runs in the background, under a lock shared by replicas.
		if h.d.KF != nil && m.OpenKfID != "" {
			h.d.KF.Notify(m.OpenKfID, m.Token)
		}
		return c.NoContent(http.StatusOK)
	}
	return h.ack(c, m)
}

// ack processes a callback under the ack budget. Processing that takes
// longer goes on in the background; the callback is answered at once.
func (h *Handler) ack(c echo.Context, m inbound) error {
	// The work must survive the request: WeCom hangs up at 5 s.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), h.cfg.ProcessTimeout)
	done := make(chan error, 1)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer cancel()
		done <- h.process(wctx, m)
	}()
	timer := time.NewTimer(h.cfg.AckBudget)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			// WeCom retries; the dedupe claim was released for it.
			return fmt.Errorf("wecom: callback %s/%s: %w", m.Event, m.ChangeType, err)
		}
		return c.NoContent(http.StatusOK)
	case <-timer.C:
		base := context.WithoutCancel(c.Request().Context())
		perr := h.late.Persist(base, m)
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.retryLate(base, m, <-done)
		}()
		if perr != nil {
			// Not stored: a death of this replica would lose it, so
			// WeCom must retry it (Dedupe and the contact claim make
			// the retry change nothing if this processing finishes).
			return fmt.Errorf("wecom: callback %s/%s: %w: %w", m.Event, m.ChangeType, bot.ErrUnavailable, perr)
		}
		return c.NoContent(http.StatusOK)
	}
}

// LateRendererName names the bot.Renderer (Handler.LateRenderer) that
// the outbox runs for a late callback's stored copy; register it with
// Outbox.SetRenderer.
const LateRendererName = "wecom_late"

// newLate returns h's late callbacks (handlers/internal/late). A callback
// is stored as parsed, one row per corp and callback. When its processing
// did finish, Dedupe (messages), the contact claim (new contacts) and the
// outbox keys make a second run change nothing.
func (h *Handler) newLate() *late.Callbacks[inbound] {
	return late.New(late.Spec[inbound]{
		Platform:  "wecom",
		Noun:      "callback",
		Renderer:  LateRendererName,
		KeyPrefix: "wecom-late:",
		Identity:  func(_ inbound, data []byte) string { return h.cfg.CorpID + "\x00" + string(data) },
		To: func(inbound) bot.Target {
			return bot.Target{Platform: bot.WeCom, Account: bot.AccountID(h.cfg.CorpID), Route: h.cfg.Route}
		},
		Guarded: h.lateGuarded,
		Attrs:   func(m inbound) []any { return []any{"event", m.Event, "change", m.ChangeType} },
		Run:     h.processStored,
	}, late.Policy{
		Delay:          h.cfg.LateDelay,
		ProcessTimeout: h.cfg.ProcessTimeout,
		RetryBackoff:   h.cfg.RetryBackoff,
		Now:            h.cfg.Now,
	}, h.d.Outbox, h.log)
}

// lateGuarded reports whether Dedupe alone decides whether m runs again,
// so that its stored copy may come due after LateDelay: a message does.
// Other callbacks keep the long delay, past the longest the processing
// may take: the contact claim is no lease, and a copy that found it held
// by a processing that later failed and gave it back would end with
// nothing sent; a group change has no claim at all.
func (h *Handler) lateGuarded(m inbound) bool {
	if _, ok := groupChange(h.cfg.CorpID, m); ok {
		return false
	}
	ev, ok := toEvent(h.cfg.CorpID, h.cfg.AgentID, m)
	return ok && ev.Kind != bot.KindContactAdded && ev.DedupeKey != ""
}

// LateRenderer returns the renderer of stored late callbacks: it
// processes the callback again, which queues its actions in the outbox,
// and itself sends nothing.
func (h *Handler) LateRenderer() bot.Renderer { return h.late }

// processStored processes a stored late callback (LateRenderer).
func (h *Handler) processStored(ctx context.Context, m inbound) error {
	if err := h.process(ctx, m); err != nil {
		return fmt.Errorf("wecom: stored late callback %s/%s: %w", m.Event, m.ChangeType, err)
	}
	return nil
}

// retryLate processes again, with backoff and within ProcessTimeout, a
// callback that was answered before its processing failed: WeCom will
// not retry it, so nothing accepted may be dropped (late.Callbacks.Retry).
func (h *Handler) retryLate(base context.Context, m inbound, err error) {
	if err == nil {
		return
	}
	ctx, cancel := context.WithTimeout(base, h.cfg.ProcessTimeout)
	defer cancel()
	h.late.Retry(ctx, m, err, func(ctx context.Context) error { return h.process(ctx, m) }, nil)
}

// process records what the callback changes, runs the engine and hands
// its actions on: welcomes straight to WeCom, the rest to the outbox.
func (h *Handler) process(ctx context.Context, m inbound) error {
	if gc, ok := groupChange(h.cfg.CorpID, m); ok {
		if err := h.d.Groups.ApplyGroupChange(ctx, gc); err != nil {
			return err
		}
	}
	ev, ok := toEvent(h.cfg.CorpID, h.cfg.AgentID, m)
	if !ok {
		return nil
	}
	ev.Route = h.cfg.Route
	if ev.Kind == bot.KindContactAdded {
		return h.contactAdded(ctx, ev, m.UserID)
	}
	return handleAndQueue(ctx, h.d.Handler, h.d.Outbox, h.log, ev, h.cfg.ProcessTimeout, "event")
}

func (h *Handler) enqueue(ctx context.Context, ev bot.Event, actions []bot.Action) error {
	if err := h.d.Outbox.Enqueue(ctx, outboxKey(ev), actions); err != nil {
		return fmt.Errorf("wecom: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// contactAdded records a new contact, runs the engine and starts the
// welcome, once across WeCom's retries and replicas. The channel's tags
// are applied in the background once the welcome's outcome is recorded,
// so they never delay it (tagContact). The contact record
// is the claim, taken before the engine runs: a copy that loses it has
// nothing to do. (Dedupe alone is not enough here: a copy arriving while
// the first is still in the engine gets no actions back, which must not
// be mistaken for "no welcome".)
func (h *Handler) contactAdded(ctx context.Context, ev bot.Event, staff string) (err error) {
	rec := ContactRecord{
		CorpID: h.cfg.CorpID, EventKey: ev.DedupeKey, ExternalUserID: string(ev.Sender), UserID: staff,
		State: ev.Channel, Outcome: OutcomePending, AddedAt: ev.Time,
	}
	if ch, ok := bot.ScriptsFor(h.d.Scripts, ev.Route).Channel(ev.Channel); ok && ev.Channel != "" {
		rec.ChannelName, rec.Tags = ch.Name, ch.Tags
		if len(tagNames(ch.Tags)) > 0 {
			rec.TagsOutcome = TagsPending
		}
	}
	first, err := h.d.Contacts.ClaimContact(ctx, rec)
	if err != nil || !first {
		return err // !first: a retry or another replica's copy, handled there
	}
	started := false
	defer func() {
		if err != nil && !started {
			// Give the claim back so that WeCom's retry can do it all.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if rerr := h.d.Contacts.ReleaseContact(rctx, rec.CorpID, rec.EventKey); rerr != nil {
				h.log.ErrorContext(ctx, "wecom: contact claim not released; a retry will not welcome", "state", rec.State, "err", rerr)
			}
		}
	}()
	actions, err := h.d.Handler.HandleEvent(ctx, ev)
	if errors.Is(err, bot.ErrInvalid) {
		h.log.WarnContext(ctx, "wecom: event refused", "kind", ev.Kind, "err", err)
		return h.settle(ctx, rec, OutcomeFailed, err)
	}
	if err != nil {
		return err
	}
	var welcome *bot.Welcome
	rest := make([]bot.Action, 0, len(actions))
	for _, a := range actions {
		if w, ok := a.(bot.Welcome); ok && welcome == nil && w.To.User == ev.Sender {
			welcome = &w
			continue
		}
		rest = append(rest, a)
	}
	if err := h.enqueue(ctx, ev, rest); err != nil {
		return err
	}
	switch {
	case welcome == nil:
		return h.settle(ctx, rec, OutcomeNoText, nil)
	case welcome.WelcomeCode == "":
		// The member has a welcome set in the admin console, which WeCom
		// sends itself; no second one can be sent.
		return h.settle(ctx, rec, OutcomeNoCode, nil)
	}
	// The code is good for WelcomeWindow from the event, by WeCom's
	// clock; the receipt time guards against a clock ahead of ours.
	now := h.cfg.Now()
	start := ev.Time
	if now.Before(start) {
		start = now
	}
	deadline := start.Add(h.cfg.WelcomeWindow - welcomeMargin)
	wctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(h.cfg.AckBudget))
	started = true
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer cancel()
		outcome, err := OutcomeFailed, errors.New("wecom: no welcome sender configured")
		if h.d.Welcomes != nil {
			outcome, err = deliverWelcome(wctx, h.d.Welcomes, *welcome, deadline, h.cfg.WelcomeBackoff, h.cfg.Now)
		}
		h.learn(wctx, rec) // after the welcome, never in its way
		if ferr := h.finish(wctx, rec, outcome, err); ferr != nil {
			h.log.ErrorContext(wctx, "wecom: welcome outcome not recorded", "state", rec.State, "welcome", outcome, "err", ferr)
		}
		h.tagContact(wctx, rec) // after the welcome, never in its way
	}()
	return nil
}

// settle records a welcome outcome reached without sending, then applies
// the channel's tags in the background. If the outcome is not recorded,
// the claim is given back and WeCom's retry does it all, tags included.
func (h *Handler) settle(ctx context.Context, rec ContactRecord, outcome string, cause error) error {
	if err := h.finish(ctx, rec, outcome, cause); err != nil {
		return err
	}
	h.learn(ctx, rec)
	h.startTags(ctx, rec)
	return nil
}

// learn has the new contact's unionid fetched and recorded in the
// background, so that the person's opt-outs, caps and coupon limits are
// shared with their Official Account follower from now on.
func (h *Handler) learn(ctx context.Context, rec ContactRecord) {
	if h.d.Identity != nil {
		h.d.Identity.Learn(ctx, bot.WeCom, bot.AccountID(rec.CorpID), bot.UserID(rec.ExternalUserID))
	}
}

// finish records a contact's final welcome outcome and logs it (the
// channel and the outcome; never the customer).
func (h *Handler) finish(ctx context.Context, rec ContactRecord, outcome string, cause error) error {
	errText := ""
	if cause != nil {
		errText = cause.Error()
	}
	switch outcome {
	case OutcomeSent, OutcomeAlreadySent, OutcomeNoCode:
		h.log.InfoContext(ctx, "wecom: new contact", "state", rec.State, "welcome", outcome)
	default:
		h.log.WarnContext(ctx, "wecom: new contact not welcomed", "state", rec.State, "welcome", outcome, "err", cause)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return h.d.Contacts.FinishWelcome(rctx, rec.CorpID, rec.EventKey, outcome, errText, h.cfg.Now())
}
