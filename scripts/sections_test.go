package scripts_test

import (
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/nlp"
	"github.com/siyu-bot/siyu/knowledge"
)

// shippedSections returns the capabilities' script sections the shipped
// scripts use, as main's scriptSections does.
func shippedSections(t *testing.T) []bot.Section {
	t.Helper()
	f, err := knowledge.FS.Open("intents.model")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	labels, err := nlp.ReadLabels(f)
	if err != nil {
		t.Fatal(err)
	}
	return []bot.Section{nlp.IntentsSection{Labels: labels}, nlp.FAQSection{}}
}
