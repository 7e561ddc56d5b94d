package main

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siyu-bot/siyu/bot/nlp"
	"github.com/siyu-bot/siyu/knowledge"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestRetrainedModelFolder: SIYU_MODELS points at a folder a brand
// retrained into; its intents.model is used without a rebuild, and a
// model that does not know the intents siyu acts on is refused, naming
// them.
func TestRetrainedModelFolder(t *testing.T) {
	shipped, err := fs.ReadFile(knowledge.FS, "intents.model")
	if err != nil {
		t.Fatal(err)
	}
	good := t.TempDir()
	if err := os.WriteFile(filepath.Join(good, "intents.model"), shipped, 0o644); err != nil {
		t.Fatal(err)
	}
	a, _ := buildTest(t, map[string]string{"SIYU_SCRIPTS": "scripts", "SIYU_MODELS": good})
	if a.engine == nil {
		t.Fatal("no engine built on the retrained model")
	}

	// A toy model that knows only yes and no.
	m, err := nlp.Train(t.Context(), []nlp.Example{
		{Text: "是", Label: "yes"}, {Text: "对的", Label: "yes"}, {Text: "好的", Label: "yes"},
		{Text: "不", Label: "no"}, {Text: "不是", Label: "no"}, {Text: "不要", Label: "no"},
	}, nlp.TrainConfig{Dim: 8, Epochs: 2, LearningRate: 0.01, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "intents.model"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"SIYU_SCRIPTS": "scripts", "SIYU_MODELS": bad}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = build(t.Context(), cfg, stores{db: storetest.SQL(t), rdb: storetest.Redis(t)}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "SIYU_MODELS") || !strings.Contains(err.Error(), "unsubscribe") {
		t.Fatalf("build with a model missing siyu's intents: err = %v, want SIYU_MODELS refused naming unsubscribe", err)
	}
}
