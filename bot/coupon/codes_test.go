package coupon_test

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/siyu-bot/siyu/bot/coupon"
)

func TestParseCodes(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantCodes []string
		wantBad   []coupon.LineError
	}{
		{"header, notes and blank lines", "code,note\nA1,first\n\nB2\n", []string{"A1", "B2"}, nil},
		{"duplicates name the first line", "A1\nB2\nA1\n", []string{"A1", "B2"}, []coupon.LineError{{Line: 3, Msg: "duplicate of line 1"}}},
		{"bad lines", "A1\n,x\nhas space\n" + strings.Repeat("Z", 65) + "\nC3\n", []string{"A1", "C3"}, []coupon.LineError{
			{Line: 2, Msg: "empty code"},
			{Line: 3, Msg: `code "has space": want letters, digits, '-' or '_'`},
			{Line: 4, Msg: "code longer than 64 characters"},
		}},
		{"byte-order mark", "\ufeffA1\n", []string{"A1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			codes, bad, err := coupon.ParseCodes(strings.NewReader(tc.in), nil)
			if err != nil {
				t.Fatalf("ParseCodes: %v", err)
			}
			if !reflect.DeepEqual(codes, tc.wantCodes) {
				t.Errorf("codes = %q, want %q", codes, tc.wantCodes)
			}
			if !reflect.DeepEqual(bad, tc.wantBad) {
				t.Errorf("bad = %v, want %v", bad, tc.wantBad)
			}
		})
	}
}

func TestGenerateCode(t *testing.T) {
	c := coupon.Codes{Prefix: "SY", Length: 12}
	pattern := regexp.MustCompile(`^SY[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{12}$`)
	seen := map[string]bool{}
	for range 10000 {
		code := coupon.GenerateCode(c)
		if !pattern.MatchString(code) {
			t.Fatalf("GenerateCode = %q, want SY and 12 letters of the alphabet", code)
		}
		if seen[code] {
			t.Fatalf("GenerateCode repeated %q within 10,000 codes", code)
		}
		seen[code] = true
	}
}
