package risk

import (
	"slices"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/siyu-bot/siyu/bot/internal/hanzi"
)

// folded is a message in the form lexicons and the number detectors
// match: Fold's output plus, for each output byte, where the rune that
// produced it lies in the input, so a match is shown to staff as the
// customer wrote it ("加 我 v 信", not "加我v信").
type folded struct {
	text []byte
	// start and end are the input byte span of the rune that produced
	// each byte of text.
	start, end []int32
	// cut marks output bytes preceded by a strong separator (，。；：!?
	// and the like, or a line break) in the input: digit runs end there,
	// so "29，13800138000" is a price and a phone, not one number.
	cut []bool
	// gap marks output bytes preceded by any dropped input character (a
	// space, a dash, a strong separator): where a digit run may join two
	// numbers ("房间3 13812345678"), findPII also tries its pieces.
	gap []bool
	// last is the rune text ends with (-1: none yet), kept rather than
	// decoded again for every rune added.
	last rune
}

func (f *folded) reset() {
	f.text, f.start, f.end, f.cut, f.gap = f.text[:0], f.start[:0], f.end[:0], f.cut[:0], f.gap[:0]
	f.last = -1
}

// Fold returns s in the form risk lexicons are matched in, with the
// evasions customers use to slip words past filters undone:
//
//   - bot.Normalize's folding: full-width to half-width, lower case;
//   - compatibility forms (NFKC): circled, parenthesised and
//     mathematical letters and digits, roman numerals (ⓥ ① ⑴ 𝐯 ⅴ → v 1 1 v v);
//   - Chinese, financial and dingbat digits (一三八, 壹叁捌, ❶, ➀) to 0-9;
//   - traditional characters to simplified (微信號 → 微信号);
//   - look-alike and homophone characters to one (薇 威 徾 維 → 微,
//     芯 → 信, Greek and Cyrillic look-alikes of v, x, w to ASCII);
//   - "+" and "➕" to 加 (+v, ➕vx);
//   - spaces, punctuation, symbols, emoji, zero-width and combining
//     characters dropped, so separators inside a word go ("加 我 v 信",
//     "加🌟微🌟信", "微\u200b信" → 加我v信, 加微信, 微信);
//   - a Chinese character repeated in a row kept once (加加微微信信 → 加微信).
//
// Lexicon terms go through the same folding, so a term and a message
// that differ only by these evasions compare equal.
//
// nlp.Canonical (bot/nlp) does part of this (width, traditional
// characters, separators) for the intent model; once it is merged, Fold
// could build on it and keep only the risk-specific look-alike and digit
// folding.
func Fold(s string) string {
	var f folded
	foldInto(&f, s)
	return string(f.text)
}

// foldInto folds s into f (reset first), recording spans.
func foldInto(f *folded, s string) {
	f.reset()
	// The folded text is about as long as s ("+" grows, spaces go).
	f.text, f.start, f.end = slices.Grow(f.text, len(s)), slices.Grow(f.start, len(s)), slices.Grow(f.end, len(s))
	f.cut, f.gap = slices.Grow(f.cut, len(s)), slices.Grow(f.gap, len(s))
	cut, gap := false, false
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
				f.add(rune(c), i-1, i, cut, gap)
				cut, gap = false, false
			case 'A' <= c && c <= 'Z':
				f.add(rune(c+'a'-'A'), i-1, i, cut, gap)
				cut, gap = false, false
			case c == '+':
				f.add('加', i-1, i, cut, gap)
				cut, gap = false, false
			default:
				cut = cut || isStrongSeparator(rune(c))
				gap = true
			}
			continue
		}
		var r rune
		size := 3
		if c >= 0xE1 && c <= 0xEF && c != 0xED && i+2 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 {
			// Three bytes, valid whatever the continuation bytes (E0 and
			// ED constrain theirs): Chinese and full-width characters.
			r = rune(c&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F)
		} else {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		from, to := i, i+size
		i = to
		if isCJK(r) {
			// No compatibility form: skip the NFKC lookup.
			if out, ok := foldRune(r); ok {
				f.add(out, from, to, cut, gap)
				cut, gap = false, false
			} else {
				gap = true
			}
			continue
		}
		if 0xFF01 <= r && r <= 0xFF5E {
			// Full-width ASCII (，！Ｖ１): NFKC's decomposition is the
			// ASCII character, without the table lookup.
			if out, ok := foldRune(r - 0xFEE0); ok {
				f.add(out, from, to, cut, gap)
				cut, gap = false, false
			} else {
				cut = cut || isStrongSeparator(r-0xFEE0)
				gap = true
			}
			continue
		}
		// Compatibility decomposition first: ① → 1, ⓥ → v, 𝐯 → v,
		// ㈠ → (一). Each rune of the decomposition is folded in turn.
		if p := norm.NFKC.PropertiesString(s[from:to]); len(p.Decomposition()) > 0 {
			d := p.Decomposition()
			for j := 0; j < len(d); {
				dr, ds := utf8.DecodeRune(d[j:])
				j += ds
				if out, ok := foldRune(dr); ok {
					f.add(out, from, to, cut, gap)
					cut, gap = false, false
				} else {
					cut = cut || isStrongSeparator(dr)
					gap = true
				}
			}
			continue
		}
		if out, ok := foldRune(r); ok {
			f.add(out, from, to, cut, gap)
			cut, gap = false, false
		} else {
			cut = cut || isStrongSeparator(r)
			gap = true
		}
	}
}

func (f *folded) add(r rune, from, to int, cut, gap bool) {
	n := len(f.text)
	// A repeated Chinese character is one ("加加微微信信" → 加微信): the
	// stutter that splits a word without a separator. Digits and letters
	// repeat in numbers and ids, so they stay.
	if r == f.last && n >= 3 && !cut && isCJK(r) {
		for i := n - utf8.RuneLen(r); i < n; i++ {
			f.end[i] = int32(to)
		}
		return
	}
	f.last = r
	if 0x800 <= r && r <= 0xFFFF && (r < 0xD800 || r > 0xDFFF) {
		// Three bytes, most of a Chinese message: one append each.
		s, e := int32(from), int32(to)
		f.text = append(f.text, byte(0xE0|r>>12), byte(0x80|r>>6&0x3F), byte(0x80|r&0x3F))
		f.start = append(f.start, s, s, s)
		f.end = append(f.end, e, e, e)
		f.cut = append(f.cut, cut, false, false)
		f.gap = append(f.gap, gap, false, false)
		return
	}
	f.text = utf8.AppendRune(f.text, r)
	f.start = append(f.start, int32(from))
	f.end = append(f.end, int32(to))
	f.cut = append(f.cut, cut)
	f.gap = append(f.gap, gap)
	for range len(f.text) - n - 1 { // a rune's other bytes
		f.start = append(f.start, int32(from))
		f.end = append(f.end, int32(to))
		f.cut = append(f.cut, false)
		f.gap = append(f.gap, false)
	}
}

// foldRune folds one rune and reports whether it is kept (letters and
// digits are; separators, punctuation, symbols and marks are not).
func foldRune(r rune) (rune, bool) {
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			return r, true
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A', true
		case r == '+':
			return '加', true
		}
		return 0, false
	}
	if d, ok := digitOf(r); ok {
		return '0' + d, true
	}
	if m, ok := lookAlike(r); ok {
		return m, true
	}
	if m, ok := hanzi.Simplify(r); ok {
		if l, ok := lookAlike(m); ok {
			return l, true
		}
		return m, true
	}
	if isCJK(r) {
		return r, true
	}
	if unicode.IsLetter(r) {
		return unicode.ToLower(r), true
	}
	if unicode.IsDigit(r) {
		// Other scripts' decimal digits (Arabic-Indic, Devanagari…):
		// every Unicode Nd block runs 0-9 from a code point ending in 0
		// or 6; unicode.Digit tables don't give values, this does.
		for z := r; z > r-10; z-- {
			if !unicode.IsDigit(z - 1) {
				return '0' + (r - z), true
			}
		}
	}
	return 0, false
}

// digitOf maps the Chinese, financial, dingbat and other digit forms
// that NFKC leaves alone to their value.
func digitOf(r rune) (rune, bool) {
	switch r {
	case '零', '〇', '○', '洞': // 洞 is 0 in radio and phone-number speech
		return 0, true
	case '一', '壹', '幺', '弌':
		return 1, true
	case '二', '贰', '貳', '两', '兩', '弍':
		return 2, true
	case '三', '叁', '參', '叄', '弎':
		return 3, true
	case '四', '肆':
		return 4, true
	case '五', '伍':
		return 5, true
	case '六', '陆', '陸':
		return 6, true
	case '七', '柒':
		return 7, true
	case '八', '捌':
		return 8, true
	case '九', '玖':
		return 9, true
	}
	switch {
	case 0x2776 <= r && r <= 0x277E: // ❶-❾
		return (r - 0x2776 + 1), true
	case 0x2780 <= r && r <= 0x2788: // ➀-➈
		return (r - 0x2780 + 1), true
	case 0x278A <= r && r <= 0x2792: // ➊-➒
		return (r - 0x278A + 1), true
	case 0x24F5 <= r && r <= 0x24FD: // ⓵-⓽
		return (r - 0x24F5 + 1), true
	case r == 0x24FF, r == 0x24EA, r == 0x1F10B, r == 0x1F10C: // ⓿ ⓪ 🄋 🄌
		return 0, true
	}
	return 0, false
}

// lookAlike folds characters that customers swap in to dodge filters
// onto the one a lexicon is written with: homophones and look-alikes of
// 微 and 信 (薇信 威信 徾信 維信 V芯), of 加 (伽 嘉 ➕), Greek and
// Cyrillic letters that look like Latin ones, and variant spellings
// (帐号 → 账号). Both sides of a match are folded, so an innocent word
// that folds with them ("威胁" → "微胁") still matches only itself.
func lookAlike(r rune) (rune, bool) {
	switch r {
	case '薇', '威', '徾', '維', '维', '嶶', '溦', '媺', '巍', '葳':
		return '微', true
	case '芯', '訫', '伩', '㐰':
		return '信', true
	case '伽', '嘉', '枷', '珈', '➕', '＋', '﹢', '✚', '✙':
		return '加', true
	case 'ν', 'ѵ', 'ʋ', 'ⅴ', '√', '✓', '✔', 'ⓥ':
		return 'v', true
	case 'х', 'χ', '×', '✗', '✘', 'ⅹ', '✕', '✖':
		return 'x', true
	case 'ω', 'ш', 'ɯ', 'ա':
		return 'w', true
	case 'о', 'ο':
		return 'o', true
	case 'а', 'α':
		return 'a', true
	case 'е', 'ε':
		return 'e', true
	case 'с':
		return 'c', true
	case 'р', 'ρ':
		return 'p', true
	case 'к', 'κ':
		return 'k', true
	case 'у':
		return 'y', true
	case 'ԛ':
		return 'q', true
	// Variants the character table leaves apart, since each is a
	// standard simplified character of its own: 帐 (帳) is also written
	// for 账 (帐号, 转帐, Taiwan's 帳號, 轉帳), and 著 for 着 (等著).
	case '帐':
		return '账', true
	case '著':
		return '着', true
	}
	return r, false
}

// isStrongSeparator reports whether r ends a number: sentence and clause
// punctuation and line breaks, but not the spaces, dashes and dots
// people put inside phone and card numbers.
func isStrongSeparator(r rune) bool {
	switch r {
	case ',', ';', ':', '!', '?', '/', '\\', '|', '\n', '\r', '，', '。', '；', '：', '！', '？', '、', '\t', '~', '～', '=', '(', ')', '（', '）', '【', '】', '[', ']', '¥', '$':
		return true
	}
	return false
}

// isCJK reports whether r is a CJK unified ideograph (basic block or
// extension A), the bulk of Chinese text.
func isCJK(r rune) bool { return 0x4E00 <= r && r <= 0x9FFF || 0x3400 <= r && r <= 0x4DBF }
