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
	"sync"
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
	AppID          string
	Token          string
	EncodingAESKey string // empty: plain mode only
	// AllowPlain accepts plain-mode callbacks although an EncodingAESKey
	// is configured (WECHAT_MODE=plain): the account's console is set to
	// 明文模式. Without it, an account with a key accepts only encrypted
	// callbacks (safe or compatibility mode), so that safe mode cannot be
	// downgraded. With no key, plain mode is the only mode.
	AllowPlain bool
	// ReplyBudget is how long a callback waits for the engine before it
	// answers "success" and sends the reply through the outbox instead.
	// WeChat drops the connection at 5 s and retries.
	ReplyBudget time.Duration
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
	late *late.Callbacks[bot.Event]
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

	actions, late, err := h.handle(c, ev)
	if late {
		return nil // answered "success" already
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
// budget. If the budget runs out first, a timer answers "success" so that
// WeChat stops waiting, and handle reports late: the actions, the reply
// included, go through the outbox (deliverLate). Running on the request
// goroutine (not a new one per callback) keeps the common, fast case cheap.
//
// Which comes first is settled once by a bot.AnswerWindow that Dedupe
// seals when it stores the result, so the stored result says how it was
// delivered and a retry never delivers it a second way.
func (h *Handler) handle(c echo.Context, ev bot.Event) (actions []bot.Action, late bool, err error) {
	// The work must survive the request: WeChat hangs up at 5 s.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), h.cfg.ProcessTimeout)
	defer cancel()
	w := new(answer)
	ctx = bot.WithAnswerWindow(ctx, &w.window)
	timer := time.AfterFunc(h.cfg.ReplyBudget, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.window.Close() {
			h.late.Persist(ctx, ev)
			answerSuccess(c.Response())
		}
	})
	actions, err = h.h.HandleEvent(ctx, ev)
	timer.Stop()
	// Under w.mu: a timer that closed the window has finished writing.
	w.mu.Lock()
	late = w.window.Seal() == bot.DeliveryOutbox
	w.mu.Unlock()
	if late {
		h.deliverLate(ctx, ev, actions, err)
	}
	return actions, late, err
}

// LateRendererName names the bot.Renderer (Handler.LateRenderer) that the
// outbox runs for a late callback's stored event; register it with
// Outbox.SetRenderer.
const LateRendererName = "wechat_late"

// newLate returns h's late events (handlers/internal/late): an event is
// stored as itself, one row per account and dedupe key, and Dedupe guards
// every event that has a key, so its copy comes due after LateDelay.
func (h *Handler) newLate() *late.Callbacks[bot.Event] {
	return late.New(late.Spec[bot.Event]{
		Platform:  "wechat",
		Noun:      "event",
		Renderer:  LateRendererName,
		KeyPrefix: "wechat-late:",
		Identity:  func(ev bot.Event, _ []byte) string { return string(ev.Account) + "\x00" + ev.DedupeKey },
		To:        func(ev bot.Event) bot.Target { return ev.ReplyTarget() },
		Guarded:   func(ev bot.Event) bool { return ev.DedupeKey != "" },
		Attrs:     func(ev bot.Event) []any { return []any{"kind", ev.Kind, "key", bot.Fingerprint(ev.DedupeKey)} },
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

// handleStored handles a stored late event (LateRenderer) and queues its
// actions.
func (h *Handler) handleStored(ctx context.Context, ev bot.Event) error {
	// Closed: nothing can be answered passively any more, and the result
	// Dedupe stores says so.
	var w bot.AnswerWindow
	w.Close()
	wctx := bot.WithAnswerWindow(ctx, &w)
	actions, err := h.h.HandleEvent(wctx, ev)
	if err == nil {
		err = h.outbox.Enqueue(ctx, ev.DedupeKey, h.notAnsweredElsewhere(wctx, ev, actions))
	}
	if err != nil {
		return fmt.Errorf("wechat: late event %s: %w", bot.Fingerprint(ev.DedupeKey), err)
	}
	return nil
}

// answer is a callback's answer window and the lock that keeps the
// budget timer's write apart from the handler's.
type answer struct {
	mu     sync.Mutex
	window bot.AnswerWindow
}

// answerSuccess writes a complete "success" at once: with a
// Content-Length and flushed, the response is whole on the wire while the
// handler goes on (a chunked body would end only when the handler
// returns, and WeChat would time out and retry). Connection: close keeps
// the client from queueing its next callback behind this handler.
func answerSuccess(res *echo.Response) {
	hdr := res.Header()
	hdr.Set(echo.HeaderContentType, echo.MIMETextPlainCharsetUTF8)
	hdr.Set(echo.HeaderContentLength, strconv.Itoa(len(successBody)))
	hdr.Set(echo.HeaderConnection, "close")
	res.WriteHeader(http.StatusOK)
	if _, err := res.Write([]byte(successBody)); err == nil {
		_ = http.NewResponseController(res.Writer).Flush()
	}
}

const successBody = "success"

// deliverLate queues the actions of an event whose callback was already
// answered "success": WeChat will not retry it, so nothing accepted may be
// dropped. A handling that failed is run again and a queueing that failed
// is tried again, until the ProcessTimeout (late.Callbacks.Retry).
func (h *Handler) deliverLate(ctx context.Context, ev bot.Event, actions []bot.Action, err error) {
	h.late.Retry(ctx, ev, err,
		func(ctx context.Context) error {
			var err error
			actions, err = h.h.HandleEvent(ctx, ev)
			return err
		},
		func(ctx context.Context) error {
			return h.outbox.Enqueue(ctx, ev.DedupeKey, h.notAnsweredElsewhere(ctx, ev, actions))
		})
}

// notAnsweredElsewhere replaces in a late callback's actions the reply
// another handling's callback answer carried, when Dedupe gave this one
// that handling's stored result: a copy whose budget ran out while it
// waited for the first must not send that reply through the outbox too.
// In its place goes a placeholder that sends nothing but holds the reply's
// outbox key, so that a later handling of the event (the copy's stored
// late event, after a Redis restart forgot the result) cannot queue the
// reply again.
func (h *Handler) notAnsweredElsewhere(ctx context.Context, ev bot.Event, actions []bot.Action) []bot.Action {
	if !bot.AnswerWindowFrom(ctx).AnsweredElsewhere() {
		return actions
	}
	passive, rest := splitPassive(ev, actions)
	if passive == nil {
		return actions
	}
	for i, a := range rest {
		if a == nil && actions[i] != nil {
			rest[i] = h.late.Placeholder(passive.Dest())
		}
	}
	return rest
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
