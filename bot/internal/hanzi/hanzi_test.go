package hanzi

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTableUpToDate regenerates the table and compares it with the
// committed t2s_table.go byte for byte, so t2s.txt and the table cannot
// drift apart: after editing t2s.txt, run go generate.
func TestTableUpToDate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "t2s_table.go")
	// go test puts its own go first on PATH.
	cmd := exec.Command("go", "run", "gen.go", "-out", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run gen.go: %v\n%s", err, msg)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("t2s_table.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("t2s_table.go is not what gen.go makes from t2s.txt; run go generate ./bot/internal/hanzi")
	}
}

// TestSimplifyAllRunes checks Simplify against t2s.txt over every rune:
// each listed traditional character gives its simplified form, every
// other rune (the simplified forms included) is left alone.
func TestSimplifyAllRunes(t *testing.T) {
	pairs := readPairs(t)
	if len(pairs) < 1500 {
		t.Fatalf("t2s.txt has %d pairs, want the ~1600 of the table", len(pairs))
	}
	for r := rune(-1); r <= utf8.MaxRune+1; r++ {
		want, ok := pairs[r]
		if !ok {
			want = r
		}
		if got, gotOK := Simplify(r); got != want || gotOK != ok {
			t.Fatalf("Simplify(%U) = %U, %v, want %U, %v", r, got, gotOK, want, ok)
		}
	}
}

func TestSimplify(t *testing.T) {
	tests := []struct {
		name string
		in   rune
		want rune
		ok   bool
	}{
		{"first of the table", '丟', '丢', true},
		{"last of the table", '龜', '龟', true},
		{"common", '價', '价', true},
		{"from risk's old table", '禪', '禅', true},
		{"simplified stays", '价', '价', false},
		{"著 is a standard simplified character", '著', '著', false},
		{"first CJK ideograph", '一', '一', false},
		{"ASCII", 'a', 'a', false},
		{"past the table", '\U00020000', '\U00020000', false},
		{"negative", -5, -5, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Simplify(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Simplify(%q) = %q, %v, want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSimplifyNoAlloc(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { Simplify('價') }); n != 0 {
		t.Errorf("allocs = %v, want 0", n)
	}
}

// readPairs reads t2s.txt as gen.go's format says, independently of it.
func readPairs(tb testing.TB) map[rune]rune {
	tb.Helper()
	f, err := os.Open("t2s.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	pairs := map[rune]rune{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		tr, s, _ := strings.Cut(line, "\t")
		pairs[[]rune(tr)[0]] = []rune(s)[0]
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return pairs
}

// BenchmarkSimplify looks up a message's characters, most of them not
// traditional, as the folders do.
func BenchmarkSimplify(b *testing.B) {
	for _, tc := range []struct{ name, text string }{
		{"simplified", "早上好大杯生椰拿铁今天第二杯半价吗想要更便宜的加我微信号请问有没有优惠券"},
		{"traditional", "早上好大杯生椰拿鐵今天第二杯半價嗎想要更便宜的加我微信號請問有沒有優惠券"},
	} {
		runes := []rune(tc.text)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for _, r := range runes {
					if _, ok := Simplify(r); ok {
						n++
					}
				}
			}
			_ = n
		})
	}
}
