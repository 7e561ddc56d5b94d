package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers/wecom"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// weComConfig is WeCom's part of the environment (see docs/wecom.md).
type weComConfig struct {
	CorpID        string   // WECOM_CORPID
	AgentID       string   // WECOM_AGENTID: the self-built app
	Secret        string   // WECOM_SECRET: the app's secret (app messages, 微信客服)
	ContactSecret string   // WECOM_CONTACT_SECRET: 客户联系 (welcomes, group welcome templates)
	Token         string   // WECOM_TOKEN
	AESKey        string   // WECOM_AES_KEY
	AlertTo       []string // WECOM_ALERT_TO: staff userids, comma- or |-separated
	ArchiveSecret string   // WECOM_ARCHIVE_SECRET: 会话内容存档, optional
	ArchiveKey    string   // WECOM_ARCHIVE_KEY_FILE: its RSA private key (PEM file)
}

// enabled reports whether WeCom is configured at all.
func (c weComConfig) enabled() bool { return c.CorpID != "" && c.Token != "" }

// loadWeComConfig reads WeCom's variables. It is pure: getenv is the
// only input. WECOM_API_BASE is read by serve, which routes every SDK
// call.
func loadWeComConfig(getenv func(string) string) (weComConfig, error) {
	c := weComConfig{
		CorpID:        strings.TrimSpace(getenv("WECOM_CORPID")),
		AgentID:       strings.TrimSpace(getenv("WECOM_AGENTID")),
		Secret:        getenv("WECOM_SECRET"),
		ContactSecret: getenv("WECOM_CONTACT_SECRET"),
		Token:         getenv("WECOM_TOKEN"),
		AESKey:        getenv("WECOM_AES_KEY"),
		ArchiveSecret: getenv("WECOM_ARCHIVE_SECRET"),
		ArchiveKey:    getenv("WECOM_ARCHIVE_KEY_FILE"),
	}
	c.AlertTo = strings.FieldsFunc(getenv("WECOM_ALERT_TO"), func(r rune) bool { return r == ',' || r == '|' || r == ' ' })
	if !c.enabled() {
		return c, nil
	}
	if len(c.AESKey) != 43 {
		return c, fmt.Errorf("config: WECOM_AES_KEY must be the 43-character EncodingAESKey, got %d characters", len(c.AESKey))
	}
	if c.AgentID != "" {
		if _, err := strconv.Atoi(c.AgentID); err != nil {
			return c, fmt.Errorf("config: WECOM_AGENTID must be the app's numeric AgentId, got %q", c.AgentID)
		}
	}
	if len(c.AlertTo) > 0 && (c.AgentID == "" || c.Secret == "") {
		return c, fmt.Errorf("config: WECOM_ALERT_TO needs WECOM_AGENTID and WECOM_SECRET (alerts are app messages)")
	}
	if c.ArchiveSecret != "" && c.ArchiveKey == "" {
		return c, fmt.Errorf("config: WECOM_ARCHIVE_SECRET needs WECOM_ARCHIVE_KEY_FILE")
	}
	return c, nil
}

// wireWeCom mounts the WeCom callback, registers the WeCom and staff
// senders and starts WeCom's background work: group welcome template
// sync and, when configured, the chat archive poller. With WECOM_CORPID
// or WECOM_TOKEN unset it does nothing.
func wireWeCom(ctx context.Context, w wiring) error {
	cfg, err := loadWeComConfig(w.getenv)
	if err != nil {
		return err
	}
	if !cfg.enabled() {
		w.logger.Info("WeCom off: set WECOM_CORPID and WECOM_TOKEN to enable it")
		return nil
	}
	log := w.logger.With("platform", "wecom")
	store, err := sqlstore.NewWeCom(ctx, w.db)
	if err != nil {
		return err
	}
	st := weComStore{store}

	// One SDK client per secret, each with its own token key in the
	// shared cache, so their tokens do not overwrite each other.
	var app, contact *wecom.Client
	if cfg.Secret != "" {
		app = wecom.NewClient(cfg.CorpID, cfg.Secret, cmp.Or(cfg.AgentID, "app"), w.tokens)
		contact = app
	}
	if cfg.ContactSecret != "" {
		contact = wecom.NewClient(cfg.CorpID, cfg.ContactSecret, "contact", w.tokens)
	}

	var sender bot.Sender = bot.SenderFunc(func(context.Context, bot.Action) error {
		return fmt.Errorf("WECOM_SECRET is not set, so WeCom messages cannot be sent: %w", bot.ErrInvalid)
	})
	var kf *wecom.KFPuller
	if app != nil {
		sender = wecom.NewSender(app, st, wecom.SenderConfig{Logger: log})
		kf = wecom.NewKFPuller(wecom.KFConfig{CorpID: cfg.CorpID}, app, st, w.rdb, w.handler, w.outbox, log)
	}
	w.outbox.SetSender(bot.WeCom, sender)
	if len(cfg.AlertTo) > 0 {
		agentID, _ := strconv.Atoi(cfg.AgentID) // checked by loadWeComConfig
		w.outbox.SetSender(bot.Staff, wecom.NewStaffSender(app, agentID, cfg.AlertTo, log))
	} else {
		log.Info("WeCom staff alerts off: set WECOM_ALERT_TO to the staff userids who should get them")
	}

	d := wecom.Deps{Handler: w.handler, Outbox: w.outbox, Contacts: st, Groups: st, Scripts: w.library, KF: kf, Logger: log}
	if w.identity != nil {
		d.Identity = w.identity
	}
	if contact != nil {
		d.Welcomes = contact
		sync := wecom.NewTemplateSyncer(wecom.TemplateSyncConfig{CorpID: cfg.CorpID}, w.library, contact, st, w.rdb, log)
		go sync.Run(ctx)
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
	if w.drains != nil {
		*w.drains = append(*w.drains, h.Wait)
	}
	w.outbox.SetRenderer(wecom.LateRendererName, h.LateRenderer())

	if cfg.ArchiveSecret != "" {
		key, err := os.ReadFile(cfg.ArchiveKey)
		if err != nil {
			return fmt.Errorf("config: WECOM_ARCHIVE_KEY_FILE: %w", err)
		}
		src, closeArchive, err := wecom.OpenArchive(cfg.CorpID, cfg.ArchiveSecret, string(key))
		if err != nil {
			return err
		}
		poller := wecom.NewArchivePoller(wecom.ArchiveConfig{CorpID: cfg.CorpID}, src, st, w.rdb, w.handler, w.outbox, log)
		go func() {
			defer closeArchive()
			poller.Run(ctx)
		}()
		log.Info("WeCom chat archive on")
	}
	log.Info("WeCom on", "corp", cfg.CorpID, "agent", cfg.AgentID, "callback", "/wecom/callback",
		"welcomes", contact != nil, "kf", kf != nil, "alerts", len(cfg.AlertTo) > 0)
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
