package risk

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/coregx/ahocorasick"

	"github.com/siyu-bot/siyu/bot"
)

// Term is one lexicon entry.
type Term struct {
	Category Category
	Severity Severity
	// Text is the term as written; NewLexicon folds it.
	Text string
}

// DefaultSeverity is a category's severity when a lexicon line or a
// script word does not give one.
func DefaultSeverity(c Category) Severity {
	switch c {
	case Fraud, Complaint:
		return High
	case AdSpam, PII:
		return Low
	}
	return Medium
}

// ParseLexicon reads one lexicon file of category c. A line is a term,
// optionally followed by "| severity" (low, medium, high); blank lines
// and lines starting with # are skipped. Errors name name:line and wrap
// bot.ErrInvalid.
func ParseLexicon(c Category, name string, r io.Reader) ([]Term, error) {
	var (
		terms []Term
		errs  []error
	)
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		t := Term{Category: c, Severity: DefaultSeverity(c), Text: s}
		if text, sev, ok := strings.Cut(s, "|"); ok {
			v, err := ParseSeverity(sev)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %w", name, line, err))
				continue
			}
			t.Text, t.Severity = strings.TrimSpace(text), v
		}
		if Fold(t.Text) == "" {
			errs = append(errs, fmt.Errorf("%s:%d: term %q is only punctuation or spaces: %w", name, line, t.Text, bot.ErrInvalid))
			continue
		}
		terms = append(terms, t)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return terms, errors.Join(errs...)
}

// LoadLexicon reads dir/<category>.txt for every category but pii (whose
// file is optional) from fsys and builds the Lexicon.
func LoadLexicon(fsys fs.FS, dir string) (*Lexicon, error) {
	var (
		all  []Term
		errs []error
	)
	for _, c := range Categories() {
		name := path.Join(dir, string(c)+".txt")
		f, err := fsys.Open(name)
		if err != nil {
			if c == PII && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			errs = append(errs, fmt.Errorf("%s: %w: %w", name, bot.ErrInvalid, err))
			continue
		}
		terms, err := ParseLexicon(c, name, f)
		_ = f.Close()
		if err != nil {
			errs = append(errs, err)
		}
		all = append(all, terms...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("risk.LoadLexicon: %w", err)
	}
	return NewLexicon(all)
}

// Lexicon matches many terms at once in folded text.
type Lexicon struct {
	// ac is nil when there are no terms.
	ac    *ahocorasick.Automaton
	terms []lexTerm // by pattern id
}

type lexTerm struct {
	cat Category
	sev Severity
	// edges: the term begins or ends with an ASCII letter or digit (vx,
	// 12315, 加wx): there it must not be glued to another letter or
	// digit, or "vx" would be found in English words and 12315 in order
	// numbers.
	edges bool
	// digits: the term is a number (12315): it must not span clause
	// punctuation, or the time 3:15 would read as 315.
	digits bool
}

// NewLexicon builds a lexicon of terms, each folded by Fold. A term
// listed twice keeps its first category and its highest severity.
func NewLexicon(terms []Term) (*Lexicon, error) {
	lx := &Lexicon{}
	index := map[string]int{}
	var pats []string
	for _, t := range terms {
		k := Fold(t.Text)
		if k == "" {
			continue
		}
		if i, ok := index[k]; ok {
			lx.terms[i].sev = max(lx.terms[i].sev, t.Severity)
			continue
		}
		index[k] = len(pats)
		pats = append(pats, k)
		lx.terms = append(lx.terms, lexTerm{cat: t.Category, sev: t.Severity, edges: isAlnum(k[0]) || isAlnum(k[len(k)-1]), digits: allDigits(k)})
	}
	if len(pats) == 0 {
		return lx, nil
	}
	ac, err := ahocorasick.NewBuilder().SetMatchKind(ahocorasick.LeftmostLongest).AddStrings(pats).Build()
	if err != nil {
		return nil, fmt.Errorf("risk.NewLexicon: %w: %w", bot.ErrInvalid, err)
	}
	lx.ac = ac
	return lx, nil
}

// Len returns the number of distinct folded terms.
func (lx *Lexicon) Len() int {
	if lx == nil {
		return 0
	}
	return len(lx.terms)
}

// maxHits bounds the hits of one message: a spam wall of text repeats
// its terms, and staff need a few pieces of evidence, not all.
const maxHits = 16

// match appends the hits of lx in f, as spans of the original text.
func (lx *Lexicon) match(f *folded, orig string, source string, hits []Hit) []Hit {
	if lx == nil || lx.ac == nil {
		return hits
	}
	text := f.text
	for pos := 0; pos < len(text) && len(hits) < maxHits; {
		m, ok := lx.ac.Find(text, pos)
		if !ok {
			break
		}
		// Overlapping terms of other categories start later: look again
		// from the next byte (patterns start on a rune's first byte).
		pos = m.Start + 1
		t := lx.terms[m.PatternID]
		if t.edges && (m.Start > 0 && !f.cut[m.Start] && sameClass(text[m.Start-1], text[m.Start]) ||
			m.End < len(text) && !f.cut[m.End] && sameClass(text[m.End-1], text[m.End])) {
			continue
		}
		if t.digits && slices.Contains(f.cut[m.Start+1:m.End], true) {
			continue
		}
		start, end := int(f.start[m.Start]), int(f.end[m.End-1])
		if i := indexOf(hits, t.cat); i >= 0 {
			// One piece of evidence per category is enough: the most
			// severe.
			if t.sev > hits[i].Severity {
				hits[i] = Hit{Category: t.cat, Severity: t.sev, Source: source, Evidence: evidence(orig[start:end]), Start: start, End: end}
			}
			continue
		}
		hits = append(hits, Hit{Category: t.cat, Severity: t.sev, Source: source, Evidence: evidence(orig[start:end]), Start: start, End: end})
	}
	return hits
}

func indexOf(hits []Hit, c Category) int {
	for i, h := range hits {
		if h.Category == c {
			return i
		}
	}
	return -1
}

// evidence bounds a span shown to staff: separators stuffed inside a
// word can make it long.
func evidence(s string) string {
	const most = 80 // bytes: about 26 Chinese characters
	if len(s) <= most {
		return s
	}
	cut := most
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' }

// sameClass reports whether a and b are both ASCII letters or both ASCII
// digits: a word of a term continues across them.
func sameClass(a, b byte) bool {
	return isASCIILetter(a) && isASCIILetter(b) || isDigit(a) && isDigit(b)
}
