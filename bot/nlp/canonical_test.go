package nlp

import (
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/internal/hanzi"
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain text unchanged", "有优惠券吗", "有优惠券吗"},
		{"Normalize first: width, case, ends", "　ＶＩＰ有券吗？ ", "vip有券吗"},
		{"traditional to simplified", "請問有沒有優惠券", "请问有没有优惠券"},
		{"traditional sign-in", "簽到", "签到"},
		{"repeats collapse", "在吗吗吗", "在吗"},
		{"laughter collapses", "哈哈哈哈", "哈"},
		{"repeated punctuation inside", "好的！！！谢谢", "好的!谢"},
		{"digits keep their repeats", "订单1100233", "订单1100233"},
		{"space inside a Chinese word", "签 到", "签到"},
		{"dots inside a word", "优.惠.券", "优惠券"},
		{"dashes and stars", "退-订*消息", "退订消息"},
		{"zero-width inside", "签\u200b到", "签到"},
		{"BOM and joiner", "优\ufeff惠\u200d券", "优惠券"},
		{"space between Latin words kept", "free coffee", "free coffee"},
		{"separator between Latin letters kept", "wi-fi", "wi-fi"},
		{"mixed script boundary keeps one separator", "拿铁 latte", "拿铁 latte"},
		{"emoji kept inside", "谢谢😊你", "谢😊你"},
		{"Latin letters keep two", "hiiii", "hii"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Canonical(tc.in)
			if got != tc.want {
				t.Errorf("Canonical(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := Canonical(got); again != got {
				t.Errorf("Canonical is not idempotent: Canonical(%q) = %q", got, again)
			}
		})
	}
}

// TestCanonicalBuildsOnNormalize checks the contract: whatever
// bot.Normalize equates, Canonical equates too.
func TestCanonicalBuildsOnNormalize(t *testing.T) {
	for _, s := range []string{"ＶＩＰ", "  营业时间？", "【签到】", "Hello  World"} {
		if got, want := Canonical(s), Canonical(bot.Normalize(s)); got != want {
			t.Errorf("Canonical(%q) = %q, want Canonical(Normalize) %q", s, got, want)
		}
	}
}

func TestCanonicalNoAllocWhenCanonical(t *testing.T) {
	s := "拿铁多少钱一杯"
	if got := testing.AllocsPerRun(100, func() { _ = Canonical(s) }); got != 0 {
		t.Errorf("allocs = %v, want 0 for text already canonical", got)
	}
}

func TestToSimplifiedTable(t *testing.T) {
	tests := []struct{ trad, simp rune }{{'們', '们'}, {'價', '价'}, {'轉', '转'}, {'錢', '钱'}, {'訂', '订'}, {'咖', '咖'}, {'a', 'a'}}
	for _, tc := range tests {
		if got := toSimplified(tc.trad); got != tc.simp {
			t.Errorf("toSimplified(%q) = %q, want %q", tc.trad, got, tc.simp)
		}
	}
}

// TestCanonicalTraditionalTable checks the wiring to the shared table:
// every traditional character it lists becomes its simplified form.
func TestCanonicalTraditionalTable(t *testing.T) {
	n := 0
	for r := rune(0x4E00); r <= 0x9FFF; r++ {
		s, ok := hanzi.Simplify(r)
		if !ok {
			continue
		}
		n++
		if got := Canonical(string(r)); got != string(s) {
			t.Errorf("Canonical(%q) = %q, want %q", r, got, s)
		}
	}
	if n < 1500 {
		t.Errorf("checked %d traditional characters, want the ~1600 of the table", n)
	}
}
