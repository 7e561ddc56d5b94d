package nlp

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// FitTemperature returns the temperature that makes m's confidences on
// examples most likely (the least mean negative log-likelihood of the
// right labels: temperature scaling, Guo et al. 2017). Fit it on lines
// the model did not learn from, never on the held-out set it is judged
// on. Examples whose label the model does not know are skipped; with none
// left it returns 1.
//
// Hand-written: it is a one-dimensional convex search (golden section on
// log T) over logits computed once, smaller than any dependency.
func FitTemperature(m *Model, examples []Example) float64 {
	k := len(m.labels)
	var zs [][]float32
	var gold []int
	for _, e := range examples {
		i := -1
		for j, l := range m.labels {
			if l == e.Label {
				i = j
			}
		}
		if i < 0 {
			continue
		}
		z := make([]float32, k)
		m.logits(Canonical(e.Text), z)
		zs, gold = append(zs, z), append(gold, i)
	}
	if len(zs) == 0 {
		return 1
	}
	return math.Exp(goldenMin(func(logT float64) float64 { return meanNLL(zs, gold, math.Exp(logT)) }, math.Log(0.05), math.Log(50)))
}

// meanNLL is the mean negative log-likelihood of the gold labels under
// softmax(z / t).
func meanNLL(zs [][]float32, gold []int, t float64) float64 {
	var total float64
	for n, z := range zs {
		hi := math.Inf(-1)
		for _, v := range z {
			hi = max(hi, float64(v)/t)
		}
		var sum float64
		for _, v := range z {
			sum += math.Exp(float64(v)/t - hi)
		}
		total += hi + math.Log(sum) - float64(z[gold[n]])/t
	}
	return total / float64(len(zs))
}

// goldenMin returns the x in [a, b] where the unimodal f is least.
func goldenMin(f func(float64) float64, a, b float64) float64 {
	const r = 0.6180339887498949
	c, d := b-r*(b-a), a+r*(b-a)
	fc, fd := f(c), f(d)
	for b-a > 1e-4 {
		if fc < fd {
			b, d, fd = d, c, fc
			c = b - r*(b-a)
			fc = f(c)
		} else {
			a, c, fc = c, d, fd
			d = a + r*(b-a)
			fd = f(d)
		}
	}
	return (a + b) / 2
}

// Calibration measures how far a classifier's confidences can be
// trusted on labelled examples: whether a confidence of 0.8 is right
// about 80% of the time, and what a rule with a min_confidence answers.
type Calibration struct {
	N        int
	Accuracy float64
	// ECE is the expected calibration error: the gap between confidence
	// and accuracy in each of the Bins, weighted by its share of the
	// examples (0: confidences say exactly how often it is right).
	ECE float64
	// NLL is the mean negative log-likelihood of the right labels
	// (lower is better; over-confident mistakes cost most).
	NLL float64
	// Bins is the reliability table: ten equal confidence ranges.
	Bins []ReliabilityBin
	// Coverage says, per threshold, what a rule with that
	// min_confidence answers.
	Coverage []CoveragePoint
}

// ReliabilityBin is one confidence range of a Calibration.
type ReliabilityBin struct {
	Lo, Hi     float64 // confidences in [Lo, Hi); the last bin includes 1
	N          int
	Confidence float64 // mean confidence of its examples
	Accuracy   float64 // share of them classified right
}

// CoveragePoint is what a rule answering at Threshold or more does.
type CoveragePoint struct {
	Threshold float64
	Answered  float64 // share of all examples at or above the threshold
	Accuracy  float64 // share of those classified right
}

// CalibrationThresholds returns the min_confidence values
// MeasureCalibration reports by default: those the scripts use.
func CalibrationThresholds() []float64 { return []float64{0.5, 0.7, 0.8, 0.9, 0.95, 0.99} }

// MeasureCalibration classifies each example's raw text with classify
// (label and confidence) and measures the confidences against the
// labels, with coverage at thresholds (nil: CalibrationThresholds). A label the classifier does not know counts as wrong; the
// negative log-likelihood takes the right label's probability as
// 1 − confidence spread over the other labels when the answer is wrong,
// an estimate, since classify returns only the best label.
func MeasureCalibration(examples []Example, labels int, thresholds []float64, classify func(text string) (string, float64)) Calibration {
	const bins = 10
	if thresholds == nil {
		thresholds = CalibrationThresholds()
	}
	c := Calibration{N: len(examples), Bins: make([]ReliabilityBin, bins)}
	for i := range c.Bins {
		c.Bins[i].Lo, c.Bins[i].Hi = float64(i)/bins, float64(i+1)/bins
	}
	answered := make([]int, len(thresholds))
	right := make([]int, len(thresholds))
	correct := 0
	for _, e := range examples {
		label, conf := classify(e.Text)
		ok := label == e.Label
		b := min(int(conf*bins), bins-1)
		c.Bins[b].N++
		c.Bins[b].Confidence += conf
		p := conf
		if ok {
			c.Bins[b].Accuracy++
			correct++
		} else if labels > 1 {
			p = (1 - conf) / float64(labels-1)
		}
		c.NLL -= math.Log(max(p, 1e-12))
		for i, t := range thresholds {
			if conf >= t {
				answered[i]++
				if ok {
					right[i]++
				}
			}
		}
	}
	if c.N == 0 {
		return c
	}
	c.Accuracy = float64(correct) / float64(c.N)
	c.NLL /= float64(c.N)
	for i := range c.Bins {
		b := &c.Bins[i]
		if b.N > 0 {
			b.Confidence /= float64(b.N)
			b.Accuracy /= float64(b.N)
			c.ECE += float64(b.N) / float64(c.N) * math.Abs(b.Confidence-b.Accuracy)
		}
	}
	for i, t := range thresholds {
		p := CoveragePoint{Threshold: t, Answered: float64(answered[i]) / float64(c.N)}
		if answered[i] > 0 {
			p.Accuracy = float64(right[i]) / float64(answered[i])
		}
		c.Coverage = append(c.Coverage, p)
	}
	return c
}

// Write prints the calibration: the figures, the reliability table
// (non-empty bins) and the coverage at each threshold.
func (c Calibration) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "examples %d  accuracy %.3f  ECE %.3f  NLL %.3f\n", c.N, c.Accuracy, c.ECE, c.NLL)
	fmt.Fprintf(&b, "reliability   %5s %10s %8s\n", "lines", "confidence", "accuracy")
	for _, r := range c.Bins {
		if r.N > 0 {
			fmt.Fprintf(&b, "  [%.1f, %.1f%s %5d %10.3f %8.3f\n", r.Lo, r.Hi, map[bool]string{true: "]", false: ")"}[r.Hi == 1], r.N, r.Confidence, r.Accuracy)
		}
	}
	fmt.Fprintf(&b, "min_confidence  answers  right\n")
	for _, p := range c.Coverage {
		fmt.Fprintf(&b, "  %.2f          %5.1f%%  %5.1f%%\n", p.Threshold, 100*p.Answered, 100*p.Accuracy)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
