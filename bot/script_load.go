package bot

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Reply scripts are YAML files that staff edit: keyword rules with their
// replies, welcome texts and acquisition channels. The format is a contract
// shared with staff and documented in scripts/README.md:
//
//	welcome:
//	  follow: "欢迎关注！"          # new OA follower (text or list of texts)
//	  contact: "你好，我是小助手"     # new WeCom external contact
//	  group: "欢迎入群"              # new group members
//	rules:
//	  - name: opening-hours          # required, unique across all files
//	    match:                       # at least one kind; any kind matching matches
//	      contains: ["营业时间", "几点开门"]
//	      exact: ["时间"]
//	      regex: '^订单\s*\d{6,}'
//	      menu: [MENU_HOURS]         # custom menu keys, see MatchMenu
//	    reply: "我们每天 9:00-21:00 营业"  # text or list of texts
//	    priority: 10                 # optional, default 0; higher wins
//	    platforms: [wechat, wecom]   # optional; default all
//	fallback: "抱歉没听懂"           # text or list of texts
//	channels:
//	  - state: store-shanghai-01     # required, unique across all files
//	    name: 上海门店
//	    welcome: "欢迎来到上海门店！"
//	    tags: [门店, 上海]
//
// Wherever a list of texts or keywords is expected a single text is
// accepted too, and scalars such as 1 or true are taken as written.
//
// YAML anchors and aliases (&name, *name) work, but every use of an
// alias is read again, so together they may add at most maxAliasNodes
// nodes to a file (4,400 rules reusing one list of 2,000 keywords took 7 s
// and a gigabyte to load); the scripts hold at most maxPatterns keywords
// and patterns. Patterns have a budget (maxRegexInsts,
// maxRegexTotalInsts) and see at most maxRegexText bytes of a message.

// ScriptError is one mistake in a script file, located by file and line
// so that staff can fix it. Line is 0 when the YAML parser could not say.
type ScriptError struct {
	File string // path inside the scripts file system
	Line int    // 1-based
	Msg  string
}

// Error returns "file:line: msg".
func (e ScriptError) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// ScriptErrors returns the script errors in an error returned by
// LoadScripts, NewLibrary or Library.Reload, in file and line order, or
// nil if err holds none (for example an I/O error).
func ScriptErrors(err error) []ScriptError {
	var out []ScriptError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case ScriptError:
			out = append(out, e)
		case *ScriptError:
			if e != nil {
				out = append(out, *e)
			}
		case interface{ Unwrap() []error }:
			for _, err := range e.Unwrap() {
				walk(err)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// LoadScripts reads every .yaml and .yml file in fsys, at any depth, and
// returns the base scripts: the files outside brands/, merged in path
// order. Rules are concatenated, and each welcome text, the fallback and
// each channel may be defined in one file only. Files and directories
// whose names start with "." are skipped (editor and Kubernetes
// ConfigMap internals). The files under brands/ are the brands' and
// accounts' scripts (script_scope.go); they are loaded and checked too,
// and LoadScopes returns them.
//
// Mistakes in the scripts are all reported at once: the error wraps
// ErrInvalid and one ScriptError per mistake, which ScriptErrors extracts.
// A file system that cannot be read gives an error without ErrInvalid.
func LoadScripts(fsys fs.FS, sections ...Section) (*Scripts, error) {
	return LoadScriptsContext(context.Background(), fsys, sections...)
}

// LoadScriptsContext is LoadScripts that gives up once ctx ends (a
// validation whose client went away), with an error wrapping ctx's and
// no ScriptError.
func LoadScriptsContext(ctx context.Context, fsys fs.FS, sections ...Section) (*Scripts, error) {
	set, err := loadSet(ctx, fsys, sections)
	if err != nil {
		return nil, err
	}
	return set.base, nil
}

// LoadScopes is LoadScriptsContext returning every scope's scripts: the
// base scripts first, then each brand's, each followed by its accounts',
// in name order (Scripts.Scope says which).
func LoadScopes(ctx context.Context, fsys fs.FS, sections ...Section) ([]*Scripts, error) {
	set, err := loadSet(ctx, fsys, sections)
	if err != nil {
		return nil, err
	}
	return set.all, nil
}

func loadSet(ctx context.Context, fsys fs.FS, sections []Section) (*scriptSet, error) {
	if _, err := sectionKeys(sections); err != nil {
		return nil, fmt.Errorf("bot.LoadScripts: %w", err)
	}
	raw, err := readScripts(fsys)
	if err != nil {
		return nil, fmt.Errorf("bot.LoadScripts: %w", err)
	}
	return parseScopes(ctx, raw, sections)
}

// rawScript is one script file as read, before parsing.
type rawScript struct {
	path string
	data []byte
}

// readScripts reads the script files of fsys, in path order.
func readScripts(fsys fs.FS) ([]rawScript, error) {
	paths, err := scriptPaths(fsys)
	if err != nil {
		return nil, err
	}
	raw := make([]rawScript, 0, len(paths))
	for _, p := range paths {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		raw = append(raw, rawScript{path: p, data: data})
	}
	return raw, nil
}

// scriptSet is one load's scripts: the base scripts and every brand's
// and account's (script_scope.go).
type scriptSet struct {
	base   *Scripts
	scopes map[Route]*Scripts // brands as Route{Brand: b}, accounts as Route{b, n}
	all    []*Scripts         // base first, then by brand and account name
}

// For returns the scripts answering route r: its account's when the
// account has a folder, else its brand's when the brand has one, else
// the base scripts. The zero route, and any route while no brand has a
// folder, costs one comparison.
func (ss *scriptSet) For(r Route) *Scripts {
	if r.IsZero() || len(ss.scopes) == 0 {
		return ss.base
	}
	if s, ok := ss.scopes[r]; ok {
		return s
	}
	if s, ok := ss.scopes[Route{Brand: r.Brand}]; ok {
		return s
	}
	return ss.base
}

// parseScopes parses files read by readScripts, so that a caller can
// know exactly which bytes it loaded (Library's version), every file
// once, and merges each scope's files into its own Scripts. A mistake in any file or scope fails the whole load.
func parseScopes(ctx context.Context, raw []rawScript, sections []Section) (*scriptSet, error) {
	keys, err := sectionKeys(sections)
	if err != nil {
		return nil, fmt.Errorf("bot.LoadScripts: %w", err)
	}
	var errs []ScriptError
	if len(raw) == 0 {
		errs = append(errs, ScriptError{File: ".", Msg: "no .yaml or .yml files"})
	}
	files := make([]scopedFile, 0, len(raw))
	for _, r := range raw {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("bot.LoadScripts: %w", err)
		}
		route, rel, msg := scopeOfPath(r.path)
		if msg != "" {
			errs = append(errs, ScriptError{File: r.path, Msg: msg})
			continue
		}
		sp := &scriptParser{ctx: ctx, f: &scriptFile{path: r.path}, sections: sections, sectionKeys: keys}
		sp.parse(r.data)
		errs = append(errs, sp.errs...)
		files = append(files, scopedFile{f: sp.f, route: route, rel: rel})
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bot.LoadScripts: %w", err) // a YAML error may be unlocated
	}
	plan, perrs := planScopes(files)
	errs = append(errs, perrs...)
	set := &scriptSet{scopes: make(map[Route]*Scripts, len(plan)-1)}
	// Scopes of the same files (a brand whose folder holds only its
	// accounts' folders reads the base files) share their core.
	cores := make(map[string]*Scripts, len(plan))
	for _, sc := range plan {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("bot.LoadScripts: %w", err)
		}
		var b strings.Builder
		for _, f := range sc.files {
			b.WriteString(f.path)
			b.WriteByte(0)
		}
		s, merrs := mergeScripts(sc.files, sections, sc.route, cores[b.String()])
		cores[b.String()] = s
		errs = append(errs, merrs...)
		set.all = append(set.all, s)
		if sc.route.IsZero() {
			set.base = s
		} else {
			set.scopes[sc.route] = s
		}
	}
	if len(errs) > 0 {
		return nil, scriptErrorsErr(errs)
	}
	return set, nil
}

// scriptErrorsErr sorts and deduplicates errs (an aliased node is checked
// once per use; a base file's mistake is found again in every scope that
// reads it) and joins them into one error wrapping ErrInvalid.
func scriptErrorsErr(errs []ScriptError) error {
	seen := make(map[ScriptError]bool, len(errs))
	errs = slices.DeleteFunc(errs, func(e ScriptError) bool {
		dup := seen[e]
		seen[e] = true
		return dup
	})
	slices.SortStableFunc(errs, func(a, b ScriptError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	noun := "errors"
	if len(errs) == 1 {
		noun = "error"
	}
	return fmt.Errorf("bot.LoadScripts: %w scripts (%d %s):\n%w", ErrInvalid, len(errs), noun, errors.Join(joined...))
}

// ScriptPaths lists the files LoadScripts reads from fsys, in path order:
// .yaml and .yml at any depth, dot-files and dot-folders skipped, the
// brands' and accounts' files under brands/ included.
func ScriptPaths(fsys fs.FS) ([]string, error) { return scriptPaths(fsys) }

// scriptPaths lists the script files of fsys in path order.
func scriptPaths(fsys fs.FS) ([]string, error) {
	var paths []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if ext := path.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// WalkDir's order puts "a/x.yaml" before "a.yaml"; file order is path
	// order.
	slices.Sort(paths)
	return paths, nil
}

// textDef is a welcome or fallback text list and where it was defined.
type textDef struct {
	texts []string
	line  int
}

// scriptFile is what one file defines, before merging.
type scriptFile struct {
	path     string
	welcome  map[string]*textDef // follow, contact, group
	fallback *textDef
	rules    []Rule
	channels []Channel
	sections map[string]SectionPart // by section key
}

// mergeScripts merges one scope's files, in the order given, into the
// Scripts of scope. It only reads files: the same parsed file is merged
// into every scope that reads it. same, when not nil, is another scope's
// merge of the same files: its core (rules, their index, channels,
// welcomes) is shared, and its mistakes were reported with it; only the
// sections, which may depend on the scope, are merged again.
func mergeScripts(files []*scriptFile, sections []Section, scope Route, same *Scripts) (*Scripts, []ScriptError) {
	if same != nil {
		s := *same
		s.scope = scope
		return &s, mergeSections(&s, files, sections)
	}
	var errs []ScriptError
	s := &Scripts{byState: make(map[string]int), sections: make(map[string]any, len(sections)), scope: scope}
	defined := make(map[string]origin) // "welcome.follow", "fallback"
	s.defined = defined
	set := func(key string, def *textDef, file string, dst *[]string) {
		if def == nil {
			return
		}
		if o, ok := defined[key]; ok {
			errs = append(errs, ScriptError{file, def.line, fmt.Sprintf("%s already defined at %s:%d", key, o.file, o.line)})
			return
		}
		defined[key] = origin{file, def.line}
		*dst = def.texts
	}
	ruleAt := make(map[string]origin)
	regexInsts, overBudget := 0, false
	patterns, overPatterns := 0, false
	for _, f := range files {
		set("welcome.follow", f.welcome["follow"], f.path, &s.follow)
		set("welcome.contact", f.welcome["contact"], f.path, &s.contact)
		set("welcome.group", f.welcome["group"], f.path, &s.group)
		set("fallback", f.fallback, f.path, &s.fallback)
		for _, r := range f.rules {
			if o, ok := ruleAt[r.Name]; ok {
				errs = append(errs, ScriptError{r.File, r.Line, fmt.Sprintf("rule name %q already used at %s:%d", r.Name, o.file, o.line)})
				continue
			}
			ruleAt[r.Name] = origin{r.File, r.Line}
			if patterns += len(r.Exact) + len(r.Contains) + len(r.Regex) + len(r.Menu); patterns > maxPatterns && !overPatterns {
				overPatterns = true
				errs = append(errs, ScriptError{r.File, r.Line, fmt.Sprintf("rule %q: the scripts hold over %d keywords, patterns and menu keys by here: split the rules by meaning, or use intents", r.Name, maxPatterns)})
			}
			if regexInsts += r.regexInsts; regexInsts > maxRegexTotalInsts && !overBudget {
				// Once: the rules after it are over budget only because of
				// the ones before.
				overBudget = true
				errs = append(errs, ScriptError{r.File, r.Line, fmt.Sprintf("rule %q: its patterns bring the scripts' regex programs to %d instructions, over the budget of %d for all scripts together: "+
					"use fewer or simpler patterns (contains keywords cost nothing)", r.Name, regexInsts, maxRegexTotalInsts)})
			}
			r.order = len(s.rules)
			s.rules = append(s.rules, r)
		}
		for _, c := range f.channels {
			if i, ok := s.byState[c.State]; ok {
				o := s.channels[i]
				errs = append(errs, ScriptError{c.File, c.Line, fmt.Sprintf("channel state %q already used at %s:%d", c.State, o.File, o.Line)})
				continue
			}
			s.byState[c.State] = len(s.channels)
			s.channels = append(s.channels, c)
		}
	}
	// Ranks in priority order let Match take the lowest matching rank.
	slices.SortStableFunc(s.rules, func(a, b Rule) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.order, b.order))
	})
	s.index()
	return s, append(errs, mergeSections(s, files, sections)...)
}

// mergeSections merges the sections of files into s after its core, in
// the order the caller gave them, so each sees the channels and the
// sections before it.
func mergeSections(s *Scripts, files []*scriptFile, sections []Section) []ScriptError {
	var errs []ScriptError
	s.sections = make(map[string]any, len(sections))
	for _, sec := range sections {
		var parts []SectionPart
		for _, f := range files {
			if part, ok := f.sections[sec.Key()]; ok {
				parts = append(parts, part)
			}
		}
		m := &SectionMerger{}
		s.sections[sec.Key()] = sec.Merge(m, s, parts)
		errs = append(errs, m.errs...)
	}
	return errs
}

// scriptParser checks one file's YAML tree against the format and
// collects every mistake it finds.
type scriptParser struct {
	ctx         context.Context
	f           *scriptFile
	errs        []ScriptError
	sections    []Section
	sectionKeys []string
}

func (p *scriptParser) errorf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, ScriptError{File: p.f.path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *scriptParser) parse(data []byte) {
	docs, err := decodeYAML(data)
	if err != nil {
		p.yamlError(data, err)
		return
	}
	for _, doc := range docs {
		if at := aliasOverflow(doc, maxAliasNodes); at != nil {
			p.errorf(at, "YAML aliases add over %d nodes to this file by here (*%s): each use of an alias is read again; write the lists out, or reuse less", maxAliasNodes, at.Value)
			return
		}
	}
	if len(docs) > 1 {
		p.errorf(docs[1], "a second YAML document (---): put everything in one document per file")
	}
	if len(docs) == 0 || len(docs[0].Content) == 0 {
		return // an empty file is fine
	}
	p.top(docs[0].Content[0])
}

// decodeYAML parses every document in data.
func decodeYAML(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		docs = append(docs, &doc)
	}
}

// Bounds of what a set of scripts may make the loader and the match
// index hold, whatever its size on disk.
const (
	// maxAliasNodes bounds the nodes a file's aliases add once each use
	// is expanded: reusing a reply list in a few dozen rules takes
	// hundreds.
	maxAliasNodes = 10_000
	// maxPatterns bounds the keywords, patterns and menu keys of all the
	// scripts together: the shipped examples have a few dozen, a large
	// FAQ a few thousand.
	maxPatterns = 20_000
)

// aliasOverflow returns the alias of doc, in document order, at which the
// nodes its aliases add (each use counts its anchor's nodes, nested
// aliases expanded) pass limit, or nil if they never do. It visits each
// node once, whatever the aliases expand to.
func aliasOverflow(doc *yaml.Node, limit int) *yaml.Node {
	ceil := limit + 1 // counts saturate here: nested aliases grow exponentially
	sizes := make(map[*yaml.Node]int)
	var size func(n *yaml.Node) int // n's nodes with aliases expanded
	size = func(n *yaml.Node) int {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if v, ok := sizes[n]; ok {
			return v
		}
		sizes[n] = ceil // an anchor inside itself counts as too many
		total := 1
		for _, c := range n.Content {
			total = min(total+size(c), ceil)
		}
		sizes[n] = total
		return total
	}
	added := 0
	var walk func(n *yaml.Node) *yaml.Node
	walk = func(n *yaml.Node) *yaml.Node {
		if n.Kind == yaml.AliasNode {
			if added = min(added+size(n), ceil); added > limit {
				return n
			}
			return nil
		}
		for _, c := range n.Content {
			if at := walk(c); at != nil {
				return at
			}
		}
		return nil
	}
	return walk(doc)
}

// yamlError turns a yaml.v3 syntax error, "yaml: line 3: did not find
// expected key", into a ScriptError. yaml.v3 often gives the line where
// the enclosing block starts, counted from 0, rather than where the
// mistake is; the line at which prefixes of the file start failing with
// the same message is where staff should look (yamlErrorLine).
func (p *scriptParser) yamlError(data []byte, err error) {
	line, msg := splitYAMLError(err)
	if k, ok := yamlErrorLine(p.ctx, data, msg); ok {
		line = k
	}
	p.errs = append(p.errs, ScriptError{File: p.f.path, Line: line, Msg: "invalid YAML: " + msg})
}

// yamlErrorLine finds by bisection a line k such that the file's first k
// lines fail to parse with msg and its first k-1 do not: about log2 of
// the lines parses of a prefix each, where trying every prefix in turn
// cost 53 s for an error on the last line of a 106 KB draft. It reports
// false when ctx ends first.
func yamlErrorLine(ctx context.Context, data []byte, msg string) (int, bool) {
	var ends []int // ends[k-1]: the end of line k
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	fails := func(k int) bool {
		_, err := decodeYAML(data[:ends[k-1]])
		if err == nil {
			return false
		}
		_, m := splitYAMLError(err)
		return m == msg
	}
	// No line parses with no error; all of them fail with msg.
	lo, hi := 0, len(ends)
	for hi-lo > 1 {
		if ctx.Err() != nil {
			return 0, false
		}
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, true
}

func splitYAMLError(err error) (line int, msg string) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				return n, after
			}
		}
	}
	return 0, msg
}

// yamlEntry is one entry of a YAML mapping.
type yamlEntry struct {
	key   string
	keyN  *yaml.Node
	value *yaml.Node
}

func yamlResolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func yamlIsNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func yamlDescribe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if yamlIsNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an unexpected node"
}

// mapping checks that n is a mapping with only the allowed keys, each
// once, and returns its good entries and whether there was no mistake.
// what prefixes error messages. A null node is an empty mapping.
func (p *scriptParser) mapping(n *yaml.Node, what string, allowed ...string) ([]yamlEntry, bool) {
	n = yamlResolve(n)
	if yamlIsNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: want a mapping (key: value), got %s", what, yamlDescribe(n))
		return nil, false
	}
	var kvs []yamlEntry
	seen := make(map[string]int)
	clean := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlResolve(n.Content[i]), n.Content[i+1]
		switch line, dup := seen[k.Value]; {
		case k.Kind != yaml.ScalarNode:
			p.errorf(k, "%s: want a plain key, got %s", what, yamlDescribe(k))
		case !slices.Contains(allowed, k.Value):
			p.errorf(k, "%s: unknown key %q (want %s)", what, k.Value, joinOr(allowed))
		case dup:
			p.errorf(k, "%s: key %q already defined at line %d", what, k.Value, line)
		default:
			seen[k.Value] = k.Line
			kvs = append(kvs, yamlEntry{k.Value, k, v})
			continue
		}
		clean = false
	}
	return kvs, clean
}

// joinOr formats ["a", "b", "c"] as "a, b or c".
func joinOr(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// scalar returns the text of a scalar node as written; "" for null.
func (p *scriptParser) scalar(n *yaml.Node, what string) (string, bool) {
	n = yamlResolve(n)
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%s: want text, got %s", what, yamlDescribe(n))
		return "", false
	}
	if yamlIsNull(n) {
		return "", true
	}
	return n.Value, true
}

// list returns a scalar or a list of scalars as a list of nodes.
func (p *scriptParser) list(n *yaml.Node, what string) ([]*yaml.Node, bool) {
	n = yamlResolve(n)
	switch {
	case yamlIsNull(n):
		p.errorf(n, "%s: empty", what)
		return nil, false
	case n.Kind == yaml.ScalarNode:
		return []*yaml.Node{n}, true
	case n.Kind == yaml.SequenceNode:
		if len(n.Content) == 0 {
			p.errorf(n, "%s: empty", what)
			return nil, false
		}
		items := make([]*yaml.Node, len(n.Content))
		for i, c := range n.Content {
			items[i] = yamlResolve(c)
			if items[i].Kind != yaml.ScalarNode {
				p.errorf(items[i], "%s: want text, got %s", what, yamlDescribe(items[i]))
				return nil, false
			}
		}
		return items, true
	}
	p.errorf(n, "%s: want text or a list of texts, got %s", what, yamlDescribe(n))
	return nil, false
}

// texts returns message texts: one or a list, none empty, surrounding
// whitespace trimmed.
func (p *scriptParser) texts(n *yaml.Node, what string) ([]string, bool) {
	items, ok := p.list(n, what)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		s, _ := p.scalar(item, what)
		s = strings.TrimSpace(s)
		if s == "" {
			p.errorf(item, "%s: empty", what)
			ok = false
			continue
		}
		out = append(out, s)
	}
	return out, ok
}

func (p *scriptParser) top(n *yaml.Node) {
	kvs, _ := p.mapping(n, "top level", append([]string{"welcome", "rules", "fallback", "channels"}, p.sectionKeys...)...)
	for _, kv := range kvs {
		if i := slices.Index(p.sectionKeys, kv.key); i >= 0 {
			if p.f.sections == nil {
				p.f.sections = make(map[string]SectionPart)
			}
			v := p.sections[i].Parse(&SectionParser{p}, kv.value)
			p.f.sections[kv.key] = SectionPart{File: p.f.path, Line: kv.keyN.Line, Value: v}
			continue
		}
		switch kv.key {
		case "welcome":
			p.welcome(kv.value)
		case "fallback":
			if texts, ok := p.texts(kv.value, "fallback"); ok {
				p.f.fallback = &textDef{texts, kv.keyN.Line}
			}
		case "rules":
			for _, item := range p.sequence(kv.value, "rules") {
				if r, ok := p.rule(item); ok {
					p.f.rules = append(p.f.rules, r)
				}
			}
		case "channels":
			for _, item := range p.sequence(kv.value, "channels") {
				if c, ok := p.channel(item); ok {
					p.f.channels = append(p.f.channels, c)
				}
			}
		}
	}
}

// sequence returns the items of a list; null is an empty list.
func (p *scriptParser) sequence(n *yaml.Node, what string) []*yaml.Node {
	n = yamlResolve(n)
	if yamlIsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s: want a list (items starting with \"- \"), got %s", what, yamlDescribe(n))
		return nil
	}
	return n.Content
}

func (p *scriptParser) welcome(n *yaml.Node) {
	kvs, _ := p.mapping(n, "welcome", "follow", "contact", "group")
	for _, kv := range kvs {
		if texts, ok := p.texts(kv.value, "welcome."+kv.key); ok {
			if p.f.welcome == nil {
				p.f.welcome = make(map[string]*textDef)
			}
			p.f.welcome[kv.key] = &textDef{texts, kv.keyN.Line}
		}
	}
}

func (p *scriptParser) rule(n *yaml.Node) (Rule, bool) {
	n = yamlResolve(n)
	r := Rule{File: p.f.path, Line: n.Line}
	before := len(p.errs)
	// A misspelt key is reported as unknown, with the right spellings;
	// reporting the key as missing too would only repeat it.
	kvs, clean := p.mapping(n, "rule", "name", "match", "reply", "priority", "platforms")
	what := "rule"
	for _, kv := range kvs {
		if kv.key == "name" {
			r.Name, _ = p.scalar(kv.value, "rule: name")
			r.Name = strings.TrimSpace(r.Name)
			if r.Name != "" {
				what = fmt.Sprintf("rule %q", r.Name)
			}
		}
	}
	if r.Name == "" && clean {
		p.errorf(n, "rule: missing name")
	}
	var hasMatch, hasReply bool
	for _, kv := range kvs {
		switch kv.key {
		case "match":
			hasMatch = true
			p.match(&r, kv.value, what)
		case "reply":
			hasReply = true
			r.Replies, _ = p.texts(kv.value, what+": reply")
		case "priority":
			v := yamlResolve(kv.value)
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || v.Decode(&r.Priority) != nil {
				p.errorf(v, "%s: priority: want a whole number, got %s", what, yamlDescribe(v))
			}
		case "platforms":
			items, _ := p.list(kv.value, what+": platforms")
			for _, item := range items {
				pl := Platform(item.Value)
				if platformBit(pl) == 0 {
					p.errorf(item, "%s: platforms: unknown platform %q (want wechat, wecom or douyin)", what, item.Value)
					continue
				}
				r.Platforms = append(r.Platforms, pl)
				r.platforms |= platformBit(pl)
			}
		}
	}
	if !hasMatch && clean {
		p.errorf(n, "%s: no match (want match: with exact, contains, regex, menu or intent)", what)
	}
	if !hasReply && clean {
		p.errorf(n, "%s: no reply", what)
	}
	return r, len(p.errs) == before
}

func (p *scriptParser) match(r *Rule, n *yaml.Node, what string) {
	kvs, clean := p.mapping(n, what+": match", "exact", "contains", "regex", "menu", "intent", "min_confidence")
	if clean && len(kvs) == 0 {
		p.errorf(yamlResolve(n), "%s: match: empty (want exact, contains, regex, menu or intent)", what)
	}
	var confNode *yaml.Node
	for _, kv := range kvs {
		w := what + ": match." + kv.key
		if kv.key == "min_confidence" {
			confNode = kv.keyN
			v := yamlResolve(kv.value)
			if v.Kind != yaml.ScalarNode || (v.Tag != "!!float" && v.Tag != "!!int") || v.Decode(&r.MinConfidence) != nil ||
				r.MinConfidence < 0 || r.MinConfidence > 1 {
				p.errorf(v, "%s: want a number from 0 to 1, got %s", w, yamlDescribe(v))
			}
			continue
		}
		items, _ := p.list(kv.value, w)
		for _, item := range items {
			raw, _ := p.scalar(item, w)
			switch kv.key {
			case "exact", "contains":
				k := normalize(raw)
				if k == "" {
					p.errorf(item, "%s: empty keyword %q (surrounding spaces, punctuation and emoji are ignored)", w, raw)
					continue
				}
				if kv.key == "exact" {
					r.Exact, r.exact = append(r.Exact, raw), append(r.exact, k)
				} else {
					r.Contains, r.contains = append(r.Contains, raw), append(r.contains, k)
				}
			case "regex":
				re, insts, err := compileScriptRegex(raw)
				if err != nil {
					p.errorf(item, "%s: %v", w, err)
					continue
				}
				r.Regex, r.regexps = append(r.Regex, raw), append(r.regexps, re)
				r.regexInsts += insts
			case "menu":
				if strings.TrimSpace(raw) == "" {
					p.errorf(item, "%s: empty menu key", w)
					continue
				}
				r.Menu = append(r.Menu, raw)
			case "intent":
				name := strings.TrimSpace(raw)
				if !validIntentName(name) {
					p.errorf(item, "%s: intent names are lower-case letters, digits and _, got %q", w, raw)
					continue
				}
				r.Intents = append(r.Intents, name)
			}
		}
	}
	switch {
	case confNode != nil && len(r.Intents) == 0:
		p.errorf(confNode, "%s: match.min_confidence without match.intent", what)
	case len(r.Intents) > 0 && confNode == nil:
		r.MinConfidence = DefaultMinConfidence
	}
}

// DefaultMinConfidence is the confidence an intent rule wants when it
// names none. With the calibrated intents model, on its held-out lines,
// 0.7 answers 88.9% of messages and is right on 97.1% of those; 0.8
// answers 84.0% at 98.3%, 0.9 76.0% at 99.7%. A wrong canned reply
// costs little, a silent bot more: 0.7. Below it the fallback (or a
// person) answers.
const DefaultMinConfidence = 0.7

// validIntentName reports whether s can name an intent: lower-case ASCII
// letters, digits and underscores, as the knowledge files use.
func validIntentName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Regex budgets. Go's regexp takes time linear in the text, but the
// factor is the size of the compiled program: a counted repetition such
// as [^z]{999} compiles to a thousand instructions, all of them live at
// once, and every message runs every rule's program. 200 rules of
// [^z]{999}zN made one 2,000-character message cost 17 s. With these, a
// message's regex work is at most maxRegexTotalInsts × maxRegexText
// steps (BenchmarkRegexMessage).
const (
	// maxRegexInsts bounds one pattern's program: the shipped pattern
	// compiles to 20 instructions, ^(退款|退货).{0,20}(怎么|如何) to 54.
	maxRegexInsts = 200
	// maxRegexTotalInsts bounds the programs of all the scripts' patterns
	// together: a few dozen ordinary patterns.
	maxRegexTotalInsts = 1000
	// maxRegexText is how much of a normalised message patterns see, in
	// bytes, cut at a character: about 170 Chinese characters, more than
	// nearly every customer message. Keywords and intents read it all.
	maxRegexText = 512
)

// compileScriptRegex compiles a rule's pattern, rejecting patterns that
// could never match normalised text and programs over maxRegexInsts, and
// returns the size of its program.
func compileScriptRegex(expr string) (*regexp.Regexp, int, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, 0, errors.New("empty pattern")
	}
	tree, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, 0, fmt.Errorf("invalid pattern: %w", err)
	}
	if r, ok := unmatchableLiteral(tree); ok {
		return nil, 0, fmt.Errorf("pattern has %q but messages are matched lower-case and half-width", r)
	}
	// The program regexp.Compile builds, measured before it is built.
	prog, err := syntax.Compile(tree.Simplify())
	if err != nil {
		return nil, 0, fmt.Errorf("invalid pattern: %w", err)
	}
	if n := len(prog.Inst); n > maxRegexInsts {
		return nil, 0, fmt.Errorf("pattern compiles to %d instructions, over the budget of %d per pattern: "+
			"a counted repetition such as {999} costs instructions in proportion to its count, on every message", n, maxRegexInsts)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, 0, fmt.Errorf("invalid pattern: %w", err)
	}
	return re, len(prog.Inst), nil
}

// unmatchableLiteral finds a case-sensitive literal rune that normalised
// text never contains: an upper-case or a full-width letter.
func unmatchableLiteral(re *syntax.Regexp) (rune, bool) {
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0 {
		for _, r := range re.Rune {
			if foldRune(r) != r && !unicode.IsSpace(r) {
				return r, true
			}
		}
	}
	for _, sub := range re.Sub {
		if r, ok := unmatchableLiteral(sub); ok {
			return r, true
		}
	}
	return 0, false
}

func (p *scriptParser) channel(n *yaml.Node) (Channel, bool) {
	n = yamlResolve(n)
	c := Channel{File: p.f.path, Line: n.Line}
	before := len(p.errs)
	kvs, clean := p.mapping(n, "channel", "state", "name", "welcome", "tags")
	what := "channel"
	for _, kv := range kvs {
		if kv.key == "state" {
			c.State, _ = p.scalar(kv.value, "channel: state")
			c.State = strings.TrimSpace(c.State)
			if c.State != "" {
				what = fmt.Sprintf("channel %q", c.State)
			}
		}
	}
	if c.State == "" && clean {
		p.errorf(n, "channel: missing state")
	}
	for _, kv := range kvs {
		switch kv.key {
		case "name":
			c.Name, _ = p.scalar(kv.value, what+": name")
			c.Name = strings.TrimSpace(c.Name)
		case "welcome":
			c.Welcome, _ = p.texts(kv.value, what+": welcome")
		case "tags":
			c.Tags, _ = p.texts(kv.value, what+": tags")
		}
	}
	return c, len(p.errs) == before
}
