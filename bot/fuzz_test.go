package bot

import (
	"testing"
	"testing/fstest"
)

// FuzzLoadScripts feeds arbitrary text to the scripts loader as one
// file: it must answer with scripts or with file:line errors, never
// panic, and a load that fails must say where; scripts that load keep
// within the budgets (patterns, regex programs). The corpus holds a
// bomb of each kind issue 22 found (testdata/fuzz/FuzzLoadScripts/bomb-*). `go test -fuzz
// FuzzLoadScripts -fuzztime 60s ./bot/` explores (README: Fuzzing).
func FuzzLoadScripts(f *testing.F) {
	for _, s := range []string{
		"welcome:\n  follow: 欢迎\nrules:\n  - name: a\n    match: {contains: [营业时间]}\n    reply: 九点\nfallback: 嗯\n",
		"rules:\n  - name: r\n    match: {regex: '^订单\\d+', intent: coupon, min_confidence: 0.8}\n    reply: [a, b]\n    priority: 3\n    platforms: [wechat]\n",
		"channels:\n  - state: s\n    welcome: w\n    tags: [t]\n",
		"a: &x [*x]\n",
		"rules: [{name: x, match: {exact: '  '}, reply: ''}]\n",
		"---\n---\n",
		"\t- bad",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := LoadScripts(fstest.MapFS{"f.yaml": {Data: []byte(text)}})
		if err == nil {
			if s == nil {
				t.Fatal("LoadScripts = nil, nil")
			}
			s.Match(WeChat, text)
			patterns, insts := 0, 0
			for _, r := range s.rules {
				patterns += len(r.Exact) + len(r.Contains) + len(r.Regex) + len(r.Menu)
				insts += r.regexInsts
			}
			if patterns > maxPatterns || insts > maxRegexTotalInsts {
				t.Fatalf("loaded %d patterns, %d regex instructions: over the budgets (%d, %d)", patterns, insts, maxPatterns, maxRegexTotalInsts)
			}
			return
		}
		errs := ScriptErrors(err)
		if len(errs) == 0 {
			t.Fatalf("LoadScripts(%q) failed without a script error: %v", text, err)
		}
		for _, e := range errs {
			if e.File != "f.yaml" {
				t.Fatalf("error %v names file %q, want f.yaml", e, e.File)
			}
		}
	})
}
