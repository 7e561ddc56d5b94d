package risk

import "testing"

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
