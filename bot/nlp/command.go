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

// TrainCommand is `siyu train`: it trains a model for every dataset under the
// knowledge folder that has a train/ folder, reporting each epoch and
// then accuracy, macro-F1 and a confusion table on a split kept apart
// and on heldout/, and writes <dataset>.model beside the dataset.
func TrainCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
	split := fl.Float64("split", 0.1, "fraction of each label kept apart for measuring")
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
		if err := trainDataset(ctx, stdout, fsys, *dir, name, cfg, *split); err != nil {
			return fmt.Errorf("train %s: %w", name, err)
		}
		trained++
	}
	if trained == 0 {
		return fmt.Errorf("train: no dataset with a train/ folder under %s", *dir)
	}
	return nil
}

func trainDataset(ctx context.Context, out io.Writer, fsys fs.FS, dir, name string, cfg TrainConfig, split float64) error {
	all, err := ReadDataset(fsys, name+"/train")
	if err != nil {
		return err
	}
	train, valid := Split(all, split, cfg.Seed)
	fmt.Fprintf(out, "== %s: %d examples, %d labels; training on %d, %d kept apart\n", name, len(all), len(labelsOf(all)), len(train), len(valid))
	start := time.Now()
	cfg.Valid = valid
	cfg.Progress = func(s EpochStats) {
		fmt.Fprintf(out, "epoch %2d/%d  loss %.4f  split accuracy %.3f  (%s)\n", s.Epoch, s.Epochs, s.Loss, s.ValidAccuracy, time.Since(start).Round(time.Millisecond))
	}
	m, err := Train(ctx, train, cfg)
	if err != nil {
		return err
	}
	classify := func(t string) string { l, _ := m.Classify(Canonical(t)); return l }
	fmt.Fprintf(out, "-- %s: split kept apart\n", name)
	if err := Evaluate(m.Labels(), valid, classify).Write(out); err != nil {
		return err
	}
	held, err := readKnown(fsys, name+"/heldout", m, out)
	if err != nil {
		return err
	}
	if held != nil {
		fmt.Fprintf(out, "-- %s: heldout/ (written apart from train/)\n", name)
		if err := Evaluate(m.Labels(), held, classify).Write(out); err != nil {
			return err
		}
	}
	// Temperature scaling on lines the model never learned from: calib/
	// when the dataset has it (written apart, like heldout/, so it shows
	// how sure the model should be on new text), else the split kept
	// apart (near-copies of training lines: it barely moves the
	// temperature). Never on heldout/, which judges the result.
	calib, err := readKnown(fsys, name+"/calib", m, out)
	if err != nil {
		return err
	}
	fitOn := "calib/"
	if calib == nil {
		calib, fitOn = valid, "the split kept apart"
	}
	raw := m
	m = raw.WithTemperature(FitTemperature(raw, calib))
	fmt.Fprintf(out, "-- %s: temperature %.3f, fitted on %s (%d lines)\n", name, m.Temperature(), fitOn, len(calib))
	if held != nil {
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

func labelsOf(es []Example) []string {
	var out []string
	for _, e := range es {
		if !slices.Contains(out, e.Label) {
			out = append(out, e.Label)
		}
	}
	return out
}
