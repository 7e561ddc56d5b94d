package nlp

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Report measures a classifier on labelled examples.
type Report struct {
	Labels   []string
	Accuracy float64
	MacroF1  float64
	PerLabel []LabelScore
	// Confusion[i][j] counts examples of Labels[i] classified Labels[j].
	Confusion [][]int
	N         int
}

// LabelScore is one label's precision, recall and F1.
type LabelScore struct {
	Label                 string
	Precision, Recall, F1 float64
	Support               int
}

// Evaluate classifies each example's raw text with
// classify and scores the answers against the labels. Labels outside
// labels are counted as wrong.
func Evaluate(labels []string, examples []Example, classify func(text string) string) Report {
	r := Report{Labels: slices.Clone(labels), N: len(examples)}
	idx := map[string]int{}
	for i, l := range labels {
		idx[l] = i
	}
	k := len(labels)
	r.Confusion = make([][]int, k)
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, k)
	}
	correct := 0
	predicted := make([]int, k)
	for _, e := range examples {
		got := classify(e.Text)
		if got == e.Label {
			correct++
		}
		i, ok1 := idx[e.Label]
		j, ok2 := idx[got]
		if ok1 && ok2 {
			r.Confusion[i][j]++
		}
		if ok2 {
			predicted[j]++
		}
	}
	if len(examples) > 0 {
		r.Accuracy = float64(correct) / float64(len(examples))
	}
	for i, l := range labels {
		s := LabelScore{Label: l}
		for _, c := range r.Confusion[i] {
			s.Support += c
		}
		tp := r.Confusion[i][i]
		if predicted[i] > 0 {
			s.Precision = float64(tp) / float64(predicted[i])
		}
		if s.Support > 0 {
			s.Recall = float64(tp) / float64(s.Support)
		}
		if s.Precision+s.Recall > 0 {
			s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
		r.PerLabel = append(r.PerLabel, s)
		r.MacroF1 += s.F1
	}
	if k > 0 {
		r.MacroF1 /= float64(k)
	}
	return r
}

// Write prints the report: the figures, one line per label, and the
// confusion table (rows: true label, columns: predicted).
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "examples %d  accuracy %.3f  macro-F1 %.3f\n", r.N, r.Accuracy, r.MacroF1)
	fmt.Fprintf(&b, "%-14s %9s %7s %6s %7s\n", "label", "precision", "recall", "F1", "support")
	for _, s := range r.PerLabel {
		fmt.Fprintf(&b, "%-14s %9.3f %7.3f %6.3f %7d\n", s.Label, s.Precision, s.Recall, s.F1, s.Support)
	}
	fmt.Fprintf(&b, "confusion (rows: true, columns: predicted)\n%-14s", "")
	for i := range r.Labels {
		fmt.Fprintf(&b, " %4d", i)
	}
	b.WriteByte('\n')
	for i, l := range r.Labels {
		fmt.Fprintf(&b, "%2d %-11s", i, l)
		for _, c := range r.Confusion[i] {
			if c == 0 {
				fmt.Fprintf(&b, " %4s", ".")
			} else {
				fmt.Fprintf(&b, " %4d", c)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
