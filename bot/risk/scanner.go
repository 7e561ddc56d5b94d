package risk

import (
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/siyu-bot/siyu/bot"
)

// ScannerConfig tunes a Scanner.
type ScannerConfig struct {
	// Classifier, when set, reads what the lexicons miss; nil scans with
	// lexicons and detectors only.
	Classifier Classifier
	// MinConfidence is the least confidence at which a Classifier's
	// label counts as a hit (DefaultMinConfidence when zero): a missed
	// complaint costs less than staff who stop reading alerts.
	MinConfidence float64
	// ClauseMinConfidence is the least confidence at which the
	// Classifier's reading of one clause of a long message counts
	// (ClauseThreshold(MinConfidence) when zero; above 1: clauses are
	// not read). Higher than MinConfidence: a message of ten clauses
	// gives the model ten chances to be wrong.
	ClauseMinConfidence float64
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
// its own: the probability, calibrated, that a line is risky at all.
// Chosen by `siyu train` on the fit lines of held-out sources (never on
// the lines it reports): the least threshold at which the model adds at
// most one point to the false alarms of the lexicons and detectors on
// ordinary lines. With the shipped model (temperature 6.82, fitted the
// same way) that was 0.97: on the fit lines, lexicons and detectors
// alone catch 24.0% of risky lines at 1.8% false alarms, with the model
// 28.2% at 2.5% (0.95: 29.2% at 3.0%; 0.9: 30.7% at 4.7%). See
// docs/risk.md for the leave-one-source-out figures.
const DefaultMinConfidence = 0.97

// ClauseThreshold returns the least confidence for a hit on one clause
// of a long message when a whole message needs minConfidence: the gap to
// 1 narrowed by 60% (0.95 → 0.98, 0.9 → 0.96), because a message of ten
// clauses gives the model ten chances to be wrong.
func ClauseThreshold(minConfidence float64) float64 { return minConfidence + 0.6*(1-minConfidence) }

// NewScanner returns a scanner over lex (nil: detectors and classifier
// only).
func NewScanner(lex *Lexicon, cfg ScannerConfig) *Scanner {
	if cfg.MinConfidence <= 0 {
		cfg.MinConfidence = DefaultMinConfidence
	}
	if cfg.ClauseMinConfidence <= 0 {
		cfg.ClauseMinConfidence = ClauseThreshold(cfg.MinConfidence)
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
		hits = s.classify(text, minConfidence, hits)
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

// classify adds the Classifier's hit: on the whole message, and, for a
// long message, on each of its clauses (see clauses), so that one risky
// clause among ordinary ones is not averaged away. A clause's hit names
// the clause in its evidence (personal data masked) and its span.
func (s *Scanner) classify(text string, minConfidence float64, hits []Hit) []Hit {
	if hanCount(text, minModelHan) < minModelHan {
		// Too little Chinese to read: the model learned from Chinese text
		// and reads romanised or English lines (qiandao, stop, [图片]) as
		// risky at 0.98 or more. Lexicons and detectors still apply.
		return hits
	}
	label, conf := s.cfg.Classifier.Classify(bot.Normalize(text))
	if c := Category(label); c != PII && c.rank() >= 0 && conf >= minConfidence && indexOf(hits, c) < 0 {
		// The model cannot point at words: its evidence is its
		// confidence. Medium: a guess alerts staff only where the
		// scripts ask for it.
		return append(hits, Hit{Category: c, Severity: Medium, Source: SourceModel, Evidence: "model " + strconv.FormatFloat(conf, 'f', 2, 64), Confidence: conf})
	}
	clauseMin := max(s.cfg.ClauseMinConfidence, ClauseThreshold(minConfidence))
	if clauseMin > 1 {
		return hits
	}
	var buf [maxClauses][2]int
	spans := clauses(text, buf[:0])
	if len(spans) < 2 {
		return hits
	}
	var seen [maxClauses]string
	for i, sp := range spans {
		clause := bot.Normalize(text[sp[0]:sp[1]])
		seen[i] = clause
		if slices.Contains(seen[:i], clause) {
			// A repeated clause (a spam wall) reads as it did: its category
			// is among the hits already, or it added none.
			continue
		}
		label, conf := s.cfg.Classifier.Classify(clause)
		if c := Category(label); c != PII && c.rank() >= 0 && conf >= clauseMin && indexOf(hits, c) < 0 {
			hits = append(hits, Hit{Category: c, Severity: Medium, Source: SourceModel,
				Evidence: "model " + strconv.FormatFloat(conf, 'f', 2, 64) + ": " + evidence(maskSpan(text, sp[0], sp[1], hits)), Start: sp[0], End: sp[1], Confidence: conf})
		}
	}
	return hits
}

// Clause reading, bounded: a clause is at least minClauseRunes runes
// (shorter pieces join their neighbour: 包邮吗 alone reads like an ad, in
// 两件多少钱，包邮吗 it does not), a message longer than one clause of
// maxClauseRunes is cut into several, and at most maxClauses are read:
// the first ones and the last ones, where a long post puts its point
// (a threat, a contact, a link). A 64 KiB message costs as much as a
// message of maxClauses clauses.
const (
	minClauseRunes = 8
	maxClauseRunes = 48
	maxClauses     = 16
)

// clauses returns the byte spans of text's clauses, appended to dst: cut
// at sentence and clause punctuation and line breaks, short pieces
// joined to the next, long ones cut at maxClauseRunes. A text of one
// clause gives one span. Only the first and last maxClauses/2 are kept.
func clauses(text string, dst [][2]int) [][2]int {
	start, runes := 0, 0
	var tail [maxClauses / 2][2]int // ring of the last clauses past the first half
	nTail := 0
	emit := func(a, b int) {
		if len(dst) < maxClauses/2 {
			dst = append(dst, [2]int{a, b})
			return
		}
		tail[nTail%len(tail)] = [2]int{a, b}
		nTail++
	}
	for i, r := range text {
		if isClauseEnd(r) {
			if runes >= minClauseRunes {
				emit(start, i)
				start, runes = i+utf8.RuneLen(r), 0
			}
			continue
		}
		runes++
		if runes >= maxClauseRunes {
			emit(start, i+utf8.RuneLen(r))
			start, runes = i+utf8.RuneLen(r), 0
		}
	}
	if runes > 0 {
		if runes < minClauseRunes && (len(dst) > 0 || nTail > 0) {
			// A short last piece joins the clause before it.
			if nTail > 0 {
				tail[(nTail-1)%len(tail)][1] = len(text)
			} else {
				dst[len(dst)-1][1] = len(text)
			}
		} else {
			emit(start, len(text))
		}
	}
	for k := max(0, nTail-len(tail)); k < nTail; k++ {
		dst = append(dst, tail[k%len(tail)])
	}
	return dst
}

// minModelHan is the least number of Chinese characters a message needs
// for the model's word to count.
const minModelHan = 3

// hanCount returns the number of Chinese characters in s, counting up to
// most.
func hanCount(s string, most int) int {
	n := 0
	for _, r := range s {
		if isCJK(r) {
			if n++; n >= most {
				break
			}
		}
	}
	return n
}

// isClauseEnd reports whether r ends a clause.
func isClauseEnd(r rune) bool {
	switch r {
	case '。', '！', '？', '!', '?', '；', ';', '\n', '，', ',', '…', '～', '~':
		return true
	}
	return false
}

// maskSpan returns text[start:end] with the personal data that hits
// found in it masked.
func maskSpan(text string, start, end int, hits []Hit) string {
	var inside []Hit
	for _, h := range hits {
		if h.Category == PII && h.Start >= start && h.End <= end {
			h.Start, h.End = h.Start-start, h.End-start
			inside = append(inside, h)
		}
	}
	return MaskText(text[start:end], inside)
}
