package nlp

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// DatasetOptions say how TrainCommand trains one dataset.
type DatasetOptions struct {
	// Background is the label of ordinary lines ("none" for risk;
	// "other" by default) and Fillers the labels synthetic long lines are
	// padded with.
	Background string
	Fillers    []string
	// Detector, when set, makes the detector the dataset's evaluation
	// reads through (SourceConfig.Detect) from the knowledge folder: risk
	// is judged as its scanner decides, lexicons included.
	Detector func(fsys fs.FS) (func(m *Model, minConfidence float64) func(string) []string, error)
}

// TrainCommand is `siyu train`: for every dataset under the knowledge
// folder that has a train/ folder it reads the dataset's sources, reports
// leave-one-source-out figures (worst source first), trains on every
// source and writes <dataset>.model beside the dataset. datasets says how
// a dataset other than the intents' is trained (risk's background label
// and the detector its evaluation reads through).
func TrainCommand(ctx context.Context, args []string, stdout, stderr io.Writer, datasets map[string]DatasetOptions) error {
	fl := flag.NewFlagSet("train", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("knowledge", "knowledge", "the knowledge folder")
	only := fl.String("dataset", "", "train only this dataset (default: every dataset with a train/ folder)")
	var cfg TrainConfig
	fl.IntVar(&cfg.Dim, "dim", 64, "embedding size")
	fl.IntVar(&cfg.Hidden, "hidden", 0, "hidden layer size (0: linear)")
	fl.IntVar(&cfg.Epochs, "epochs", 10, "epochs")
	fl.Float64Var(&cfg.LearningRate, "lr", 0.01, "Adam step size")
	fl.Float64Var(&cfg.LabelSmoothing, "smoothing", 0, "label smoothing (spreads confidences, costs accuracy)")
	fl.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	fl.IntVar(&cfg.MinCount, "mincount", 1, "drop features found in fewer training lines (a smaller model)")
	long := fl.Float64("long", 0.3, "synthetic long lines per training line (ordinary clauses joined with a line); negative: none")
	balance := fl.Int("balance", 1500, "least weight in lines of a source other than the seed (its lines repeated up to 4 times); 0: none")
	if err := fl.Parse(args); err != nil {
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
		if err := trainDataset(ctx, stdout, fsys, *dir, name, cfg, *balance, *long, datasets[name]); err != nil {
			return fmt.Errorf("train %s: %w", name, err)
		}
		trained++
	}
	if trained == 0 {
		return fmt.Errorf("train: no dataset with a train/ folder under %s", *dir)
	}
	return nil
}

func trainDataset(ctx context.Context, out io.Writer, fsys fs.FS, dir, name string, cfg TrainConfig, balance int, long float64, opt DatasetOptions) error {
	sources, err := ReadSources(fsys, name)
	if err != nil {
		return err
	}
	sc := SourceConfig{Train: cfg, Background: "other", Fillers: []string{"greeting", "other"}, Balance: balance, Long: long}
	if opt.Background != "" {
		sc.Background, sc.Fillers = opt.Background, opt.Fillers
	}
	if opt.Detector != nil {
		if sc.Detect, err = opt.Detector(fsys); err != nil {
			return err
		}
	}
	start := time.Now()
	sc.Progress = func(msg string) {
		fmt.Fprintf(out, "-- %s: %s (%s)\n", name, msg, time.Since(start).Round(time.Millisecond))
	}
	for _, s := range sources {
		fmt.Fprintf(out, "== %s: source %-10s train %5d  fit %4d  report %4d\n", name, s.Name, len(s.Train), len(s.Fit), len(s.Report))
	}
	ev, err := LeaveOneSourceOut(ctx, sources, sc)
	if err != nil {
		return err
	}
	if err := ev.Write(out); err != nil {
		return err
	}
	sc.Progress("training on every source")
	raw, err := TrainSources(ctx, sources, sc)
	if err != nil {
		return err
	}
	temp := ev.Temperature
	if len(ev.Folds) == 0 && len(sources[0].Fit) > 0 {
		// One source: no fold to fit on; calib/ was written apart.
		temp = FitTemperature(raw, sources[0].Fit)
		fmt.Fprintf(out, "-- %s: one source: temperature %.3f fitted on calib/, no sure thresholds\n", name, temp)
	}
	m := raw.WithTemperature(temp).WithSureThresholds(ev.Sure)
	held, err := readKnown(fsys, name+"/heldout", m, out)
	if err != nil {
		return err
	}
	if held != nil {
		classify := func(t string) string { l, _ := m.Classify(Canonical(t)); return l }
		fmt.Fprintf(out, "-- %s: the shipped model on heldout/ (the seed's own held-out lines, never trained on)\n", name)
		if err := Evaluate(m.Labels(), held, classify).Write(out); err != nil {
			return err
		}
		k := len(m.Labels())
		for _, v := range []struct {
			what string
			m    *Model
		}{{"before calibration (temperature 1)", raw}, {fmt.Sprintf("calibrated (temperature %.3f)", m.Temperature()), m}} {
			fmt.Fprintf(out, "-- %s: heldout/ confidences, %s\n", name, v.what)
			c := MeasureCalibration(held, k, nil, func(t string) (string, float64) { return v.m.Classify(Canonical(t)) })
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
func readKnown(fsys fs.FS, dir string, m *Model, out io.Writer) ([]Example, error) {
	all, err := ReadDataset(fsys, dir)
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
