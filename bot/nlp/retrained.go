package nlp

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/siyu-bot/siyu/bot"
)

// LoadRetrained loads the model file name (e.g. "intents.model") from a
// folder a brand retrains into (fsys, usually os.DirFS of a configured
// folder), so that a model trained on the brand's own traffic is used
// without rebuilding siyu. It refuses, with an error naming the file and
// the labels, a model that lacks any of need: the intents the scripts
// and the engine act on (rules' match.intent, the hand-over intent, the
// commands' intents). A model may have more labels than need: a rule
// may be written for them later.
func LoadRetrained(fsys fs.FS, name string, need []string) (*Model, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("nlp.LoadRetrained: %w", err)
	}
	defer f.Close()
	m, err := LoadModel(f)
	if err != nil {
		return nil, fmt.Errorf("nlp.LoadRetrained %s: %w", name, err)
	}
	var missing []string
	for _, l := range need {
		if !slices.Contains(m.labels, l) && !slices.Contains(missing, l) {
			missing = append(missing, l)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("nlp.LoadRetrained %s: the model does not know %s, which the scripts use (the model knows %s); retrain it with knowledge that has them, or change the scripts: %w",
			name, strings.Join(missing, ", "), strings.Join(m.labels, ", "), bot.ErrInvalid)
	}
	return m, nil
}

// ScriptIntents returns the intents scripts act on: every rule's
// match.intent and the intents: section's hand-over intent, sorted,
// without repeats. Pass them with the engine's own (the commands') to
// LoadRetrained.
func ScriptIntents(s *bot.Scripts) []string {
	var out []string
	add := func(l string) {
		if l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	add(settings(s).HandoverIntent)
	if s != nil {
		for _, r := range s.Rules() {
			for _, in := range r.Intents {
				add(in)
			}
		}
	}
	slices.Sort(out)
	return out
}
