package bot

import "context"

// Labelled is one message staff labelled, for the models to learn from a
// brand's own traffic: a risk alert they confirmed or dismissed as a
// false alarm, a dry-run whose intent they corrected.
type Labelled struct {
	// Dataset is the knowledge/ dataset the line belongs to: "risk" or
	// "intents".
	Dataset string
	// Label is one of the dataset's labels (a risk category or none; an
	// intent).
	Label string
	// Text is the message, masked as staff saw it; the Learner masks it
	// again before keeping it.
	Text string
	// Source says what staff did: SourceRiskDismissed,
	// SourceRiskConfirmed or SourceIntentCorrected.
	Source string
	// Was is what siyu had read: the event's category, the dry-run's
	// intent.
	Was string
	// Key names where the label comes from (a risk event, a corrected
	// text): labelling the same origin again replaces the line.
	Key string
}

// Where labelled lines come from.
const (
	SourceRiskDismissed   = "risk_dismissed"   // a false alarm: a none line
	SourceRiskConfirmed   = "risk_confirmed"   // an alert staff acknowledged: a line of its category
	SourceIntentCorrected = "intent_corrected" // a dry-run's intent staff corrected
)

// Learner keeps labelled messages, masked, for staff to export into
// knowledge/ and train on. bot/feedback's Service implements it.
type Learner interface {
	// Learn keeps l, replacing the line of the same Key. Errors are
	// ErrInvalid (an unknown dataset or label, an empty text) or
	// ErrUnavailable.
	Learn(ctx context.Context, l Labelled) error
}
