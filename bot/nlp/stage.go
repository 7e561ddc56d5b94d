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
}

// Analyze classifies t's text; a turn without text keeps "" and 0.
func (a Analyzer) Analyze(_ context.Context, t *bot.Turn) error {
	if a.Model == nil || t.Text == "" {
		return nil
	}
	t.Intent, t.Confidence = a.Model.Classify(Canonical(t.Text))
	return nil
}

// Handover is a layer-5 stage: a message the classifier reads as the
// hand-over intent (human_agent) with at least the section's
// min_confidence asks for a bot.Handover of the conversation (the
// platform's adapter passes it to the brand's staff, and bot/handover
// pauses the bot there), raises a bot.StaffAlert about it and tells the
// customer a person will answer (scripts' intents: section). In a group
// it only alerts: a group is not handed to a person.
type Handover struct {
	// Pick chooses one of several replies; nil: at random.
	Pick func(n int) int
}

// HandleTurn takes the turn when it hands it over.
func (h Handover) HandleTurn(_ context.Context, t *bot.Turn) (bool, error) {
	s := settings(t.Scripts)
	if t.Intent == "" || t.Intent != s.HandoverIntent || t.Confidence < s.MinConfidence {
		return false, nil
	}
	to := t.Event.ReplyTarget()
	if !t.Event.Conversation.IsGroup() {
		t.Add(bot.Handover{To: to, Step: bot.HandoverStart, Reason: "intent"})
	}
	t.Add(bot.StaffAlert{To: to, Title: s.AlertTitle, Text: t.Event.Text})
	t.ReplyText(pick(s.HandoverReply, h.Pick))
	t.Answer = bot.Answer{Stage: "handover", Intent: t.Intent, Confidence: t.Confidence}
	return true, nil
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
	t.Answer = bot.Answer{Stage: "faq", Rule: e.Name, Intent: t.Intent, Confidence: t.Confidence}
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
