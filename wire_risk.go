package main

import (
	"context"
	"fmt"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/risk"
	"github.com/siyu-bot/siyu/handlers/admin"
	"github.com/siyu-bot/siyu/knowledge"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// riskCapability wires bot/risk: every message is scanned once (layer 1
// fills Turn.Risks), every hit is recorded, escalated and, where the
// scripts' risk: section asks, alerted to staff in groups (layer 2);
// alerts are rendered from the database when sent; staff review events
// in the admin module "risk".
func riskCapability() capability {
	return capability{
		name:     "risk",
		sections: func() ([]bot.Section, error) { return []bot.Section{risk.Section{}}, nil },
		wire:     wireRisk,
	}
}

func wireRisk(ctx context.Context, w capWiring, p *parts) error {
	// The lead wires bot/nlp's risk model here once merged: a
	// risk.Classifier loaded from knowledge/risk.model. nil scans with
	// the lexicons and detectors only.
	var classifier risk.Classifier
	scanner, err := newRiskScanner(classifier)
	if err != nil {
		return err
	}
	store, err := sqlstore.NewRisk(ctx, w.db)
	if err != nil {
		return err
	}
	svc := risk.NewService(risk.ServiceConfig{Scanner: scanner, Store: store, Logger: w.logger})
	p.understand = append(p.understand, svc.Analyzer())
	p.observe = append(p.observe, svc.Observer())
	p.renderers[risk.RendererName] = svc.Renderer()
	p.admin = append(p.admin, admin.NewRisk(riskAdmin{store}))
	w.logger.Info("risk scanning on", "lexicon_terms", scanner.Lexicon().Len(), "model", classifier != nil)
	return nil
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

// riskReading is what `siyu classify` reports for risk: "risk", the main
// category or "none", and "risk_categories", every category that hit.
// cmdClassify (wire_nlp.go) adds it to each line's reading.
func riskReading(s *risk.Scanner, text string) (main string, categories []string) {
	categories = risk.Main(s.Scan(text))
	if len(categories) == 0 {
		return "none", []string{}
	}
	return categories[0], categories
}

// riskAdmin adapts the risk store to the admin module, masking customer
// ids for display (evidence and text are masked when recorded).
type riskAdmin struct{ store *sqlstore.Risk }

var _ admin.RiskEvents = riskAdmin{}

func (a riskAdmin) ListEvents(ctx context.Context, category, status string, limit int) ([]admin.RiskEvent, error) {
	f := sqlstore.RiskFilter{Limit: limit}
	if category != "" {
		c, err := risk.ParseCategory(category)
		if err != nil {
			return nil, err
		}
		f.Category = c
	}
	if status != "" {
		st, err := risk.ParseStatus(status)
		if err != nil {
			return nil, err
		}
		f.Status = st
	}
	events, err := a.store.ListRisk(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]admin.RiskEvent, len(events))
	for i, e := range events {
		out[i] = admin.RiskEvent{
			ID: e.ID, Category: string(e.Category), Severity: e.Severity.String(), Evidence: e.Evidence,
			Platform: string(e.Platform), Conversation: risk.MaskID(string(e.Conversation)), Sender: risk.MaskID(string(e.Sender)),
			TextMasked: e.TextMasked, Count: e.Count, Status: string(e.Status), CreatedAt: e.CreatedAt,
		}
	}
	return out, nil
}

func (a riskAdmin) SetStatus(ctx context.Context, id int64, status string) error {
	st, err := risk.ParseStatus(status)
	if err != nil {
		return err
	}
	return a.store.SetRiskStatus(ctx, id, st)
}
