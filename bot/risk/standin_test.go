package risk

import (
	"math"
	"testing"

	"github.com/siyu-bot/siyu/bot"
)

// bayes is a test-only stand-in for bot/nlp's model: multinomial naive
// Bayes over character bigrams of folded text, trained on
// knowledge/risk/train. It exercises the Classifier path on the real
// data until the lead wires the nlp model; it is not shipped.
type bayes struct {
	labels []string
	prior  map[string]float64
	counts map[string]map[string]float64
	totals map[string]float64
	vocab  map[string]bool
}

func bigrams(text string) []string {
	r := []rune(Fold(text))
	var out []string
	for i := range r {
		out = append(out, string(r[i]))
		if i+1 < len(r) {
			out = append(out, string(r[i:i+2]))
		}
	}
	return out
}

func trainBayes(tb testing.TB) *bayes {
	tb.Helper()
	b := &bayes{prior: map[string]float64{}, counts: map[string]map[string]float64{}, totals: map[string]float64{}, vocab: map[string]bool{}}
	n := 0.0
	for _, label := range []string{"abuse", "ad_spam", "fraud", "poaching", "complaint", "none"} {
		lines := readLines(tb, knowledgeFS(), "risk/train/"+label+".txt")
		b.labels = append(b.labels, label)
		b.prior[label] = float64(len(lines))
		n += float64(len(lines))
		b.counts[label] = map[string]float64{}
		for _, l := range lines {
			for _, g := range bigrams(l) {
				b.counts[label][g]++
				b.totals[label]++
				b.vocab[g] = true
			}
		}
	}
	for l := range b.prior {
		b.prior[l] = math.Log(b.prior[l] / n)
	}
	return b
}

func (b *bayes) Classify(text string) (string, float64) {
	gs := bigrams(text)
	scores := map[string]float64{}
	best, bestScore := "none", math.Inf(-1)
	v := float64(len(b.vocab))
	for _, l := range b.labels {
		s := b.prior[l]
		for _, g := range gs {
			s += math.Log((b.counts[l][g] + 1) / (b.totals[l] + v))
		}
		scores[l] = s
		if s > bestScore {
			best, bestScore = l, s
		}
	}
	sum := 0.0
	for _, s := range scores {
		sum += math.Exp(s - bestScore)
	}
	return best, 1 / sum
}

// TestHeldOutWithStandInModel measures lexicons + detectors + a
// stand-in model on the held-out set: the model must only add (every
// category's recall at least the words' own) and lift the risky messages
// flagged overall to ≥ 99%. Its false alarms on ordinary chat are logged
// per confidence threshold: they say which min_confidence a model
// trained on knowledge/risk/train needs before it is switched on.
func TestHeldOutWithStandInModel(t *testing.T) {
	model := trainBayes(t)
	words := mustScanner(t, ScannerConfig{})
	s := mustScanner(t, ScannerConfig{Classifier: model, MinConfidence: 0.999})
	fsys := knowledgeFS()
	has := func(hits []Hit, c Category) bool { return indexOf(hits, c) >= 0 }
	var right, wordsRight int
	var fresh, freshWords, freshN int
	var aloneAll, nAll int
	for _, c := range Categories()[:5] {
		first, second := readBatches(t, fsys, "risk/heldout/"+string(c)+".txt")
		var withModel, wordsOnly, alone int
		for i, l := range append(first, second...) {
			m, w := has(s.Scan(l), c), has(words.Scan(l), c)
			if m {
				withModel++
			}
			if w {
				wordsOnly++
			}
			if i >= len(first) {
				freshN++
				if m {
					fresh++
				}
				if w {
					freshWords++
				}
			}
			if label, conf := model.Classify(bot.Normalize(l)); label == string(c) && conf >= 0.999 {
				alone++
			}
		}
		n := len(first) + len(second)
		aloneAll += alone
		nAll += n
		right += withModel
		wordsRight += wordsOnly
		t.Logf("%-9s n=%3d words=%5.1f%% words+model=%5.1f%% model alone=%5.1f%%", c, n, pct(wordsOnly, n), pct(withModel, n), pct(alone, n))
		if withModel < wordsOnly {
			t.Errorf("%s: words+model %d < words %d", c, withModel, wordsOnly)
		}
	}
	t.Logf("batch 2 (written after the lexicons) n=%d words=%5.1f%% words+model=%5.1f%%", freshN, pct(freshWords, freshN), pct(fresh, freshN))
	if got := pct(aloneAll, nAll); got < 50 {
		t.Errorf("the model alone finds %.1f%% of risky held-out messages at confidence ≥ 0.999, want ≥ 50%%: the training data carries too little", got)
	}
	none := readLines(t, fsys, "risk/heldout/none.txt")
	for _, th := range []float64{0.9, 0.99, 0.999, 0.9999} {
		fp := 0
		for _, l := range none {
			if label, conf := model.Classify(bot.Normalize(l)); label != "none" && conf >= th {
				fp++
			}
		}
		t.Logf("ordinary chat flagged by the model alone at confidence ≥ %v: %5.1f%%", th, pct(fp, len(none)))
	}
}
