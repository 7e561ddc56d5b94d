package bot

import (
	"regexp"
	"slices"
	"unicode/utf8"
)

// Rule is a keyword rule: when a customer's message matches, the bot
// answers with one of the rule's replies. Rules returned by Scripts are
// shared and must not be modified.
type Rule struct {
	Name string
	// Exact keywords match a message equal to one of them, Contains
	// keywords a message containing one of them, both after normalisation
	// of the message and the keyword alike: full-width letters, digits and
	// punctuation become half-width, letters lower-case, surrounding
	// spaces, punctuation, symbols and emoji are dropped, and inner runs
	// of spaces become one space. So exact "营业时间" matches "  营业时间？"
	// and exact "vip" matches "ＶＩＰ".
	Exact    []string
	Contains []string
	// Regex patterns (Go RE2 syntax) are matched against the normalised
	// message: lower-case, half-width, trimmed. A pattern with an
	// upper-case or full-width literal could never match and is rejected.
	Regex []string
	// Menu keys match custom menu clicks, exactly and case-sensitively.
	Menu []string
	// Intents match a message the intent classifier gave one of these
	// intents with at least MinConfidence. Keyword matches (exact,
	// contains, regex) of any rule win over intent matches; see
	// MatchIntent.
	Intents       []string
	MinConfidence float64
	Replies       []string
	// Priority orders rules: the highest matching priority wins, and among
	// equal priorities the rule first in file order (file path, then
	// position in the file).
	Priority int
	// Platforms limits the rule to some platforms; empty means all.
	Platforms []Platform
	File      string
	Line      int

	exact, contains []string // normalised
	regexps         []*regexp.Regexp
	regexInsts      int // the size of their programs, for the scripts' budget
	platforms       platformSet
	order           int // position in file order
}

// Reply returns one of the rule's replies. pick is called with the number
// of replies n when there is more than one and returns an index in [0,n),
// like math/rand/v2.IntN; a nil pick or an index out of range picks the
// first.
func (r *Rule) Reply(pick func(n int) int) string { return chooseText(r.Replies, pick) }

func (r *Rule) clone() Rule {
	c := *r
	c.Exact = slices.Clone(r.Exact)
	c.Contains = slices.Clone(r.Contains)
	c.Regex = slices.Clone(r.Regex)
	c.Menu = slices.Clone(r.Menu)
	c.Intents = slices.Clone(r.Intents)
	c.Replies = slices.Clone(r.Replies)
	c.Platforms = slices.Clone(r.Platforms)
	return c
}

// Channel is an acquisition channel: a WeCom "contact me" QR code's State
// or an OA parametric QR code's scene, with its own welcome and the tags
// given to customers who come through it. Channels returned by Scripts are
// shared and must not be modified.
type Channel struct {
	State   string
	Name    string
	Welcome []string // empty: the default contact welcome
	Tags    []string
	File    string
	Line    int
}

func (c *Channel) clone() Channel {
	d := *c
	d.Welcome = slices.Clone(c.Welcome)
	d.Tags = slices.Clone(c.Tags)
	return d
}

// platformSet is a set of platforms; the zero value means all platforms.
type platformSet uint8

// platformClass numbers the platforms a rule can be limited to, and gives
// every other platform the last class: index tables hold one entry per
// class.
func platformClass(p Platform) int {
	switch p {
	case WeChat:
		return 0
	case WeCom:
		return 1
	case Douyin:
		return 2
	}
	return numPlatformClasses - 1
}

const numPlatformClasses = 4

// platformBit is p's member of a platformSet, 0 for an unknown platform.
func platformBit(p Platform) platformSet {
	if c := platformClass(p); c < numPlatformClasses-1 {
		return 1 << c
	}
	return 0
}

// allowsClass reports whether a rule limited to s applies to platforms of
// class c.
func (s platformSet) allowsClass(c int) bool {
	return s == 0 || c < numPlatformClasses-1 && s&(1<<c) != 0
}

// Scripts is a validated, merged set of script files. It is immutable and
// safe for concurrent use.
type Scripts struct {
	rules    []Rule // by priority, highest first, then file order
	follow   []string
	contact  []string
	group    []string
	fallback []string
	channels []Channel
	byState  map[string]int // index into channels

	// Match indexes. A rank is an index into rules, so the lowest rank
	// among matching rules is the answer; noRank means none.
	exact    map[string]ranks // normalised keyword → best rule per platform class
	menu     map[string]ranks
	contains *containsIndex
	regexps  []int32            // ranks of rules with patterns, ascending
	intents  map[string][]int32 // intent → ranks of rules answering it, ascending

	sections map[string]any // compiled sections by key

	// scope is the folder these scripts were compiled for: zero for the
	// base scripts, {Brand} for scripts/brands/<brand>/, {Brand, Name}
	// for an account's folder below it.
	scope Route
	// defined says where each welcome text and the fallback were
	// written ("welcome.follow", "fallback"), for Answer.File.
	defined map[string]origin
}

// origin is a place in the script files.
type origin struct {
	file string
	line int
}

// Scope returns the folder these scripts were compiled for: the zero
// Route for the base scripts (scripts/ without brands/), Route{Brand: b}
// for brand b's (scripts/brands/b/ over the base), Route{b, n} for
// account n's (scripts/brands/b/n/ over both). Capabilities key what
// they store per brand by Scope().Brand.
func (s *Scripts) Scope() Route { return s.scope }

// Match returns the rule answering a customer's text on platform p: the
// matching rule of highest priority, the first in file order among equals.
// It reports false when no rule matches, including when the text is empty
// after normalisation (only spaces, punctuation or emoji).
func (s *Scripts) Match(p Platform, text string) (*Rule, bool) {
	text = normalize(text)
	if text == "" {
		return nil, false
	}
	c := platformClass(p)
	best := s.exact[text].get(c)
	best = s.contains.scan(text, c, best)
	// Patterns see the start of a long message only: their work grows
	// with the text (maxRegexText).
	rtext := text
	if len(rtext) > maxRegexText {
		cut := maxRegexText
		for cut > 0 && !utf8.RuneStart(rtext[cut]) {
			cut--
		}
		rtext = rtext[:cut]
	}
	for _, rank := range s.regexps {
		if rank >= best {
			break
		}
		r := &s.rules[rank]
		if !r.platforms.allowsClass(c) {
			continue
		}
		if slices.ContainsFunc(r.regexps, func(re *regexp.Regexp) bool { return re.MatchString(rtext) }) {
			best = rank
			break
		}
	}
	if best == noRank {
		return nil, false
	}
	return &s.rules[best], true
}

// MatchIntent returns the rule answering a message the classifier took
// for intent with the given confidence on platform p: the rule of
// highest priority (first in file order among equals) that names the
// intent and whose MinConfidence the confidence reaches. Callers try
// Match first: keyword rules win over intent rules.
func (s *Scripts) MatchIntent(p Platform, intent string, confidence float64) (*Rule, bool) {
	c := platformClass(p)
	for _, rank := range s.intents[intent] {
		r := &s.rules[rank]
		if r.platforms.allowsClass(c) && confidence >= r.MinConfidence {
			return r, true
		}
	}
	return nil, false
}

// Intents returns the intents that rules answer, sorted.
func (s *Scripts) Intents() []string {
	out := make([]string, 0, len(s.intents))
	for in := range s.intents {
		out = append(out, in)
	}
	slices.Sort(out)
	return out
}

// MatchMenu returns the rule answering a click on the custom menu item
// with the given key on platform p, chosen by priority as in Match. Keys
// are compared exactly.
func (s *Scripts) MatchMenu(p Platform, key string) (*Rule, bool) {
	best := s.menu[key].get(platformClass(p))
	if best == noRank {
		return nil, false
	}
	return &s.rules[best], true
}

// FallbackReply returns one of the fallback texts, for a message no rule
// matches, or "" if there is none. pick is as for Rule.Reply.
func (s *Scripts) FallbackReply(pick func(n int) int) string { return chooseText(s.fallback, pick) }

// FollowWelcome returns one of the welcome texts for a new follower, or ""
// if there is none. pick is as for Rule.Reply.
func (s *Scripts) FollowWelcome(pick func(n int) int) string { return chooseText(s.follow, pick) }

// GroupWelcome returns one of the welcome texts for new group members, or
// "" if there is none. pick is as for Rule.Reply.
func (s *Scripts) GroupWelcome(pick func(n int) int) string { return chooseText(s.group, pick) }

// GroupWelcomes returns all of welcome.group's texts, in file order, for
// platforms that keep them as templates (WeCom). The slice is a copy.
func (s *Scripts) GroupWelcomes() []string { return append([]string(nil), s.group...) }

// ContactWelcome returns the welcome text for a new WeCom external contact
// who came through the channel with the given state, and that channel, or
// nil for an unknown or empty state. The text is the channel's welcome if
// it has one, else welcome.contact, else welcome.follow, else "". pick is
// as for Rule.Reply.
func (s *Scripts) ContactWelcome(state string, pick func(n int) int) (string, *Channel) {
	ch, ok := s.Channel(state)
	switch {
	case ok && len(ch.Welcome) > 0:
		return chooseText(ch.Welcome, pick), ch
	case len(s.contact) > 0:
		return chooseText(s.contact, pick), ch
	}
	return chooseText(s.follow, pick), ch
}

// Channel returns the channel with the given state and reports whether
// there is one.
func (s *Scripts) Channel(state string) (*Channel, bool) {
	i, ok := s.byState[state]
	if !ok {
		return nil, false
	}
	return &s.channels[i], true
}

// Channels returns a copy of the channels in file order.
func (s *Scripts) Channels() []Channel {
	out := make([]Channel, len(s.channels))
	for i := range s.channels {
		out[i] = s.channels[i].clone()
	}
	return out
}

// Rules returns a copy of the rules in the order in which they win:
// highest priority first, then file order.
func (s *Scripts) Rules() []Rule {
	out := make([]Rule, len(s.rules))
	for i := range s.rules {
		out[i] = s.rules[i].clone()
	}
	return out
}

func chooseText(texts []string, pick func(n int) int) string {
	switch len(texts) {
	case 0:
		return ""
	case 1:
		return texts[0]
	}
	if pick == nil {
		return texts[0]
	}
	i := pick(len(texts))
	if i < 0 || i >= len(texts) {
		return texts[0]
	}
	return texts[i]
}

// definedAt says where a welcome text or the fallback ("welcome.follow",
// "fallback") was written: "" and 0 when nowhere.
func (s *Scripts) definedAt(key string) (file string, line int) {
	o := s.defined[key]
	return o.file, o.line
}

// contactWelcomeAt names the text ContactWelcome chooses for channel ch:
// "channel" for the channel's own welcome, else the welcome key.
func (s *Scripts) contactWelcomeAt(ch *Channel) string {
	switch {
	case ch != nil && len(ch.Welcome) > 0:
		return "channel"
	case len(s.contact) > 0:
		return "welcome.contact"
	}
	return "welcome.follow"
}

// welcomeOrigin is where the welcome contactWelcomeAt named is written.
func (s *Scripts) welcomeOrigin(at string, ch *Channel) (file string, line int) {
	if at == "channel" && ch != nil {
		return ch.File, ch.Line
	}
	return s.definedAt(at)
}
