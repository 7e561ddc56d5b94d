package bot_test

import (
	"strings"
	"testing"

	"github.com/siyu-bot/siyu/bot"
)

func TestFingerprint(t *testing.T) {
	const a, b = "ev:o6_bmjrPTlm6_2sgVt7hMZOPfL2M:1348831860:subscribe", "ev:o6_bmjrPTlm6_2sgVt7hMZOPfL2N:1348831860:subscribe"
	fa := bot.Fingerprint(a)
	if fa != bot.Fingerprint(a) {
		t.Errorf("Fingerprint is not stable: %s, then %s", fa, bot.Fingerprint(a))
	}
	if fa == bot.Fingerprint(b) {
		t.Errorf("keys one character apart share fingerprint %s", fa)
	}
	if strings.Contains(fa, "o6_bmj") || len(fa) != 13 {
		t.Errorf("Fingerprint(%q) = %q, want # and 12 hex digits", a, fa)
	}
}
