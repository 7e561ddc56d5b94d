package nlp

import (
	"strings"
	"unicode/utf8"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/internal/hanzi"
)

// Canonical returns text in the form the intent model (and the FAQ's
// similarity) reads: bot.Normalize's form, then
//
//   - traditional characters become simplified ones (簽到 → 签到), from
//     the table of ~1600 common ones that risk folds with too
//     (bot/internal/hanzi);
//   - zero-width and other invisible format characters are dropped
//     wherever they are (Normalize only trims them from the ends);
//   - spaces and separators (. - _ * · / | ~ 、 …) between two Chinese
//     characters are dropped (签 到, 优-惠-券, 签.到 → 签到, 优惠券);
//   - a run of one repeated character becomes one (在吗吗吗 → 在吗,
//     ？？？ → ？, 哈哈哈 → 哈), except digits, which carry numbers, and
//     Latin letters, which keep two (coffee, hiiii → hii).
//
// Why two levels: keyword rules compare with bot.Normalize, whose form
// staff can predict from what they typed (哈哈哈 stays 哈哈哈, and an exact
// rule for it still matches); the model wants every spelling of one
// message to look alike, which would surprise a rule author. Canonical is
// built on Normalize, so everything Normalize equates Canonical equates
// too. Text already in canonical form is returned without allocating.
func Canonical(text string) string {
	s := bot.Normalize(text)
	if isCanonical(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	var prev rune = -1     // last rune written
	run := 0               // how many times prev was written in a row
	pendingSep := rune(-1) // separator held until the next rune shows whether it sits inside a word
	for _, r := range s {
		if isInvisible(r) {
			continue
		}
		r = toSimplified(r)
		if isSeparator(r) {
			if pendingSep < 0 {
				pendingSep = r
			}
			continue
		}
		if pendingSep >= 0 {
			if !(isHan(prev) && isHan(r)) && prev >= 0 {
				if pendingSep != prev {
					b.WriteRune(pendingSep)
					prev, run = pendingSep, 0
				}
			}
			pendingSep = -1
		}
		if r == prev {
			run++
			if !keepRepeat(r, run) {
				continue
			}
		} else {
			run = 1
		}
		b.WriteRune(r)
		prev = r
	}
	// A separator at the end was trimmed by Normalize unless it followed
	// an invisible character; drop it either way.
	return b.String()
}

// isCanonical reports whether Canonical would return s (already
// normalised) unchanged.
func isCanonical(s string) bool {
	prev, run := rune(-1), 0
	for i := 0; i < len(s); {
		var r rune
		if c := s[i]; 0xE4 <= c && c <= 0xE9 && i+2 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 && (c != 0xE4 || s[i+1] >= 0xB8) {
			// A Chinese character (U+4E00-U+9FFF), decoded inline: no
			// separator or invisible character, only its repeats and its
			// traditional form to look at.
			r = rune(c&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F)
			i += 3
			if r == prev || toSimplified(r) != r {
				return false // a repeat of a Chinese character is never kept
			}
			prev, run = r, 1
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == prev {
			run++
		} else {
			run = 1
		}
		if run > 1 && !keepRepeat(r, run) || isInvisible(r) || isSeparator(r) || toSimplified(r) != r {
			return false
		}
		prev = r
	}
	return true
}

// keepRepeat reports whether the n-th (n ≥ 2) consecutive r is kept.
func keepRepeat(r rune, n int) bool {
	switch {
	case '0' <= r && r <= '9':
		return true
	case 'a' <= r && r <= 'z':
		return n <= 2
	}
	return false
}

// isSeparator reports whether r is a character people put inside a word
// to split it (for emphasis or to dodge a filter).
func isSeparator(r rune) bool {
	switch r {
	case ' ', '.', '-', '_', '*', '·', '/', '|', '~', '、', '…', '\u30fb':
		return true
	}
	return false
}

// isInvisible reports whether r is a zero-width or format character that
// shows nothing: zero-width spaces and joiners, marks, word joiners, the
// byte-order mark, soft hyphens and variation selectors.
func isInvisible(r rune) bool {
	switch {
	case r < 0xAD:
		return false
	case r == 0xAD, 0x200B <= r && r <= 0x200F, 0x202A <= r && r <= 0x202E, 0x2060 <= r && r <= 0x2064,
		r == 0xFEFF, 0xFE00 <= r && r <= 0xFE0F:
		return true
	}
	return false
}

// isHan reports whether r is a common Chinese character.
func isHan(r rune) bool { return 0x4E00 <= r && r <= 0x9FFF }

// toSimplified maps a traditional character of the table to its
// simplified form and returns every other rune as it is.
func toSimplified(r rune) rune {
	s, _ := hanzi.Simplify(r)
	return s
}
