package risk

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// fakeClassifier answers one label for every text.
type fakeClassifier struct {
	label string
	conf  float64
	calls int
}

func (f *fakeClassifier) Classify(string) (string, float64) { f.calls++; return f.label, f.conf }

// TestScannerClassifier checks that the model adds a category the words
// missed, at medium severity, only above the least confidence, and never
// for "none".
func TestScannerClassifier(t *testing.T) {
	tests := []struct {
		name  string
		label string
		conf  float64
		text  string
		want  string // categories, main first
	}{
		{name: "polite fraud", label: "fraud", conf: 0.995, text: "您好，这边有份居家的工作，想了解一下吗", want: "fraud"},
		{name: "below the default confidence", label: "fraud", conf: 0.8, text: "您好，这边有份居家的工作，想了解一下吗", want: ""},
		{name: "none", label: "none", conf: 0.99, text: "拿铁多少钱", want: ""},
		{name: "unknown label", label: "spam", conf: 0.99, text: "拿铁多少钱", want: ""},
		{name: "words already found it", label: "poaching", conf: 0.99, text: "加我微信", want: "poaching"},
		{name: "adds to words", label: "complaint", conf: 0.995, text: "加我微信", want: "complaint,poaching"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustScanner(t, ScannerConfig{Classifier: &fakeClassifier{label: tc.label, conf: tc.conf}})
			hits := s.Scan(tc.text)
			if got := strings.Join(Main(hits), ","); got != tc.want {
				t.Errorf("Scan(%q) = %q, want %q", tc.text, got, tc.want)
			}
			for _, h := range hits {
				if h.Source == SourceModel && h.Severity != Medium {
					t.Errorf("model hit severity = %v, want medium", h.Severity)
				}
			}
		})
	}
}

// TestLexiconBoundaries checks the edges of terms with letters and digits.
func TestLexiconBoundaries(t *testing.T) {
	s := mustScanner(t, ScannerConfig{})
	tests := []struct {
		name, text string
		want       bool
	}{
		{name: "vx alone", text: "有vx吗", want: true},
		{name: "vx inside a word", text: "devx tools", want: false},
		{name: "vx before an id after a colon", text: "vx：coffee888", want: true},
		{name: "12315", text: "我打12315了", want: true},
		{name: "12315 inside an order number", text: "订单1231567", want: false},
		{name: "a hotline with a verb", text: "你们不管我就找12345", want: true},
		{name: "a bare number that is a hotline's", text: "今天天气不错，随便聊聊 12345", want: false},
		{name: "an id that is exactly 12315", text: "取餐号 12315", want: false},
		{name: "a customer asks the wholesale price", text: "批发价多少？我们公司要订三十杯", want: false},
		{name: "a wholesale ad", text: "全网最低批发价，一件代发，欢迎拿货", want: true},
		{name: "315 as a time", text: "3:15到店", want: false},
		{name: "加微糖 is an order", text: "少冰加微糖", want: false},
		{name: "妈妈 is not abuse", text: "我妈妈的生日", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(s.Scan(tc.text)) > 0; got != tc.want {
				t.Errorf("Scan(%q) flagged = %v, want %v (%+v)", tc.text, got, tc.want, s.Scan(tc.text))
			}
		})
	}
}

// TestLexiconEveryTerm checks that a term before a longer one is found
// (the automaton's leftmost-longest Find returned the longest match in
// the rest of the text, and the terms before it were skipped), and that
// a term inside a longer one of the same start is not found apart.
func TestLexiconEveryTerm(t *testing.T) {
	lex, err := NewLexicon([]Term{
		{Category: Abuse, Severity: Medium, Text: "傻逼"},
		{Category: Complaint, Severity: High, Text: "我要打12315投诉你们"},
		{Category: AdSpam, Severity: Low, Text: "一手"},
		{Category: AdSpam, Severity: High, Text: "一手货源"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := NewScanner(lex, ScannerConfig{})
	tests := []struct {
		text string
		want []string // category:evidence, in Scan's order
	}{
		{"傻逼，我要打12315投诉你们", []string{"complaint:我要打12315投诉你们", "abuse:傻逼"}},
		{"我要打12315投诉你们，傻逼", []string{"complaint:我要打12315投诉你们", "abuse:傻逼"}},
		{"本人一手货源", []string{"ad_spam:一手货源"}},
		{"一手的，不是货源", []string{"ad_spam:一手"}},
	}
	for _, tc := range tests {
		var got []string
		for _, h := range s.Scan(tc.text) {
			got = append(got, string(h.Category)+":"+h.Evidence)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Scan(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
	// A text that is both a plain term and a combination's part counts
	// as both.
	both, err := NewLexicon([]Term{
		{Category: Fraud, Severity: High, Text: "私我"},
		{Category: Poaching, Severity: Medium, Text: "私我/找我 & 便宜/半价"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range NewScanner(both, ScannerConfig{}).Scan("有要的私我，便宜卖") {
		got = append(got, string(h.Category)+":"+h.Evidence)
	}
	if want := []string{"fraud:私我", "poaching:私我…便宜"}; !slices.Equal(got, want) {
		t.Errorf("term and part: hits %q, want %q", got, want)
	}
}

// benchLexicon returns the shipped lexicon grown to n terms with random
// Chinese terms, the size the benchmark asks for.
func benchLexicon(tb testing.TB, n int) *Lexicon {
	tb.Helper()
	base, err := loadTerms()
	if err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	terms := base
	distinct := map[string]bool{}
	for _, t := range base {
		distinct[Fold(t.Text)] = true
	}
	for len(distinct) < n {
		var b strings.Builder
		for range 2 + r.IntN(4) {
			b.WriteRune(rune(0x4E00 + r.IntN(0x9FA5-0x4E00)))
		}
		terms = append(terms, Term{Category: Categories()[r.IntN(5)], Severity: Medium, Text: b.String()})
		distinct[Fold(b.String())] = true
	}
	lex, err := NewLexicon(terms)
	if err != nil {
		tb.Fatal(err)
	}
	return lex
}

func loadTerms() ([]Term, error) {
	var all []Term
	for _, c := range Categories()[:5] {
		f, err := knowledgeFS().Open("risk/lexicon/" + string(c) + ".txt")
		if err != nil {
			return nil, err
		}
		terms, err := ParseLexicon(c, string(c), f)
		f.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, terms...)
	}
	return all, nil
}

// BenchmarkScan scans one message (normalise + fold + match + PII, and
// the model when given) with a 10,000-term lexicon. Messages rotate over
// ordinary chat, evasive poaching and personal data.
func BenchmarkScan(b *testing.B) {
	lex := benchLexicon(b, 10000)
	msgs := []string{
		"早上好，大杯生椰拿铁今天第二杯半价吗？订单号 2024112612345678901",
		"想要更便宜的 加 我 v 信，给你内部价🌟🌟",
		"我电话 一三八 0013 8000，到了打给我",
		"这家店的美式真的好喝，下次还来",
	}
	for _, tc := range []struct {
		name string
		cls  Classifier
	}{{"lexicon+pii", nil}, {"with-model", &fakeClassifier{label: "none", conf: 0.9}}} {
		b.Run(fmt.Sprintf("%s/terms=%d", tc.name, lex.Len()), func(b *testing.B) {
			s := NewScanner(lex, ScannerConfig{Classifier: tc.cls, Now: testNow})
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Scan(msgs[i%len(msgs)])
				i++
			}
		})
	}
}

// TestClauses checks how a message is cut into the clauses the model
// reads one by one: short pieces join their neighbour, long runs are
// cut, and a long message keeps its first and last clauses only.
func TestClauses(t *testing.T) {
	long := strings.Repeat("今天的咖啡真的很好喝啊。", 40) + "不退款我就去12315投诉你们"
	tests := []struct {
		name string
		text string
		want []string
	}{
		{name: "one clause", text: "加我v信，内部价更便宜", want: []string{"加我v信，内部价更便宜"}},
		{name: "short pieces join", text: "你好，两件多少钱，包邮吗？另外能开发票吗，我要报销的", want: []string{"你好，两件多少钱，包邮吗", "另外能开发票吗，我要报销的"}},
		// A short end joins the clause before it.
		{name: "long run cut", text: strings.Repeat("好", 100), want: []string{strings.Repeat("好", 48), strings.Repeat("好", 52)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, sp := range clauses(tc.text, nil) {
				got = append(got, tc.text[sp[0]:sp[1]])
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("clauses(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		spans := clauses(long, nil)
		if len(spans) != maxClauses {
			t.Fatalf("%d clauses, want %d", len(spans), maxClauses)
		}
		if last := long[spans[len(spans)-1][0]:spans[len(spans)-1][1]]; last != "不退款我就去12315投诉你们" {
			t.Errorf("last clause %q, want the message's end", last)
		}
	})
}

// clauseClassifier reads a clause as risky when it contains word.
type clauseClassifier struct {
	word, label string
	texts       []string
}

func (c *clauseClassifier) Classify(text string) (string, float64) {
	c.texts = append(c.texts, text)
	if strings.Contains(text, c.word) && len([]rune(text)) < 40 {
		return c.label, 0.99
	}
	return c.label, 0.2
}

// TestScannerReadsClauses checks that a risky clause inside a long
// ordinary message is found by the model, with the clause as evidence
// (personal data masked), while the same model on a short message reads
// it once, whole.
func TestScannerReadsClauses(t *testing.T) {
	text := "我在你们家买了好几年了，一直觉得东西不错，这次的快递也挺快的，顺便问一下，日结的兼职还招人吗联系13800138000，谢谢啦"
	c := &clauseClassifier{word: "日结", label: "fraud"}
	s := NewScanner(nil, ScannerConfig{Classifier: c})
	hits := s.Scan(text)
	i := indexOf(hits, Fraud)
	if i < 0 {
		t.Fatalf("hits %+v: want a fraud hit from one clause", hits)
	}
	h := hits[i]
	if h.Source != SourceModel || !strings.Contains(h.Evidence, "日结的兼职还招人吗") || strings.Contains(h.Evidence, "13800138000") || !strings.Contains(h.Evidence, "138****8000") {
		t.Errorf("evidence %q: want the clause, its phone number masked", h.Evidence)
	}
	if got := text[h.Start:h.End]; !strings.Contains(got, "日结") || len(got) >= len(text) {
		t.Errorf("span %q: want the clause", got)
	}
	c.texts = nil
	s.Scan("日结的兼职还招人吗")
	if len(c.texts) != 1 {
		t.Errorf("a short message was read %d times, want once", len(c.texts))
	}
	off := NewScanner(nil, ScannerConfig{Classifier: c, ClauseMinConfidence: 1.5})
	if hits := off.Scan(text); indexOf(hits, Fraud) >= 0 {
		t.Errorf("ClauseMinConfidence above 1: hits %+v, want no clause reading", hits)
	}
}

// TestScannerReadsRepeatedClauseOnce checks that a spam wall's repeated
// clause is read once (the same text reads the same) and still found.
func TestScannerReadsRepeatedClauseOnce(t *testing.T) {
	wall := strings.Repeat("日结兼职，每天三百，", 6) + "今天的咖啡挺好喝的呀朋友们"
	c := &clauseClassifier{word: "日结", label: "fraud"}
	s := NewScanner(nil, ScannerConfig{Classifier: c})
	hits := s.Scan(wall)
	if i := indexOf(hits, Fraud); i < 0 || hits[i].Source != SourceModel {
		t.Fatalf("hits %+v: want the model's fraud hit from a clause", hits)
	}
	seen := map[string]bool{}
	for _, text := range c.texts {
		if seen[text] {
			t.Errorf("%q read twice; read %q", text, c.texts)
		}
		seen[text] = true
	}
	if len(c.texts) != 3 { // the message, its repeated clause, its last one
		t.Errorf("read %q, want the message and two distinct clauses", c.texts)
	}
}

// TestComboWithinOneStretch checks that a combination's parts must lie
// close together: in a long post, 私我 and 便宜 far apart are two ideas.
func TestComboWithinOneStretch(t *testing.T) {
	lx, err := NewLexicon([]Term{{Category: Poaching, Severity: Medium, Text: "私我/找我 & 便宜/半价"}})
	if err != nil {
		t.Fatal(err)
	}
	s := NewScanner(lx, ScannerConfig{})
	tests := []struct {
		name string
		text string
		want bool
	}{
		{name: "together", text: "想要的私我，便宜出", want: true},
		{name: "reversed", text: "半价出，找我", want: true},
		{name: "far apart", text: "这家店的东西一直挺便宜的，我买了很多次了，每次快递都很快，包装也很好，客服态度也不错，有问题随时私我哈", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := indexOf(s.Scan(tc.text), Poaching) >= 0; got != tc.want {
				t.Errorf("Scan(%q) poaching = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
}

// TestScannerModelNeedsChinese checks that the model's word does not
// count on a message with fewer than three Chinese characters (romanised
// and English lines, [图片]), while the lexicons still read it.
func TestScannerModelNeedsChinese(t *testing.T) {
	c := &fakeClassifier{label: "fraud", conf: 0.999}
	s := NewScanner(nil, ScannerConfig{Classifier: c})
	for _, text := range []string{"qiandao", "stop", "[图片]", "renGong"} {
		if hits := s.Scan(text); len(hits) > 0 {
			t.Errorf("Scan(%q) = %+v, want no model hit", text, hits)
		}
	}
	if hits := s.Scan("日结兼职"); indexOf(hits, Fraud) < 0 {
		t.Errorf("Scan(日结兼职) = %+v, want the model's fraud hit", hits)
	}
}
