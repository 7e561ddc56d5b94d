package risk

import (
	"testing"

	"github.com/siyu-bot/siyu/bot/internal/hanzi"
)

// TestFoldEvasions checks every evasion family Fold undoes: each input
// must fold to the same text as its plain form.
func TestFoldEvasions(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "加我微信", want: "加我微信"},
		{name: "full width", in: "加ＶＸ", want: "加vx"},
		{name: "upper case", in: "加VX", want: "加vx"},
		{name: "traditional", in: "加我微信號", want: "加我微信号"},
		{name: "traditional fraud", in: "兼職刷單賺錢", want: "兼职刷单赚钱"},
		{name: "spaces inside", in: "加 我 v 信", want: "加我v信"},
		{name: "punctuation inside", in: "加.我.微-信", want: "加我微信"},
		{name: "zero width", in: "加\u200b微\u200c信\u200d", want: "加微信"},
		{name: "word joiner and bom", in: "微\u2060信\ufeff", want: "微信"},
		{name: "emoji inside", in: "加🌟微🌸信", want: "加微信"},
		{name: "emoji with skin tone and zwj", in: "加👍🏻微👨‍👩‍👧信", want: "加微信"},
		{name: "combining marks", in: "加̲微̲信̲", want: "加微信"},
		{name: "homophone 薇", in: "加薇信", want: "加微信"},
		{name: "homophone 威", in: "加威信", want: "加微信"},
		{name: "look-alike 徾", in: "加徾信", want: "加微信"},
		{name: "芯 for 信", in: "加V芯", want: "加v信"},
		{name: "plus for 加", in: "+vx", want: "加vx"},
		{name: "heavy plus emoji", in: "➕wx", want: "加wx"},
		{name: "circled letter", in: "加ⓥⓧ", want: "加vx"},
		{name: "math bold letters", in: "加𝐯𝐱", want: "加vx"},
		{name: "greek nu", in: "加νx", want: "加vx"},
		{name: "roman numeral five", in: "加ⅴ信", want: "加v信"},
		{name: "chinese digits", in: "一三八零零一三八零零零", want: "13800138000"},
		{name: "financial digits", in: "壹叁捌", want: "138"},
		{name: "traditional financial digits", in: "壹叄捌貳參", want: "13823"},
		{name: "traditional the table took from nlp's", in: "國外無抵押", want: "国外无抵押"},
		{name: "traditional 帳 for 账", in: "轉帳到這個帳戶", want: "转账到这个账户"},
		{name: "simplified 帐 for 账", in: "出售帐号", want: "出售账号"},
		{name: "著 for 着", in: "你給我等著", want: "你给我等着"},
		{name: "幺 and 两", in: "幺三八两", want: "1382"},
		{name: "circled digits", in: "①③⑧", want: "138"},
		{name: "dingbat digits", in: "❶➂➑", want: "138"},
		{name: "full-width digits", in: "１３８", want: "138"},
		{name: "parenthesised digits", in: "⑴⑶⑻", want: "138"},
		{name: "math digits", in: "𝟏𝟑𝟖", want: "138"},
		{name: "compatibility ideograph", in: "\uf9d0", want: "类"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Fold(tc.in); got != tc.want {
				t.Errorf("Fold(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestFoldSpans checks that a folded match maps back to the span the
// customer wrote.
func TestFoldSpans(t *testing.T) {
	var f folded
	in := "你好 加 我 v 信!"
	foldInto(&f, in)
	if got, want := string(f.text), "你好加我v信"; got != want {
		t.Fatalf("text = %q, want %q", got, want)
	}
	i := len("你好")
	if got, want := in[f.start[i]:f.end[len(f.text)-1]], "加 我 v 信"; got != want {
		t.Errorf("span = %q, want %q", got, want)
	}
}

// TestScanEvasions checks that each evasion family, applied to a lexicon
// term inside a message, is still found with the term's category.
func TestScanEvasions(t *testing.T) {
	s := mustScanner(t, ScannerConfig{})
	tests := []struct {
		name, text string
		want       Category
	}{
		{name: "separators", text: "有需要的 加 我 微 信", want: Poaching},
		{name: "zero width", text: "加\u200b我\u200b微\u200b信", want: Poaching},
		{name: "emoji inside", text: "加🌹我🌹薇🌹信", want: Poaching},
		{name: "homophone 威信", text: "加我威信", want: Poaching},
		{name: "look-alike 徾信", text: "加我徾信", want: Poaching},
		{name: "V信", text: "加我V信", want: Poaching},
		{name: "vx full width", text: "加ＶＸ", want: Poaching},
		{name: "wx circled", text: "加ⓦⓧ", want: Poaching},
		{name: "plus sign", text: "+vx 了解", want: Poaching},
		{name: "traditional", text: "兼職刷單，日結", want: Fraud},
		{name: "repeated characters", text: "刷刷单单返利", want: Fraud},
		{name: "upper case", text: "加我WX", want: Poaching},
		{name: "punctuation inside", text: "傻.逼", want: Abuse},
		{name: "spaced number term", text: "打 1 2 3 1 5", want: Complaint},
		{name: "chinese digits", text: "我要打一二三一五", want: Complaint},
		{name: "circled digits", text: "打①②③①⑤投诉", want: Complaint},
		{name: "traditional complaint", text: "我要去消費者協會", want: Complaint},
		{name: "chinese-numeral phone", text: "幺三八零零幺三八零零零", want: PII},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits := s.Scan(tc.text)
			if indexOf(hits, tc.want) < 0 {
				t.Errorf("Scan(%q) = %+v, want %s", tc.text, hits, tc.want)
			}
		})
	}
}

// BenchmarkFold folds a simplified and a traditional message: every
// Chinese character is looked up in the traditional→simplified table.
func BenchmarkFold(b *testing.B) {
	for _, tc := range []struct{ name, in string }{
		{"simplified", "早上好，大杯生椰拿铁今天第二杯半价吗？想要更便宜的加我微信"},
		{"traditional", "早上好，大杯生椰拿鐵今天第二杯半價嗎？想要更便宜的加我微信號"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var f folded
			b.ReportAllocs()
			for b.Loop() {
				foldInto(&f, tc.in)
			}
		})
	}
}

// TestFoldTraditionalTable checks the wiring to the shared table: every
// traditional character it lists folds as its simplified form does
// (digit forms such as 參 excepted: they fold to their digit first).
func TestFoldTraditionalTable(t *testing.T) {
	n := 0
	for r := rune(0x4E00); r <= 0x9FFF; r++ {
		s, ok := hanzi.Simplify(r)
		if _, digit := digitOf(r); !ok || digit {
			continue
		}
		n++
		if got, want := Fold(string(r)), Fold(string(s)); got != want {
			t.Errorf("Fold(%q) = %q, want %q as Fold(%q)", r, got, want, s)
		}
	}
	if n < 1500 {
		t.Errorf("checked %d traditional characters, want the ~1600 of the table", n)
	}
}
