package bot

import (
	"context"
	"fmt"
	"time"
)

// A Capability is one bot/* package (intents, risk, do-not-disturb,
// check-ins, coupons, identity, …) as the composition root lists it.
// Install adds what the capability brings to each layer of the stack
// (stage.go); it is called once, in the order of NewStack's list.
//
// A capability that needs another gets it as a Go value through its
// constructor (check-ins are given the coupon service), never by looking
// it up on the stack, so wrapping one cannot hide what another needs.
type Capability interface {
	Install(s *Stack) error
}

// Stack is the engine's stack as the capabilities build it. The order of
// NewStack's list is the stack's order in every layer: the commands run
// in list order, the middleware and the send-gate wrappers of an earlier
// capability sit outside a later one's. Nothing else ranks stages.
type Stack struct {
	caps       []Capability
	sections   []Section
	analyzers  []Analyzer
	observers  []Stage
	commands   []Stage
	meaning    []Stage
	middleware []Middleware
	gates      []func(next SendGate) SendGate
	renderers  map[string]Renderer
	workers    []func(ctx context.Context)
}

// NewStack installs caps in order.
func NewStack(caps ...Capability) (*Stack, error) {
	s := &Stack{caps: caps, renderers: map[string]Renderer{}}
	for _, c := range caps {
		if err := c.Install(s); err != nil {
			return nil, fmt.Errorf("bot.NewStack %T: %w", c, err)
		}
	}
	return s, nil
}

// Sections adds script sections the capability decodes (layer 0: the
// scripts themselves).
func (s *Stack) Sections(secs ...Section) { s.sections = append(s.sections, secs...) }

// Analyze adds layer-1 analyzers: they read a message once and fill the
// turn's understanding.
func (s *Stack) Analyze(a ...Analyzer) { s.analyzers = append(s.analyzers, a...) }

// Observe adds layer-2 stages that see every event and never take it.
func (s *Stack) Observe(st ...Stage) { s.observers = append(s.observers, st...) }

// Command adds layer-3 stages that may take a message before the
// keyword rules.
func (s *Stack) Command(st ...Stage) { s.commands = append(s.commands, st...) }

// Meaning adds layer-5 stages that answer after the intent rules and
// before the fallback.
func (s *Stack) Meaning(st ...Stage) { s.meaning = append(s.meaning, st...) }

// Use adds middleware around the engine, inside dedupe; an earlier
// capability's middleware wraps a later one's.
func (s *Stack) Use(mw ...Middleware) { s.middleware = append(s.middleware, mw...) }

// WrapGate adds a wrapper of the outbox's send gate. Wrappers compose in
// list order, the first outermost; the innermost is given nil.
func (s *Stack) WrapGate(w func(next SendGate) SendGate) { s.gates = append(s.gates, w) }

// Render registers the renderer of the Render actions named name.
func (s *Stack) Render(name string, r Renderer) error {
	if _, dup := s.renderers[name]; dup {
		return fmt.Errorf("bot.Stack: renderer %q installed twice: %w", name, ErrConflict)
	}
	s.renderers[name] = r
	return nil
}

// Work adds background work that runs until the server stops.
func (s *Stack) Work(w func(ctx context.Context)) { s.workers = append(s.workers, w) }

// Capabilities returns the installed capabilities in order, for
// adapters that offer what a capability implements (the staff console
// finds the modules it serves by their interfaces).
func (s *Stack) Capabilities() []Capability { return s.caps }

// ScriptSections returns every capability's script sections.
func (s *Stack) ScriptSections() []Section { return s.sections }

// Engine returns an engine running the stack over cfg's scripts; cfg's
// stage lists are replaced by the stack's.
func (s *Stack) Engine(cfg EngineConfig) *Engine {
	cfg.Understand, cfg.Observe, cfg.Commands, cfg.Meaning = s.analyzers, s.observers, s.commands, s.meaning
	return NewEngine(cfg)
}

// Middleware returns the capabilities' middleware, outermost first.
func (s *Stack) Middleware() []Middleware { return s.middleware }

// Gate returns the send gate the wrappers make, nil when none admits
// anything by itself (every push is sent).
func (s *Stack) Gate() SendGate {
	var g SendGate
	for i := len(s.gates) - 1; i >= 0; i-- {
		g = s.gates[i](g)
	}
	return g
}

// Renderers returns the renderers by name.
func (s *Stack) Renderers() map[string]Renderer { return s.renderers }

// Workers returns the background work.
func (s *Stack) Workers() []func(ctx context.Context) { return s.workers }

// BothGates admits a push when a and b both do. b is asked only once a
// admits the push now, so a gate that counts sends (caps) counts only
// sends that happen. Either may be nil.
func BothGates(a, b SendGate) SendGate {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return bothGates{a, b}
}

type bothGates struct{ a, b SendGate }

func (g bothGates) Admit(ctx context.Context, p Push, now time.Time) (time.Time, error) {
	if until, err := g.a.Admit(ctx, p, now); err != nil || !until.IsZero() {
		return until, err
	}
	return g.b.Admit(ctx, p, now)
}
