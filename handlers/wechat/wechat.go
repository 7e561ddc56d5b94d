// Package wechat adapts WeChat Official Accounts (公众号): it verifies and
// decrypts callbacks, turns them into bot.Events, answers with passive
// replies, and sends everything else through the customer-service message
// API.
package wechat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/internal/body"
	"github.com/siyu-bot/siyu/handlers/internal/late"
	"github.com/siyu-bot/siyu/handlers/internal/wxcrypt"
)

// Config is an Official Account's callback settings.
type Config struct {
	// Route is the configured account these callbacks belong to
	// (SIYU_ACCOUNTS); every event is stamped with it. Zero for the
	// account of the environment variables.
	Route          bot.Route
	AppID          string
	Token          string
	EncodingAESKey string // empty: plain mode only
	// AllowPlain accepts plain-mode callbacks although an EncodingAESKey
	// is configured (WECHAT_MODE=plain): the account's console is set to
	// 明文模式. Without it, an account with a key accepts only encrypted
	// callbacks (safe or compatibility mode), so that safe mode cannot be
	// downgraded. With no key, plain mode is the only mode.
	AllowPlain bool
	// ReplyBudget is how long after its arrival a callback waits for the
	// engine before it answers "success" and sends the reply through the
	// outbox instead.
	// WeChat drops the connection at 5 s and retries.
	ReplyBudget time.Duration
	// AnswerBy is the latest a callback is answered when its dedupe claim
	// has not come back by the end of ReplyBudget (Redis is slow): until
	// then it waits to learn whether another replica's answer overlaps
	// its own (bot.AnswerWindow). At least ReplyBudget; 4 s by default.
	AnswerBy time.Duration
	// ReplayWindow refuses callbacks whose signed timestamp is further
	// than this from now, so a captured callback cannot be replayed later.
	ReplayWindow time.Duration
	// ProcessTimeout bounds the engine for a callback that missed its
	// passive reply and goes on in the background, retries included.
	ProcessTimeout time.Duration
	// RetryBackoff is the first wait before a late callback's failed
	// handling or queueing is tried again; it doubles up to 5 s.
	RetryBackoff time.Duration
	// LateDelay is how long after the reply budget ran out a late
	// callback's stored event comes due in the outbox. It must exceed the
	// dedupe lease (bot.DedupeConfig.Lease, 6 s by default): see package
	// handlers/internal/late.
	LateDelay time.Duration
	Now       func() time.Time
}

func (c Config) withDefaults() Config {
	if c.ReplyBudget <= 0 {
		c.ReplyBudget = 4 * time.Second // under WeChat's 5 s, with room for the network
	}
	if c.AnswerBy <= 0 {
		c.AnswerBy = 4 * time.Second // as the default budget: under WeChat's 5 s
	}
	c.AnswerBy = max(c.AnswerBy, c.ReplyBudget)
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
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Enqueuer stores actions for durable delivery; enqueueing the same key
// twice is a no-op.
type Enqueuer interface {
	Enqueue(ctx context.Context, key string, actions []bot.Action) error
}

// Handler serves an Official Account's callback URL.
type Handler struct {
	cfg        Config
	crypto     *wxcrypt.Crypto // signs only, in plain mode
	allowPlain bool
	h          bot.Handler
	outbox     Enqueuer
	logger     *slog.Logger
	// late stores, renders and retries callbacks answered before their
	// handling finished (handle).
	late *late.Callbacks[lateEvent]
}

// lateEvent is the stored copy of a callback answered before its
// handling finished: the event, and when that attempt arrived and was
// answered, so that the copy delivers as the attempt would have
// (bot.ClosedAnswerWindow). Copies stored before the times were kept
// decode with zero times.
type lateEvent struct {
	bot.Event
	Arrived  time.Time `json:",omitzero"`
	Answered time.Time `json:",omitzero"`
}

// New returns the callback handler for one Official Account.
func New(cfg Config, h bot.Handler, outbox Enqueuer, logger *slog.Logger) (*Handler, error) {
	cfg = cfg.withDefaults()
	if cfg.Token == "" {
		return nil, fmt.Errorf("wechat.New: Token is required: %w", bot.ErrInvalid)
	}
	c, err := wxcrypt.New(cfg.Token, cfg.EncodingAESKey, cfg.AppID)
	if err != nil {
		return nil, fmt.Errorf("wechat.New: %w: %w", bot.ErrInvalid, err)
	}
	allowPlain := cfg.AllowPlain || !c.CanDecrypt()
	wh := &Handler{cfg: cfg, crypto: c, allowPlain: allowPlain, h: h, outbox: outbox, logger: logger}
	wh.late = wh.newLate()
	return wh, nil
}

// Register mounts the callback routes on g.
func (h *Handler) Register(g *echo.Group) {
	g.GET("/wechat/callback", h.verifyURL)
	g.POST("/wechat/callback", h.callback)
}

// Handlers returns the URL check (GET) and the callback (POST), for a
// caller that mounts them at a path of its own (one per account).
func (h *Handler) Handlers() (verify, callback echo.HandlerFunc) { return h.verifyURL, h.callback }

// verifyURL answers the server-configuration handshake: a valid signature
// gets echostr back unchanged.
func (h *Handler) verifyURL(c echo.Context) error {
	q := parseCallbackQuery(c.Request().URL.RawQuery)
	if err := h.crypto.VerifyURL(q.signature, q.timestamp, q.nonce); err != nil {
		h.logger.WarnContext(c.Request().Context(), "wechat: URL verification with a bad signature", "remote", c.RealIP())
		return echo.NewHTTPError(http.StatusUnauthorized, "bad signature")
	}
	// echostr is echoed back as sent: no browser may read it as HTML.
	c.Response().Header().Set(echo.HeaderXContentTypeOptions, "nosniff")
	return c.String(http.StatusOK, q.echostr)
}

func (h *Handler) callback(c echo.Context) error {
	// Wall clock, not cfg.Now: other replicas compare it with theirs
	// (bot.AnswerWindow).
	arrived := time.Now()
	q := parseCallbackQuery(c.Request().URL.RawQuery)
	timestamp, nonce := q.timestamp, q.nonce
	safe := q.encryptType == "aes"

	// Authenticate before anything else is believed, on the cheapest
	// parse that can: the plain signature needs no body at all, the safe
	// one only the body's <Encrypt> (wxcrypt.Crypto.Open).
	var plain []byte
	switch {
	case safe && !h.crypto.CanDecrypt():
		h.logger.WarnContext(c.Request().Context(), "wechat: safe-mode callback but no EncodingAESKey is configured")
		return echo.NewHTTPError(http.StatusBadRequest, "safe mode not configured")
	case safe:
		raw, err := body.Read(c.Request())
		if err != nil {
			return err
		}
		plain, err = h.crypto.Open(q.msgSignature, timestamp, nonce, raw)
		switch {
		case errors.Is(err, wxcrypt.ErrSignature):
			h.logger.WarnContext(c.Request().Context(), "wechat: callback with a bad msg_signature", "remote", c.RealIP())
			return echo.NewHTTPError(http.StatusUnauthorized, "bad signature")
		case err != nil:
			h.logger.WarnContext(c.Request().Context(), "wechat: malformed safe-mode body", "err", err)
			return echo.NewHTTPError(http.StatusBadRequest, "malformed body")
		}
	case !h.allowPlain:
		// The plain signature covers only token, timestamp and nonce:
		// accepting it here would let a captured safe-mode URL carry a
		// forged plaintext body, for any openid.
		h.logger.WarnContext(c.Request().Context(), "wechat: plain-mode callback refused: an EncodingAESKey is configured, so only encrypted callbacks are accepted (set the account to safe or compatibility mode, or WECHAT_MODE=plain)", "remote", c.RealIP())
		return echo.NewHTTPError(http.StatusUnauthorized, "encrypted callbacks only")
	default:
		if err := h.crypto.VerifyURL(q.signature, timestamp, nonce); err != nil {
			h.logger.WarnContext(c.Request().Context(), "wechat: callback with a bad signature", "remote", c.RealIP())
			return echo.NewHTTPError(http.StatusUnauthorized, "bad signature")
		}
		raw, err := body.Read(c.Request())
		if err != nil {
			return err
		}
		plain = raw
	}
	now := h.cfg.Now()
	if age, err := wxcrypt.CheckTimestamp(timestamp, now, h.cfg.ReplayWindow); errors.Is(err, wxcrypt.ErrStale) {
		h.logger.WarnContext(c.Request().Context(), "wechat: callback outside the replay window refused", "age", age.Round(time.Second).String())
		return handlers.StaleTimestamp()
	} else if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "bad timestamp")
	}

	m, err := parseInbound(plain)
	if err != nil {
		h.logger.WarnContext(c.Request().Context(), "wechat: malformed message", "err", err)
		return echo.NewHTTPError(http.StatusBadRequest, "malformed message")
	}
	if bot.LongID(m.FromUserName, m.ToUserName) {
		// No store would take it: refused here as a bad request, not
		// failed there as an error WeChat retries.
		h.logger.WarnContext(c.Request().Context(), "wechat: callback with an id longer than bot.MaxIDLen refused", "from_bytes", len(m.FromUserName), "to_bytes", len(m.ToUserName))
		return echo.NewHTTPError(http.StatusBadRequest, "id too long")
	}
	account := bot.AccountID(h.cfg.AppID)
	if account == "" {
		account = bot.AccountID(m.ToUserName)
	}
	ev, ok := toEvent(account, m)
	if !ok {
		return c.String(http.StatusOK, "success")
	}
	ev.Route = h.cfg.Route

	actions, late, err := h.handle(c, ev, arrived)
	if late {
		return nil // answered already: "success", or 503 if it could not be stored
	}
	if err != nil {
		if errors.Is(err, bot.ErrInvalid) {
			h.logger.WarnContext(c.Request().Context(), "wechat: event refused", "kind", ev.Kind, "err", err)
			return c.String(http.StatusOK, "success")
		}
		// WeChat retries; the dedupe claim was released for it.
		return fmt.Errorf("wechat: handle %s: %w", ev.Kind, err)
	}
	passive, rest := splitPassive(ev, actions)
	if err := h.outbox.Enqueue(c.Request().Context(), ev.DedupeKey, rest); err != nil {
		return fmt.Errorf("wechat: %w: %w", bot.ErrUnavailable, err)
	}
	if passive == nil {
		return c.String(http.StatusOK, "success")
	}
	reply := renderReply(m.FromUserName, m.ToUserName, passive, now)
	if !safe {
		return c.Blob(http.StatusOK, "application/xml; charset=utf-8", reply)
	}
	replyNonce := newNonce()
	replyTS := strconv.FormatInt(now.Unix(), 10)
	enc, sig, err := h.crypto.Seal(reply, replyTS, replyNonce)
	if err != nil {
		return fmt.Errorf("wechat: seal reply: %w", err)
	}
	return c.Blob(http.StatusOK, "application/xml; charset=utf-8", encryptedReply(enc, sig, replyTS, replyNonce))
}

// handle runs the engine on the request's goroutine under the reply
// budget. If the budget runs out first, "success" is answered at once so
// that WeChat stops waiting, and handle reports late: the actions, the
// reply included, go through the outbox. Running on the request
// goroutine (not a new one per callback) keeps the common, fast case
// cheap.
//
// A bot.AnswerWindow settles which comes first, and Dedupe tells it what
// this attempt is (the handling, a retry of a callback whose answer was
// lost, or a copy whose answer overlaps another's), so that the reply
// reaches the customer once, whichever answer WeChat takes. Dedupe queues
// a late attempt's actions through the window (queueLate) before it
// records them as delivered through the outbox.
func (h *Handler) handle(c echo.Context, ev bot.Event, arrived time.Time) (actions []bot.Action, late bool, err error) {
	// The work must survive the request: WeChat hangs up at 5 s.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), h.cfg.ProcessTimeout)
	defer cancel()
	a := &attempt{h: h, c: c, ctx: ctx, ev: ev, arrived: arrived}
	a.Init(arrived, h.cfg.AnswerBy, a)
	w := &a.AnswerWindow
	ctx = bot.WithAnswerWindow(ctx, w)
	// The budget runs from the callback's arrival, as WeChat's wait does;
	// one spent already (reading and opening the body took it) ends the
	// window before the engine starts.
	var timer *time.Timer
	if left := h.cfg.ReplyBudget - time.Since(arrived); left > 0 {
		timer = time.AfterFunc(left, w.Expire)
	} else {
		w.Expire()
	}
	actions, err = h.h.HandleEvent(ctx, ev)
	if timer != nil {
		timer.Stop()
	}
	// Waits for an early answer to be written.
	late = w.Seal() == bot.DeliveryOutbox
	if late && (err != nil || !w.Queued()) {
		h.deliverLate(ctx, ev, w, actions, err)
	}
	return actions, late, err
}

// attempt is one callback attempt: its answer window, and what answering
// it early and queueing its actions need (bot.Answerer). One allocation.
type attempt struct {
	bot.AnswerWindow
	h       *Handler
	c       echo.Context
	ctx     context.Context
	ev      bot.Event
	arrived time.Time
}

// AnswerEarly stores the event (a death before the answer must not lose
// it), then answers "success"; if it cannot be stored, it answers 503, so
// that WeChat retries the callback. The stored Answered is a little
// early, which only matters if this replica dies before it delivers
// (bot.ClosedAnswerWindow).
func (a *attempt) AnswerEarly() (time.Time, bool) {
	err := a.h.late.Persist(a.ctx, lateEvent{Event: a.ev, Arrived: a.arrived, Answered: time.Now()})
	at := time.Now()
	if err != nil {
		answerEarly(a.c.Response(), http.StatusServiceUnavailable, unavailableBody)
		return at, false
	}
	answerEarly(a.c.Response(), http.StatusOK, successBody)
	return at, true
}

// QueueLate queues the attempt's actions for Dedupe, retrying.
func (a *attempt) QueueLate(ctx context.Context, actions []bot.Action, reply bot.ReplyOwner) error {
	return a.h.queueLate(ctx, a.ev, actions, reply)
}

// stored is the bot.Answerer of a stored late event, answered long ago.
type stored struct {
	h  *Handler
	ev bot.Event
}

func (s stored) AnswerEarly() (time.Time, bool) { return time.Time{}, true } // never called: its window is closed

func (s stored) QueueLate(ctx context.Context, actions []bot.Action, reply bot.ReplyOwner) error {
	return s.h.enqueue(ctx, s.ev, actions, reply)
}

// LateRendererName names the bot.Renderer (Handler.LateRenderer) that the
// outbox runs for a late callback's stored event; register it with
// Outbox.SetRenderer.
const LateRendererName = "wechat_late"

// newLate returns h's late events (handlers/internal/late): an event is
// stored with its attempt's times, one row per account and dedupe key,
// and Dedupe guards every event that has a key, so its copy comes due
// after LateDelay.
func (h *Handler) newLate() *late.Callbacks[lateEvent] {
	return late.New(late.Spec[lateEvent]{
		Platform:  "wechat",
		Noun:      "event",
		Renderer:  LateRendererName,
		KeyPrefix: "wechat-late:",
		Identity:  func(le lateEvent, _ []byte) string { return string(le.Account) + "\x00" + le.DedupeKey },
		To:        func(le lateEvent) bot.Target { return le.ReplyTarget() },
		Guarded:   func(le lateEvent) bool { return le.DedupeKey != "" },
		Attrs:     func(le lateEvent) []any { return []any{"kind", le.Kind, "key", bot.Fingerprint(le.DedupeKey)} },
		Run:       h.handleStored,
	}, late.Policy{
		Delay:          h.cfg.LateDelay,
		ProcessTimeout: h.cfg.ProcessTimeout,
		RetryBackoff:   h.cfg.RetryBackoff,
		Now:            h.cfg.Now,
	}, h.outbox, h.logger)
}

// LateRenderer returns the renderer of stored late events: it runs the
// event through the handler (Dedupe included) and queues its actions, all
// through the outbox, and itself sends nothing.
func (h *Handler) LateRenderer() bot.Renderer { return h.late }

// handleStored handles a stored late event (LateRenderer) where its
// attempt left off: its window closed when that attempt answered, so
// Dedupe queues its actions as that attempt would have.
func (h *Handler) handleStored(ctx context.Context, le lateEvent) error {
	w := bot.ClosedAnswerWindow(le.Arrived, le.Answered, stored{h, le.Event})
	actions, err := h.h.HandleEvent(bot.WithAnswerWindow(ctx, w), le.Event)
	if err == nil && !w.Queued() {
		err = h.enqueue(ctx, le.Event, actions, bot.ReplyHere)
	}
	if err != nil {
		return fmt.Errorf("wechat: late event %s: %w", bot.Fingerprint(le.DedupeKey), err)
	}
	return nil
}

// answerEarly writes a complete answer at once ("success", or a refusal):
// with a Content-Length and flushed, the response is whole on the wire
// while the handler goes on (a chunked body would end only when the
// handler returns, and WeChat would time out and retry). Connection:
// close keeps the client from queueing its next callback behind this
// handler.
func answerEarly(res *echo.Response, status int, body string) {
	hdr := res.Header()
	hdr.Set(echo.HeaderContentType, echo.MIMETextPlainCharsetUTF8)
	hdr.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	hdr.Set(echo.HeaderConnection, "close")
	res.WriteHeader(status)
	if _, err := res.Write([]byte(body)); err == nil {
		_ = http.NewResponseController(res.Writer).Flush()
	}
}

const (
	successBody     = "success"
	unavailableBody = "unavailable"
)

// deliverLate finishes an event whose callback was already answered
// "success" and whose actions were not queued yet: WeChat will not retry
// it, so nothing accepted may be dropped. A handling that failed is run
// again (through Dedupe, which queues through w), until the
// ProcessTimeout (late.Callbacks.Retry); actions of a handling Dedupe did
// not queue (no dedupe key) are queued here.
func (h *Handler) deliverLate(ctx context.Context, ev bot.Event, w *bot.AnswerWindow, actions []bot.Action, err error) {
	h.late.Retry(ctx, lateEvent{Event: ev}, err,
		func(ctx context.Context) error {
			var err error
			actions, err = h.h.HandleEvent(ctx, ev)
			return err
		},
		func(ctx context.Context) error {
			if w.Queued() {
				return nil
			}
			return h.enqueue(ctx, ev, actions, bot.ReplyHere)
		})
}

// queueLate queues a late attempt's actions for Dedupe (bot.Answerer),
// trying again with backoff until ctx ends.
func (h *Handler) queueLate(ctx context.Context, ev bot.Event, actions []bot.Action, reply bot.ReplyOwner) error {
	wait := h.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		err := h.enqueue(ctx, ev, actions, reply)
		if err == nil {
			return nil
		}
		h.logger.WarnContext(ctx, "wechat: late event not queued yet; retrying", "kind", ev.Kind, "key", bot.Fingerprint(ev.DedupeKey), "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("wechat: queue late event: %w (%w)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// enqueue queues a late event's actions; reply says what becomes of the
// reply (the action WeChat answers with). When another handling's answer
// carried it, a placeholder takes its place: it sends nothing but holds
// the reply's outbox key, so that a later handling of the event (the
// stored late copy, after a Redis restart forgot the result) cannot queue
// the reply again. When WeChat retries the callback, the retry delivers
// it, and nothing is queued in its place.
func (h *Handler) enqueue(ctx context.Context, ev bot.Event, actions []bot.Action, reply bot.ReplyOwner) error {
	if reply != bot.ReplyHere {
		if passive, rest := splitPassive(ev, actions); passive != nil {
			if reply == bot.ReplyAnswered {
				for i, a := range rest {
					if a == nil && actions[i] != nil {
						rest[i] = h.late.Placeholder(passive.Dest())
					}
				}
			}
			actions = rest
		}
	}
	return h.outbox.Enqueue(ctx, ev.DedupeKey, actions)
}

// splitPassive picks the one action WeChat lets a callback answer with: a
// hand-over to a person (the transfer_customer_service reply is the only
// way an Official Account passes a message to its 客服 system), else the
// first text or news to the sender. The rest go to the outbox (a
// hand-over's "please wait" goes as a customer-service message); rest
// keeps the passive action's place as nil, so every action keeps its
// outbox key (its index) whether it is answered passively or queued late.
func splitPassive(ev bot.Event, actions []bot.Action) (bot.Action, []bot.Action) {
	pick := -1
	for i, a := range actions {
		to := a.Dest()
		if to.Platform != bot.WeChat || to.User != ev.Sender || to.Conversation.IsGroup() {
			continue
		}
		if h, ok := a.(bot.Handover); ok && h.Step != bot.HandoverEnd {
			pick = i // wins over any text
			break
		}
		switch a.(type) {
		case bot.Reply, bot.Welcome, bot.News:
			if pick < 0 {
				pick = i
			}
		}
	}
	if pick < 0 {
		return nil, actions
	}
	rest := slices.Clone(actions)
	rest[pick] = nil
	return actions[pick], rest
}

func renderReply(to, from string, a bot.Action, now time.Time) []byte {
	switch a := a.(type) {
	case bot.Handover:
		return transferReply(to, from, a.Agent, now)
	case bot.News:
		return newsReply(to, from, a.Articles, now)
	default:
		text, _ := bot.TextOf(a)
		return textReply(to, from, text, now)
	}
}

// callbackQuery is the part of a callback's query string siyu reads.
type callbackQuery struct {
	timestamp, nonce, signature, msgSignature, encryptType, echostr string
}

// parseCallbackQuery reads the parameters WeChat signs with (and the
// URL check's echostr), without
// building url.Values for the whole query (which costs every callback a
// map and a string per parameter, openid included).
func parseCallbackQuery(raw string) callbackQuery {
	var q callbackQuery
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		var dst *string
		switch k {
		case "timestamp":
			dst = &q.timestamp
		case "nonce":
			dst = &q.nonce
		case "signature":
			dst = &q.signature
		case "msg_signature":
			dst = &q.msgSignature
		case "encrypt_type":
			dst = &q.encryptType
		case "echostr":
			dst = &q.echostr
		default:
			continue
		}
		if *dst != "" {
			continue // the first value wins, as with url.Values.Get
		}
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
		}
		*dst = v
	}
	return q
}

func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
