package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Script bombs from issue 22: files a member of staff (or anyone holding
// the admin token) could save, which cost every replica that loads them
// far more than their size. Each is refused at load now; the benchmarks
// give the before/after figures.

// aliasBomb is a script whose rules reuses one anchored list of
// patterns: ~250 KB for 4,400 rules × 2,000 patterns once expanded.
func aliasBomb(rules, patterns int) string {
	var b strings.Builder
	b.WriteString("rules:\n  - name: r0\n    match:\n      contains: &k [")
	for i := range patterns {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "k%d", i)
	}
	b.WriteString("]\n    reply: x\n")
	for i := 1; i < rules; i++ {
		fmt.Fprintf(&b, "  - {name: r%d, match: {contains: *k}, reply: x}\n", i)
	}
	return b.String()
}

// yamlErrorAtEnd is a draft of about size bytes of valid rules whose last
// line is a YAML mistake.
func yamlErrorAtEnd(size int) (text string, lastLine int) {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "  - name: rule-%d\n    match: {contains: [关键词%d]}\n    reply: 回复%d\n", i, i, i)
	}
	b.WriteString("  - name: broken\n    reply: [oops\n")
	return b.String(), strings.Count(b.String(), "\n")
}

// regexBomb is a script of n rules with the pattern [^z]{999}zN: each
// compiles to a program of over a thousand instructions, all run over
// every message.
func regexBomb(n int) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: re-%d\n    match: {regex: '[^z]{999}z%d'}\n    reply: x\n", i, i)
	}
	return b.String()
}

func BenchmarkAliasBomb(b *testing.B) {
	fsys := mapFS(map[string]string{"bomb.yaml": aliasBomb(4400, 2000)})
	b.Logf("script: %d bytes", len(fsys["bomb.yaml"].Data))
	b.ReportAllocs()
	for b.Loop() {
		_, _ = LoadScripts(fsys)
	}
}

func BenchmarkYAMLErrorAtEnd(b *testing.B) {
	text, _ := yamlErrorAtEnd(106 << 10)
	fsys := mapFS(map[string]string{"draft.yaml": text})
	b.ReportAllocs()
	for b.Loop() {
		_, _ = LoadScripts(fsys)
	}
}

// BenchmarkRegexMessage is one 2,000-character message matched against
// scripts of regex rules: an ordinary pattern, the most the budgets let
// scripts spend, and the bomb (200 × [^z]{999}zN), which loads only
// without them (17 s a message then).
func BenchmarkRegexMessage(b *testing.B) {
	msg := string([]rune(strings.Repeat("你好啊这是一条很长的消息", 2000/12+1))[:2000])
	for _, tc := range []struct{ name, script string }{
		{"ordinary", "rules:\n  - name: order\n    match: {regex: '^订单号?\\s*:?\\s*\\d{6,}'}\n    reply: x\n"},
		{"budget", regexBudgetScript()},
		{"bomb-200x[^z]{999}", regexBomb(200)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := LoadScripts(mapFS(map[string]string{"re.yaml": tc.script}))
			if err != nil {
				b.Skipf("refused at load: %v", ScriptErrors(err)[0])
			}
			b.ReportAllocs()
			for b.Loop() {
				s.Match(WeChat, msg)
			}
		})
	}
}

// regexBudgetScript spends the whole regex budget on patterns that
// never match, each as large as allowed.
func regexBudgetScript() string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range 5 {
		fmt.Fprintf(&b, "  - name: re-%d\n    match: {regex: '[^z]{195}z%d'}\n    reply: x\n", i, i)
	}
	return b.String()
}

// billionLaughs nests anchors ten deep, ten aliases each: ten billion
// nodes once expanded, in under a kilobyte.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("fallback: *a9\n")
	return b.String()
}

// manyPatterns is rules × per contains keywords, no alias.
func manyPatterns(rules, per int) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range rules {
		fmt.Fprintf(&b, "  - name: p%d\n    match: {contains: [", i)
		for j := range per {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "k%d_%d", i, j)
		}
		b.WriteString("]}\n    reply: x\n")
	}
	return b.String()
}

// TestScriptBombsRefused: each bomb is refused at load with the file and
// line to fix, instead of costing every replica seconds and gigabytes
// (aliases) or every message seconds (patterns).
func TestScriptBombsRefused(t *testing.T) {
	regexTotal := regexBudgetScript() + "  - name: one-more\n    match: {regex: '[^z]{20}y'}\n    reply: x\n"
	tests := []struct {
		name, text string
		want       string // the first error, file:line: message start
	}{
		{"alias reused 100 times", aliasBomb(100, 200), "f.yaml:55: YAML aliases add over 10000 nodes to this file by here (*k)"},
		{"nested aliases", billionLaughs(), "f.yaml:4: YAML aliases add over 10000 nodes to this file by here (*a2)"},
		{"too many keywords", manyPatterns(201, 100), `f.yaml:602: rule "p200": the scripts hold over 20000 keywords`},
		{"one pattern over its budget", regexBomb(1), `f.yaml:3: rule "re-0": match.regex: pattern compiles to 1003 instructions, over the budget of 200`},
		{"patterns over the scripts' budget", regexTotal, `f.yaml:17: rule "one-more": its patterns bring the scripts' regex programs to 1018 instructions, over the budget of 1000`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadScripts(mapFS(map[string]string{"f.yaml": tc.text}))
			errs := ScriptErrors(err)
			if len(errs) == 0 || !strings.HasPrefix(errs[0].Error(), tc.want) {
				t.Fatalf("LoadScripts = %v\nwant first %q…", err, tc.want)
			}
		})
	}
}

// TestAliasesWithinBudget: ordinary reuse of an anchored list still loads.
func TestAliasesWithinBudget(t *testing.T) {
	s := mustLoadScripts(t, map[string]string{"f.yaml": aliasBomb(40, 200)}) // 39 uses × 201 nodes
	if r, ok := s.Match(WeChat, "k199"); !ok || r.Name != "r0" {
		t.Fatalf("Match(k199) = %v, %v; want r0", r, ok)
	}
}

// TestRegexSeesMessageStart: patterns read the first maxRegexText bytes
// of a message; keywords read it all.
func TestRegexSeesMessageStart(t *testing.T) {
	s := mustLoadScripts(t, map[string]string{"f.yaml": `
rules:
  - name: order
    match: {regex: '订单\d{6}'}
    reply: 查单
  - name: tail
    match: {contains: [尾巴]}
    reply: 尾
`})
	pad := strings.Repeat("啊", maxRegexText/3)
	tests := []struct {
		name, text, want string
	}{
		{"order number at the start", "订单123456" + pad, "order"},
		{"order number past the limit", pad + "订单123456", ""},
		{"keyword past the limit", pad + pad + "尾巴", "tail"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := s.Match(WeChat, tc.text)
			got := ""
			if ok {
				got = r.Name
			}
			if got != tc.want {
				t.Fatalf("Match = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestYAMLErrorLocatedByBisection: an error on the last line of a draft
// is found, and at the cost of a few parses of the file where trying
// every prefix cost hundreds (measured in allocations, which do not
// depend on the machine's speed).
func TestYAMLErrorLocatedByBisection(t *testing.T) {
	text, last := yamlErrorAtEnd(20 << 10)
	broken := mapFS(map[string]string{"f.yaml": text})
	_, err := LoadScripts(broken)
	errs := ScriptErrors(err)
	if len(errs) != 1 || errs[0].Line != last {
		t.Fatalf("LoadScripts = %v, want one error on line %d", err, last)
	}
	valid := mapFS(map[string]string{"f.yaml": strings.TrimSuffix(text, "  - name: broken\n    reply: [oops\n")})
	one := testing.AllocsPerRun(1, func() { _, _ = LoadScripts(valid) })
	located := testing.AllocsPerRun(1, func() { _, _ = LoadScripts(broken) })
	t.Logf("locating the error: %.0f allocations, %.1f× a whole load", located, located/one)
	if located > 40*one {
		t.Fatalf("locating the error cost %.0f allocations, %.0f× a whole load (%.0f); want at most 40×", located, located/one, one)
	}
}

// TestLoadScriptsContext: a load whose context ends gives up with the
// context's error, not a script error.
func TestLoadScriptsContext(t *testing.T) {
	text, _ := yamlErrorAtEnd(20 << 10)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := LoadScriptsContext(ctx, mapFS(map[string]string{"f.yaml": text}))
	if !errors.Is(err, context.Canceled) || len(ScriptErrors(err)) != 0 {
		t.Fatalf("LoadScriptsContext after cancel = %v, want context.Canceled and no script error", err)
	}
}
