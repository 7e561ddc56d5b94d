package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/nlp"
	"github.com/siyu-bot/siyu/bot/risk"
	"github.com/siyu-bot/siyu/knowledge"
)

// intentsDataset is the knowledge/ dataset the engine's intent model is
// trained from; its model is knowledge/intents.model.
const intentsDataset = "intents"

// nlpCapability wires bot/nlp: the intents: and faq: script sections,
// the intent classifier (layer 1, the embedded model loaded once), and
// the hand-over and FAQ stages (layer 5).
func nlpCapability() capability {
	return capability{
		name: "nlp",
		sections: func() ([]bot.Section, error) {
			// Only the labels: enough to check the scripts' intent rules.
			f, err := knowledge.FS.Open(intentsDataset + ".model")
			if err != nil {
				return nil, fmt.Errorf("intent model: %w (run `siyu train`)", err)
			}
			defer f.Close()
			labels, err := nlp.ReadLabels(f)
			if err != nil {
				return nil, err
			}
			return []bot.Section{nlp.IntentsSection{Labels: labels}, nlp.FAQSection{}}, nil
		},
		wire: func(_ context.Context, w capWiring, p *parts) error {
			start := time.Now()
			m, err := loadDatasetModel(knowledge.FS, intentsDataset)
			if err != nil {
				return err
			}
			w.logger.Info("intent model loaded", "labels", len(m.Labels()), "features", m.Features(), "took", time.Since(start))
			p.understand = append(p.understand, nlp.Analyzer{Model: m})
			// The hand-over before the FAQ: who asks for a person gets one.
			p.meaning = append(p.meaning, nlp.Handover{}, nlp.FAQStage{})
			return nil
		},
	}
}

// loadDatasetModel loads <dataset>.model from fsys and refuses it unless
// its labels are those of <dataset>/train.
func loadDatasetModel(fsys fs.FS, dataset string) (*nlp.Model, error) {
	f, err := fsys.Open(dataset + ".model")
	if err != nil {
		return nil, fmt.Errorf("%s model: %w (run `siyu train`)", dataset, err)
	}
	defer f.Close()
	m, err := nlp.LoadModel(f)
	if err != nil {
		return nil, fmt.Errorf("%s model: %w", dataset, err)
	}
	labels, err := nlp.DatasetLabels(fsys, dataset+"/train")
	if err != nil {
		return nil, fmt.Errorf("%s model: %w", dataset, err)
	}
	if err := m.CheckLabels(labels); err != nil {
		return nil, fmt.Errorf("%s.model: %w", dataset, err)
	}
	return m, nil
}

// cmdTrain is `siyu train`: it trains a model for every dataset under the
// knowledge folder that has a train/ folder, reporting each epoch and
// then accuracy, macro-F1 and a confusion table on a split kept apart
// and on heldout/, and writes <dataset>.model beside the dataset.
func cmdTrain(ctx context.Context, env runEnv) error {
	fl := flag.NewFlagSet("train", flag.ContinueOnError)
	fl.SetOutput(env.stderr)
	dir := fl.String("knowledge", "knowledge", "the knowledge folder")
	only := fl.String("dataset", "", "train only this dataset (default: every dataset with a train/ folder)")
	var cfg nlp.TrainConfig
	fl.IntVar(&cfg.Dim, "dim", 64, "embedding size")
	fl.IntVar(&cfg.Hidden, "hidden", 0, "hidden layer size (0: linear)")
	fl.IntVar(&cfg.Epochs, "epochs", 10, "epochs")
	fl.Float64Var(&cfg.LearningRate, "lr", 0.01, "Adam step size")
	fl.Float64Var(&cfg.LabelSmoothing, "smoothing", 0, "label smoothing (spreads confidences, costs accuracy)")
	fl.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	fl.IntVar(&cfg.MinCount, "mincount", 1, "drop features found in fewer training lines (a smaller model)")
	long := fl.Float64("long", 0.3, "synthetic long lines per training line (ordinary clauses joined with a line); negative: none")
	balance := fl.Int("balance", 1500, "least weight in lines of a source other than the seed (its lines repeated up to 4 times); 0: none")
	if err := fl.Parse(env.args[1:]); err != nil {
		return err
	}
	entries, err := os.ReadDir(*dir)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	fsys := os.DirFS(*dir)
	trained := 0
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || *only != "" && name != *only {
			continue
		}
		if st, err := fs.Stat(fsys, name+"/train"); err != nil || !st.IsDir() {
			continue
		}
		if err := trainDataset(ctx, env.stdout, fsys, *dir, name, cfg, *balance, *long); err != nil {
			return fmt.Errorf("train %s: %w", name, err)
		}
		trained++
	}
	if trained == 0 {
		return fmt.Errorf("train: no dataset with a train/ folder under %s", *dir)
	}
	return nil
}

func trainDataset(ctx context.Context, out io.Writer, fsys fs.FS, dir, name string, cfg nlp.TrainConfig, balance int, long float64) error {
	sources, err := nlp.ReadSources(fsys, name)
	if err != nil {
		return err
	}
	sc := nlp.SourceConfig{Train: cfg, Background: "other", Fillers: []string{"greeting", "other"}, Balance: balance, Long: long}
	if name == "risk" {
		sc.Background, sc.Fillers = "none", []string{"none"}
		lex, err := risk.LoadLexicon(fsys, "risk/lexicon")
		if err != nil {
			return err
		}
		sc.Detect = func(m *nlp.Model, minConfidence float64) func(string) []string {
			s := risk.NewScanner(lex, risk.ScannerConfig{Classifier: riskClassifier(m), MinConfidence: minConfidence,
				ClauseMinConfidence: risk.ClauseThreshold(minConfidence)})
			return func(text string) []string { return risk.Main(s.Scan(text)) }
		}
	}
	start := time.Now()
	sc.Progress = func(msg string) {
		fmt.Fprintf(out, "-- %s: %s (%s)\n", name, msg, time.Since(start).Round(time.Millisecond))
	}
	for _, s := range sources {
		fmt.Fprintf(out, "== %s: source %-10s train %5d  fit %4d  report %4d\n", name, s.Name, len(s.Train), len(s.Fit), len(s.Report))
	}
	ev, err := nlp.LeaveOneSourceOut(ctx, sources, sc)
	if err != nil {
		return err
	}
	if err := ev.Write(out); err != nil {
		return err
	}
	sc.Progress("training on every source")
	raw, err := nlp.TrainSources(ctx, sources, sc)
	if err != nil {
		return err
	}
	temp := ev.Temperature
	if len(ev.Folds) == 0 && len(sources[0].Fit) > 0 {
		// One source: no fold to fit on; calib/ was written apart.
		temp = nlp.FitTemperature(raw, sources[0].Fit)
		fmt.Fprintf(out, "-- %s: one source: temperature %.3f fitted on calib/, no sure thresholds\n", name, temp)
	}
	m := raw.WithTemperature(temp).WithSureThresholds(ev.Sure)
	held, err := readKnown(fsys, name+"/heldout", m, out)
	if err != nil {
		return err
	}
	if held != nil {
		classify := func(t string) string { l, _ := m.Classify(nlp.Canonical(t)); return l }
		fmt.Fprintf(out, "-- %s: the shipped model on heldout/ (the seed's own held-out lines, never trained on)\n", name)
		if err := nlp.Evaluate(m.Labels(), held, classify).Write(out); err != nil {
			return err
		}
		k := len(m.Labels())
		for _, v := range []struct {
			what string
			m    *nlp.Model
		}{{"before calibration (temperature 1)", raw}, {fmt.Sprintf("calibrated (temperature %.3f)", m.Temperature()), m}} {
			fmt.Fprintf(out, "-- %s: heldout/ confidences, %s\n", name, v.what)
			c := nlp.MeasureCalibration(held, k, nil, func(t string) (string, float64) { return v.m.Classify(nlp.Canonical(t)) })
			if err := c.Write(out); err != nil {
				return err
			}
		}
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		return err
	}
	path := filepath.Join(dir, name+".model")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s (%d bytes, %d features)\n", path, buf.Len(), m.Features())
	return nil
}

// readKnown reads the dataset in dir, nil when it does not exist, without
// the lines of labels m does not learn (risk's pii, which patterns
// find: measured elsewhere), saying how many it left out.
func readKnown(fsys fs.FS, dir string, m *nlp.Model, out io.Writer) ([]nlp.Example, error) {
	all, err := nlp.ReadDataset(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	labels := m.Labels()
	kept := all[:0:0]
	skipped := map[string]int{}
	for _, ex := range all {
		if slices.Contains(labels, ex.Label) {
			kept = append(kept, ex)
		} else {
			skipped[ex.Label]++
		}
	}
	for _, l := range slices.Sorted(maps.Keys(skipped)) {
		fmt.Fprintf(out, "-- %s/%s.txt: %d lines left out, the model does not learn %q\n", dir, l, skipped[l], l)
	}
	return kept, nil
}

func labelsOf(es []nlp.Example) []string {
	var out []string
	for _, e := range es {
		if !slices.Contains(out, e.Label) {
			out = append(out, e.Label)
		}
	}
	return out
}

// classifyReading is one line of `siyu classify`'s output.
type classifyReading struct {
	Text           string   `json:"text"`
	Intent         string   `json:"intent"`
	Confidence     float64  `json:"confidence"`
	Risk           string   `json:"risk"`
	RiskCategories []string `json:"risk_categories"`
}

// classifyRiskFunc returns the risk reading of `siyu classify`: the
// overall level ("none" when clean) and the categories hit, read by
// the scanner with the lexicons, the detectors and the risk model.
func classifyRiskFunc() (func(text string) (string, []string), error) {
	model, err := loadRiskModel()
	if err != nil {
		return nil, err
	}
	scanner, err := newRiskScanner(model)
	if err != nil {
		return nil, err
	}
	return func(text string) (string, []string) { return riskReading(scanner, text) }, nil
}

// cmdClassify is `siyu classify`: each stdin line, plain text or a JSON
// object with a "text" field, becomes one JSON reading on stdout, in
// order, flushed per line. It opens no database, writes no file and
// starts no server. A bad line gets {"line": n, "error": …} and the rest
// go on.
func cmdClassify(_ context.Context, env runEnv) error {
	fl := flag.NewFlagSet("classify", flag.ContinueOnError)
	fl.SetOutput(env.stderr)
	modelPath := fl.String("model", "", "an intents model file (default: the embedded knowledge/intents.model)")
	if err := fl.Parse(env.args[1:]); err != nil {
		return err
	}
	var m *nlp.Model
	var err error
	if *modelPath == "" {
		m, err = loadDatasetModel(knowledge.FS, intentsDataset)
	} else {
		m, err = loadModelFile(*modelPath)
	}
	if err != nil {
		return fmt.Errorf("classify: %w", err)
	}
	classifyRisk, err := classifyRiskFunc()
	if err != nil {
		return fmt.Errorf("classify: %w", err)
	}
	in := env.stdin
	if in == nil {
		in = strings.NewReader("")
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	out := bufio.NewWriter(env.stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for n := 1; sc.Scan(); n++ {
		var v any
		if text, err := classifyLineText(sc.Bytes()); err != nil {
			v = map[string]any{"line": n, "error": err.Error()}
		} else {
			r := classifyReading{Text: text}
			var conf float64
			r.Intent, conf = m.Classify(nlp.Canonical(text))
			r.Confidence = math.Round(conf*1e4) / 1e4
			r.Risk, r.RiskCategories = classifyRisk(text)
			if r.RiskCategories == nil {
				r.RiskCategories = []string{}
			}
			v = r
		}
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("classify: %w", err)
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("classify: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("classify: reading stdin: %w", err)
	}
	return nil
}

// classifyLineText returns the text of one input line: the "text" of a
// JSON object, else the line itself.
func classifyLineText(line []byte) (string, error) {
	s := strings.TrimSpace(string(line))
	if strings.HasPrefix(s, "{") {
		var obj struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal([]byte(s), &obj); err != nil {
			return "", fmt.Errorf("bad JSON: %v", err)
		}
		if obj.Text == nil {
			return "", errors.New(`JSON line without a "text" field`)
		}
		s = *obj.Text
	}
	if strings.TrimSpace(s) == "" {
		return "", errors.New("empty text")
	}
	return s, nil
}

func loadModelFile(path string) (*nlp.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return nlp.LoadModel(f)
}
