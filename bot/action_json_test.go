package bot

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// replyStrings are strings encoding/json treats specially.
var replyStrings = []string{
	"", "营业时间是 9:00-21:00☕️", `say "hi" \ bye`, "<a href='x'>&amp;</a>", "line\nbreak\ttab\rret\bback\fform",
	"\x00\x01\x1f\x7f", "bad \xff utf8 \xe4\xb8", "sep\u2028para\u2029", "😀 emoji", "\u00e9 é",
}

func randomString(rng *rand.Rand) string {
	if rng.IntN(3) == 0 {
		return replyStrings[rng.IntN(len(replyStrings))]
	}
	var b []byte
	for range rng.IntN(12) {
		switch rng.IntN(4) {
		case 0:
			b = append(b, byte(rng.IntN(256)))
		case 1:
			b = append(b, byte(rng.IntN(128)))
		default:
			b = append(b, string(rune(rng.IntN(0x3000)))...)
		}
	}
	return string(b)
}

// TestAppendReplyMatchesJSON: the hand-written encoding of a Reply is
// json.Marshal's, byte for byte, for every optional field present or
// not and strings of every kind.
func TestAppendReplyMatchesJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	pick := func() string {
		if rng.IntN(2) == 0 {
			return ""
		}
		return randomString(rng)
	}
	for i := range 20000 {
		r := Reply{
			To: Target{Platform: Platform(pick()), Account: AccountID(pick()), Route: Route{Brand: pick(), Name: pick()},
				Conversation: Conversation{Group: GroupID(pick())}, User: UserID(pick()), UnionID: pick()},
			Text: randomString(rng), InReplyTo: pick(), OutboxKey: pick(),
		}
		assertReplyEncoding(t, r, i)
	}
}

func assertReplyEncoding(t *testing.T, r Reply, i int) {
	t.Helper()
	want, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendReply(nil, r); !bytes.Equal(got, want) {
		t.Fatalf("case %d: %+v\n got %s\nwant %s", i, r, got, want)
	}
	b, err := MarshalActions([]Action{r})
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalActions(b)
	if err != nil || len(back) != 1 {
		t.Fatalf("case %d: UnmarshalActions(%s) = %v, %v", i, b, back, err)
	}
}

func FuzzAppendReply(f *testing.F) {
	for _, s := range replyStrings {
		f.Add(s, s, s)
	}
	f.Fuzz(func(t *testing.T, text, user, brand string) {
		assertReplyEncoding(t, Reply{To: Target{Platform: WeChat, User: UserID(user), Route: Route{Brand: brand}}, Text: text, InReplyTo: user}, 0)
	})
}
