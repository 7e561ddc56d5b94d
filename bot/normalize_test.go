package bot

import (
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "empty", in: "", want: ""},
		{name: "already normal chinese", in: "营业时间", want: "营业时间"},
		{name: "already normal ascii", in: "hello world", want: "hello world"},
		{name: "full-width letters and digits", in: "ＡＢＣ１２３", want: "abc123"},
		{name: "full-width upper case", in: "ＶＩＰ", want: "vip"},
		{name: "ascii upper case", in: "Hello", want: "hello"},
		{name: "non-ascii upper case", in: "ÉCOLE", want: "école"},
		{name: "surrounding spaces and chinese question mark", in: "  营业时间？", want: "营业时间"},
		{name: "trailing ascii punctuation", in: "  营业时间!!", want: "营业时间"},
		{name: "chinese brackets", in: "【签到】", want: "签到"},
		{name: "corner brackets", in: "「签到」。", want: "签到"},
		{name: "ideographic space", in: "\u3000签到\u3000", want: "签到"},
		{name: "emoji", in: "签到🎉👍️", want: "签到"},
		{name: "zero-width space", in: "\u200b签到\ufeff", want: "签到"},
		{name: "inner punctuation kept", in: "wi-fi密码？", want: "wi-fi密码"},
		{name: "inner full-width punctuation folded", in: "订单：123", want: "订单:123"},
		{name: "inner whitespace collapsed", in: "a \t\n b\u3000\u3000c", want: "a b c"},
		{name: "space before trailing punctuation", in: "hello ！", want: "hello"},
		{name: "only punctuation", in: "？！。…", want: ""},
		{name: "only spaces", in: " \t\u3000", want: ""},
		{name: "half-width katakana widened", in: "ｶﾀｶﾅ", want: "カタカナ"},
		{name: "full-width yen sign trimmed", in: "１００￥", want: "100"},
		{name: "invalid utf-8", in: "a\xffb", want: "a\ufffdb"},
		{name: "numbers", in: "1", want: "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := normalize(tc.in); got != tc.want {
				t.Errorf("normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got := isNormal(tc.in); got != (tc.in == tc.want) {
				t.Errorf("isNormal(%q) = %v, want %v", tc.in, got, tc.in == tc.want)
			}
		})
	}
}

func TestNormalizeFastPathDoesNotAllocate(t *testing.T) {
	for _, s := range []string{"营业时间", "请问问题199怎么办", "hello world", "wi-fi密码", "école"} {
		allocs := testing.AllocsPerRun(100, func() { normalize(s) })
		if allocs != 0 {
			t.Errorf("normalize(%q) allocs = %v, want 0", s, allocs)
		}
	}
}

// FuzzNormalize checks that normalising is idempotent and that isNormal
// agrees with normalize, which the fast path relies on.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", " 营业时间？", "ＡＢＣ　１２３", "【签到】", "a  b", "ｶﾞ", "a\xff", "İ", "\u200b", "!a !"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := normalize(s)
		if !utf8.ValidString(n) {
			t.Errorf("normalize(%q) = %q, not valid UTF-8", s, n)
		}
		if again := normalize(n); again != n {
			t.Errorf("normalize(normalize(%q)) = %q, want %q", s, again, n)
		}
		if !isNormal(n) {
			t.Errorf("isNormal(normalize(%q) = %q) = false, want true", s, n)
		}
		if isNormal(s) && n != s {
			t.Errorf("isNormal(%q) = true but normalize = %q", s, n)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	texts := []struct {
		name string
		text string
	}{
		{name: "normal chinese", text: "请问你们的营业时间是几点到几点"},
		{name: "normal ascii", text: "what are your opening hours"},
		{name: "needs work", text: "  请问你们的营业时间是几点到几点？？"},
	}
	for _, tc := range texts {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				normalize(tc.text)
			}
		})
	}
}
