package bot

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// A Section is a top-level key of the reply scripts that a capability
// owns (checkin:, campaigns:, dnd:, risk:, intents:). The capability
// decodes it with the same file:line errors as rules, and its compiled
// value belongs to the same immutable Scripts as the rules, so one event
// never sees two versions. The loader takes sections from its caller
// (LoadScripts(fsys, checkin.Section{}, …)); it never grows a case
// per feature, and a key no section claims is still an error.
type Section interface {
	// Key is the top-level key, e.g. "checkin".
	Key() string
	// Parse decodes the key's value in one file and returns that file's
	// part. Mistakes are reported through p; a part with mistakes may be
	// returned or nil, the load fails either way.
	Parse(p *SectionParser, n *yaml.Node) any
	// Merge combines the parts of every file that has the key, in file
	// order (none when no file has it), into the compiled value that
	// Scripts.Section returns. Cross-file mistakes (a key defined twice, a
	// duplicate id) are reported through m. s holds the core scripts
	// (rules, channels, welcomes) and the sections merged before this one;
	// s.Scope() is the brand or account the scripts are compiled for
	// (script_scope.go). A file is parsed once per load and its part
	// merged into every scope that reads it: Merge must not modify the
	// parts' values, and a value it changes per scope is a copy.
	Merge(m *SectionMerger, s *Scripts, parts []SectionPart) any
}

// SectionPart is one file's part of a section.
type SectionPart struct {
	File  string
	Line  int // of the key
	Value any // what Parse returned
}

// SectionParser gives a Section's Parse the checks rules use, each
// reporting its mistakes with the file and line of the offending node.
type SectionParser struct{ p *scriptParser }

// File is the path of the file being parsed.
func (sp *SectionParser) File() string { return sp.p.f.path }

// Errorf reports a mistake at node n.
func (sp *SectionParser) Errorf(n *yaml.Node, format string, args ...any) {
	sp.p.errorf(yamlResolve(n), format, args...)
}

// Entry is one key: value of a YAML mapping.
type Entry struct {
	Key     string
	KeyNode *yaml.Node
	Value   *yaml.Node
}

// Mapping checks that n is a mapping with only the allowed keys, each
// once, and returns its good entries and whether there was no mistake. A
// null node is an empty mapping. what prefixes error messages.
func (sp *SectionParser) Mapping(n *yaml.Node, what string, allowed ...string) ([]Entry, bool) {
	kvs, ok := sp.p.mapping(n, what, allowed...)
	out := make([]Entry, len(kvs))
	for i, kv := range kvs {
		out[i] = Entry{kv.key, kv.keyN, kv.value}
	}
	return out, ok
}

// Text returns a scalar's text as written, "" for null.
func (sp *SectionParser) Text(n *yaml.Node, what string) (string, bool) {
	s, ok := sp.p.scalar(n, what)
	return strings.TrimSpace(s), ok
}

// Texts returns one text or a list of texts, none empty.
func (sp *SectionParser) Texts(n *yaml.Node, what string) ([]string, bool) {
	return sp.p.texts(n, what)
}

// Keywords returns one keyword or a list, each in Normalize's form; a
// keyword that normalises to nothing is a mistake.
func (sp *SectionParser) Keywords(n *yaml.Node, what string) ([]string, bool) {
	items, ok := sp.p.list(n, what)
	out := make([]string, 0, len(items))
	for _, item := range items {
		raw, _ := sp.p.scalar(item, what)
		k := Normalize(raw)
		if k == "" {
			sp.p.errorf(item, "%s: empty keyword %q (surrounding spaces, punctuation and emoji are ignored)", what, raw)
			ok = false
			continue
		}
		out = append(out, k)
	}
	return out, ok
}

// Sequence returns the items of a list; null is an empty list.
func (sp *SectionParser) Sequence(n *yaml.Node, what string) []*yaml.Node {
	items := sp.p.sequence(n, what)
	out := make([]*yaml.Node, len(items))
	for i, it := range items {
		out[i] = yamlResolve(it)
	}
	return out
}

// Int returns a whole number.
func (sp *SectionParser) Int(n *yaml.Node, what string) (int, bool) {
	n = yamlResolve(n)
	var v int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		sp.p.errorf(n, "%s: want a whole number, got %s", what, yamlDescribe(n))
		return 0, false
	}
	return v, true
}

// Float returns a number.
func (sp *SectionParser) Float(n *yaml.Node, what string) (float64, bool) {
	n = yamlResolve(n)
	var v float64
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&v) != nil {
		sp.p.errorf(n, "%s: want a number, got %s", what, yamlDescribe(n))
		return 0, false
	}
	return v, true
}

// Bool returns true or false.
func (sp *SectionParser) Bool(n *yaml.Node, what string) (bool, bool) {
	n = yamlResolve(n)
	var v bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&v) != nil {
		sp.p.errorf(n, "%s: want true or false, got %s", what, yamlDescribe(n))
		return false, false
	}
	return v, true
}

// Duration returns a duration written as Go does: 30s, 5m, 1h30m.
func (sp *SectionParser) Duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := sp.p.scalar(n, what)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		sp.p.errorf(yamlResolve(n), "%s: want a duration like 30s, 5m or 1h, got %q", what, s)
		return 0, false
	}
	return d, true
}

// Location returns a time zone by its IANA name (Asia/Shanghai).
func (sp *SectionParser) Location(n *yaml.Node, what string) (*time.Location, bool) {
	s, ok := sp.p.scalar(n, what)
	if !ok {
		return nil, false
	}
	loc, err := time.LoadLocation(strings.TrimSpace(s))
	if err != nil || strings.TrimSpace(s) == "" {
		sp.p.errorf(yamlResolve(n), "%s: unknown time zone %q (want an IANA name like Asia/Shanghai)", what, s)
		return nil, false
	}
	return loc, true
}

// SectionMerger reports cross-file mistakes while sections merge.
type SectionMerger struct{ errs []ScriptError }

// Errorf reports a mistake at file:line.
func (m *SectionMerger) Errorf(file string, line int, format string, args ...any) {
	m.errs = append(m.errs, ScriptError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Once returns the single part of a section that may be defined in one
// file only, reporting every further definition; ok is false when no
// file defines it.
func (m *SectionMerger) Once(key string, parts []SectionPart) (SectionPart, bool) {
	if len(parts) == 0 {
		return SectionPart{}, false
	}
	for _, p := range parts[1:] {
		m.Errorf(p.File, p.Line, "%s already defined at %s:%d", key, parts[0].File, parts[0].Line)
	}
	return parts[0], true
}

// Section returns the compiled value of the section with the given key,
// or nil when the scripts were loaded without that section.
func (s *Scripts) Section(key string) any { return s.sections[key] }

// sectionKeys lists the keys of sections, for the top level's allowed
// keys, refusing a key that the core format or another section owns.
func sectionKeys(sections []Section) ([]string, error) {
	core := []string{"welcome", "rules", "fallback", "channels"}
	keys := make([]string, 0, len(sections))
	for _, sec := range sections {
		k := sec.Key()
		if k == "" || slices.Contains(core, k) || slices.Contains(keys, k) {
			return nil, fmt.Errorf("bot: section key %s is taken or empty: %w", strconv.Quote(k), ErrInvalid)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
