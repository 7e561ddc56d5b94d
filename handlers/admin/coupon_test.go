package admin

import (
	"strings"
	"testing"
)

func TestCouponMasks(t *testing.T) {
	tests := []struct {
		name, in, want string
		person         bool // MaskPerson, else MaskCode
	}{
		{"code keeps four and two", "SY3K7PQRW9ZX", "SY3K******ZX", false},
		{"short code hidden", "AB12", "****", false},
		{"person keeps the platform", "wechat:gh_1:o-abc", "wechat:#", true},
		{"linked person keeps union", "union:u-xyz", "union:#", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.person {
				if got := MaskCode(tc.in); got != tc.want {
					t.Errorf("MaskCode(%q) = %q, want %q", tc.in, got, tc.want)
				}
				return
			}
			got := MaskPerson(tc.in)
			_, id, _ := strings.Cut(tc.in, ":")
			if !strings.HasPrefix(got, tc.want) || len(got) != len(tc.want)+12 || strings.Contains(got, id) {
				t.Errorf("MaskPerson(%q) = %q, want %q and a 12-digit fingerprint, no id", tc.in, got, tc.want)
			}
		})
	}
}
