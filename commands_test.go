package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siyu-bot/siyu/bot/nlp"
)

func TestClassifyCommand(t *testing.T) {
	in := strings.Join([]string{
		"我要签到",
		`{"text": "有优惠券吗", "id": 7}`,
		`{"text": `,
		`{"id": 1}`,
		"",
		"轉人工",
	}, "\n") + "\n"
	var out, errOut bytes.Buffer
	err := run(t.Context(), runEnv{args: []string{"classify"}, getenv: func(string) string { return "" },
		stdin: strings.NewReader(in), stdout: &out, stderr: &errOut})
	if err != nil {
		t.Fatalf("classify: %v (stderr %s)", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []struct {
		text, intent string
		errLine      int
	}{
		{text: "我要签到", intent: "checkin"},
		{text: "有优惠券吗", intent: "coupon"},
		{errLine: 3},
		{errLine: 4},
		{errLine: 5},
		{text: "轉人工", intent: "human_agent"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d output lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, w := range want {
		var got map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Fatalf("line %d %q: %v", i+1, lines[i], err)
		}
		if w.errLine != 0 {
			if got["line"] != float64(w.errLine) || got["error"] == nil {
				t.Errorf("line %d = %s, want an error object for line %d", i+1, lines[i], w.errLine)
			}
			continue
		}
		cats, _ := got["risk_categories"].([]any)
		if got["text"] != w.text || got["intent"] != w.intent || got["risk"] != "none" || cats == nil || len(cats) != 0 {
			t.Errorf("line %d = %s, want text %q intent %s risk none and []", i+1, lines[i], w.text, w.intent)
		}
		if c, _ := got["confidence"].(float64); c <= 0 || c > 1 {
			t.Errorf("line %d confidence %v, want in (0, 1]", i+1, got["confidence"])
		}
	}
}

func TestTrainCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("toy/train/yes.txt", "# comment\n是\n是的\n对\n对的\n好的\n可以\n行\n没问题\n")
	write("toy/train/no.txt", "不\n不是\n不对\n不行\n不可以\n不要\n算了\n没门\n")
	write("toy/heldout/yes.txt", "是啊\n")
	write("toy/heldout/no.txt", "不好\n")
	write("notes/readme.txt", "not a dataset\n")
	var out, errOut bytes.Buffer
	err := run(t.Context(), runEnv{args: []string{"train", "-knowledge", dir, "-epochs", "3"}, getenv: func(string) string { return "" },
		stdout: &out, stderr: &errOut})
	if err != nil {
		t.Fatalf("train: %v (stderr %s)", err, errOut.String())
	}
	for _, want := range []string{"== toy:", "cannot be held out", "heldout/", "macro-F1", "confusion", "wrote "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("train output does not say %q:\n%s", want, out.String())
		}
	}
	m, err := nlp.LoadDatasetModel(os.DirFS(dir), "toy")
	if err != nil {
		t.Fatalf("the model train wrote: %v", err)
	}
	if got := strings.Join(m.Labels(), ","); got != "no,yes" {
		t.Errorf("labels %s, want no,yes", got)
	}
	// A dataset that gains a label no longer matches its model.
	write("toy/train/maybe.txt", "也许\n")
	if _, err := nlp.LoadDatasetModel(os.DirFS(dir), "toy"); err == nil || !strings.Contains(err.Error(), "does not match the dataset") {
		t.Errorf("a model older than its dataset's labels: err = %v, want a mismatch error", err)
	}
}
