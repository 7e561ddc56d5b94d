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
	// ac matches every plain term and every part of a combination, in
	// one pass (overlapping, since one may lie inside another); nil when
	// there are none.
	ac *ahocorasick.Automaton
	// roles says, by pattern id, which plain term and which part the
	// pattern is (-1: none; a text can be both).
	roles      []patRole
	terms      []lexTerm   // by term id
	partTerms  []lexTerm   // by part id: edges and digits
	partCombos [][]partRef // by part id: the combinations it belongs to
	combos     []combo
}

// patRole is what a pattern of the automaton stands for.
type patRole struct{ term, part int32 }

// partRef is one combination a part belongs to, with the groups of the
// combination it is an alternative of (bit i: group i, the first 64).
type partRef struct {
	combo  int32
	groups uint64
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

// combo is a combination term: every group needs one of its parts
// (partCombos says which parts are in which groups).
type combo struct {
	cat    Category
	sev    Severity
	groups int // how many
}

func newLexTerm(c Category, sev Severity, k string) lexTerm {
	return lexTerm{cat: c, sev: sev, edges: isAlnum(k[0]) || isAlnum(k[len(k)-1]), digits: allDigits(k)}
}

// NewLexicon builds a lexicon of terms, each folded by Fold. A term
// listed twice keeps its first category and its highest severity.
func NewLexicon(terms []Term) (*Lexicon, error) {
	lx := &Lexicon{}
	patIndex := map[string]int32{}
	var pats []string
	pattern := func(k string) *patRole {
		id, ok := patIndex[k]
		if !ok {
			id = int32(len(pats))
			patIndex[k] = id
			pats = append(pats, k)
			lx.roles = append(lx.roles, patRole{term: -1, part: -1})
		}
		return &lx.roles[id]
	}
	for _, t := range terms {
		groups := splitTerm(t.Text)
		if len(groups) == 1 {
			for _, k := range groups[0] {
				r := pattern(k)
				if r.term >= 0 {
					lx.terms[r.term].sev = max(lx.terms[r.term].sev, t.Severity)
					continue
				}
				r.term = int32(len(lx.terms))
				lx.terms = append(lx.terms, newLexTerm(t.Category, t.Severity, k))
			}
			continue
		}
		if len(groups) == 0 {
			continue
		}
		cb := combo{cat: t.Category, sev: t.Severity, groups: len(groups)}
		ci := int32(len(lx.combos))
		for gi, g := range groups {
			for _, k := range g {
				r := pattern(k)
				if r.part < 0 {
					r.part = int32(len(lx.partTerms))
					lx.partTerms = append(lx.partTerms, newLexTerm(t.Category, t.Severity, k))
					lx.partCombos = append(lx.partCombos, nil)
				}
				cs := lx.partCombos[r.part]
				if len(cs) == 0 || cs[len(cs)-1].combo != ci {
					cs = append(cs, partRef{combo: ci})
				}
				if gi < 64 {
					cs[len(cs)-1].groups |= 1 << gi
				}
				lx.partCombos[r.part] = cs
			}
		}
		lx.combos = append(lx.combos, cb)
	}
	if len(pats) > 0 {
		var err error
		if lx.ac, err = ahocorasick.NewBuilder().AddStrings(pats).Build(); err != nil {
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

// match appends the hits of lx in f, as spans of the original text:
// at each position where terms start, the longest of them (a shorter
// term inside it at the same start is the same finding; one starting
// later may be another category's, so overlaps count).
//
// One pass of the automaton over the text, then the matches by start:
// the library's leftmost-longest Find reads the rest of the text for
// the longest match anywhere in it, which skipped the terms before that
// match and cost a pass per match (quadratic in a long message).
func (lx *Lexicon) match(f *folded, orig string, source string, hits []Hit) []Hit {
	if lx == nil || lx.ac == nil {
		return hits
	}
	ms := lx.ac.FindAllOverlapping(f.text)
	var buf [64]ahocorasick.Match
	terms := buf[:0]
	for _, m := range ms {
		if lx.roles[m.PatternID].term >= 0 {
			terms = append(terms, m)
		}
	}
	slices.SortFunc(terms, func(a, b ahocorasick.Match) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return b.End - a.End
	})
	for i, m := range terms {
		if len(hits) >= maxHits {
			break
		}
		if i > 0 && terms[i-1].Start == m.Start {
			continue // a shorter term at the same start
		}
		t := lx.terms[lx.roles[m.PatternID].term]
		if !t.fits(f, m) {
			continue
		}
		start, end := int(f.start[m.Start]), int(f.end[m.End-1])
		hits = addHit(hits, Hit{Category: t.cat, Severity: t.sev, Source: source, Evidence: evidence(orig[start:end]), Start: start, End: end})
	}
	if len(lx.combos) > 0 {
		hits = lx.matchCombos(f, orig, source, ms, hits)
	}
	return hits
}

// matchCombos appends the combinations all of whose groups occur in f.
func (lx *Lexicon) matchCombos(f *folded, orig string, source string, ms []ahocorasick.Match, hits []Hit) []Hit {
	// Each match of a part that stands on its own (not glued to letters
	// or digits, as plain terms), once per combination it belongs to,
	// then by combination: each combination once, in the lexicon's order,
	// with its own parts in the text's order.
	var buf [128]comboPart
	own := buf[:0]
	kept := 0
	for _, m := range ms {
		p := lx.roles[m.PatternID].part
		if p < 0 || !lx.partTerms[p].fits(f, m) || kept >= maxComboParts {
			continue
		}
		kept++
		for _, ref := range lx.partCombos[p] {
			if ref.groups != 0 { // not only in groups past the 64th
				own = append(own, comboPart{combo: ref.combo, m: m, groups: ref.groups})
			}
		}
	}
	// By combination, then in the text's order: sorting keys is several
	// times cheaper than a stable sort of the parts.
	var kbuf [128]uint64
	keys := kbuf[:0]
	for i, p := range own {
		keys = append(keys, uint64(p.combo)<<32|uint64(i))
	}
	slices.Sort(keys)
	var rbuf [16]comboPart
	for len(keys) > 0 {
		ci := int32(keys[0] >> 32)
		run := rbuf[:0]
		for len(keys) > 0 && int32(keys[0]>>32) == ci {
			run = append(run, own[uint32(keys[0])])
			keys = keys[1:]
		}
		cb := lx.combos[ci]
		if i := indexOf(hits, cb.cat); i >= 0 && hits[i].Severity >= cb.sev {
			continue
		}
		first, last, ok := cb.find(f.text, run)
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

// comboPart is a match of a part of a combination, with the groups of
// the combination the part is in.
type comboPart struct {
	combo  int32
	m      ahocorasick.Match
	groups uint64
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

// find reports whether every group of cb has a part among own (the
// matches of its parts, in the text's order) within one stretch of
// maxComboSpan runes of text, with the first and the last of the parts
// found there.
func (cb combo) find(text []byte, own []comboPart) (first, last ahocorasick.Match, ok bool) {
	full := uint64(1)<<min(cb.groups, 63) - 1
	var all uint64
	for _, p := range own {
		all |= p.groups
	}
	if all != full {
		return first, last, false // a group has no part anywhere
	}
	for _, a := range own {
		// The stretch starts at a's start and runs maxComboSpan runes
		// (text is valid UTF-8: a rune is a byte that does not continue
		// the one before).
		limit := a.m.Start
		for n := 0; n < maxComboSpan && limit < len(text); n++ {
			limit++
			for limit < len(text) && text[limit]&0xC0 == 0x80 {
				limit++
			}
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
