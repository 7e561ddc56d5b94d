package risk

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// ScannerConfig tunes a Scanner.
type ScannerConfig struct {
	// Classifier, when set, reads what the lexicons miss; nil scans with
	// lexicons and detectors only.
	Classifier Classifier
	// MinConfidence is the least confidence at which a Classifier's
	// label counts as a hit (0.8 when zero): a missed complaint costs
	// less than staff who stop reading alerts.
	MinConfidence float64
	// Now is the clock ID cards' birth dates are checked against.
	Now func() time.Time
}

// Scanner finds risks in messages. It is safe for concurrent use.
type Scanner struct {
	lex  *Lexicon
	cfg  ScannerConfig
	pool sync.Pool // *folded: a message's buffers, reused across scans
}

// DefaultMinConfidence is the risk model's least confidence for a hit of
// its own. The shipped model is calibrated (temperature 2.34 fitted on
// knowledge/risk/calib; held-out ECE 0.025) and siyu wires the
// probability that a line is risky at all. With the lexicons and
// detectors, on the held-out set: 0.95 flags 95.5% of risky lines and
// 1.8% of ordinary chat; 0.92–0.94 96.1% and 2.1%; 0.9 96.4% and 2.4%;
// 0.97 94.4% and 1.5% (go test -run TestRiskQualityWithModel -v . in the
// repository root). The threshold was chosen on those held-out lines.
const DefaultMinConfidence = 0.95

// NewScanner returns a scanner over lex (nil: detectors and classifier
// only).
func NewScanner(lex *Lexicon, cfg ScannerConfig) *Scanner {
	if cfg.MinConfidence <= 0 {
		cfg.MinConfidence = DefaultMinConfidence
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Scanner{lex: lex, cfg: cfg}
	s.pool.New = func() any { return &folded{} }
	return s
}

// Lexicon returns the scanner's lexicon.
func (s *Scanner) Lexicon() *Lexicon { return s.lex }

// Scan returns the risks in one message, the most severe first (see
// Main). Spans refer to text as given, not a normalised form: a leading
// "+" or "➕" (+V, ➕wx) is evidence that normalising would trim. Personal
// data in evidence is masked, and so is every run of MaskDigits or more
// digits.
func (s *Scanner) Scan(text string) []Hit { return s.ScanWith(text, nil, 0) }

// ScanWith is Scan with extra terms (the brand words of the scripts'
// risk: section) and a minimum model confidence (0: the scanner's).
func (s *Scanner) ScanWith(text string, extra *Lexicon, minConfidence float64) []Hit {
	if text == "" {
		return nil
	}
	f := s.pool.Get().(*folded)
	defer s.pool.Put(f)
	foldInto(f, text)
	var hits []Hit
	hits = s.lex.match(f, text, SourceLexicon, hits)
	hits = extra.match(f, text, SourceScript, hits)
	hits = findPII(f, text, s.cfg.Now(), hits)
	if s.cfg.Classifier != nil {
		if minConfidence <= 0 {
			minConfidence = s.cfg.MinConfidence
		}
		label, conf := s.cfg.Classifier.Classify(bot.Normalize(text))
		if c := Category(label); c != PII && c.rank() >= 0 && conf >= minConfidence && indexOf(hits, c) < 0 {
			// The model cannot point at words: its evidence is its
			// confidence. Medium: a guess alerts staff only where the
			// scripts ask for it.
			hits = append(hits, Hit{Category: c, Severity: Medium, Source: SourceModel, Evidence: "model " + strconv.FormatFloat(conf, 'f', 2, 64), Confidence: conf})
		}
	}
	for i := range hits {
		// A lexicon's evidence is the customer's own words, numbers
		// included; a detector's is masked already.
		if hits[i].Source != SourcePII {
			hits[i].Evidence = MaskNumbers(hits[i].Evidence)
		}
	}
	if len(hits) > 1 {
		slices.SortStableFunc(hits, func(a, b Hit) int {
			if a.Severity != b.Severity {
				return int(b.Severity - a.Severity)
			}
			return a.Category.rank() - b.Category.rank()
		})
	}
	return hits
}
