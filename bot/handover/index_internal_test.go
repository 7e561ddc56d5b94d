package handover

import "testing"

// TestIndexLoadKeepsWhatItHears: a hand-over announced while the index
// loads (after the stores were listed, before the load ends) is kept,
// and a subscription lost during the load leaves the index unready.
func TestIndexLoadKeepsWhatItHears(t *testing.T) {
	listed, heard, other := DigestOf("wechat:a:listed"), DigestOf("wechat:a:heard"), DigestOf("wechat:a:other")
	x := &heldIndex{}
	if !x.mayHold(other) {
		t.Fatal("an index never loaded vouches for a conversation")
	}
	x.setListening(true)
	if !x.beginLoad() {
		t.Fatal("a listening index refused to load")
	}
	x.add(heard) // announced after the stores were read
	x.endLoad([]Digest{listed}, true)
	if !x.mayHold(listed) || !x.mayHold(heard) || x.mayHold(other) {
		t.Errorf("after the load: listed %v heard %v other %v, want true true false", x.mayHold(listed), x.mayHold(heard), x.mayHold(other))
	}

	x.beginLoad()
	x.setListening(false) // announcements may be missed from here
	x.endLoad(nil, true)
	if !x.mayHold(other) {
		t.Error("an index whose subscription broke during the load vouches for a conversation")
	}
	if x.beginLoad() {
		t.Error("an index without its subscription began a load")
	}
}

func TestDigest(t *testing.T) {
	d := DigestOf("wechat:wx1:o-1")
	back, ok := ParseDigest(d.String())
	if !ok || back != d || len(d.String()) != 32 {
		t.Errorf("ParseDigest(%s) = %v, %v", d, back, ok)
	}
	for _, bad := range []string{"", "zz", d.String()[:30], d.String() + "00"} {
		if _, ok := ParseDigest(bad); ok {
			t.Errorf("ParseDigest(%q) accepted", bad)
		}
	}
}
