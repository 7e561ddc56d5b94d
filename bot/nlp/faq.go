package nlp

import (
	"math"
	"slices"
)

// DefaultFAQScore is the similarity an FAQ entry wants by default: about
// two thirds of the n-grams of the message and of a question in common.
const DefaultFAQScore = 0.6

// faqMargin is how far the best entry must lead the next one: when two
// entries are about as close, the FAQ is unsure and stays silent.
const faqMargin = 0.08

// FAQEntry is one written-down question with its variants and answer.
type FAQEntry struct {
	Name      string
	Questions []string
	Answer    []string
	MinScore  float64
	File      string
	Line      int
}

// FAQ matches messages to entries by the similarity of their n-grams
// (the model's features, over Canonical text): the cosine of the two
// feature sets, the best over an entry's questions. It answers only when
// the best entry reaches its MinScore and clearly leads the others.
// Similarity rather than a model: a brand writes a few variants per
// question, too few to train on, and a new entry works without training.
type FAQ struct {
	entries []FAQEntry
	feats   [][][]uint32 // entry → question → sorted, unique features
}

// NewFAQ compiles entries.
func NewFAQ(entries []FAQEntry) *FAQ {
	f := &FAQ{entries: slices.Clone(entries)}
	for _, e := range entries {
		var qs [][]uint32
		for _, q := range e.Questions {
			qs = append(qs, featureSet(nil, Canonical(q)))
		}
		f.feats = append(f.feats, qs)
	}
	return f
}

// Match returns the entry answering text (in Canonical form) and its
// score, or false when no entry is similar enough or two are about as
// similar.
func (f *FAQ) Match(text string) (FAQEntry, float64, bool) {
	if f == nil || len(f.entries) == 0 {
		return FAQEntry{}, 0, false
	}
	var buf [3 * maxFeatureRunes]uint32
	msg := featureSet(buf[:0], text)
	if len(msg) == 0 {
		return FAQEntry{}, 0, false
	}
	best, second, bestI := 0.0, 0.0, -1
	for i, qs := range f.feats {
		score := 0.0
		for _, q := range qs {
			score = max(score, cosine(msg, q))
		}
		switch {
		case score > best:
			best, second, bestI = score, best, i
		case score > second:
			second = score
		}
	}
	if bestI < 0 || best < f.entries[bestI].MinScore || best-second < faqMargin {
		return FAQEntry{}, best, false
	}
	return f.entries[bestI], best, true
}

// featureSet appends text's features to dst, sorted and without repeats.
func featureSet(dst []uint32, text string) []uint32 {
	dst = appendFeatures(dst, text)
	slices.Sort(dst)
	return slices.Compact(dst)
}

// cosine is |a∩b| / sqrt(|a||b|) for sorted sets.
func cosine(a, b []uint32) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	n := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			n++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return float64(n) / math.Sqrt(float64(len(a))*float64(len(b)))
}
