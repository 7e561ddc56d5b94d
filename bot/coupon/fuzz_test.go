package coupon

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseCodes feeds arbitrary files to the coupon-code import: it
// never panics, every code it keeps is well formed, unique and no longer
// than MaxCodeLen, and every refused line has a line number. `go test
// -fuzz FuzzParseCodes -fuzztime 60s ./bot/coupon/` explores (README:
// Fuzzing).
func FuzzParseCodes(f *testing.F) {
	for _, s := range []string{
		"code\nSY0001\nSY0002,note\n",
		"A1\nA1\n\n,\n\"B2\"\n\"unterminated\n",
		"code,note\r\nX-1,first\r\nX_2\r\n",
		strings.Repeat("Z", 200) + "\n",
		"坏码\nOK9\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file string) {
		codes, bad, err := ParseCodes(strings.NewReader(file), nil)
		if err != nil {
			return // a file CSV cannot read at all is refused whole
		}
		seen := map[string]bool{}
		for _, c := range codes {
			if !importedCodePattern.MatchString(c) || len(c) > MaxCodeLen {
				t.Fatalf("kept a malformed code %q", c)
			}
			if seen[c] {
				t.Fatalf("kept %q twice", c)
			}
			seen[c] = true
		}
		if slices.ContainsFunc(bad, func(e LineError) bool { return e.Line < 1 }) {
			t.Fatalf("a refused line without a line number: %v", bad)
		}
	})
}
