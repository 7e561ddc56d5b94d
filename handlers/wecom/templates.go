package wecom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// VersionedScripts is the script library as the template sync needs it:
// bot.Library implements it.
type VersionedScripts interface {
	Scripts() *bot.Scripts
	// Version changes whenever the scripts do.
	Version() string
}

// TemplateAPI manages WeCom's group welcome templates (入群欢迎语素材);
// Client implements it with the 客户联系 secret.
type TemplateAPI interface {
	AddGroupWelcomeTemplate(ctx context.Context, text string) (templateID string, err error)
	EditGroupWelcomeTemplate(ctx context.Context, templateID, text string) error
	DelGroupWelcomeTemplate(ctx context.Context, templateID string) error
}

// Template is a group welcome template siyu manages: slot i holds the
// i-th text of the scripts' welcome.group.
type Template struct {
	Slot       int
	TemplateID string
	Text       string
}

// TemplateStore remembers the templates siyu created, in shared storage.
// Errors are bot.ErrInvalid or bot.ErrUnavailable.
type TemplateStore interface {
	Templates(ctx context.Context, corpID string) ([]Template, error)
	PutTemplate(ctx context.Context, corpID string, slot int, templateID, text string) error
	DeleteTemplate(ctx context.Context, corpID string, slot int) error
}

// TemplateSyncConfig tunes the TemplateSyncer.
type TemplateSyncConfig struct {
	CorpID string
	// Route is the configured account whose scripts' welcome.group the
	// corp's templates hold (bot.ScriptsFor): zero for the environment's.
	Route bot.Route
	// Interval is how often the scripts' version is compared: a few
	// seconds, as the library's own watch.
	Interval time.Duration
	// LockTTL bounds one sync; only one replica syncs at a time.
	LockTTL time.Duration
}

// TemplateSyncer keeps WeCom's group welcome templates in step with the
// scripts' welcome.group, so staff write every welcome in one place:
// WeCom, not the app, sends group welcomes, from templates that members
// apply to their groups (WeCom notifies them). Each text of welcome.group
// is one template (%NICKNAME% becomes the new member's name): a new text
// is added, a changed one edited in place (its id stays, so groups that
// use it keep it), and a removed one deleted. Replicas share the record
// of templates and sync one at a time under a lock.
type TemplateSyncer struct {
	cfg     TemplateSyncConfig
	scripts VersionedScripts
	api     TemplateAPI
	store   TemplateStore
	locker  Locker
	log     *slog.Logger
}

// NewTemplateSyncer returns a syncer. A nil logger discards.
func NewTemplateSyncer(cfg TemplateSyncConfig, scripts VersionedScripts, api TemplateAPI, store TemplateStore, locker Locker, logger *slog.Logger) *TemplateSyncer {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second // staff see their change in WeCom within seconds
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = time.Minute // a hundred templates at most (WeCom's limit), a call each
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &TemplateSyncer{cfg: cfg, scripts: scripts, api: api, store: store, locker: locker, log: logger}
}

// errSyncBusy: another replica is syncing; this one tries again later.
var errSyncBusy = errors.New("wecom: another replica is syncing group welcome templates")

// maxSyncBackoff caps the wait after failed syncs, so that a lasting
// problem (a secret without 客户联系 permission) is retried and logged
// every few minutes rather than every few seconds.
const maxSyncBackoff = 5 * time.Minute

// Run syncs at once and whenever the scripts' version changes, until ctx
// is done. A sync that another replica's lock holds off is tried again at
// the next interval; one that fails is tried again after a wait that
// doubles up to five minutes.
func (s *TemplateSyncer) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	synced := ""
	var retryAt time.Time
	backoff := s.cfg.Interval
	for {
		if v := s.scripts.Version(); v != synced && !time.Now().Before(retryAt) {
			switch err := s.Sync(ctx); {
			case err == nil:
				synced, backoff = v, s.cfg.Interval
			case errors.Is(err, errSyncBusy):
			case ctx.Err() == nil:
				s.log.Warn("wecom: group welcome templates not synced; trying again", "in", backoff.String(), "err", err)
				retryAt = time.Now().Add(backoff)
				backoff = min(2*backoff, maxSyncBackoff)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sync brings WeCom's templates in line with the current scripts once.
// It returns errSyncBusy when another replica holds the lock.
func (s *TemplateSyncer) Sync(ctx context.Context) error {
	release, ok, err := s.locker.Lock(ctx, "wecom:group-welcome-templates:"+s.cfg.CorpID, s.cfg.LockTTL)
	if err != nil {
		return fmt.Errorf("wecom.TemplateSyncer.Sync: %w", err)
	}
	if !ok {
		return errSyncBusy
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LockTTL)
	defer cancel()

	want := bot.ScriptsFor(s.scripts, s.cfg.Route).GroupWelcomes()
	have, err := s.store.Templates(ctx, s.cfg.CorpID)
	if err != nil {
		return fmt.Errorf("wecom.TemplateSyncer.Sync: %w", err)
	}
	bySlot := make(map[int]Template, len(have))
	for _, t := range have {
		bySlot[t.Slot] = t
	}
	for i, text := range want {
		t, ok := bySlot[i]
		switch {
		case ok && t.Text == text:
			continue
		case ok:
			err = s.api.EditGroupWelcomeTemplate(ctx, t.TemplateID, text)
			if code, refused := ErrCode(err); err == nil || !refused || transient(code) {
				break
			}
			// WeCom refused the edit: it no longer knows the template
			// (deleted in the admin console?), so make a new one.
			s.log.Warn("wecom: group welcome template could not be edited; adding it anew", "slot", i, "err", err)
			fallthrough
		default:
			t.TemplateID, err = s.api.AddGroupWelcomeTemplate(ctx, text)
		}
		if err != nil {
			return fmt.Errorf("wecom.TemplateSyncer.Sync: slot %d: %w", i, err)
		}
		if err := s.store.PutTemplate(ctx, s.cfg.CorpID, i, t.TemplateID, text); err != nil {
			return fmt.Errorf("wecom.TemplateSyncer.Sync: slot %d: %w", i, err)
		}
		s.log.Info("wecom: group welcome template synced", "slot", i, "template_id", t.TemplateID)
	}
	for _, t := range have {
		if t.Slot < len(want) {
			continue
		}
		// A refusal means WeCom no longer has it: forget it all the same.
		if err := s.api.DelGroupWelcomeTemplate(ctx, t.TemplateID); err != nil {
			if code, refused := ErrCode(err); !refused || transient(code) {
				return fmt.Errorf("wecom.TemplateSyncer.Sync: delete slot %d: %w", t.Slot, err)
			}
		}
		if err := s.store.DeleteTemplate(ctx, s.cfg.CorpID, t.Slot); err != nil {
			return fmt.Errorf("wecom.TemplateSyncer.Sync: delete slot %d: %w", t.Slot, err)
		}
		s.log.Info("wecom: group welcome template deleted", "slot", t.Slot, "template_id", t.TemplateID)
	}
	return nil
}
