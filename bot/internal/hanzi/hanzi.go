// Package hanzi holds the traditional→simplified Chinese character table
// that bot/risk's Fold and bot/nlp's Canonical both fold with, so that the
// two capabilities see the same characters as equal and neither imports
// the other. The table is generated from t2s.txt, a plain list that says
// where the pairs come from.
package hanzi

import "math/bits"

//go:generate go run gen.go

// Simplify returns the simplified form of r and true when r is a
// traditional character of the table, and r and false otherwise. It is
// one bitset probe for the common case (not traditional) and a popcount
// more for a hit, allocation-free: the folders call it on every Chinese
// character of every message.
func Simplify(r rune) (rune, bool) {
	i := uint(r) - tradFirst // a rune below tradFirst wraps far out of range
	if i >= uint(len(tradBits))*64 {
		return r, false
	}
	w := tradBits[i/64]
	bit := uint64(1) << (i % 64)
	if w&bit == 0 {
		return r, false
	}
	return rune(simpOf[int(tradRank[i/64])+bits.OnesCount64(w&(bit-1))]), true
}
