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

// secondBatch marks, in a held-out file, where the lines written after
// the lexicons were complete begin.
const secondBatch = "# Second batch"

// readBatches reads a held-out file's two batches: the lines written
// alongside the lexicons, and those written after them.
func readBatches(tb testing.TB, fsys fs.FS, name string) (first, second []string) {
	tb.Helper()
	f, err := fsys.Open(name)
	if err != nil {
		tb.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := &first
	for sc.Scan() {
		s := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(s, secondBatch):
			in = &second
		case s != "" && !strings.HasPrefix(s, "#"):
			*in = append(*in, s)
		}
	}
	return first, second
}

// batchFigures scans a batch of one category and counts the messages
// flagged at all, flagged with the category, and flagged by the naive
// keyword list.
type batchFigures struct{ n, any, right, naive int }

func measure(t *testing.T, s *Scanner, c Category, lines []string) batchFigures {
	var b batchFigures
	b.n = len(lines)
	for _, line := range lines {
		cats := Main(s.Scan(line))
		if len(cats) > 0 {
			b.any++
		}
		if slices.Contains(cats, string(c)) {
			b.right++
		} else if testing.Verbose() && c != "none" {
			t.Logf("missed %s: %s (got %v)", c, line, cats)
		}
		if naiveFlag(line) {
			b.naive++
		}
	}
	return b
}

// TestHeldOutQuality measures the scanner (lexicons and detectors, no
// model) on knowledge/risk/heldout and logs each batch's figures next to
// a naive keyword list's. It asserts what words and detectors must
// deliver on their own: ordinary chat flagged ≤ 2% in both batches,
// personal data found ≥ 95% in both, and, as a guard against lexicon
// regressions, the targets (≥ 95% overall, ≥ 85% per category)
// on the first batch, written alongside the lexicons. The second batch,
// written after them, shows how much is left for the model: the issue's
// targets apply to words and model together.
func TestHeldOutQuality(t *testing.T) {
	s := mustScanner(t, ScannerConfig{})
	fsys := knowledgeFS()
	var tot [2]batchFigures
	for _, c := range Categories() {
		first, second := readBatches(t, fsys, "risk/heldout/"+string(c)+".txt")
		for i, lines := range [][]string{first, second} {
			b := measure(t, s, c, lines)
			tot[i].n += b.n
			tot[i].any += b.any
			tot[i].right += b.right
			tot[i].naive += b.naive
			t.Logf("batch %d %-9s n=%3d flagged=%5.1f%% right category=%5.1f%% naive=%5.1f%%", i+1, c, b.n, pct(b.any, b.n), pct(b.right, b.n), pct(b.naive, b.n))
			if i == 0 && pct(b.right, b.n) < 85 {
				t.Errorf("batch 1 %s: right category %.1f%%, want ≥ 85%%", c, pct(b.right, b.n))
			}
			if c == PII && pct(b.right, b.n) < 95 {
				t.Errorf("batch %d pii: found %.1f%%, want ≥ 95%%", i+1, pct(b.right, b.n))
			}
		}
	}
	for i, b := range tot {
		t.Logf("batch %d overall n=%3d flagged=%5.1f%% right category=%5.1f%% naive=%5.1f%%", i+1, b.n, pct(b.any, b.n), pct(b.right, b.n), pct(b.naive, b.n))
	}
	if got := pct(tot[0].right, tot[0].n); got < 95 {
		t.Errorf("batch 1: risky flagged %.1f%%, want ≥ 95%%", got)
	}
	first, second := readBatches(t, fsys, "risk/heldout/none.txt")
	for i, lines := range [][]string{first, second} {
		b := measure(t, s, "none", lines)
		t.Logf("batch %d none      n=%3d flagged=%5.1f%% naive=%5.1f%%", i+1, b.n, pct(b.any, b.n), pct(b.naive, b.n))
		if got := pct(b.any, b.n); got > 2 {
			t.Errorf("batch %d: ordinary chat flagged %.1f%%, want ≤ 2%%", i+1, got)
		}
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}
