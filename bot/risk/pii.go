package risk

import (
	"bytes"
	"strings"
	"time"
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
		if kind, masked := classifyNumber(t[i:j], now); kind != "" && !(kind != KindIDCard && afterOrderWord(t[:i])) {
			start, end := int(f.start[i]), int(f.end[j-1])
			hits = append(hits, Hit{Category: PII, Severity: severityOf(kind), Source: SourcePII, Kind: kind, Evidence: masked, Start: start, End: end})
		}
		i = j
	}
	if strings.IndexByte(orig, '@') >= 0 || strings.Contains(orig, "＠") {
		hits = findEmails(orig, hits)
	}
	return findPassports(orig, hits)
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
// found in it replaced by its masked form: what is stored for staff to
// read.
func MaskText(text string, hits []Hit) string {
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

// MaskPII returns text with the personal data the detectors find in it
// masked, as risk events store it (138****8000): for lines kept to train
// on, which must never hold a customer's numbers.
func (s *Scanner) MaskPII(text string) string {
	if text == "" {
		return text
	}
	f := s.pool.Get().(*folded)
	defer s.pool.Put(f)
	foldInto(f, text)
	return MaskText(text, findPII(f, text, s.cfg.Now(), nil))
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
