// Package douyin adapts Douyin (抖音) enterprise accounts: it verifies
// signed webhooks, turns private messages, chat openings, recalls, fan
// group messages and group joins into bot.Events, and sends the engine's
// answers through Douyin's OpenAPI within the platform's limits.
//
// Douyin has no passive reply: a webhook is answered 200 at once and the
// actions go through the durable outbox to the Sender. Douyin times out
// at 5 s and retries 3 times, deduplicated across replicas with bot.Dedupe
// on the ids inside the signed body (never the unsigned Msg-Id header).
package douyin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/window"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/internal/body"
)

// WebhookPath is where Douyin posts webhooks.
const WebhookPath = "/douyin/webhook"

// Config is a Douyin application's webhook settings.
type Config struct {
	// Route is the configured account these callbacks belong to
	// (SIYU_ACCOUNTS); every event is stamped with it. Zero for the
	// account of the environment variables.
	Route        bot.Route
	ClientKey    string
	ClientSecret string
	// Account is the enterprise account's open_id, used for events that
	// name none (the reconstructed group events may not). Optional.
	Account bot.AccountID
	// Timeout bounds the work for one webhook: recording, the engine and
	// enqueueing. Douyin hangs up at 5 s and retries; 4 s leaves room for
	// the network.
	Timeout time.Duration
	// ReplayWindow refuses webhooks whose own create_time (inside the
	// signed body) is further than this from now, so a captured webhook
	// cannot be replayed once its dedupe record has expired. Douyin signs
	// no timestamp outside the body; events without create_time
	// (im_recall_msg, verify_webhook) cannot be checked, and a message
	// without one is refused.
	ReplayWindow time.Duration
	Now          func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 4 * time.Second
	}
	if c.ReplayWindow <= 0 {
		c.ReplayWindow = time.Hour // as WeChat's; Douyin retries within a minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Enqueuer stores actions for durable delivery; enqueueing the same key
// twice is a no-op. bot.Outbox is one.
type Enqueuer interface {
	Enqueue(ctx context.Context, key string, actions []bot.Action) error
}

// Handler serves a Douyin application's webhook URL.
type Handler struct {
	cfg    Config
	h      bot.Handler
	outbox Enqueuer
	state  window.Recorder
	logger *slog.Logger
}

// New returns the webhook handler for one Douyin application. h is the
// engine behind its middleware (Dedupe included); state records what the
// Sender's limits are checked against.
func New(cfg Config, h bot.Handler, outbox Enqueuer, state window.Recorder, logger *slog.Logger) (*Handler, error) {
	if cfg.ClientKey == "" || cfg.ClientSecret == "" {
		return nil, fmt.Errorf("douyin.New: client key and secret are required: %w", bot.ErrInvalid)
	}
	if h == nil || outbox == nil || state == nil {
		return nil, fmt.Errorf("douyin.New: handler, outbox and state are required: %w", bot.ErrInvalid)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg.withDefaults(), h: h, outbox: outbox, state: state, logger: logger}, nil
}

// Register mounts the webhook route on g, which should carry BodyLimit.
func (h *Handler) Register(g *echo.Group) {
	g.POST(WebhookPath, h.webhook)
}

// Webhook returns the webhook handler, for a caller that mounts it at a
// path of its own (one per account).
func (h *Handler) Webhook() echo.HandlerFunc { return h.webhook }

func (h *Handler) webhook(c echo.Context) error {
	raw, err := body.Read(c.Request())
	if err != nil {
		return err // 413 or 400
	}
	// Authenticate the raw bytes before anything in them is believed.
	sig := c.Request().Header.Get(SignatureHeader)
	if !Verify(h.cfg.ClientSecret, raw, sig) {
		h.logger.WarnContext(c.Request().Context(), "douyin: webhook with a bad signature refused", "remote", c.RealIP(), "signature_present", sig != "", "bytes", len(raw))
		return echo.NewHTTPError(http.StatusUnauthorized, "bad signature")
	}
	env, ct, err := parseWebhook(raw)
	if err != nil {
		h.logger.WarnContext(c.Request().Context(), "douyin: malformed webhook refused", "err", err)
		return echo.NewHTTPError(http.StatusBadRequest, "malformed body")
	}
	if env.Event == eventVerify {
		return h.challenge(c, ct)
	}
	if longID(env, ct) {
		// No store would take it: refused here as a bad request, not
		// failed there as an error Douyin retries.
		h.logger.WarnContext(c.Request().Context(), "douyin: webhook with an id longer than bot.MaxIDLen refused", "event", env.Event)
		return echo.NewHTTPError(http.StatusBadRequest, "id too long")
	}
	now := h.cfg.Now()
	if ct.CreateTime > 0 {
		age := now.Sub(eventTime(ct.CreateTime, now))
		if age > h.cfg.ReplayWindow || age < -h.cfg.ReplayWindow {
			h.logger.WarnContext(c.Request().Context(), "douyin: webhook outside the replay window refused", "event", env.Event, "age", age.Round(time.Second).String())
			return echo.NewHTTPError(http.StatusUnauthorized, "stale create_time").SetInternal(handlers.ErrStaleTimestamp)
		}
	}
	in, ok, err := toEvent(env, ct, mapOptions{
		clientKey: h.cfg.ClientKey,
		account:   h.cfg.Account,
		now:       now,
	})
	if err != nil {
		h.logger.WarnContext(c.Request().Context(), "douyin: incomplete webhook refused", "event", env.Event, "err", err)
		return echo.NewHTTPError(http.StatusBadRequest, "malformed event")
	}
	if !ok {
		h.logger.DebugContext(c.Request().Context(), "douyin: event acknowledged without action", "event", env.Event)
		return c.NoContent(http.StatusOK)
	}
	if in.ev.Kind == bot.KindMessage && ct.CreateTime <= 0 {
		// Douyin stamps every message; one without create_time escapes
		// the replay window, so a captured copy could be replayed once
		// its dedupe record expired.
		h.logger.WarnContext(c.Request().Context(), "douyin: message without create_time refused", "event", env.Event)
		return echo.NewHTTPError(http.StatusBadRequest, "no create_time")
	}
	if in.ev.DedupeKey == "" {
		// Nothing in the webhook identifies it, but a retry carries the
		// same signed bytes.
		sum := sha256.Sum256(raw)
		in.ev.DedupeKey = "body:" + hex.EncodeToString(sum[:16])
	}
	in.ev.Route = h.cfg.Route
	// The work outlives the request: if Douyin hangs up, what was
	// accepted is still recorded and queued, and its retry is deduped.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), h.cfg.Timeout)
	defer cancel()
	if err := h.process(ctx, in); err != nil {
		return err // 5xx: Douyin retries
	}
	return c.NoContent(http.StatusOK)
}

// challenge answers the URL check with {"challenge": N}, N as received.
func (h *Handler) challenge(c echo.Context, ct content) error {
	var v any
	if len(ct.Challenge) > 0 {
		d := json.NewDecoder(bytes.NewReader(ct.Challenge))
		d.UseNumber()
		_ = d.Decode(&v)
	}
	switch v.(type) {
	case json.Number, string:
	default:
		h.logger.WarnContext(c.Request().Context(), "douyin: verify_webhook without a challenge refused")
		return echo.NewHTTPError(http.StatusBadRequest, "no challenge")
	}
	h.logger.InfoContext(c.Request().Context(), "douyin: webhook URL verified")
	// The challenge is echoed back: no browser may read it as anything
	// but JSON.
	c.Response().Header().Set(echo.HeaderXContentTypeOptions, "nosniff")
	return c.JSON(http.StatusOK, map[string]any{"challenge": v})
}

// process records what the event says about the conversation, runs the
// engine and queues its actions. Errors mean Douyin should retry.
func (h *Handler) process(ctx context.Context, in inbound) error {
	ev := in.ev
	if err := h.record(ctx, in); err != nil {
		return fmt.Errorf("douyin: record %s: %w", ev.Kind, err)
	}
	if !in.answer {
		return nil
	}
	if recalled, err := h.recalled(ctx, ev); err != nil || recalled {
		return err
	}
	actions, err := h.h.HandleEvent(ctx, ev)
	if err != nil {
		if errors.Is(err, bot.ErrInvalid) {
			h.logger.WarnContext(ctx, "douyin: event refused by the engine", "kind", ev.Kind, "err", err)
			return nil
		}
		return fmt.Errorf("douyin: handle %s: %w: %w", ev.Kind, bot.ErrUnavailable, err)
	}
	if len(actions) == 0 {
		return nil
	}
	// A recall may have arrived while the engine ran.
	if recalled, err := h.recalled(ctx, ev); err != nil || recalled {
		return err
	}
	if err := h.outbox.Enqueue(ctx, outboxKey(ev), actions); err != nil {
		return fmt.Errorf("douyin: enqueue %s: %w: %w", ev.Kind, bot.ErrUnavailable, err)
	}
	return nil
}

func (h *Handler) record(ctx context.Context, in inbound) error {
	ev := in.ev
	switch in.effect {
	case effectMessage:
		return h.state.RecordMessage(ctx, ev.Account, ev.Sender, in.conversation, ev.MessageID, ev.Time)
	case effectEnter:
		return h.state.RecordEnter(ctx, ev.Account, ev.Sender, in.conversation, ev.MessageID, ev.Time)
	case effectRecall:
		return h.state.MarkRecalled(ctx, ev.Account, ev.Sender, ev.MessageID)
	}
	return nil
}

// recalled reports whether ev is a message its sender has recalled, which
// is then not answered.
func (h *Handler) recalled(ctx context.Context, ev bot.Event) (bool, error) {
	if ev.Kind != bot.KindMessage || ev.MessageID == "" {
		return false, nil
	}
	r, err := h.state.IsRecalled(ctx, ev.Account, ev.MessageID)
	if err != nil {
		return false, fmt.Errorf("douyin: recall check: %w", err)
	}
	if r {
		h.logger.InfoContext(ctx, "douyin: message recalled before it was answered; not answering", "kind", ev.Kind)
	}
	return r, nil
}

// outboxKey names an event's actions in the outbox: a digest, since
// Douyin's ids are long and the outbox key is bounded (191 characters).
func outboxKey(ev bot.Event) string {
	sum := sha256.Sum256([]byte(string(ev.Account) + "\x00" + ev.DedupeKey))
	return "douyin:" + hex.EncodeToString(sum[:20])
}
