package nlp

import (
	"context"
	"math/rand/v2"

	"github.com/siyu-bot/siyu/bot"
)

// Analyzer is the engine's layer-1 intent classifier: it reads a
// message once and fills Turn.Intent and Turn.Confidence for every later
// stage (intent rules, the hand-over, commands that act on meaning).
type Analyzer struct {
	Model *Model
	// Sure reports whether a reading of label at confidence is one the
	// model is right about at least 99% of the time (the model's
	// calibrated per-intent threshold); it sets bot.Turn.Sure. nil: no
	// reading is sure on its own.
	Sure func(label string, confidence float64) bool
}

// Analyze classifies t's text; a turn without text keeps "" and 0.
func (a Analyzer) Analyze(_ context.Context, t *bot.Turn) error {
	if a.Model == nil || t.Text == "" {
		return nil
	}
	t.Intent, t.Confidence = a.Model.Classify(Canonical(t.Text))
	t.Sure = a.Sure != nil && a.Sure(t.Intent, t.Confidence)
	return nil
}

// HandoverCapability names the hand-over's confirming questions.
const HandoverCapability = "handover"

// Handover is a layer-5 stage: a message the classifier reads as the
// hand-over intent (human_agent) with at least the section's
// min_confidence hands the conversation to a person, when the reading
// is sure: it asks for a bot.Handover (the platform's adapter passes the
// conversation to the brand's staff, and bot/handover pauses the bot
// there), raises a bot.StaffAlert about it and tells the customer a
// person will answer (scripts' intents: section). Otherwise a 1:1
// message is asked first (intents.confirm_reply) and HandoverConfirm
// hands over on the answer. In a group it only alerts: a group is not
// handed to a person.
type Handover struct {
	// Pick chooses one of several replies; nil: at random.
	Pick func(n int) int
	// Confirm asks the question and recognises the answer; nil asks
	// without remembering, so nothing answers it.
	Confirm *bot.Confirmations
}

// HandleTurn takes the turn when it hands it over or asks whether to.
func (h Handover) HandleTurn(ctx context.Context, t *bot.Turn) (bool, error) {
	s := settings(t.Scripts)
	if t.Intent == "" || t.Intent != s.HandoverIntent || t.Confidence < s.MinConfidence || t.Barred() {
		return false, nil
	}
	if !t.SureAt(s.SureConfidence) {
		q := bot.Question{Capability: HandoverCapability, Words: s.ConfirmWords, Prompt: s.ConfirmReply}
		if !h.Confirm.Ask(ctx, t, q) {
			return false, nil
		}
		t.Answer = bot.Answer{Stage: "ask:handover", Intent: t.Intent, Confidence: t.Confidence}
		return true, nil
	}
	handOver(t, s, h.Pick)
	return true, nil
}

// HandoverConfirm is a layer-3 command: the answer to the hand-over's
// question hands over. It runs before the keyword rules, which would
// take the answer 人工 for themselves.
type HandoverConfirm struct {
	// Pick chooses one of several replies; nil: at random.
	Pick func(n int) int
}

// HandleTurn takes the turn when it answers the hand-over's question.
func (h HandoverConfirm) HandleTurn(_ context.Context, t *bot.Turn) (bool, error) {
	if _, ok := t.Confirms(HandoverCapability); !ok {
		return false, nil
	}
	handOver(t, settings(t.Scripts), h.Pick)
	return true, nil
}

func handOver(t *bot.Turn, s *Settings, p func(int) int) {
	to := t.Event.ReplyTarget()
	if !t.Event.Conversation.IsGroup() {
		t.Add(bot.Handover{To: to, Step: bot.HandoverStart, Reason: "intent"})
	}
	t.Add(bot.StaffAlert{To: to, Title: s.AlertTitle, Text: t.Event.Text})
	t.ReplyText(pick(s.HandoverReply, p))
	t.Answer = bot.Answer{Stage: "handover", Intent: t.Intent, Confidence: t.Confidence}
}

// FAQStage is a layer-5 stage answering from the scripts' faq: section
// when a message is similar enough to one entry's questions (see FAQ).
type FAQStage struct {
	// Pick chooses one of several answers; nil: at random.
	Pick func(n int) int
}

// HandleTurn takes the turn when an FAQ entry answers it.
func (f FAQStage) HandleTurn(_ context.Context, t *bot.Turn) (bool, error) {
	faq, _ := t.Scripts.Section(FAQSection{}.Key()).(*FAQ)
	if faq == nil || t.Text == "" {
		return false, nil
	}
	e, _, ok := faq.Match(Canonical(t.Text))
	if !ok {
		return false, nil
	}
	t.ReplyText(pick(e.Answer, f.Pick))
	t.Answer = bot.Answer{Stage: "faq", Rule: e.Name, Intent: t.Intent, Confidence: t.Confidence, File: e.File, Line: e.Line}
	return true, nil
}

func settings(s *bot.Scripts) *Settings {
	if s != nil {
		if v, ok := s.Section(IntentsSection{}.Key()).(*Settings); ok {
			return v
		}
	}
	return DefaultSettings()
}

func pick(texts []string, p func(int) int) string {
	if len(texts) == 0 {
		return ""
	}
	if p == nil {
		p = rand.IntN
	}
	return texts[p(len(texts))]
}
