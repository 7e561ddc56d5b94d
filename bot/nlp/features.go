package nlp

import "unicode/utf8"

// maxFeatureRunes bounds the text a message is read from: the start of a
// long message says what it is about, and the bound keeps Classify's cost
// flat.
const maxFeatureRunes = 256

// Feature hashing: a message is read as a sequence of units (a Chinese
// character, a Latin word, a number, a punctuation mark or emoji), and
// each unit, pair and triple of consecutive units, with the message's
// start and end as units too, is hashed to 32 bits. Latin words add
// their character trigrams, so pinyin and English typos still share
// features. The model keeps one embedding row per hash seen in training;
// the hash space is large enough that collisions do not matter.
const (
	unitBOS  uint32 = 0x9E3779B9
	unitEOS  uint32 = 0x7F4A7C15
	saltUni  uint32 = 0x01000193
	saltBi   uint32 = 0x85EBCA6B
	saltTri  uint32 = 0xC2B2AE35
	saltWord uint32 = 0x27D4EB2F
)

// mix is murmur3's finaliser: a cheap, well-spread 32-bit hash step.
func mix(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85EBCA6B
	h ^= h >> 13
	h *= 0xC2B2AE35
	h ^= h >> 16
	return h
}

func combine(a, b uint32) uint32 { return mix(a*0x01000193 ^ b) }

// appendFeatures appends the feature hashes of text (in Canonical form)
// to dst and returns it.
func appendFeatures(dst []uint32, text string) []uint32 {
	p1, p2 := unitBOS, uint32(0) // the previous two units; 0: none
	n := 0
	for i := 0; i < len(text) && n < maxFeatureRunes; {
		c := text[i]
		var u uint32 // the unit at i
		word := ""   // a Latin word's letters, whose trigrams follow its unit
		switch {
		case c == ' ':
			i++
			continue
		case 'a' <= c && c <= 'z':
			j := i
			for j < len(text) && 'a' <= text[j] && text[j] <= 'z' {
				j++
			}
			word = text[i:j]
			h := uint32(2166136261)
			for k := 0; k < len(word); k++ {
				h = (h ^ uint32(word[k])) * 16777619
			}
			u = mix(h ^ 0x5bd1e995)
			n += j - i
			i = j
		case '0' <= c && c <= '9':
			j := i
			for j < len(text) && '0' <= text[j] && text[j] <= '9' {
				j++
			}
			// Short numbers (1, 11, 30) are read as they are; longer ones
			// by their length class: an order number is an order number.
			switch d := text[i:j]; {
			case len(d) <= 2:
				u = uint32(d[0])
				if len(d) == 2 {
					u = u<<8 | uint32(d[1])
				}
				u |= 0x4000_0000
			case len(d) <= 5:
				u = 0x4100_0000
			default:
				u = 0x4200_0000
			}
			n += j - i
			i = j
		case 0xE1 <= c && c <= 0xEF && c != 0xED && i+2 < len(text) && text[i+1]&0xC0 == 0x80 && text[i+2]&0xC0 == 0x80:
			// Three bytes, valid whatever the continuation bytes (E0 and
			// ED constrain theirs): a Chinese character, decoded inline.
			u = (uint32(c&0x0F)<<12 | uint32(text[i+1]&0x3F)<<6 | uint32(text[i+2]&0x3F)) | 0x8000_0000
			n++
			i += 3
		default:
			r, size := utf8.DecodeRuneInString(text[i:])
			u = uint32(r) | 0x8000_0000
			n++
			i += size
		}
		// The unit, the pair and the triple it ends.
		dst = append(dst, combine(saltUni, u), combine(combine(saltBi, p1), u))
		if p2 != 0 {
			dst = append(dst, combine(combine(combine(saltTri, p2), p1), u))
		}
		p2, p1 = p1, u
		// Character trigrams of a word with its boundaries.
		if len(word) > 2 {
			prev2, prev1 := uint32('<'), uint32(word[0])
			for k := 1; k <= len(word); k++ {
				cur := uint32('>')
				if k < len(word) {
					cur = uint32(word[k])
				}
				dst = append(dst, combine(saltWord, prev2<<16|prev1<<8|cur))
				prev2, prev1 = prev1, cur
			}
		}
	}
	if p1 != unitBOS { // the end, after at least one unit
		dst = append(dst, combine(combine(saltBi, p1), unitEOS))
		if p2 != 0 {
			dst = append(dst, combine(combine(combine(saltTri, p2), p1), unitEOS))
		}
	}
	return dst
}
