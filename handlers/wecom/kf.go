package wecom

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// KFAPI pulls 微信客服 messages; Client implements it.
type KFAPI interface {
	SyncKFMsg(ctx context.Context, req KFSyncRequest) (KFSyncResponse, error)
}

// KFStore is the shared storage the puller needs: the sync_msg cursor of
// each 微信客服 account, and each customer's last message (which opens
// the reply window the Sender enforces).
type KFStore interface {
	CursorStore
	// TouchKFSession records a customer's message sent at at. Errors are
	// bot.ErrUnavailable.
	TouchKFSession(ctx context.Context, corpID, openKfID, externalUserID string, at time.Time) error
}

// KFConfig tunes the KFPuller.
type KFConfig struct {
	Route  bot.Route // the configured account (SIYU_ACCOUNTS) events are stamped with
	CorpID string
	// PageLimit is sync_msg's limit: 1000, its maximum.
	PageLimit int
	// LockTTL bounds how long one replica may hold an account's pull
	// lock; it must outlast RoundTimeout.
	LockTTL time.Duration
	// LockWait is how long a replica waits for another's pull to finish
	// before it gives its own up (the other pulls everything up to then).
	LockWait time.Duration
	// RoundTimeout bounds one pull round.
	RoundTimeout time.Duration
	// MessageTimeout bounds the engine for one message.
	MessageTimeout time.Duration
	// RetryBackoff is the wait before a failed round is tried again
	// (three times, doubling).
	RetryBackoff time.Duration
}

func (c KFConfig) withDefaults() KFConfig {
	if c.PageLimit <= 0 {
		c.PageLimit = 1000
	}
	if c.RoundTimeout <= 0 {
		c.RoundTimeout = 90 * time.Second // a thousand messages through the engine, with room
	}
	if c.LockTTL <= 0 {
		c.LockTTL = c.RoundTimeout + 30*time.Second
	}
	if c.LockWait <= 0 {
		c.LockWait = 30 * time.Second
	}
	if c.MessageTimeout <= 0 {
		c.MessageTimeout = 10 * time.Second
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = time.Second
	}
	return c
}

// maxKFPages stops a round that WeCom keeps answering has_more for: one
// million messages at the 1000-per-page maximum.
const maxKFPages = 1000

// lockPoll is how often a replica looks again at a held pull lock.
const lockPoll = 100 * time.Millisecond

// KFPuller pulls 微信客服 messages when a kf_msg_or_event callback says
// there are some. Per 微信客服 account, one replica at a time pulls (a
// Redis lock), from the cursor kept in shared storage, page after page
// while has_more; each customer text becomes a bot.Event (dedupe key: the
// msgid) through the handler, and its actions go to the outbox. Within a
// replica, notifications that arrive during a pull make one more round.
type KFPuller struct {
	cfg    KFConfig
	api    KFAPI
	store  KFStore
	locker Locker
	h      bot.Handler
	outbox Enqueuer
	log    *slog.Logger

	mu       sync.Mutex
	accounts map[string]*kfAccount // by open_kfid
	wg       sync.WaitGroup
}

// kfAccount is a replica's pull state for one 微信客服 account.
type kfAccount struct {
	running bool   // a goroutine is pulling or waiting for the lock
	again   bool   // notified during the pull: one more round
	token   string // the newest callback token, valid 10 minutes
}

// NewKFPuller returns a puller. h is the engine behind its middleware
// (with bot.Dedupe). A nil logger discards.
func NewKFPuller(cfg KFConfig, api KFAPI, store KFStore, locker Locker, h bot.Handler, outbox Enqueuer, logger *slog.Logger) *KFPuller {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &KFPuller{
		cfg: cfg.withDefaults(), api: api, store: store, locker: locker, h: h, outbox: outbox, log: logger,
		accounts: make(map[string]*kfAccount),
	}
}

// Notify starts a pull of a 微信客服 account's messages in the background,
// or, if this replica is already pulling it, asks for one more round.
// token is the callback's Token.
func (p *KFPuller) Notify(openKfID, token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.accounts[openKfID]
	if a == nil {
		a = &kfAccount{}
		p.accounts[openKfID] = a
	}
	if token != "" {
		a.token = token
	}
	if a.running {
		a.again = true
		return
	}
	a.running = true
	p.wg.Add(1)
	go p.loop(openKfID)
}

// Wait blocks until the pulls under way have finished.
func (p *KFPuller) Wait() { p.wg.Wait() }

func (p *KFPuller) loop(openKfID string) {
	defer p.wg.Done()
	failures := 0
	for {
		p.mu.Lock()
		a := p.accounts[openKfID]
		a.again = false
		token := a.token
		p.mu.Unlock()

		err := p.Pull(context.Background(), openKfID, token)
		if err != nil {
			failures++
			if failures <= 3 {
				p.log.Warn("wecom: 微信客服 pull failed; trying again", "open_kfid", openKfID, "err", err)
				time.Sleep(p.cfg.RetryBackoff << (failures - 1))
				continue
			}
			p.log.Error("wecom: 微信客服 pull failed; waiting for the next callback", "open_kfid", openKfID, "err", err)
		}
		failures = 0

		p.mu.Lock()
		if !a.again {
			a.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// errLockBusy: another replica kept the pull lock past LockWait.
var errLockBusy = errors.New("wecom: another replica is pulling")

// Pull runs one pull round for a 微信客服 account: it waits for the
// account's lock, then pulls every page after the stored cursor, handles
// the messages and stores the cursor after each page. A message whose
// handling fails stops the round before its page's cursor is stored, so
// the page is pulled again (and the messages already handled are
// recognised by their dedupe keys). Errors wrap bot.ErrUnavailable.
func (p *KFPuller) Pull(ctx context.Context, openKfID, token string) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.RoundTimeout)
	defer cancel()
	release, err := p.lock(ctx, "wecom:kf:"+p.cfg.CorpID+":"+openKfID)
	if errors.Is(err, errLockBusy) {
		p.log.Warn("wecom: 微信客服 pull skipped: another replica held the lock too long", "open_kfid", openKfID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("wecom.KFPuller.Pull: %w", err)
	}
	defer release()
	name := "kf:" + openKfID
	cursor, err := p.store.Cursor(ctx, p.cfg.CorpID, name)
	if err != nil {
		return fmt.Errorf("wecom.KFPuller.Pull: %w", err)
	}
	for range maxKFPages {
		page, err := p.api.SyncKFMsg(ctx, KFSyncRequest{Cursor: cursor, Token: token, Limit: p.cfg.PageLimit, OpenKfID: openKfID})
		if err != nil {
			return fmt.Errorf("wecom.KFPuller.Pull: %w: %w", bot.ErrUnavailable, err)
		}
		for _, m := range page.MsgList {
			if err := p.handle(ctx, openKfID, m); err != nil {
				return fmt.Errorf("wecom.KFPuller.Pull: %w", err)
			}
		}
		if page.NextCursor != "" && page.NextCursor != cursor {
			if err := p.store.SetCursor(ctx, p.cfg.CorpID, name, page.NextCursor); err != nil {
				return fmt.Errorf("wecom.KFPuller.Pull: %w", err)
			}
			cursor = page.NextCursor
		}
		// WeCom: has_more may be 1 with an empty list, and only has_more
		// says when to stop.
		if page.HasMore == 0 {
			return nil
		}
	}
	p.log.Warn("wecom: 微信客服 pull stopped after too many pages", "open_kfid", openKfID, "pages", maxKFPages)
	return nil
}

// lock takes key, waiting up to LockWait while another replica holds it.
func (p *KFPuller) lock(ctx context.Context, key string) (func(), error) {
	deadline := time.Now().Add(p.cfg.LockWait)
	for {
		release, ok, err := p.locker.Lock(ctx, key, p.cfg.LockTTL)
		if err != nil {
			return nil, err
		}
		if ok {
			return release, nil
		}
		if time.Now().After(deadline) {
			return nil, errLockBusy
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wecom: waiting for the pull lock: %w: %w", bot.ErrUnavailable, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

// handle turns one pulled message into an event, if it is a customer's
// text, and queues the engine's answer.
func (p *KFPuller) handle(ctx context.Context, openKfID string, m KFMessage) error {
	if m.OpenKfID == "" {
		m.OpenKfID = openKfID
	}
	if m.Origin == KFOriginCustomer && m.ExternalUserID != "" {
		// Any customer message, text or not, opens the reply window.
		if err := p.store.TouchKFSession(ctx, p.cfg.CorpID, m.OpenKfID, m.ExternalUserID, time.Unix(m.SendTime, 0)); err != nil {
			return err
		}
	}
	ev, ok := kfEvent(p.cfg.CorpID, m)
	if !ok {
		return nil
	}
	ev.Route = p.cfg.Route
	return handleAndQueue(ctx, p.h, p.outbox, p.log, ev, p.cfg.MessageTimeout, "微信客服 message")
}

// handleAndQueue runs an event (a callback's, or a message pulled from
// 微信客服 or the chat archive) through the engine within timeout and
// queues its actions. An event the engine refuses is logged and dropped;
// other errors are returned, so that the callback is retried or the
// message pulled again.
func handleAndQueue(ctx context.Context, h bot.Handler, outbox Enqueuer, log *slog.Logger, ev bot.Event, timeout time.Duration, what string) error {
	mctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	actions, err := h.HandleEvent(mctx, ev)
	if err != nil {
		if errors.Is(err, bot.ErrInvalid) {
			log.WarnContext(ctx, "wecom: "+what+" refused", "kind", ev.Kind, "err", err)
			return nil
		}
		return err
	}
	if err := outbox.Enqueue(ctx, outboxKey(ev), actions); err != nil {
		return fmt.Errorf("%w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// kfEvent maps a pulled 微信客服 message to a bot.Event: a customer's
// text, a servicer's text written in the WeCom client (KindStaffMessage:
// a person is answering), or the end of a session (KindSessionClosed). It
// reports false for everything else (other events, images…). See
// account.go for the account form.
func kfEvent(corpID string, m KFMessage) (bot.Event, bool) {
	if m.MsgID == "" {
		return bot.Event{}, false
	}
	ev := bot.Event{
		Platform:  bot.WeCom,
		Account:   KFAccount(corpID, m.OpenKfID),
		Sender:    bot.UserID(m.ExternalUserID),
		MessageID: m.MsgID,
		DedupeKey: "kf:" + m.MsgID,
		Time:      time.Unix(m.SendTime, 0),
	}
	switch {
	case m.Origin == KFOriginCustomer && m.MsgType == "text":
		ev.Kind, ev.Text = bot.KindMessage, m.Text.Content
	case m.Origin == KFOriginServicer && m.MsgType == "text":
		ev.Kind, ev.Text = bot.KindStaffMessage, m.Text.Content
	case m.Origin == KFOriginEvent && m.MsgType == "event" && m.Event.EventType == "session_status_change" && m.Event.ChangeType == KFChangeEnded:
		ev.Kind = bot.KindSessionClosed
		ev.Account, ev.Sender = KFAccount(corpID, cmp.Or(m.Event.OpenKfID, m.OpenKfID)), bot.UserID(m.Event.ExternalUserID)
	default:
		return bot.Event{}, false
	}
	if ev.Sender == "" {
		return bot.Event{}, false
	}
	return ev, true
}
