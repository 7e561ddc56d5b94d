package bot

import "context"

// The engine's stack. Every event goes through these layers in this order,
// and this comment is the one place the order is written down:
//
//  1. Understand (EngineConfig.Understand, Analyzers): a message is
//     normalised once (Turn.Text) and classified once: intent and
//     confidence (bot/nlp), risk categories (bot/risk). Every later stage
//     reads the result; none recomputes it.
//  2. Observe (EngineConfig.Observe): stages that see every event,
//     observed ones (chat archive) included, and never take it: risk
//     records hits and alerts staff.
//  3. Commands (EngineConfig.Commands): stages that may take a message
//     for themselves, in the order given: 退订/订阅 (bot/dnd), 签到/排行榜
//     (bot/checkin), the hand-over to a person (bot/handover: 人工, and
//     every message of a conversation a person holds, so nothing after
//     it answers), 领券 (bot/coupon). They also react to other events
//     (a follow may earn a coupon) by adding actions without taking them.
//  4. Rules (built in): keyword rules (exact, contains, regex, menu), and
//     the welcomes of follows, new contacts and new group members.
//  5. Meaning: intent rules (built in: match.intent with min_confidence),
//     then EngineConfig.Meaning stages (the FAQ, a hand-over to staff).
//  6. Fallback (built in): 1:1 only; never in groups.
//
// Observed events stop after layer 2. Once a stage of layers 3–5 takes a
// message, the layers after it do not run. A message flagged ad_spam,
// fraud or poaching (Turn.Barred) stops after layer 3: scripted texts may
// advertise, and such a message earns nothing (see confirm.go). Around the engine, middleware
// (see Chain) adds what concerns every event whatever its answer:
// recover, validation, dedupe, and do-not-disturb on proactive actions.

// Turn is one event on its way through the engine's stack. Stages read it
// and add to it; it lives for one event.
type Turn struct {
	Event   Event
	Scripts *Scripts
	// Text is Event.Text in Normalize's form, computed once.
	Text string
	// Intent and Confidence are the classifier's reading of the message
	// ("" and 0 without a classifier or text).
	Intent     string
	Confidence float64
	// Sure reports that the classifier's reading is one it is right
	// about at least 99% of the time (its calibrated threshold for the
	// intent, fitted on text from sources it never learned from): enough
	// to change a customer's state on its own. See SureAt.
	Sure bool
	// Risks are the risk categories the message hit, the main one first.
	Risks []string
	// Actions are what the turn will answer with, in order.
	Actions []Action
	// Answer says which stage answered, for dry-runs, logs and staff.
	Answer Answer
	// DryRun asks stages to say what they would do without doing it: no
	// writes, no claims, no records. The staff console's dry-run sets it.
	DryRun bool

	values map[any]any // see Set
}

// Set keeps val under key for the rest of the turn, for a capability
// whose stages in different layers share what one of them found (risk's
// analyzer hands its hits to its observer, so a message is scanned
// once). As with context values, key is a comparable value of the
// capability's own unexported type.
func (t *Turn) Set(key, val any) {
	if t.values == nil {
		t.values = make(map[any]any)
	}
	t.values[key] = val
}

// Value returns what Set kept under key, or nil.
func (t *Turn) Value(key any) any { return t.values[key] }

// Answer explains a turn's answer.
type Answer struct {
	Stage      string  `json:"stage"`          // "command:checkin", "rule", "intent", "faq", "fallback", …
	Rule       string  `json:"rule,omitempty"` // the rule's, campaign's or FAQ entry's name
	Intent     string  `json:"intent,omitempty"`
	Confidence float64 `json:"confidence,omitempty"`
	// File and Line say where the answer is written, when a script file
	// holds it (a rule, a welcome, the fallback, an FAQ entry, a
	// campaign): a path in the scripts folder, brands/<brand>/… for a
	// brand's or an account's file.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// Add appends actions to the turn.
func (t *Turn) Add(actions ...Action) { t.Actions = append(t.Actions, actions...) }

// ReplyText adds a reply to the event's sender (in its conversation)
// naming the message it answers.
func (t *Turn) ReplyText(text string) {
	t.Add(Reply{To: t.Event.ReplyTarget(), Text: text, InReplyTo: t.Event.MessageID})
}

// Analyzer is a layer-1 stage: it reads a message and fills in the
// turn's understanding (Intent, Confidence, Risks). It adds no actions.
type Analyzer interface {
	Analyze(ctx context.Context, t *Turn) error
}

// AnalyzerFunc adapts a function to Analyzer.
type AnalyzerFunc func(ctx context.Context, t *Turn) error

// Analyze calls f.
func (f AnalyzerFunc) Analyze(ctx context.Context, t *Turn) error { return f(ctx, t) }

// Stage is a step of layers 2, 3 or 5. HandleTurn may add actions and
// reports whether it took the event; an observer's answer is ignored.
// Errors wrap ErrUnavailable when the platform should retry the callback.
type Stage interface {
	HandleTurn(ctx context.Context, t *Turn) (taken bool, err error)
}

// StageFunc adapts a function to Stage.
type StageFunc func(ctx context.Context, t *Turn) (bool, error)

// HandleTurn calls f.
func (f StageFunc) HandleTurn(ctx context.Context, t *Turn) (bool, error) { return f(ctx, t) }
