package main

import (
	"context"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/handlers/admin"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// consoleWiring is what the admin API and the staff console need from
// serve.
type consoleWiring struct {
	w       wiring
	outbox  admin.OutboxAdmin
	engine  *bot.Engine
	parts   *parts
	editDir string // the scripts folder, "" for the embedded examples
}

// wireConsole mounts the admin API and the console at /admin/ (only with
// SIYU_ADMIN_TOKEN set): the capabilities' modules, the dry-run over the
// engine, saving into the scripts folder, and the WeCom contacts report
// when WeCom is configured.
func wireConsole(ctx context.Context, cw consoleWiring) error {
	w := cw.w
	if w.cfg.AdminToken == "" {
		w.logger.Info("admin API and console off: set SIYU_ADMIN_TOKEN to enable them")
		return nil
	}
	if len(w.cfg.AdminToken) < 16 {
		// The token is the console's only lock; a short one can be guessed.
		w.logger.Warn("SIYU_ADMIN_TOKEN is shorter than 16 characters; use a long random value (openssl rand -hex 24)")
	}
	h := admin.New(w.cfg.AdminToken, cw.outbox, w.library, w.logger, cw.parts.admin...)
	var explainer admin.HoldExplainer
	if svc, ok := cw.parts.gate.(*dnd.Service); ok {
		// Do-not-disturb says what it would hold back without recording
		// or counting anything.
		explainer = dndExplainer{svc}
	}
	h.WithDryRun(cw.engine, explainer)
	if cw.editDir != "" {
		h.WithScriptsDir(cw.editDir)
	}
	if wc, err := loadWeComConfig(w.getenv); err == nil && wc.enabled() {
		store, err := sqlstore.NewWeCom(ctx, w.db)
		if err != nil {
			return err
		}
		h.WithContacts(contactsReport{store})
	}
	h.Register(w.group)
	w.logger.Info("admin API and console on", "path", "/admin/", "scripts_save", cw.editDir != "")
	return nil
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

// dndExplainer adapts bot/dnd's Explain to the dry-run's question: which
// of the turn's actions would be held, by index. Explain over each prefix
// of the proactive actions replays the same checks in order (per-turn
// caps included).
type dndExplainer struct{ svc *dnd.Service }

// ExplainHolds implements admin.HoldExplainer.
func (e dndExplainer) ExplainHolds(ctx context.Context, actions []bot.Action, now time.Time) ([]admin.Hold, error) {
	var out []admin.Hold
	var proactive []bot.Action
	for i, a := range actions {
		if !bot.IsProactive(a) {
			continue
		}
		proactive = append(proactive, a)
		held, err := e.svc.Explain(ctx, proactive, now)
		if err != nil {
			return nil, err
		}
		if len(held) > len(out) {
			last := held[len(held)-1]
			out = append(out, admin.Hold{Index: i, Reason: last.Reason, Until: last.Until})
		}
	}
	return out, nil
}
