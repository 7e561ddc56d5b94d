package risk

import (
	"bytes"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Personal-data detectors. Numbers are read from the folded text, where
// Chinese and circled digits are already 0-9 and the spaces, dashes and
// dots inside a number are gone ("一三八 0013-8000" → 13800138000); a
// number ends at a letter, a Chinese character or clause punctuation.
// Checksums (ID card, Luhn) and prefixes keep order numbers, prices and
// phone models from being taken for personal data.

// severityOf is each PII kind's severity: numbers that open a bank
// account or a loan weigh most.
func severityOf(kind string) Severity {
	switch kind {
	case KindIDCard, KindBankCard, KindPassport:
		return High
	case KindMobile:
		return Medium
	}
	return Low
}

// findPII appends the personal data found in f (folded from orig) and in
// orig itself (emails, passports: their letters and dots matter).
func findPII(f *folded, orig string, now time.Time, hits []Hit) []Hit {
	t := f.text
	for i := 0; i < len(t) && len(hits) < maxHits; {
		if !isDigit(t[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(t) && isDigit(t[j]) && !f.cut[j] {
			j++
		}
		// An ID card's check digit may be X.
		if j-i == 17 && j < len(t) && t[j] == 'x' && !f.cut[j] {
			j++
		}
		if kind, masked := classifyNumber(t[i:j], now); kind != "" {
			if kind == KindIDCard || !afterOrderWord(t[:i]) {
				hits = append(hits, numberHit(f, i, j, kind, masked))
			}
		} else {
			hits = findInPieces(f, i, j, now, hits)
		}
		i = j
	}
	if strings.IndexByte(orig, '@') >= 0 || strings.Contains(orig, "＠") {
		hits = findEmails(orig, hits)
	}
	return findPassports(orig, hits)
}

func numberHit(f *folded, i, j int, kind, masked string) Hit {
	return Hit{Category: PII, Severity: severityOf(kind), Source: SourcePII, Kind: kind, Evidence: masked, Start: int(f.start[i]), End: int(f.end[j-1])}
}

// maxPieces bounds how many separated pieces of one digit run
// findInPieces combines: a phone number or a card is at most five
// groups, and a run of hundreds of pieces would cost their square.
const maxPieces = 12

// findInPieces looks for personal numbers inside the digit run t[i:j]
// that is none as a whole, where the customer separated its pieces
// ("房间3 13812345678" folds to one 12-digit run): the longest span of
// whole pieces that is a number, from the left.
func findInPieces(f *folded, i, j int, now time.Time, hits []Hit) []Hit {
	var bounds [maxPieces + 1]int
	bounds[0] = i
	n := 1
	for k := i + 1; k < j && n < maxPieces; k++ {
		if f.gap[k] {
			bounds[n] = k
			n++
		}
	}
	if n == 1 {
		return hits // no separator inside: nothing to split
	}
	bounds[n] = j
	for s := 0; s < n && len(hits) < maxHits; {
		found := false
		for e := n; e > s; e-- {
			from, to := bounds[s], bounds[e]
			if to-from < 10 || to-from > 19 { // the lengths classifyNumber knows
				continue
			}
			kind, masked := classifyNumber(f.text[from:to], now)
			if kind == "" || kind != KindIDCard && afterOrderWord(f.text[:from]) {
				continue
			}
			hits = append(hits, numberHit(f, from, to, kind, masked))
			s, found = e, true
			break
		}
		if !found {
			s++
		}
	}
	return hits
}

// classifyNumber says which kind of personal number d is, with its
// masked form, or "" for none.
func classifyNumber(d []byte, now time.Time) (kind, masked string) {
	n := len(d)
	switch {
	case n == 18 && validIDCard(d, now):
		return KindIDCard, mask(d, 3, 2)
	case n == 11 && d[0] == '1' && '3' <= d[1] && d[1] <= '9':
		return KindMobile, mask(d, 3, 4)
	case n == 13 && d[0] == '8' && d[1] == '6' && d[2] == '1' && '3' <= d[3] && d[3] <= '9':
		return KindMobile, mask(d[2:], 3, 4) // +86 country code
	case validBankCard(d):
		return KindBankCard, mask(d, 4, 4)
	case validLandline(d):
		return KindLandline, mask(d, 3, 2)
	}
	return "", ""
}

// validIDCard reports whether d is a mainland resident ID number
// (GB 11643-1999): a province code, a birth date that exists and is not
// in the future, a sequence number and the ISO 7064 MOD 11-2 check
// character.
func validIDCard(d []byte, now time.Time) bool {
	if len(d) != 18 {
		return false
	}
	for _, c := range d[:17] {
		if !isDigit(c) {
			return false
		}
	}
	switch p := int(d[0]-'0')*10 + int(d[1]-'0'); {
	case 11 <= p && p <= 15, 21 <= p && p <= 23, 31 <= p && p <= 37, 41 <= p && p <= 46,
		50 <= p && p <= 54, 61 <= p && p <= 65, p == 71, p == 81, p == 82, p == 83:
	default:
		return false
	}
	year, month, day := atoi(d[6:10]), atoi(d[10:12]), atoi(d[12:14])
	birth := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if year < 1900 || birth.Year() != year || int(birth.Month()) != month || birth.Day() != day || birth.After(now) {
		return false
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(d[i]-'0') * w
	}
	return d[17] == "10x98765432"[sum%11]
}

// validBankCard reports whether d is a payment card number: 16 to 19
// digits passing the Luhn check, with an issuer prefix of the cards
// Chinese customers carry (UnionPay 62, Visa 4, Mastercard 5, the 95…
// debit cards of the big banks). Visa and Mastercard numbers are 16
// digits; the 18- and 19-digit order numbers of e-commerce sites that
// pass Luhn by chance do not start with 62 or 95.
func validBankCard(d []byte) bool {
	n := len(d)
	if n < 16 || n > 19 {
		return false
	}
	switch {
	case d[0] == '6' && d[1] == '2', d[0] == '9' && d[1] == '5':
	case (d[0] == '4' || d[0] == '5') && n == 16:
	default:
		return false
	}
	sum := 0
	for i := range n {
		v := int(d[n-1-i] - '0')
		if i%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// validLandline reports whether d is a landline number with its area
// code: 010 and 02x with 8 digits, 0xxx with 7 or 8; a subscriber number
// starts with 2-8.
func validLandline(d []byte) bool {
	n := len(d)
	if n < 10 || n > 12 || d[0] != '0' || d[1] == '0' {
		return false
	}
	area := 4
	if d[1] == '1' || d[1] == '2' {
		area = 3
	}
	sub := n - area
	if area == 3 && sub != 8 || area == 4 && sub != 7 && sub != 8 {
		return false
	}
	return '2' <= d[area] && d[area] <= '8'
}

// afterOrderWord reports whether the few characters before a number (in
// folded text) name an order, a waybill or another non-personal number:
// order, waybill and pickup numbers, member cards, a card's last digits.
func afterOrderWord(before []byte) bool {
	orderWords := [...]string{"订单", "单号", "运单", "编号", "order", "尾号", "快递", "物流", "取件码", "取餐码", "券码", "兑换码", "会员卡", "卡号后"}
	const window = 15 // bytes: five Chinese characters, "订单号是" and a colon
	if len(before) > window {
		before = before[len(before)-window:]
	}
	for _, w := range orderWords {
		if bytes.Contains(before, []byte(w)) {
			return true
		}
	}
	return false
}

// findEmails appends the email addresses in s, whose @ may be
// full-width.
func findEmails(s string, hits []Hit) []Hit {
	for at := 0; at < len(s) && len(hits) < maxHits; at++ {
		size := 0
		switch {
		case s[at] == '@':
			size = 1
		case strings.HasPrefix(s[at:], "＠"):
			size = len("＠")
		default:
			continue
		}
		i := at
		for i > 0 && isLocalChar(s[i-1]) {
			i--
		}
		j := at + size
		for j < len(s) && isDomainChar(s[j]) {
			j++
		}
		for j > at+size && (s[j-1] == '.' || s[j-1] == '-') {
			j--
		}
		domain := s[at+size : j]
		dot := strings.LastIndexByte(domain, '.')
		if i == at || dot <= 0 || len(domain)-dot-1 < 2 || !isAlphaString(domain[dot+1:]) {
			continue
		}
		masked := strings.ToLower(s[i:i+1] + "***@" + domain)
		hits = append(hits, Hit{Category: PII, Severity: severityOf(KindEmail), Source: SourcePII, Kind: KindEmail, Evidence: masked, Start: i, End: j})
		at = j - 1
	}
	return hits
}

// findPassports appends Chinese passport numbers in s: E or G and eight
// digits, or E, a letter and seven digits, standing alone (not inside a
// longer run of letters and digits such as a product code).
func findPassports(s string, hits []Hit) []Hit {
	for i := 0; i+9 <= len(s) && len(hits) < maxHits; i++ {
		c := s[i]
		if c != 'e' && c != 'g' && c != 'E' && c != 'G' || i > 0 && isAlnum(s[i-1]) {
			continue
		}
		rest := s[i+1 : i+9]
		ok := allDigits(rest) || (c == 'e' || c == 'E') && isASCIILetter(lower(rest[0])) && lower(rest[0]) != 'i' && lower(rest[0]) != 'o' && allDigits(rest[1:])
		if !ok || i+9 < len(s) && isAlnum(s[i+9]) {
			continue
		}
		d := []byte(strings.ToLower(s[i : i+9]))
		hits = append(hits, Hit{Category: PII, Severity: severityOf(KindPassport), Source: SourcePII, Kind: KindPassport, Evidence: mask(d, 2, 2), Start: i, End: i + 9})
		i += 8
	}
	return hits
}

// mask keeps the first keep and last tail characters of d and stars the
// rest.
func mask(d []byte, keep, tail int) string {
	if len(d) <= keep+tail {
		return strings.Repeat("*", len(d))
	}
	return string(d[:keep]) + strings.Repeat("*", len(d)-keep-tail) + string(d[len(d)-tail:])
}

// MaskText returns text with the evidence of every pii hit that Scan
// found in it replaced by its masked form, and every other run of
// MaskDigits or more digits starred: what is stored for staff to read.
func MaskText(text string, hits []Hit) string { return MaskNumbers(maskHits(text, hits)) }

// maskHits returns text with the evidence of every pii hit replaced by
// its masked form.
func maskHits(text string, hits []Hit) string {
	var b strings.Builder
	last := 0
	for _, h := range sortedPII(hits) {
		if h.Start < last || h.End > len(text) {
			continue
		}
		b.WriteString(text[last:h.Start])
		b.WriteString(h.Evidence)
		last = h.End
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// MaskDigits is the shortest run of digits MaskNumbers stars: a
// landline without its area code has 7. Shorter numbers (prices, room
// numbers, quantities) stay readable.
const MaskDigits = 7

// MaskNumbers stars every digit of each run of MaskDigits or more digits
// in s, whatever the detectors made of it: a number they do not
// recognise (joined to another, an unknown format) may still be
// someone's phone. Runs are read as findPII reads them (Chinese and
// full-width digits count; spaces and dashes inside a number do not end
// it; clause punctuation and a masking star do), and each digit is
// starred where the customer wrote it, its separators kept.
func MaskNumbers(s string) string {
	if !mayHoldRun(s) {
		return s
	}
	var f folded
	foldInto(&f, s)
	t := f.text
	var spans [][2]int32 // input spans to star, in order
	for i := 0; i < len(t); {
		if !isDigit(t[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(t) && isDigit(t[j]) && !f.cut[j] && !starBetween(s, &f, j) {
			j++
		}
		if j-i >= MaskDigits {
			for k := i; k < j; k++ {
				if n := len(spans); n > 0 && spans[n-1][0] == f.start[k] {
					continue // one rune folded to several digits (⑽)
				}
				spans = append(spans, [2]int32{f.start[k], f.end[k]})
			}
		}
		i = j
	}
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp[0]])
		b.WriteByte('*')
		last = int(sp[1])
	}
	b.WriteString(s[last:])
	return b.String()
}

// starBetween reports whether a star (a masked digit) lies in s between
// the runes that produced output bytes j-1 and j of f.
func starBetween(s string, f *folded, j int) bool {
	from, to := f.end[j-1], f.start[j]
	return from < to && strings.IndexByte(s[from:to], '*') >= 0
}

// mayHoldRun reports whether s may hold a run of MaskDigits digits: a
// cheap count of the runes that may fold to a digit, which spares most
// evidence (a few Chinese words) its folding.
func mayHoldRun(s string) bool {
	n := 0
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			if isDigit(byte(r)) {
				n++
			}
		case isCJK(r):
			if _, ok := digitOf(r); ok {
				n++
			}
		case !unicode.IsPunct(r) && !unicode.IsSpace(r):
			n += 2 // full-width, circled (⑩ is two) and other scripts' digits
		}
	}
	return n >= MaskDigits
}

// MaskPII returns text with the personal data the detectors find in it
// masked as risk events mask it (138****8000): for lines kept to train
// on, which must never hold a customer's numbers. Unlike MaskText it
// leaves the digit runs the detectors do not recognise to the caller
// (bot/feedback replaces them with a placeholder the models can learn).
func (s *Scanner) MaskPII(text string) string {
	if text == "" {
		return text
	}
	f := s.pool.Get().(*folded)
	defer s.pool.Put(f)
	foldInto(f, text)
	return maskHits(text, findPII(f, text, s.cfg.Now(), nil))
}

func sortedPII(hits []Hit) []Hit {
	var out []Hit
	for _, h := range hits {
		if h.Source == SourcePII {
			out = append(out, h)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Start < out[j-1].Start; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isDigit(c) || isASCIILetter(lower(c)) }
func lower(c byte) byte   { return c | 0x20 }
func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}
func isDomainChar(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

func isAlphaString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isASCIILetter(lower(s[i])) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func atoi(d []byte) int {
	n := 0
	for _, c := range d {
		n = n*10 + int(c-'0')
	}
	return n
}
