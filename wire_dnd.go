package main

import (
	"context"
	"time"
	// The brand's time zone (dnd.quiet_hours.timezone) must load on
	// hosts and images without zoneinfo; the embedded copy is the
	// fallback.
	_ "time/tzdata"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/handlers/admin"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// dndCapability wires bot/dnd: the 退订/订阅 command (rank 10), the
// middleware that checks proactive actions when the engine produces them,
// the outbox's send gate, and the admin module.
func dndCapability() capability {
	return capability{
		name:     "dnd",
		sections: func() ([]bot.Section, error) { return []bot.Section{dnd.Section{}}, nil },
		wire:     wireDND,
	}
}

func wireDND(ctx context.Context, w capWiring, p *parts) error {
	svc, err := newDNDService(ctx, w)
	if err != nil {
		return err
	}
	p.commands = append(p.commands, rankedStage{rank: rankDND, stage: svc.Stage()})
	p.middleware = append(p.middleware, svc.Middleware())
	p.gate = svc
	p.admin = append(p.admin, admin.NewDND(dndAdmin{svc}))
	return nil
}

// newDNDService builds the Service on the shared stores. The middleware
// and the gate run outside any turn, so the Service reads the dnd:
// section from the library in force.
func newDNDService(ctx context.Context, w capWiring) (*dnd.Service, error) {
	store, err := sqlstore.NewDND(ctx, w.db)
	if err != nil {
		return nil, err
	}
	var st dnd.Store = store
	if w.obs != nil {
		st = heldCounter{Store: store, count: w.obs.HeldBack}
	}
	svc := dnd.New(dnd.Config{
		Store: st, Counters: redisstore.NewDNDCounters(w.rdb), Scripts: w.scripts,
		Logger: w.logger,
	})
	return svc, nil
}

// dndAdmin adapts the Service to the admin module's interface.
type dndAdmin struct{ svc *dnd.Service }

func (a dndAdmin) OptOut(ctx context.Context, person bot.PersonID) (bool, time.Time, error) {
	return a.svc.OptOut(ctx, person)
}

func (a dndAdmin) SetOptOut(ctx context.Context, person bot.PersonID, optedOut bool) error {
	return a.svc.SetOptOut(ctx, person, optedOut)
}

func (a dndAdmin) HeldBack(ctx context.Context, limit int) ([]admin.DNDHeld, error) {
	held, err := a.svc.Held(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]admin.DNDHeld, len(held))
	for i, h := range held {
		out[i] = admin.DNDHeld{Person: h.Person, Topic: h.Topic, Reason: h.Reason, Action: h.Action, Until: h.Until, CreatedAt: h.At}
	}
	return out, nil
}

// heldCounter counts every held-back record by its reason for the
// metrics, whether do-not-disturb held the push when it was produced or
// when the outbox was about to send it.
type heldCounter struct {
	dnd.Store
	count func(reason string)
}

// RecordHeld implements dnd.Store.
func (h heldCounter) RecordHeld(ctx context.Context, r dnd.HeldBack) error {
	err := h.Store.RecordHeld(ctx, r)
	if err == nil {
		h.count(r.Reason)
	}
	return err
}
