package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"

	"github.com/siyu-bot/siyu/bot"
)

// Rules as forms: staff list the keyword and intent rules, edit one in a
// form, see which rules shadow it or which it shadows, and save. The
// form's rule is written into its YAML file here (the file's other
// content and comments kept), and saved like any edit: validated with the
// other files, the previous version kept in .history, reloaded.

// ruleView is one rule as the list and the form show it.
type ruleView struct {
	Name string `json:"name"`
	File string `json:"file"`
	Line int    `json:"line"`
	// Kind is how it matches: contains, exact, regex, intent or menu
	// (the first the rule has; Patterns are that kind's).
	Kind          string   `json:"kind"`
	Patterns      []string `json:"patterns"`
	Intents       []string `json:"intents"`
	MinConfidence float64  `json:"min_confidence"`
	Replies       []string `json:"replies"`
	Priority      int      `json:"priority"`
	Platforms     []string `json:"platforms"`
	// Mixed: the rule matches in more than one way; the form edits only
	// Kind's, so it is edited as YAML.
	Mixed bool `json:"mixed"`
}

func viewRule(r bot.Rule) ruleView {
	v := ruleView{Name: r.Name, File: r.File, Line: r.Line, Replies: nonNilStrings(r.Replies), Intents: nonNilStrings(r.Intents),
		MinConfidence: r.MinConfidence, Priority: r.Priority, Platforms: []string{}, Patterns: []string{}}
	for _, p := range r.Platforms {
		v.Platforms = append(v.Platforms, string(p))
	}
	kinds := 0
	for _, k := range []struct {
		name string
		list []string
	}{{"contains", r.Contains}, {"exact", r.Exact}, {"regex", r.Regex}, {"menu", r.Menu}, {"intent", r.Intents}} {
		if len(k.list) == 0 {
			continue
		}
		kinds++
		if v.Kind == "" {
			v.Kind = k.name
			if k.name != "intent" {
				v.Patterns = slices.Clone(k.list)
			}
		}
	}
	v.Mixed = kinds > 1 || r.Priority != 0 || len(r.Platforms) > 0
	return v
}

// scopedScripts is a script library with scripts per brand and account
// (the base's, each brand's, each account's): the rules list shows the
// rules of every scope, each once.
type scopedScripts interface {
	Scopes() []*bot.Scripts
}

// rulesInForce returns the rules of every scope, in scope order, each
// rule once (a base rule is in every scope that keeps its file).
func (h *Handler) rulesInForce() []bot.Rule {
	scoped, ok := h.scripts.(scopedScripts)
	if !ok {
		return h.scripts.Scripts().Rules()
	}
	type at struct {
		file string
		line int
	}
	seen := map[at]bool{}
	var out []bot.Rule
	for _, s := range scoped.Scopes() {
		for _, r := range s.Rules() {
			if k := (at{r.File, r.Line}); !seen[k] {
				seen[k] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// listRules answers GET /admin/api/rules: the rules in force, in order.
func (h *Handler) listRules(c echo.Context) error {
	if err := h.needScripts(); err != nil {
		return err
	}
	rules := h.rulesInForce()
	p := principalOf(c)
	out := make([]ruleView, 0, len(rules))
	for _, r := range rules {
		if p.mayReadScript(r.File) {
			out = append(out, viewRule(r))
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"rules": out, "intents": h.intentLabels()})
}

// intentLabels are the intents rules may name: those the scripts'
// rules already use, and the intent model's labels when the dry-run's
// engine says them (the console's list).
func (h *Handler) intentLabels() []string {
	var out []string
	for _, r := range h.rulesInForce() {
		out = append(out, r.Intents...)
	}
	out = append(out, h.intents...)
	slices.Sort(out)
	return slices.Compact(out)
}

// WithIntents names the intents the classifier knows, for the rule
// form's choice.
func (h *Handler) WithIntents(labels []string) *Handler {
	h.intents = slices.Clone(labels)
	return h
}

// ruleDraft is the form's rule.
type ruleDraft struct {
	Name          string   `json:"name"`
	Kind          string   `json:"kind"`
	Patterns      []string `json:"patterns"`
	Intent        string   `json:"intent"`
	MinConfidence float64  `json:"min_confidence"`
	Replies       []string `json:"replies"`
}

// ruleNode is the draft as YAML: the shape the loader reads.
func (d ruleDraft) node() (*yaml.Node, error) {
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	seq := func(items []string) *yaml.Node {
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		for _, it := range items {
			n.Content = append(n.Content, str(it))
		}
		return n
	}
	match := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
	switch d.Kind {
	case "contains", "exact", "regex":
		match.Content = append(match.Content, str(d.Kind), seq(d.Patterns))
	case "intent":
		match.Content = append(match.Content, str("intent"), str(d.Intent))
		if d.MinConfidence > 0 {
			match.Content = append(match.Content, str("min_confidence"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(d.MinConfidence, 'f', -1, 64)})
		}
	default:
		return nil, echo.NewHTTPError(http.StatusBadRequest, "匹配方式只能是包含关键词、整句等于、正则表达式或意图")
	}
	var reply *yaml.Node
	if len(d.Replies) == 1 {
		reply = str(d.Replies[0])
	} else {
		reply = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, r := range d.Replies {
			reply.Content = append(reply.Content, str(r))
		}
	}
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		str("name"), str(d.Name), str("match"), match, str("reply"), reply,
	}}, nil
}

func (d *ruleDraft) clean() error {
	bad := func(msg string) error { return echo.NewHTTPError(http.StatusBadRequest, msg) }
	d.Name = strings.TrimSpace(d.Name)
	keep := func(in []string) []string {
		var out []string
		for _, s := range in {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	d.Patterns, d.Replies = keep(d.Patterns), keep(d.Replies)
	switch {
	case d.Name == "" || utf8.RuneCountInString(d.Name) > 64:
		return bad("规则名须为 1 到 64 个字符")
	case len(d.Replies) == 0:
		return bad("至少写一种回复")
	case d.Kind != "intent" && len(d.Patterns) == 0:
		return bad("至少写一个关键词")
	case d.Kind == "intent" && d.Intent == "":
		return bad("请选择意图")
	case d.MinConfidence < 0 || d.MinConfidence > 1:
		return bad("最低置信度应在 0 到 1 之间")
	}
	return nil
}

// withRule returns file's text with rule put in place of the rule named
// replace (or appended to its rules: list when replace is ""), keeping
// the rest of the file and its comments.
func withRule(text []byte, d ruleDraft, replace string) ([]byte, error) {
	var doc yaml.Node
	if len(bytes.TrimSpace(text)) > 0 {
		if err := yaml.Unmarshal(text, &doc); err != nil {
			return nil, echo.NewHTTPError(http.StatusUnprocessableEntity, "文件不是有效的 YAML，请在 YAML 编辑中修正："+err.Error())
		}
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, echo.NewHTTPError(http.StatusUnprocessableEntity, "文件顶层不是映射，请在 YAML 编辑中修改")
	}
	var rules *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "rules" {
			rules = top.Content[i+1]
		}
	}
	if rules == nil {
		rules = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "rules"}, rules)
	}
	if rules.Kind != yaml.SequenceNode {
		return nil, echo.NewHTTPError(http.StatusUnprocessableEntity, "rules 不是列表，请在 YAML 编辑中修改")
	}
	n, err := d.node()
	if err != nil {
		return nil, err
	}
	at := -1
	for i, r := range rules.Content {
		for j := 0; r.Kind == yaml.MappingNode && j+1 < len(r.Content); j += 2 {
			if r.Content[j].Value == "name" && (r.Content[j+1].Value == replace && replace != "" || r.Content[j+1].Value == d.Name && replace == "") {
				at = i
			}
		}
	}
	switch {
	case at >= 0 && replace == "":
		return nil, echo.NewHTTPError(http.StatusConflict, "已有同名规则："+d.Name)
	case at >= 0:
		n.HeadComment = rules.Content[at].HeadComment
		rules.Content[at] = n
	case replace != "":
		return nil, echo.NewHTTPError(http.StatusNotFound, "文件里没有规则："+replace)
	default:
		rules.Content = append(rules.Content, n)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("admin.withRule: %w", err)
	}
	return buf.Bytes(), nil
}

// shadowWarning says that one rule answers a message another was meant
// to.
type shadowWarning struct {
	// Kind is "shadowed" (an earlier rule takes the draft's keyword) or
	// "shadows" (the draft takes another rule's keyword).
	Kind    string `json:"kind"`
	Rule    string `json:"rule"`
	Pattern string `json:"pattern"`
	Message string `json:"message"`
}

// shadows finds, in scripts loaded with the draft, the draft's keywords
// another rule answers first, and other rules' keywords the draft now
// answers. A keyword stands for the messages it was written for.
func shadows(s *bot.Scripts, name string) []shadowWarning {
	out := []shadowWarning{}
	rules := s.Rules()
	platforms := []bot.Platform{bot.WeChat, bot.WeCom, bot.Douyin}
	answerer := func(text string) string {
		for _, p := range platforms {
			if r, ok := s.Match(p, text); ok {
				return r.Name
			}
		}
		return ""
	}
	for _, r := range rules {
		for _, kw := range append(slices.Clone(r.Exact), r.Contains...) {
			got := answerer(kw)
			switch {
			case got == "" || got == r.Name:
			case r.Name == name:
				out = append(out, shadowWarning{Kind: "shadowed", Rule: got, Pattern: kw,
					Message: fmt.Sprintf("「%s」会先被规则 %s 回答，这条规则的这个关键词不会生效", kw, got)})
			case got == name:
				out = append(out, shadowWarning{Kind: "shadows", Rule: r.Name, Pattern: kw,
					Message: fmt.Sprintf("这条规则会抢先回答规则 %s 的关键词「%s」", r.Name, kw)})
			}
		}
	}
	return out
}

// previewRule answers POST /admin/api/rules/preview
// {"file","replace","rule":{…}}: the file's new text with the rule in
// place, the mistakes a save would refuse, and the shadowing warnings.
// Nothing is written; the console saves the text with PUT
// /scripts/{file}, and may dry-run it first.
func (h *Handler) previewRule(c echo.Context) error {
	if err := h.needScripts(); err != nil {
		return err
	}
	var req struct {
		File    string    `json:"file"`
		Replace string    `json:"replace"`
		Rule    ruleDraft `json:"rule"`
	}
	if err := decodeJSON(c, &req, 64<<10); err != nil {
		return err
	}
	name, err := scriptName(req.File)
	if err != nil {
		return err
	}
	p := principalOf(c)
	if !p.mayReadScript(name) {
		return scriptRefusal(p, name, false)
	}
	if err := req.Rule.clean(); err != nil {
		return err
	}
	old, err := fs.ReadFile(h.scripts.FS(), name)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("admin.previewRule: %w: %w", bot.ErrUnavailable, err)
	}
	text, err := withRule(old, req.Rule, req.Replace)
	if err != nil {
		return err
	}
	fsys, err := h.overlay(map[string][]byte{name: text})
	if err != nil {
		return err
	}
	problems := []scriptProblem{}
	warnings := []shadowWarning{}
	// The rules the draft competes with are those of the scope its file
	// is in: a brand's file, its brand's.
	s, err := h.loadDraft(fsys, scriptRoute(name))
	if err != nil {
		serrs := bot.ScriptErrors(err)
		if len(serrs) == 0 {
			return fmt.Errorf("admin.previewRule: %w", err)
		}
		for _, se := range serrs {
			problems = append(problems, scriptProblem{File: se.File, Line: se.Line, Message: se.Msg})
		}
	} else {
		for _, w := range shadows(s, req.Rule.Name) {
			// Another brand's rule is not named to a limited member.
			if r, ok := ruleNamed(s, w.Rule); !ok || p.mayReadScript(r.File) {
				warnings = append(warnings, w)
			}
		}
	}
	problems = visibleProblems(p, problems)
	return c.JSON(http.StatusOK, map[string]any{
		"file": name, "text": string(text), "sha256": shaOrEmpty(existed, old), "existed": existed,
		"ok": len(problems) == 0, "errors": problems, "warnings": warnings,
	})
}

func shaOrEmpty(existed bool, data []byte) string {
	if !existed {
		return ""
	}
	return contentHash(data)
}

// restoreVersion answers POST /admin/api/history/restore
// {"file","version"}: the kept version becomes the file again, saved as
// any edit is (validated, the current version kept, reloaded, audited).
func (h *Handler) restoreVersion(c echo.Context) error {
	if err := h.needScripts(); err != nil {
		return err
	}
	if h.scriptsDir == "" {
		return echo.NewHTTPError(http.StatusConflict, "当前使用的是内置示例脚本，不能恢复历史版本")
	}
	var req struct {
		File    string `json:"file"`
		Version string `json:"version"`
	}
	if err := decodeJSON(c, &req, 4<<10); err != nil {
		return err
	}
	name, err := scriptName(req.File)
	if err != nil {
		return err
	}
	if p := principalOf(c); !p.mayWriteScript(name) {
		return scriptRefusal(p, name, true)
	}
	root, err := os.OpenRoot(h.scriptsDir)
	if err != nil {
		return fmt.Errorf("admin.restoreVersion: %w: %w", bot.ErrUnavailable, err)
	}
	data, err := h.readVersion(root, name, req.Version)
	root.Close()
	if err != nil {
		return err
	}
	return h.writeScript(c, name, data, saveOptions{restoredFrom: req.Version})
}

// versionView is one kept version of a script.
type versionView struct {
	Version string    `json:"version"` // the .history file's name
	At      time.Time `json:"at"`
	Size    int64     `json:"size"`
}

// openReadableScript is the script the request's file parameter names,
// refused unless the caller may read it, and the scripts folder opened
// for reading its history. op names the caller in errors.
func (h *Handler) openReadableScript(c echo.Context, op string) (string, *os.Root, error) {
	name, err := scriptName(c.QueryParam("file"))
	if err != nil {
		return "", nil, err
	}
	if p := principalOf(c); !p.mayReadScript(name) {
		return "", nil, scriptRefusal(p, name, false)
	}
	root, err := os.OpenRoot(h.scriptsDir)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, err)
	}
	return name, root, nil
}

// listHistory answers GET /admin/api/history?file=: the file's kept
// versions, newest first.
func (h *Handler) listHistory(c echo.Context) error {
	if h.scriptsDir == "" {
		return c.JSON(http.StatusOK, map[string]any{"versions": []versionView{}})
	}
	name, root, err := h.openReadableScript(c, "admin.listHistory")
	if err != nil {
		return err
	}
	defer root.Close()
	entries, err := fs.ReadDir(root.FS(), historyDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("admin.listHistory: %w: %w", bot.ErrUnavailable, err)
	}
	out := []versionView{}
	base := historyBase(name)
	for _, e := range entries {
		at, ok := versionOf(e.Name(), base)
		if !ok {
			continue
		}
		v := versionView{Version: e.Name(), At: at}
		if fi, err := e.Info(); err == nil {
			v.Size = fi.Size()
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b versionView) int { return b.At.Compare(a.At) })
	return c.JSON(http.StatusOK, map[string]any{"file": name, "versions": out})
}

// readVersion reads a kept version of file; 404 when there is none.
func (h *Handler) readVersion(root *os.Root, file, version string) ([]byte, error) {
	if _, ok := versionOf(version, historyBase(file)); !ok || strings.Contains(version, "/") {
		return nil, echo.NewHTTPError(http.StatusNotFound, "没有这个历史版本")
	}
	data, err := root.ReadFile(historyDir + "/" + version)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, echo.NewHTTPError(http.StatusNotFound, "没有这个历史版本")
	}
	if err != nil {
		return nil, fmt.Errorf("admin.readVersion: %w: %w", bot.ErrUnavailable, err)
	}
	return data, nil
}

// getVersion answers GET /admin/api/history/version?file=&version=:
// the version's text, for the console's diff.
func (h *Handler) getVersion(c echo.Context) error {
	if h.scriptsDir == "" {
		return echo.NewHTTPError(http.StatusNotFound, "内置示例脚本没有历史版本")
	}
	name, root, err := h.openReadableScript(c, "admin.getVersion")
	if err != nil {
		return err
	}
	defer root.Close()
	data, err := h.readVersion(root, name, c.QueryParam("version"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"file": name, "version": c.QueryParam("version"), "text": string(data)})
}

// draftScripts loads the scripts as they would be with drafts saved,
// those answering route r, for a dry-run of unsaved edits. Mistakes are
// a 422 with details.
func (h *Handler) draftScripts(ctx context.Context, files map[string]string, r bot.Route) (*bot.Scripts, error) {
	if err := h.needScripts(); err != nil {
		return nil, err
	}
	if len(files) > maxDraftFiles {
		return nil, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("一次最多 %d 个草稿文件", maxDraftFiles))
	}
	drafts := make(map[string][]byte, len(files))
	for name, text := range files {
		if _, err := scriptName(name); err != nil {
			return nil, err
		}
		if len(text) > maxScriptBytes {
			return nil, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("%s 超过 %d KB", name, maxScriptBytes>>10))
		}
		drafts[name] = []byte(text)
	}
	fsys, err := h.overlay(drafts)
	if err != nil {
		return nil, err
	}
	s, err := h.loadDraft(fsys, r)
	if err != nil {
		serrs := bot.ScriptErrors(err)
		if len(serrs) == 0 {
			return nil, fmt.Errorf("admin.draftScripts: %w", err)
		}
		details := make([]scriptProblem, len(serrs))
		for i, se := range serrs {
			details[i] = scriptProblem{File: se.File, Line: se.Line, Message: se.Msg}
		}
		return nil, &detailedError{err: echo.NewHTTPError(http.StatusUnprocessableEntity, fmt.Sprintf("草稿有 %d 处错误，无法试运行", len(serrs))), details: details}
	}
	return s, nil
}

// ruleNamed finds the rule named name in s.
func ruleNamed(s *bot.Scripts, name string) (bot.Rule, bool) {
	for _, r := range s.Rules() {
		if r.Name == name {
			return r, true
		}
	}
	return bot.Rule{}, false
}

// routedScripts is a library with scripts per brand and account: it
// answers a route with its scope's (*bot.Library, once it has scopes).
type routedScripts interface {
	ScriptsFor(r bot.Route) *bot.Scripts
}

// loadDraft loads fsys (the folder with drafts laid over it) as the
// library loads the folder, and returns the scripts answering route r:
// its account's or brand's scope when the library has scopes.
func (h *Handler) loadDraft(fsys fs.FS, r bot.Route) (*bot.Scripts, error) {
	lib, err := bot.NewLibrary(fsys, nil, h.scripts.Sections()...)
	if err != nil {
		return nil, err
	}
	if routed, ok := any(lib).(routedScripts); ok {
		return routed.ScriptsFor(r), nil
	}
	return lib.Scripts(), nil
}

// scriptRoute is the scope a script's folder is: brands/<brand>/<account>/
// an account's, brands/<brand>/ a brand's, anything else the base.
func scriptRoute(name string) bot.Route {
	parts := strings.Split(name, "/")
	switch {
	case len(parts) >= 4 && parts[0] == "brands":
		return bot.Route{Brand: parts[1], Name: parts[2]}
	case len(parts) == 3 && parts[0] == "brands":
		return bot.Route{Brand: parts[1]}
	}
	return bot.Route{}
}
