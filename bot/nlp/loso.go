package nlp

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// SourceConfig says how a dataset of several sources is trained and
// measured (TrainSources, LeaveOneSourceOut).
type SourceConfig struct {
	Train TrainConfig
	// Background is the label of lines that mean nothing in particular
	// (intents: other; risk: none).
	Background string
	// Fillers are the labels whose short lines Augment joins with other
	// lines into long ones (intents: greeting and other; risk: none);
	// nil: no synthetic long lines.
	Fillers []string
	// Balance is the least weight, in lines, of a source other than the
	// seed: a smaller source's lines are repeated (at most four times)
	// so that a few hundred lines from one writer are not drowned by
	// thousands of template lines; 0: no repeats.
	Balance int
	// Long is how many synthetic long lines are added per training line
	// (0.3: three for every ten); 0 with Fillers set: 0.3; negative: none.
	Long float64
	// Detect, when set, makes the evaluation a detector's: it returns
	// the function that says which categories a text is flagged for with
	// model m when the model's word counts from minConfidence (the risk
	// scanner: lexicons, detectors and m). The report then gives recall
	// per category and false alarms on Background lines instead of
	// accuracy.
	Detect func(m *Model, minConfidence float64) func(text string) []string
	// DetectThresholds are the minConfidence values tried on the Fit
	// lines (nil: DefaultDetectThresholds); the least one at which the
	// model adds at most MaxFalseAlarms to the false alarms the detector
	// raises without it (minConfidence above 1) is the one reported
	// (SourceEval.DetectThreshold). The model's threshold answers for the
	// model's mistakes; the lexicons' are theirs.
	DetectThresholds []float64
	// MaxFalseAlarms is the share of background Fit lines the model may
	// add to the detector's false alarms (0: 0.01).
	MaxFalseAlarms float64
	// Progress, when set, is told what is being trained.
	Progress func(msg string)
}

func (c *SourceConfig) long() float64 {
	if len(c.Fillers) == 0 || c.Long < 0 {
		return 0
	}
	if c.Long == 0 {
		return 0.3
	}
	return c.Long
}

// trainingLines returns the training lines of sources but skip, with
// their synthetic long lines.
func (c *SourceConfig) trainingLines(sources []Source, skip string) []Example {
	var lines []Example
	for _, s := range sources {
		if s.Name == skip {
			continue
		}
		reps := 1
		if s.Name != SeedSource && c.Balance > 0 && len(s.Train) > 0 {
			reps = min(4, max(1, int(math.Round(float64(c.Balance)/float64(len(s.Train))))))
		}
		for range reps {
			lines = append(lines, s.Train...)
		}
	}
	if n := int(c.long() * float64(len(lines))); n > 0 {
		lines = append(lines, Augment(lines, c.Background, c.Fillers, n, c.Train.Seed)...)
	}
	return lines
}

// TrainSources trains a model on the training lines of every source
// (and their synthetic long lines). The caller sets the temperature and
// sure thresholds that LeaveOneSourceOut fitted.
func TrainSources(ctx context.Context, sources []Source, cfg SourceConfig) (*Model, error) {
	m, err := Train(ctx, cfg.trainingLines(sources, ""), cfg.Train)
	if err != nil {
		return nil, fmt.Errorf("nlp.TrainSources: %w", err)
	}
	return m, nil
}

// Reading is what a fold's model read in one line of its held-out
// source.
type Reading struct {
	Example
	Label      string    // the model's label
	Confidence float64   // its calibrated confidence
	Flags      []string  // the detector's categories (SourceConfig.Detect)
	logits     []float32 // raw, over labels
	labels     []string  // the fold model's labels
}

// Fold is one source held out: the model trained on every other source
// read its Fit and Report lines.
type Fold struct {
	Source      string
	Fit, Report []Reading
}

// SourceEval is the result of LeaveOneSourceOut.
type SourceEval struct {
	Labels     []string
	Background string
	Detector   bool
	// Temperature is fitted on the Fit lines of every held-out source,
	// read by the fold that never learned from it; 1 without folds (a
	// dataset of one source: fit it on the seed's calib/ instead).
	Temperature float64
	// Sure is each label's sure threshold (FitSureThresholds), fitted on
	// the same lines; a label missing never reached 99%, or was withdrawn.
	Sure map[string]float64
	// Withdrawn are the thresholds fitted on the Fit lines that were
	// right less than 99% of the time on the Report lines, and are not
	// in Sure: what they did there, by label.
	Withdrawn map[string]string
	// DetectThreshold is the detector's minConfidence chosen on the Fit
	// lines (SourceConfig.DetectThresholds), and Sweep what each one
	// tried did there.
	DetectThreshold float64
	Sweep           []SweepPoint
	// SweepBase is the detector without the model on the Fit lines.
	SweepBase SweepPoint
	Folds     []Fold
}

// SweepPoint is what a detector did on the Fit lines at one
// minConfidence: the share of risky lines flagged with their category
// and of background lines flagged at all.
type SweepPoint struct {
	MinConfidence      float64
	Recall, FalseAlarm float64
}

// DefaultDetectThresholds are the minConfidence values LeaveOneSourceOut
// tries for a detector.
func DefaultDetectThresholds() []float64 {
	return []float64{0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995}
}

// LeaveOneSourceOut measures how a model does on a source it never
// learned from: for each source with lines to measure, it trains on all
// other sources and reads the held-out source's Fit and Report lines.
// The temperature and the sure thresholds are fitted on the Fit lines
// of all folds (never trained on by the fold that read them, and never
// reported); Write reports the Report lines.
func LeaveOneSourceOut(ctx context.Context, sources []Source, cfg SourceConfig) (*SourceEval, error) {
	ev := &SourceEval{Background: cfg.Background, Detector: cfg.Detect != nil}
	for _, s := range sources {
		for _, e := range s.Train {
			if !slices.Contains(ev.Labels, e.Label) {
				ev.Labels = append(ev.Labels, e.Label)
			}
		}
	}
	slices.Sort(ev.Labels)
	models := map[string]*Model{}
	for _, s := range sources {
		if len(s.Fit)+len(s.Report) == 0 {
			continue
		}
		lines := cfg.trainingLines(sources, s.Name)
		if len(labelsIn(lines)) < 2 {
			// The only source, or the only one with a second label:
			// nothing to train without it.
			if cfg.Progress != nil {
				cfg.Progress(fmt.Sprintf("%s cannot be held out: the other sources have fewer than two labels", s.Name))
			}
			continue
		}
		if cfg.Progress != nil {
			cfg.Progress(fmt.Sprintf("training without %s", s.Name))
		}
		m, err := Train(ctx, lines, cfg.Train)
		if err != nil {
			return nil, fmt.Errorf("nlp.LeaveOneSourceOut without %s: %w", s.Name, err)
		}
		models[s.Name] = m
		f := Fold{Source: s.Name, Fit: read(m, s.Fit), Report: read(m, s.Report)}
		ev.Folds = append(ev.Folds, f)
	}
	var fit []Reading
	for _, f := range ev.Folds {
		fit = append(fit, f.Fit...)
	}
	ev.Temperature = fitReadings(fit)
	fold := make([]*Model, len(ev.Folds))
	for i := range ev.Folds {
		f := &ev.Folds[i]
		fold[i] = models[f.Source].WithTemperature(ev.Temperature)
		for _, rs := range [][]Reading{f.Fit, f.Report} {
			for j := range rs {
				rs[j].Label, rs[j].Confidence = softmaxBest(rs[j].logits, rs[j].labels, ev.Temperature)
			}
		}
	}
	if cfg.Detect != nil {
		ev.sweep(fold, cfg)
		for i := range ev.Folds {
			detect := cfg.Detect(fold[i], ev.DetectThreshold)
			for _, rs := range [][]Reading{ev.Folds[i].Fit, ev.Folds[i].Report} {
				for j := range rs {
					rs[j].Flags = detect(rs[j].Text)
				}
			}
		}
	}
	fit = fit[:0]
	for _, f := range ev.Folds {
		fit = append(fit, f.Fit...)
	}
	ev.Sure = FitSureThresholds(fit, sureMinLines)
	ev.Withdrawn = ev.withdraw()
	return ev, nil
}

// withdraw removes the sure thresholds that do not hold on the Report
// lines (right less than SurePrecision of the time there) and returns
// what each withdrawn one did there. A gate, not a fit: it can only make
// the model less sure, and the report says what it withdrew. Fitted on
// a few dozen lines per label, a threshold can be lucky.
func (ev *SourceEval) withdraw() map[string]string {
	right, n := map[string]int{}, map[string]int{}
	for _, f := range ev.Folds {
		for _, r := range f.Report {
			if t, ok := ev.Sure[r.Label]; ok && r.Confidence >= t {
				n[r.Label]++
				if r.Label == r.Example.Label {
					right[r.Label]++
				}
			}
		}
	}
	out := map[string]string{}
	for l, t := range ev.Sure {
		if n[l] > 0 && float64(right[l]) < SurePrecision*float64(n[l]) {
			out[l] = fmt.Sprintf("%.3f: %d of %d right on the report lines", t, right[l], n[l])
			delete(ev.Sure, l)
		}
	}
	return out
}

// sweep tries the detector's thresholds on the Fit lines and keeps the
// least at which the model adds at most the limit to the false alarms of
// the detector without it (the highest tried when none does).
func (ev *SourceEval) sweep(fold []*Model, cfg SourceConfig) {
	ths := cfg.DetectThresholds
	if ths == nil {
		ths = DefaultDetectThresholds()
	}
	limit := cfg.MaxFalseAlarms
	if limit <= 0 {
		limit = 0.01
	}
	ev.DetectThreshold = ths[len(ths)-1]
	chosen := false
	base := -1.0 // false alarms without the model
	for _, t := range append([]float64{2}, ths...) {
		var risky, hit, bg, alarms int
		for i, f := range ev.Folds {
			detect := cfg.Detect(fold[i], t)
			for _, r := range f.Fit {
				flags := detect(r.Text)
				if r.Example.Label == ev.Background {
					bg++
					if ev.alarm(flags) {
						alarms++
					}
					continue
				}
				risky++
				if slices.Contains(flags, r.Example.Label) {
					hit++
				}
			}
		}
		p := SweepPoint{MinConfidence: t}
		if risky > 0 {
			p.Recall = float64(hit) / float64(risky)
		}
		if bg > 0 {
			p.FalseAlarm = float64(alarms) / float64(bg)
		}
		if base < 0 {
			base, ev.SweepBase = p.FalseAlarm, p
			continue
		}
		ev.Sweep = append(ev.Sweep, p)
		if !chosen && p.FalseAlarm <= base+limit {
			ev.DetectThreshold, chosen = t, true
		}
	}
}

// alarm reports whether a background line's flags are a false alarm: a
// category the dataset teaches. A detector's other findings (risk's
// personal data: an ordinary customer may give a phone number) are not
// judgements of the model or lexicons and are measured on their own
// lines.
func (ev *SourceEval) alarm(flags []string) bool {
	for _, f := range flags {
		if f != ev.Background && slices.Contains(ev.Labels, f) {
			return true
		}
	}
	return false
}

func labelsIn(es []Example) []string {
	var out []string
	for _, e := range es {
		if !slices.Contains(out, e.Label) {
			out = append(out, e.Label)
		}
	}
	return out
}

// read gives m's raw logits on examples (labels it does not know stay
// unknown: the example counts as wrong).
func read(m *Model, examples []Example) []Reading {
	out := make([]Reading, len(examples))
	for i, e := range examples {
		z := make([]float32, len(m.labels))
		m.logits(Canonical(e.Text), z)
		out[i] = Reading{Example: e, logits: z, labels: m.labels}
		out[i].Label, out[i].Confidence = softmaxBest(z, m.labels, 1)
	}
	return out
}

func softmaxBest(z []float32, labels []string, t float64) (string, float64) {
	best := 0
	for i, v := range z {
		if v > z[best] {
			best = i
		}
	}
	var sum float64
	for _, v := range z {
		sum += math.Exp(float64(v-z[best]) / t)
	}
	return labels[best], 1 / sum
}

// fitReadings fits the temperature on readings (FitTemperature's
// search), skipping lines whose label their model does not know.
func fitReadings(rs []Reading) float64 {
	var zs [][]float32
	var gold []int
	for _, r := range rs {
		if i := slices.Index(r.labels, r.Example.Label); i >= 0 {
			zs, gold = append(zs, r.logits), append(gold, i)
		}
	}
	if len(zs) == 0 {
		return 1
	}
	return math.Exp(goldenMin(func(logT float64) float64 { return meanNLL(zs, gold, math.Exp(logT)) }, math.Log(0.05), math.Log(50)))
}

// sureMinLines is the least number of lines a sure threshold stands on:
// 99% right over fewer lines than this says little (one line of 30 is
// 3.3%).
const sureMinLines = 30

// SurePrecision is the share of right answers a sure threshold asks for.
const SurePrecision = 0.99

// FitSureThresholds returns, per label, the least confidence from which
// the readings labelled so were right at least SurePrecision of the time
// at every confidence down to it, over at least minLines lines: walking
// from the most confident answer down, it stops at the first point
// (from minLines answers on) where the share right falls below
// SurePrecision. A label that never has minLines answers at that
// precision gets no threshold: never sure on its own.
func FitSureThresholds(readings []Reading, minLines int) map[string]float64 {
	by := map[string][]Reading{}
	for _, r := range readings {
		by[r.Label] = append(by[r.Label], r)
	}
	out := map[string]float64{}
	for label, rs := range by {
		slices.SortFunc(rs, func(a, b Reading) int {
			switch {
			case a.Confidence > b.Confidence:
				return -1
			case a.Confidence < b.Confidence:
				return 1
			}
			return 0
		})
		right, best := 0, -1.0
		for i, r := range rs {
			if r.Example.Label == label {
				right++
			}
			n := i + 1
			if n < minLines {
				continue
			}
			if float64(right) < SurePrecision*float64(n) {
				break
			}
			// Ties: the threshold must not take in an equal confidence
			// that comes later and is wrong.
			if i+1 < len(rs) && rs[i+1].Confidence == r.Confidence {
				continue
			}
			best = r.Confidence
		}
		if best > 0 {
			out[label] = best
		}
	}
	return out
}

// sourceScore is one fold's figures on its Report lines.
type sourceScore struct {
	source string
	n      int
	// intents
	acc, macroF1 float64
	recall       map[string]float64 // by label (detector: category), with support
	support      map[string]int
	// sure: share of lines the model is sure of, and of those right;
	// acting: share of Background lines with a sure non-background label
	sureShare, sureRight, acting float64
	sureN                        int
	// detector
	falseAlarm float64
	bgN        int
	score      float64 // worst first
}

func (ev *SourceEval) score(name string, rs []Reading) sourceScore {
	sc := sourceScore{source: name, n: len(rs), recall: map[string]float64{}, support: map[string]int{}}
	if len(rs) == 0 {
		return sc
	}
	sure, sureRight, bg, acting := 0, 0, 0, 0
	for _, r := range rs {
		if t, ok := ev.Sure[r.Label]; ok && r.Confidence >= t && r.Label != ev.Background {
			sure++
			if r.Label == r.Example.Label {
				sureRight++
			}
			if r.Example.Label == ev.Background {
				acting++
			}
		}
		if r.Example.Label == ev.Background {
			bg++
		}
	}
	sc.sureN, sc.bgN = sure, bg
	sc.sureShare = float64(sure) / float64(len(rs))
	if sure > 0 {
		sc.sureRight = float64(sureRight) / float64(sure)
	}
	if bg > 0 {
		sc.acting = float64(acting) / float64(bg)
	}
	if !ev.Detector {
		rep := Evaluate(ev.Labels, examplesOf(rs), readingOf(rs))
		sc.acc = rep.Accuracy
		var f1 float64
		k := 0
		for _, ls := range rep.PerLabel {
			if ls.Support > 0 {
				sc.recall[ls.Label], sc.support[ls.Label] = ls.Recall, ls.Support
				f1 += ls.F1
				k++
			}
		}
		if k > 0 {
			sc.macroF1 = f1 / float64(k)
		}
		sc.score = sc.acc
		return sc
	}
	hit := map[string]int{}
	alarms := 0
	for _, r := range rs {
		if r.Example.Label == ev.Background {
			if ev.alarm(r.Flags) {
				alarms++
			}
			continue
		}
		sc.support[r.Example.Label]++
		if slices.Contains(r.Flags, r.Example.Label) {
			hit[r.Example.Label]++
		}
	}
	var sum float64
	k := 0
	for c, n := range sc.support {
		sc.recall[c] = float64(hit[c]) / float64(n)
		sum += sc.recall[c]
		k++
	}
	if bg > 0 {
		sc.falseAlarm = float64(alarms) / float64(bg)
		sum += 1 - sc.falseAlarm
		k++
	}
	sc.score = sum / float64(max(k, 1))
	return sc
}

func examplesOf(rs []Reading) []Example {
	out := make([]Example, len(rs))
	for i, r := range rs {
		out[i] = r.Example
	}
	return out
}

// readingOf answers Evaluate's classify from the readings, in order.
func readingOf(rs []Reading) func(string) string {
	i := 0
	return func(string) string { i++; return rs[i-1].Label }
}

// Write prints the leave-one-source-out table on the Report lines, the
// worst source first, then all sources together, the temperature and the
// sure thresholds. Intents: accuracy, macro-F1 and recall per intent;
// a detector: recall per category and false alarms on background lines.
// Both: the share of lines the model is sure of (its sure threshold)
// and how often those are right, and how many background lines a sure
// label would act on.
func (ev *SourceEval) Write(w io.Writer) error {
	var scores []sourceScore
	var all []Reading
	for _, f := range ev.Folds {
		scores = append(scores, ev.score(f.Source, f.Report))
		all = append(all, f.Report...)
	}
	slices.SortStableFunc(scores, func(a, b sourceScore) int {
		switch {
		case a.score < b.score:
			return -1
		case a.score > b.score:
			return 1
		}
		return 0
	})
	scores = append(scores, ev.score("all", all))
	cols := ev.Labels
	if ev.Detector {
		cols = slices.DeleteFunc(slices.Clone(cols), func(l string) bool { return l == ev.Background })
		for _, s := range scores {
			for c := range s.support {
				if !slices.Contains(cols, c) {
					cols = append(cols, c)
				}
			}
		}
	}
	var b strings.Builder
	b.WriteString("leave-one-source-out (trained without the source, measured on its report lines), worst first\n")
	if ev.Detector {
		fmt.Fprintf(&b, "%-10s %6s", "source", "lines")
		for _, c := range cols {
			fmt.Fprintf(&b, " %12s", c)
		}
		fmt.Fprintf(&b, " %14s %13s\n", "false alarms", "sure/right")
	} else {
		fmt.Fprintf(&b, "%-10s %6s %6s %6s", "source", "lines", "acc", "mF1")
		for _, c := range cols {
			fmt.Fprintf(&b, " %7s", abbrev(c))
		}
		fmt.Fprintf(&b, " %13s %8s\n", "sure/right", "acting")
	}
	for _, s := range scores {
		if ev.Detector {
			fmt.Fprintf(&b, "%-10s %6d", s.source, s.n)
			for _, c := range cols {
				if n := s.support[c]; n > 0 {
					fmt.Fprintf(&b, " %5.3f (%4d)", s.recall[c], n)
				} else {
					fmt.Fprintf(&b, " %12s", "—")
				}
			}
			if s.bgN > 0 {
				fmt.Fprintf(&b, "  %5.1f%% (%4d)", 100*s.falseAlarm, s.bgN)
			} else {
				fmt.Fprintf(&b, " %14s", "—")
			}
			fmt.Fprintf(&b, " %5.1f%%/%5.1f%%\n", 100*s.sureShare, 100*s.sureRight)
			continue
		}
		fmt.Fprintf(&b, "%-10s %6d %6.3f %6.3f", s.source, s.n, s.acc, s.macroF1)
		for _, c := range cols {
			if s.support[c] > 0 {
				fmt.Fprintf(&b, " %7.2f", s.recall[c])
			} else {
				fmt.Fprintf(&b, " %7s", "—")
			}
		}
		fmt.Fprintf(&b, " %5.1f%%/%5.1f%%", 100*s.sureShare, 100*s.sureRight)
		if s.bgN > 0 {
			fmt.Fprintf(&b, " %7.2f%%\n", 100*s.acting)
		} else {
			fmt.Fprintf(&b, " %8s\n", "—")
		}
	}
	if ev.Detector {
		b.WriteString("(recall per category with its lines; false alarms: background lines flagged with a category the model learns, pii aside)\n")
	} else {
		b.WriteString("(recall per intent; sure/right: lines at their intent's sure threshold, and how many of those are right; acting: background lines given a sure intent)\n")
	}
	if ev.Detector {
		fmt.Fprintf(&b, "detector threshold %.3f, the least at which the model adds at most the limit to the false alarms on the fit lines; there, without the model %.1f%%/%.1f%%, with it:", ev.DetectThreshold, 100*ev.SweepBase.Recall, 100*ev.SweepBase.FalseAlarm)
		for _, p := range ev.Sweep {
			fmt.Fprintf(&b, " %.3f→%.1f%%/%.1f%%", p.MinConfidence, 100*p.Recall, 100*p.FalseAlarm)
		}
		b.WriteString(" (recall/false alarms)\n")
	}
	fmt.Fprintf(&b, "temperature %.3f; sure thresholds (≥ %.0f%% right on the fit lines of held-out sources):", ev.Temperature, 100*SurePrecision)
	for _, l := range ev.Labels {
		if t, ok := ev.Sure[l]; ok {
			fmt.Fprintf(&b, " %s %.3f", l, t)
		} else {
			fmt.Fprintf(&b, " %s never", l)
		}
	}
	b.WriteByte('\n')
	for _, l := range ev.Labels {
		if w, ok := ev.Withdrawn[l]; ok {
			fmt.Fprintf(&b, "withdrawn: %s %s (the model alone is never sure of it)\n", l, w)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func abbrev(l string) string {
	if len(l) <= 7 {
		return l
	}
	return l[:7]
}
