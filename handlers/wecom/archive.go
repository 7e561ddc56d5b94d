package wecom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// ArchivedMessage is one message of WeCom's chat archive (会话内容存档),
// decrypted, reduced to what siyu reads.
type ArchivedMessage struct {
	Seq    uint64 // position in the archive; Fetch continues after it
	MsgID  string
	Action string // send, recall or switch
	Type   string // ArchiveText, ArchiveJoin, or another WeCom msgtype (skipped)
	From   string // userid or external_userid
	RoomID string // the group chat id; empty for 1:1 chats
	Text   string // for ArchiveText
	// Members joined the group, for ArchiveJoin.
	Members []string
	Time    time.Time
}

// Archived message types the poller turns into events.
const (
	ArchiveText = "text"
	ArchiveJoin = "join"
)

// ArchiveSource reads the chat archive. Fetch returns up to limit
// messages after seq, in order. The adapter to the SDK's msgaudit client
// (build tag msgaudit, see archive_sdk.go) implements it; tests fake it.
type ArchiveSource interface {
	Fetch(ctx context.Context, seq uint64, limit int) ([]ArchivedMessage, error)
}

// ArchiveConfig tunes the ArchivePoller.
type ArchiveConfig struct {
	Route  bot.Route // the configured account (SIYU_ACCOUNTS) events are stamped with
	CorpID string
	// Interval is how often the archive is polled: 15 s, as often as
	// WeCom's msgaudit_notify would announce new messages.
	Interval time.Duration
	// Limit is how many messages one Fetch asks for: 1000, the SDK's
	// maximum.
	Limit int
	// LockTTL bounds one poll; only one replica polls at a time.
	LockTTL time.Duration
	// MessageTimeout bounds the engine for one message.
	MessageTimeout time.Duration
}

// cursorArchive is the name of the archive's seq in the CursorStore.
const cursorArchive = "archive"

// ArchivePoller turns archived group and 1:1 messages into engine events
// in observe mode (bot.Event.Observe): WeCom allows no direct reply, but
// check-ins, statistics and risk alerts can work in customer groups. The
// archive's seq is kept in shared storage, one replica polls at a time,
// and each message is deduped by its msgid.
type ArchivePoller struct {
	cfg    ArchiveConfig
	src    ArchiveSource
	store  CursorStore
	locker Locker
	h      bot.Handler
	outbox Enqueuer
	log    *slog.Logger
}

// NewArchivePoller returns a poller. h is the engine behind its
// middleware (with bot.Dedupe). A nil logger discards.
func NewArchivePoller(cfg ArchiveConfig, src ArchiveSource, store CursorStore, locker Locker, h bot.Handler, outbox Enqueuer, logger *slog.Logger) *ArchivePoller {
	if cfg.Interval <= 0 {
		cfg.Interval = 15 * time.Second
	}
	if cfg.Limit <= 0 {
		cfg.Limit = 1000
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = 2 * time.Minute // a few thousand messages through the engine
	}
	if cfg.MessageTimeout <= 0 {
		cfg.MessageTimeout = 10 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ArchivePoller{cfg: cfg, src: src, store: store, locker: locker, h: h, outbox: outbox, log: logger}
}

// Run polls every interval until ctx is done.
func (p *ArchivePoller) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := p.PollOnce(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("wecom: chat archive poll failed; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PollOnce reads the archive from the stored seq to its end, unless
// another replica is polling, and returns how many messages it read. The
// seq is stored after each batch; a batch that fails is read again, and
// its messages already handled are recognised by their dedupe keys.
func (p *ArchivePoller) PollOnce(ctx context.Context) (int, error) {
	release, ok, err := p.locker.Lock(ctx, "wecom:archive:"+p.cfg.CorpID, p.cfg.LockTTL)
	if err != nil || !ok {
		return 0, err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.LockTTL)
	defer cancel()
	stored, err := p.store.Cursor(ctx, p.cfg.CorpID, cursorArchive)
	if err != nil {
		return 0, fmt.Errorf("wecom.ArchivePoller: %w", err)
	}
	var seq uint64
	if stored != "" {
		if seq, err = strconv.ParseUint(stored, 10, 64); err != nil {
			return 0, fmt.Errorf("wecom.ArchivePoller: stored seq %q: %w", stored, bot.ErrInvalid)
		}
	}
	n := 0
	for {
		msgs, err := p.src.Fetch(ctx, seq, p.cfg.Limit)
		if err != nil {
			return n, fmt.Errorf("wecom.ArchivePoller: fetch after %d: %w", seq, err)
		}
		if len(msgs) == 0 {
			return n, nil
		}
		next := seq
		for _, m := range msgs {
			if err := p.handle(ctx, m); err != nil {
				return n, fmt.Errorf("wecom.ArchivePoller: %w", err)
			}
			next = max(next, m.Seq)
			n++
		}
		if next == seq {
			return n, errors.New("wecom.ArchivePoller: the archive returned messages without advancing seq")
		}
		seq = next
		if err := p.store.SetCursor(ctx, p.cfg.CorpID, cursorArchive, strconv.FormatUint(seq, 10)); err != nil {
			return n, fmt.Errorf("wecom.ArchivePoller: %w", err)
		}
		if len(msgs) < p.cfg.Limit {
			return n, nil
		}
	}
}

func (p *ArchivePoller) handle(ctx context.Context, m ArchivedMessage) error {
	ev, ok := archiveEvent(p.cfg.CorpID, m)
	if !ok {
		return nil
	}
	ev.Route = p.cfg.Route
	return handleAndQueue(ctx, p.h, p.outbox, p.log, ev, p.cfg.MessageTimeout, "archived message")
}

// archiveEvent maps an archived message to an observe-mode event: texts
// (sent, not recalled) and group joins; it reports false for the rest.
func archiveEvent(corpID string, m ArchivedMessage) (bot.Event, bool) {
	if m.MsgID == "" || (m.Action != "" && m.Action != "send") {
		return bot.Event{}, false
	}
	ev := bot.Event{
		Platform:     bot.WeCom,
		Account:      bot.AccountID(corpID),
		Conversation: bot.Conversation{Group: bot.GroupID(m.RoomID)},
		Sender:       bot.UserID(m.From),
		MessageID:    m.MsgID,
		DedupeKey:    "archive:" + m.MsgID,
		Observe:      true,
		Time:         m.Time,
	}
	switch m.Type {
	case ArchiveText:
		if m.From == "" {
			return bot.Event{}, false
		}
		ev.Kind, ev.Text = bot.KindMessage, m.Text
	case ArchiveJoin:
		if m.RoomID == "" || len(m.Members) == 0 {
			return bot.Event{}, false
		}
		ev.Kind = bot.KindMemberJoined
		for _, id := range m.Members {
			ev.Members = append(ev.Members, bot.UserID(id))
		}
	default:
		return bot.Event{}, false
	}
	return ev, true
}
