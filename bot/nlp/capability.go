package nlp

import (
	"fmt"
	"io/fs"
	"slices"

	"github.com/siyu-bot/siyu/bot"
)

// Intents is the intents capability: the intents: and faq: script
// sections, the classifier that reads each message once (layer 1), and
// the hand-over and the FAQ (layer 5).
type Intents struct {
	Model *Model
	// Sure reports whether a reading is sure enough to act on alone (see
	// Analyzer.Sure); nil: none is.
	Sure func(label string, confidence float64) bool
	// Confirm asks the hand-over's confirming question (see Handover).
	Confirm *bot.Confirmations
}

// Install adds the intents capability to the stack. The hand-over comes
// before the FAQ: whoever asks for a person gets one; the answer to its
// question is a command, ahead of the keyword rules.
func (c Intents) Install(st *bot.Stack) error {
	if c.Model == nil {
		return fmt.Errorf("nlp.Intents: no model")
	}
	st.Sections(IntentsSection{Labels: c.Model.Labels()}, FAQSection{})
	c.Confirm.Answers(func(sc *bot.Scripts, text string) bool { return slices.Contains(settings(sc).ConfirmWords, text) })
	st.Analyze(Analyzer{Model: c.Model, Sure: c.Sure})
	st.Command(HandoverConfirm{})
	st.Meaning(Handover{Confirm: c.Confirm}, FAQStage{})
	return nil
}

// LoadDatasetModel loads <dataset>.model from fsys and refuses it unless
// its labels are those of <dataset>/train.
func LoadDatasetModel(fsys fs.FS, dataset string) (*Model, error) {
	f, err := fsys.Open(dataset + ".model")
	if err != nil {
		return nil, fmt.Errorf("%s model: %w (run `siyu train`)", dataset, err)
	}
	defer f.Close()
	m, err := LoadModel(f)
	if err != nil {
		return nil, fmt.Errorf("%s model: %w", dataset, err)
	}
	labels, err := DatasetLabels(fsys, dataset+"/train")
	if err != nil {
		return nil, fmt.Errorf("%s model: %w", dataset, err)
	}
	if err := m.CheckLabels(labels); err != nil {
		return nil, fmt.Errorf("%s.model: %w", dataset, err)
	}
	return m, nil
}
