package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/identity"
	"github.com/siyu-bot/siyu/handlers/admin"
	"github.com/siyu-bot/siyu/handlers/metrics"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// capWiring is what a capability's wiring (wire_<capability>.go) gets:
// configuration and the shared stores.
type capWiring struct {
	cfg    config
	getenv func(string) string
	logger *slog.Logger
	db     *sqlstore.DB
	rdb    *redisstore.Client
	// scripts is the library in force, for stages and gates that read
	// their section outside a turn (the outbox's send gate).
	scripts bot.ScriptSource
	// obs counts what capabilities do (coupon claims, held-back pushes).
	obs *metrics.Metrics
}

// Command ranks order the engine's command layer (bot/stage.go): opting
// out comes first, so 退订 is never taken for something else; check-ins
// before coupons, so 签到 with a coupon reward is one command.
const (
	rankDND     = 10
	rankCheckin = 20
	rankCoupon  = 30
)

type rankedStage struct {
	rank  int
	stage bot.Stage
}

// parts gathers what the capabilities (bot/nlp, bot/risk, bot/dnd,
// bot/checkin, bot/coupon) add to siyu. Each wire_<capability>.go fills
// its share; serve builds the library, the engine and the outbox from the
// whole.
type parts struct {
	sections   []bot.Section
	understand []bot.Analyzer
	observe    []bot.Stage
	commands   []rankedStage
	meaning    []bot.Stage
	// middleware wraps the engine inside dedupe, in order, outermost
	// first.
	middleware []bot.Middleware
	gate       bot.SendGate
	renderers  map[string]bot.Renderer
	admin      []admin.Module
	// identity fills events' unionids; the WeCom adapter has it learn
	// new contacts' links (wire_identity.go).
	identity *identity.Service
	// workers run in the background until the server stops.
	workers []func(ctx context.Context)

	// senders deliver actions for platforms no adapter serves, such as
	// risk's alert webhook for bot.Staff. An adapter's own sender for
	// the same platform wins (WeCom's WECOM_ALERT_TO app messages).
	senders map[bot.Platform]bot.Sender
}

// capability is one bot/* package as main wires it.
type capability struct {
	name string
	// sections are the capability's script sections. They need no
	// stores, so check-scripts validates with them too. nil: none.
	sections func() ([]bot.Section, error)
	// wire adds the capability's stages, workers and admin module.
	wire func(ctx context.Context, w capWiring, p *parts) error
}

// capabilities lists every capability, in the order each needs the ones
// before it: intents first (risk and the others read them); identity
// last, as it wraps the send gate do-not-disturb set and puts its
// middleware before everyone's.
func capabilities() []capability {
	return []capability{nlpCapability(), riskCapability(), dndCapability(), couponCapability(), checkinCapability(), identityCapability()}
}

// scriptSections returns every capability's script sections.
func scriptSections() ([]bot.Section, error) {
	var out []bot.Section
	for _, c := range capabilities() {
		if c.sections == nil {
			continue
		}
		secs, err := c.sections()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		out = append(out, secs...)
	}
	return out, nil
}

func buildParts(ctx context.Context, w capWiring) (*parts, error) {
	p := &parts{renderers: map[string]bot.Renderer{}, senders: map[bot.Platform]bot.Sender{}}
	for _, c := range capabilities() {
		if c.wire == nil {
			continue
		}
		if err := c.wire(ctx, w, p); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
	}
	slices.SortStableFunc(p.commands, func(a, b rankedStage) int { return cmp.Compare(a.rank, b.rank) })
	return p, nil
}

func (p *parts) commandStages() []bot.Stage {
	out := make([]bot.Stage, len(p.commands))
	for i, c := range p.commands {
		out[i] = c.stage
	}
	return out
}
