// Package flatxml reads the flat XML Tencent's callbacks use,
// <xml><Name><![CDATA[value]]></Name><Num>1</Num>…</xml>, without
// encoding/xml's per-byte token machinery.
//
// Written by hand because parsing is the largest cost of a callback
// (encoding/xml copies a 300-byte <Encrypt> one byte at a time) and no
// well-kept library reads this shape faster. It handles only the flat
// shape; anything else (attributes, nested elements, comments) is
// reported as ErrNotFlat so the caller can fall back to encoding/xml.
package flatxml

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"
)

// ErrNotFlat means the document is not of the flat shape; parse it with
// encoding/xml instead.
var ErrNotFlat = errors.New("flatxml: not a flat document")

// Scan calls fn for each child element of the root, with its name and its
// text (CDATA sections joined, entities decoded). The slices are valid
// only during the call unless the text needed decoding, in which case it
// is a fresh copy.
func Scan(doc []byte, fn func(name, value []byte)) error {
	p := skipSpace(doc, 0)
	if p < len(doc) && bytes.HasPrefix(doc[p:], []byte("<?xml")) {
		end := bytes.Index(doc[p:], []byte("?>"))
		if end < 0 {
			return ErrNotFlat
		}
		p = skipSpace(doc, p+end+2)
	}
	root, p, ok := openTag(doc, p)
	if !ok {
		return ErrNotFlat
	}
	for {
		p = skipSpace(doc, p)
		if p+1 >= len(doc) || doc[p] != '<' {
			return ErrNotFlat
		}
		if doc[p+1] == '/' { // the root's end tag
			name, q, ok := closeTag(doc, p)
			if !ok || !bytes.Equal(name, root) || skipSpace(doc, q) != len(doc) {
				return ErrNotFlat
			}
			return nil
		}
		name, q, ok := openTag(doc, p)
		if !ok {
			return ErrNotFlat
		}
		value, q, ok := text(doc, q)
		if !ok {
			return ErrNotFlat
		}
		end, q, ok := closeTag(doc, q)
		if !ok || !bytes.Equal(end, name) {
			return ErrNotFlat
		}
		fn(name, value)
		p = q
	}
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\n' || b[p] == '\r' || b[p] == '\t') {
		p++
	}
	return p
}

// openTag reads <Name> at p: no attributes, no self-closing.
func openTag(b []byte, p int) (name []byte, next int, ok bool) {
	if p >= len(b) || b[p] != '<' {
		return nil, 0, false
	}
	q := p + 1
	if q >= len(b) || !isNameStart(b[q]) {
		return nil, 0, false
	}
	for q < len(b) && isNameByte(b[q]) {
		q++
	}
	if q >= len(b) || b[q] != '>' {
		return nil, 0, false
	}
	return b[p+1 : q], q + 1, true
}

func closeTag(b []byte, p int) (name []byte, next int, ok bool) {
	if p+2 >= len(b) || b[p] != '<' || b[p+1] != '/' {
		return nil, 0, false
	}
	q := p + 2
	for q < len(b) && isNameByte(b[q]) {
		q++
	}
	if q >= len(b) || b[q] != '>' {
		return nil, 0, false
	}
	return b[p+2 : q], q + 1, true
}

// Names are ASCII, with no namespace prefix: Tencent's elements are.
func isNameStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isNameByte(c byte) bool {
	return isNameStart(c) || c == '-' || c == '.' || '0' <= c && c <= '9'
}

var (
	cdataOpen  = []byte("<![CDATA[")
	cdataClose = []byte("]]>")
)

// text reads an element's content up to its end tag: character data and
// CDATA sections, but no child elements.
func text(b []byte, p int) (value []byte, next int, ok bool) {
	if value, next, ok := single(b, p); ok {
		return value, next, true
	}
	var out []byte
	for p < len(b) {
		switch {
		case bytes.HasPrefix(b[p:], cdataOpen):
			start := p + len(cdataOpen)
			end := bytes.Index(b[start:], cdataClose)
			if end < 0 {
				return nil, 0, false
			}
			if !plainChars(b[start : start+end]) {
				return nil, 0, false
			}
			out = append(out, b[start:start+end]...)
			p = start + end + len(cdataClose)
		case b[p] == '<':
			if p+1 < len(b) && b[p+1] == '/' {
				return out, p, true
			}
			return nil, 0, false // a child element, comment or PI
		default:
			q := p
			for q < len(b) && b[q] != '<' && b[q] != '&' {
				q++
			}
			if !plainChars(b[p:q]) || bytes.Contains(b[p:q], cdataClose) {
				return nil, 0, false
			}
			out = append(out, b[p:q]...)
			p = q
			if p < len(b) && b[p] == '&' {
				r, n, ok := entity(b[p:])
				if !ok {
					return nil, 0, false
				}
				out = utf8.AppendRune(out, r)
				p += n
			}
		}
	}
	return nil, 0, false
}

// single is text's fast path, the common case, which needs no copy: the
// content is exactly one CDATA section (Tencent's strings) or one run of
// plain characters (its numbers) right before the end tag. Anything else,
// bad input included, is left to text's general loop.
func single(b []byte, p int) (value []byte, next int, ok bool) {
	start, end, q := p, p, p
	if bytes.HasPrefix(b[p:], cdataOpen) {
		start = p + len(cdataOpen)
		i := bytes.Index(b[start:], cdataClose)
		if i < 0 {
			return nil, 0, false
		}
		end = start + i
		q = end + len(cdataClose)
	} else {
		for end < len(b) && b[end] != '<' && b[end] != '&' {
			end++
		}
		if bytes.Contains(b[start:end], cdataClose) {
			return nil, 0, false
		}
		q = end
	}
	if q+1 >= len(b) || b[q] != '<' || b[q+1] != '/' || !plainChars(b[start:end]) {
		return nil, 0, false
	}
	return b[start:end], q, true
}

// entity decodes &lt; &gt; &amp; &quot; &apos; &#N; &#xN; at the start of b.
func entity(b []byte) (r rune, n int, ok bool) {
	end := bytes.IndexByte(b, ';')
	if end < 2 || end > 12 {
		return 0, 0, false
	}
	switch name := string(b[1:end]); name {
	case "lt":
		return '<', end + 1, true
	case "gt":
		return '>', end + 1, true
	case "amp":
		return '&', end + 1, true
	case "quot":
		return '"', end + 1, true
	case "apos":
		return '\'', end + 1, true
	default:
		if name[0] != '#' {
			return 0, 0, false
		}
		base, digits := 10, name[1:]
		if len(digits) > 0 && digits[0] == 'x' {
			base, digits = 16, digits[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil || !xmlChar(rune(v)) {
			return 0, 0, false
		}
		return rune(v), end + 1, true
	}
}

// xmlChar reports whether r is allowed in an XML document.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || 0x20 <= r && r <= 0xD7FF || 0xE000 <= r && r <= 0xFFFD || 0x10000 <= r && r <= 0x10FFFF
}

// plainChars reports whether b is valid UTF-8 with no control characters
// and no carriage returns (which XML normalises; encoding/xml handles
// those documents).
func plainChars(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\t' {
			return false
		}
	}
	if !utf8.Valid(b) {
		return false
	}
	// U+FFFE and U+FFFF are valid UTF-8 but not XML characters.
	return !bytes.Contains(b, []byte("\uFFFE")) && !bytes.Contains(b, []byte("\uFFFF"))
}
