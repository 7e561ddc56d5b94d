package digest

import "testing"

func TestParseString(t *testing.T) {
	d := Sum([]byte("wechat\x00gh\x00o-1"))
	got, ok := Parse(d.String())
	if !ok || got != d {
		t.Fatalf("Parse(String()) = %v, %v; want %v", got, ok, d)
	}
	for _, bad := range []string{"", "zz", d.String()[1:], d.String() + "0", "g" + d.String()[1:]} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
