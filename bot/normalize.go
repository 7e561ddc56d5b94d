package bot

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Normalize returns text in the form rules, keywords and the intent
// classifier compare; see normalize.
func Normalize(s string) string { return normalize(s) }

// normalize returns text in the form in which customers' messages and
// script keywords are compared, so that what a customer types on a phone
// keyboard matches what staff typed in a script:
//
//   - full-width letters, digits, punctuation and spaces become half-width
//     ("ＶＩＰ１" → "VIP1", "？" → "?", U+3000 → " "), and half-width
//     katakana full-width, as golang.org/x/text/width.Fold does;
//   - letters become lower-case;
//   - spaces, punctuation, symbols (emoji included), control and format
//     characters are trimmed from both ends ("【签到】" → "签到",
//     "  营业时间？" → "营业时间");
//   - each inner run of white space becomes one space.
//
// Text already in that form, the common case, is returned without
// allocating.
func normalize(s string) string {
	if isNormal(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); {
		var r rune
		size := 3
		if isCJKAt(s, i) {
			r = -1 // kept as it is: no width or case variant, not a space
		} else {
			r, size = utf8.DecodeRuneInString(s[i:])
			r = foldRune(r)
			if unicode.IsSpace(r) {
				space = true
				i += size
				continue
			}
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		if r < 0 {
			b.WriteString(s[i : i+3])
		} else {
			b.WriteRune(r)
		}
		i += size
	}
	return strings.TrimFunc(b.String(), isTrimmable)
}

// isCJKAt reports whether s holds a CJK Unified Ideograph at byte i,
// recognised from its UTF-8 (U+4E00 = E4 B8 80 to U+9FFF = E9 BF BF)
// without decoding: most of a Chinese message, and nothing to fold.
func isCJKAt(s string, i int) bool {
	c := s[i]
	return 0xE4 <= c && c <= 0xE9 && i+2 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 && (c != 0xE4 || s[i+1] >= 0xB8)
}

// foldRune maps r to half-width (half-width katakana to full-width) and
// lower case.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	if isCJKIdeograph(r) {
		return r
	}
	if f := width.LookupRune(r).Folded(); f != 0 {
		r = f
	}
	return unicode.ToLower(r)
}

// isTrimmable reports whether r is dropped from either end of a
// normalised text.
func isTrimmable(r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		// Every ASCII character but letters and digits is a space, a
		// control, punctuation or a symbol.
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	case isCJKIdeograph(r):
		return false // spare the Unicode table searches below
	}
	return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) ||
		unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Variation_Selector)
}

// isNormal reports whether normalize(s) == s.
func isNormal(s string) bool {
	if s == "" {
		return true
	}
	prevSpace := false
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case 'A' <= c && c <= 'Z', '\t' <= c && c <= '\r':
				return false
			case c == ' ':
				if prevSpace {
					return false
				}
				prevSpace = true
			default:
				prevSpace = false
			}
			i++
			continue
		}
		prevSpace = false
		// CJK Unified Ideographs, most of a Chinese message, have no width
		// or case variants; recognising their UTF-8 (U+4E00 = E4 B8 80 to
		// U+9FFF = E9 BF BF) without decoding halves the time of a
		// Chinese message.
		if isCJKAt(s, i) {
			i += 3
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == utf8.RuneError && size == 1 || unicode.IsSpace(r) || foldRune(r) != r {
			return false
		}
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	return !isTrimmable(first) && !isTrimmable(last)
}

// isCJKIdeograph reports whether r is in the CJK Unified Ideographs block,
// which holds the common Chinese characters.
func isCJKIdeograph(r rune) bool { return 0x4E00 <= r && r <= 0x9FFF }
