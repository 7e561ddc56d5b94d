package bot

import (
	"bytes"
	"math"
	"slices"
)

// Match indexes. Match must answer in about a microsecond however many
// rules staff write, so it cannot try every rule in turn: exact keywords
// and menu keys are looked up in maps, contains keywords are all found in
// one pass over the text (Aho–Corasick), and only patterns are tried one
// by one, and only those of rules ranked above the best match so far.

// noRank is the rank of no rule: higher than any real one.
const noRank = math.MaxInt32

// ranks holds, per platform class, the best rank of the rules reached by
// one key; ranks{} stands for none.
type ranks struct {
	set bool
	r   [numPlatformClasses]int32
}

func (rs ranks) get(c int) int32 {
	if !rs.set {
		return noRank
	}
	return rs.r[c]
}

// add records that the rule of rank applies to a key; rules are added in
// rank order, so the first rule for each class stays.
func (rs *ranks) add(rank int32, ps platformSet) {
	if !rs.set {
		*rs = ranks{set: true}
		for c := range rs.r {
			rs.r[c] = noRank
		}
	}
	for c := range rs.r {
		if ps.allowsClass(c) && rank < rs.r[c] {
			rs.r[c] = rank
		}
	}
}

func (s *Scripts) index() {
	s.exact = make(map[string]ranks)
	s.menu = make(map[string]ranks)
	s.contains = &containsIndex{nodes: []acNode{{best: noRanks()}}}
	for i := range s.rules {
		r := &s.rules[i]
		rank := int32(i)
		for _, k := range r.exact {
			rs := s.exact[k]
			rs.add(rank, r.platforms)
			s.exact[k] = rs
		}
		for _, k := range r.Menu {
			rs := s.menu[k]
			rs.add(rank, r.platforms)
			s.menu[k] = rs
		}
		for _, k := range r.contains {
			s.contains.add(k, rank, r.platforms)
		}
		if len(r.regexps) > 0 {
			s.regexps = append(s.regexps, rank)
		}
		for _, in := range r.Intents {
			if s.intents == nil {
				s.intents = make(map[string][]int32)
			}
			s.intents[in] = append(s.intents[in], rank)
		}
	}
	s.contains.link()
}

func noRanks() [numPlatformClasses]int32 {
	var r [numPlatformClasses]int32
	for c := range r {
		r[c] = noRank
	}
	return r
}

// containsIndex is an Aho–Corasick automaton over the bytes of the
// normalised contains keywords. Matching bytes of valid UTF-8 finds the
// same substrings as matching runes.
type containsIndex struct {
	nodes []acNode // nodes[0] is the root
	root  [256]int32
}

type acNode struct {
	labels  []byte  // edge bytes
	targets []int32 // edge targets, parallel to labels
	fail    int32   // the node of the longest proper suffix in the trie
	// best is the lowest rank, per platform class, of the rules with a
	// keyword ending here, or ending at a suffix of here.
	best [numPlatformClasses]int32
}

func (ix *containsIndex) add(keyword string, rank int32, ps platformSet) {
	n := int32(0)
	for i := 0; i < len(keyword); i++ {
		nd := &ix.nodes[n]
		if j := bytes.IndexByte(nd.labels, keyword[i]); j >= 0 {
			n = nd.targets[j]
			continue
		}
		next := int32(len(ix.nodes))
		nd.labels = append(nd.labels, keyword[i])
		nd.targets = append(nd.targets, next)
		ix.nodes = append(ix.nodes, acNode{best: noRanks()})
		n = next
	}
	best := &ix.nodes[n].best
	for c := range best {
		if ps.allowsClass(c) && rank < best[c] {
			best[c] = rank
		}
	}
}

// link computes failure links breadth first, so that a node's suffix is
// complete before the node inherits its best ranks.
func (ix *containsIndex) link() {
	root := &ix.nodes[0]
	for j, b := range root.labels {
		ix.root[b] = root.targets[j]
	}
	queue := slices.Clone(root.targets)
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for j, b := range ix.nodes[u].labels {
			v := ix.nodes[u].targets[j]
			// The root's children, never dequeued here, fail to the root.
			ix.nodes[v].fail = ix.step(ix.nodes[u].fail, b)
			f := ix.nodes[ix.nodes[v].fail].best
			for c := range f {
				ix.nodes[v].best[c] = min(ix.nodes[v].best[c], f[c])
			}
			queue = append(queue, v)
		}
	}
}

func (ix *containsIndex) step(n int32, b byte) int32 {
	for n != 0 {
		nd := &ix.nodes[n]
		if j := bytes.IndexByte(nd.labels, b); j >= 0 {
			return nd.targets[j]
		}
		n = nd.fail
	}
	return ix.root[b]
}

// scan returns the lowest rank below limit of the rules for platform
// class c with a keyword in text, or limit.
func (ix *containsIndex) scan(text string, c int, limit int32) int32 {
	best := limit
	n := int32(0)
	for i := 0; i < len(text) && best > 0; i++ {
		n = ix.step(n, text[i])
		best = min(best, ix.nodes[n].best[c])
	}
	return best
}
