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
	"unicode/utf8"

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

// ParseLexicon reads one lexicon file of category c. A line is a term
// (see Lexicon: a phrase, alternatives a/b, a combination a/b & c/d),
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
		if splitTerm(t.Text) == nil {
			errs = append(errs, fmt.Errorf("%s:%d: term %q has a part that is only punctuation or spaces: %w", name, line, t.Text, bot.ErrInvalid))
			continue
		}
		if a, ok := collapsed(t.Text); ok {
			errs = append(errs, fmt.Errorf("%s:%d: %q folds to one character (repeats fold to one) and would match almost anything: %w", name, line, a, bot.ErrInvalid))
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
//
// A term is a word or phrase ("加我微信"), several alternatives
// separated by "/" ("私我/私信我"), or a combination: groups of
// alternatives joined by "&", all of which must occur in the message, in
// any order ("私我/找我/私聊 & 便宜/半价/折扣"). Combinations catch the
// many ways one idea is phrased without listing every sentence.
type Lexicon struct {
	// ac matches plain terms; nil when there are none.
	ac    *ahocorasick.Automaton
	terms []lexTerm // by pattern id
	// parts matches the alternatives of combinations (overlapping, since
	// one may lie inside another); nil when there are none.
	parts      *ahocorasick.Automaton
	partTerms  []lexTerm // by part id: edges and digits
	partCombos [][]int32 // by part id: the combinations it belongs to
	combos     []combo
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

// combo is a combination term: every group needs one of its parts.
type combo struct {
	cat    Category
	sev    Severity
	groups [][]int32 // part ids
}

func newLexTerm(c Category, sev Severity, k string) lexTerm {
	return lexTerm{cat: c, sev: sev, edges: isAlnum(k[0]) || isAlnum(k[len(k)-1]), digits: allDigits(k)}
}

// NewLexicon builds a lexicon of terms, each folded by Fold. A term
// listed twice keeps its first category and its highest severity.
func NewLexicon(terms []Term) (*Lexicon, error) {
	lx := &Lexicon{}
	index := map[string]int{}
	partIndex := map[string]int32{}
	var pats, parts []string
	for _, t := range terms {
		groups := splitTerm(t.Text)
		if len(groups) == 1 {
			for _, k := range groups[0] {
				if i, ok := index[k]; ok {
					lx.terms[i].sev = max(lx.terms[i].sev, t.Severity)
					continue
				}
				index[k] = len(pats)
				pats = append(pats, k)
				lx.terms = append(lx.terms, newLexTerm(t.Category, t.Severity, k))
			}
			continue
		}
		if len(groups) == 0 {
			continue
		}
		cb := combo{cat: t.Category, sev: t.Severity}
		for _, g := range groups {
			ids := make([]int32, 0, len(g))
			for _, k := range g {
				id, ok := partIndex[k]
				if !ok {
					id = int32(len(parts))
					partIndex[k] = id
					parts = append(parts, k)
					lx.partTerms = append(lx.partTerms, newLexTerm(t.Category, t.Severity, k))
					lx.partCombos = append(lx.partCombos, nil)
				}
				ids = append(ids, id)
				if cs := lx.partCombos[id]; len(cs) == 0 || cs[len(cs)-1] != int32(len(lx.combos)) {
					lx.partCombos[id] = append(cs, int32(len(lx.combos)))
				}
			}
			cb.groups = append(cb.groups, ids)
		}
		lx.combos = append(lx.combos, cb)
	}
	var err error
	if len(pats) > 0 {
		if lx.ac, err = ahocorasick.NewBuilder().SetMatchKind(ahocorasick.LeftmostLongest).AddStrings(pats).Build(); err != nil {
			return nil, fmt.Errorf("risk.NewLexicon: %w: %w", bot.ErrInvalid, err)
		}
	}
	if len(parts) > 0 {
		if lx.parts, err = ahocorasick.NewBuilder().AddStrings(parts).Build(); err != nil {
			return nil, fmt.Errorf("risk.NewLexicon: %w: %w", bot.ErrInvalid, err)
		}
	}
	return lx, nil
}

// splitTerm folds a term's text into its groups of alternatives: one
// group for a plain term or alternatives, several for a combination.
// Alternatives that fold to nothing are dropped, and so is a
// combination with an empty group.
func splitTerm(text string) [][]string {
	var groups [][]string
	for _, g := range strings.Split(text, "&") {
		var alts []string
		for _, a := range strings.Split(g, "/") {
			if k := Fold(a); k != "" {
				alts = append(alts, k)
			}
		}
		if len(alts) == 0 {
			return nil
		}
		groups = append(groups, alts)
	}
	return groups
}

// collapsed returns an alternative of text that is written with several
// characters but folds to one (天天 → 天), and reports whether there is
// one.
func collapsed(text string) (string, bool) {
	for _, g := range strings.Split(text, "&") {
		for _, a := range strings.Split(g, "/") {
			a = strings.TrimSpace(a)
			if utf8.RuneCountInString(a) > 1 && utf8.RuneCountInString(Fold(a)) == 1 {
				return a, true
			}
		}
	}
	return "", false
}

// Len returns the number of distinct folded terms and combinations.
func (lx *Lexicon) Len() int {
	if lx == nil {
		return 0
	}
	return len(lx.terms) + len(lx.combos)
}

// maxHits bounds the hits of one message: a spam wall of text repeats
// its terms, and staff need a few pieces of evidence, not all.
const maxHits = 16

// match appends the hits of lx in f, as spans of the original text.
func (lx *Lexicon) match(f *folded, orig string, source string, hits []Hit) []Hit {
	if lx == nil {
		return hits
	}
	text := f.text
	for pos := 0; lx.ac != nil && pos < len(text) && len(hits) < maxHits; {
		m, ok := lx.ac.Find(text, pos)
		if !ok {
			break
		}
		// Overlapping terms of other categories start later: look again
		// from the next byte (patterns start on a rune's first byte).
		pos = m.Start + 1
		t := lx.terms[m.PatternID]
		if !t.fits(f, m) {
			continue
		}
		start, end := int(f.start[m.Start]), int(f.end[m.End-1])
		hits = addHit(hits, Hit{Category: t.cat, Severity: t.sev, Source: source, Evidence: evidence(orig[start:end]), Start: start, End: end})
	}
	if lx.parts != nil {
		hits = lx.matchCombos(f, orig, source, hits)
	}
	return hits
}

// matchCombos appends the combinations all of whose groups occur in f.
func (lx *Lexicon) matchCombos(f *folded, orig string, source string, hits []Hit) []Hit {
	ms := lx.parts.FindAllOverlapping(f.text)
	if len(ms) == 0 {
		return hits
	}
	// Drop parts glued to letters or digits, as plain terms are.
	kept := ms[:0]
	for _, m := range ms {
		if lx.partTerms[m.PatternID].fits(f, m) && len(kept) < maxComboParts {
			kept = append(kept, m)
		}
	}
	// Each combination once, however many of its parts matched.
	var cbuf [64]int32
	cands := cbuf[:0]
	for _, m := range kept {
		cands = append(cands, lx.partCombos[m.PatternID]...)
	}
	slices.Sort(cands)
	for _, ci := range slices.Compact(cands) {
		cb := lx.combos[ci]
		if i := indexOf(hits, cb.cat); i >= 0 && hits[i].Severity >= cb.sev {
			continue
		}
		first, last, ok := cb.find(f.text, kept)
		if !ok {
			continue
		}
		s1, e1 := int(f.start[first.Start]), int(f.end[first.End-1])
		s2, e2 := int(f.start[last.Start]), int(f.end[last.End-1])
		ev := evidence(orig[s1:e1])
		if s2 >= e1 {
			ev += "…" + evidence(orig[s2:e2])
		}
		hits = addHit(hits, Hit{Category: cb.cat, Severity: cb.sev, Source: source, Evidence: ev, Start: s1, End: max(e1, e2)})
	}
	return hits
}

// maxComboSpan bounds, in runes of folded text, the stretch a
// combination's parts must all lie in: in a long post, 私我 in one
// sentence and 便宜 forty characters later are two ideas, not one offer.
// A combination is one idea said in one breath: 24 runes hold every
// combination line of the shipped lexicons' examples.
const maxComboSpan = 24

// maxComboParts bounds the part matches a combination is looked for
// among: a 64 KiB wall of text must not cost quadratic time.
const maxComboParts = 512

// find reports whether every group of cb has a part among ms within one
// stretch of maxComboSpan runes of text, with the first and the last of
// the parts found there.
func (cb combo) find(text []byte, ms []ahocorasick.Match) (first, last ahocorasick.Match, ok bool) {
	// The combination's own parts, each with the groups it belongs to:
	// few, so the windows below cost little.
	type part struct {
		m      ahocorasick.Match
		groups uint64
	}
	var buf [16]part
	own := buf[:0]
	for _, m := range ms {
		var g uint64
		for i, grp := range cb.groups {
			if i < 64 && slices.Contains(grp, int32(m.PatternID)) {
				g |= 1 << i
			}
		}
		if g != 0 {
			own = append(own, part{m, g})
		}
	}
	full := uint64(1)<<min(len(cb.groups), 63) - 1
	for _, a := range own {
		// The stretch starts at a's start and runs maxComboSpan runes.
		limit := a.m.Start
		for n := 0; n < maxComboSpan && limit < len(text); n++ {
			_, size := utf8.DecodeRune(text[limit:])
			limit += size
		}
		var have uint64
		first, last = a.m, a.m
		for _, p := range own {
			if p.m.Start >= a.m.Start && p.m.End <= limit {
				have |= p.groups
				if p.m.End > last.End {
					last = p.m
				}
			}
		}
		if have == full {
			return first, last, true
		}
	}
	return first, last, false
}

// fits reports whether match m of t stands on its own in f: see edges and
// digits.
func (t lexTerm) fits(f *folded, m ahocorasick.Match) bool {
	text := f.text
	if t.edges && (m.Start > 0 && !f.cut[m.Start] && sameClass(text[m.Start-1], text[m.Start]) ||
		m.End < len(text) && !f.cut[m.End] && sameClass(text[m.End-1], text[m.End])) {
		return false
	}
	return !t.digits || !slices.Contains(f.cut[m.Start+1:m.End], true)
}

// addHit adds h, keeping one hit per category: the most severe, the
// first found among equals.
func addHit(hits []Hit, h Hit) []Hit {
	if i := indexOf(hits, h.Category); i >= 0 {
		if h.Severity > hits[i].Severity {
			hits[i] = h
		}
		return hits
	}
	return append(hits, h)
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
