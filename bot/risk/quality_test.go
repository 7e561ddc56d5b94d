package risk

import (
	"bufio"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// knowledgeFS is the repository's knowledge folder (bot/risk's tests may
// read it; the package itself never touches the disk).
func knowledgeFS() fs.FS { return os.DirFS("../../knowledge") }

func mustScanner(tb testing.TB, cfg ScannerConfig) *Scanner {
	tb.Helper()
	lex, err := LoadLexicon(knowledgeFS(), "risk/lexicon")
	if err != nil {
		tb.Fatalf("LoadLexicon: %v", err)
	}
	if cfg.Now == nil {
		cfg.Now = testNow
	}
	return NewScanner(lex, cfg)
}

// readLines reads a dataset file: one example a line, # comments.
func readLines(tb testing.TB, fsys fs.FS, name string) []string {
	tb.Helper()
	f, err := fsys.Open(name)
	if err != nil {
		tb.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" && !strings.HasPrefix(s, "#") {
			out = append(out, s)
		}
	}
	return out
}

// naiveKeywords is the baseline the issue compares against: a short
// keyword list per category matched on the raw text, and an 11-digit
// pattern for phone numbers.
func naiveFlag(text string) bool {
	words := []string{
		"傻", "脑残", "滚", "垃圾", "去死", "他妈", // abuse
		"代理", "广告", "加盟", "代购", "招商", "红包", // ad_spam
		"刷单", "兼职", "中奖", "贷款", "返利", "投资", "验证码", // fraud
		"微信", "加我", "私聊", "vx", "进群", // poaching
		"投诉", "12315", "曝光", "律师", "差评", "举报", // complaint
	}
	text = strings.ToLower(text)
	for _, w := range words {
		if strings.Contains(text, w) {
			return true
		}
	}
	return naivePhone.MatchString(text)
}

var naivePhone = regexp.MustCompile(`1[3-9]\d{9}|\d{17}[\dXx]`)

// TestHeldOutQuality measures the scanner (lexicons and detectors, no
// model) on knowledge/risk/heldout, text written apart from the
// lexicons and the training lines, against the targets: risky
// messages flagged ≥ 95% overall and ≥ 85% per category (with the right
// category among the hits), ordinary chat flagged ≤ 2%. It logs the
// naive keyword baseline for comparison.
func TestHeldOutQuality(t *testing.T) {
	s := mustScanner(t, ScannerConfig{})
	fsys := knowledgeFS()
	var risky, flagged, naiveRisky int
	for _, c := range Categories() {
		lines := readLines(t, fsys, "risk/heldout/"+string(c)+".txt")
		var any, right, naive int
		for _, line := range lines {
			cats := Main(s.Scan(line))
			if len(cats) > 0 {
				any++
			}
			if slices.Contains(cats, string(c)) {
				right++
			} else if testing.Verbose() {
				t.Logf("missed %s: %s (got %v)", c, line, cats)
			}
			if naiveFlag(line) {
				naive++
			}
		}
		n := len(lines)
		risky += n
		flagged += right
		naiveRisky += naive
		t.Logf("%-9s n=%3d flagged=%5.1f%% right category=%5.1f%% naive=%5.1f%%", c, n, pct(any, n), pct(right, n), pct(naive, n))
		if pct(right, n) < 85 {
			t.Errorf("%s: right category %.1f%%, want ≥ 85%%", c, pct(right, n))
		}
	}
	none := readLines(t, fsys, "risk/heldout/none.txt")
	var fp, naiveFP int
	for _, line := range none {
		if hits := s.Scan(line); len(hits) > 0 {
			fp++
			t.Logf("false positive: %s → %s %q", line, hits[0].Category, hits[0].Evidence)
		}
		if naiveFlag(line) {
			naiveFP++
		}
	}
	t.Logf("overall   n=%3d flagged=%5.1f%% naive=%5.1f%%", risky, pct(flagged, risky), pct(naiveRisky, risky))
	t.Logf("none      n=%3d flagged=%5.1f%% naive=%5.1f%%", len(none), pct(fp, len(none)), pct(naiveFP, len(none)))
	if got := pct(flagged, risky); got < 95 {
		t.Errorf("risky flagged %.1f%%, want ≥ 95%%", got)
	}
	if got := pct(fp, len(none)); got > 2 {
		t.Errorf("ordinary chat flagged %.1f%%, want ≤ 2%%", got)
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}
