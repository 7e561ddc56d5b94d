package coupon

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siyu-bot/siyu/bot"
)

// Limits of a campaign as written in the scripts. They keep ids and codes
// within the database's indexed columns.
const (
	// MaxIDLen is the longest campaign id.
	MaxIDLen = 64
	// MaxCodeLen is the longest code, prefix included.
	MaxCodeLen = 64
	// MinRandomLen is the shortest random part of a generated code: 8
	// characters of a 32-letter alphabet are 40 bits, too many to guess.
	MinRandomLen = 8
)

// Default replies, used when a campaign leaves one out. NotEligible has
// no key in the scripts: it is the same for every campaign.
const (
	DefaultIssued       = "领取成功！您的券码 {{code}}，有效期至 {{end}}"
	DefaultOutOfStock   = "来晚了，券已领完"
	DefaultLimitReached = "您已经领过这张券了"
	DefaultEnded        = "活动已结束"
	DefaultNotStarted   = "活动还没开始"
	DefaultNotEligible  = "抱歉，您暂不符合这张券的领取条件"
)

// Campaign is one entry of the scripts' campaigns: section.
type Campaign struct {
	ID        string
	Name      string
	Stock     int
	PerPerson int
	Start     time.Time // zero: open since forever
	End       time.Time // zero: never ends
	Trigger   Trigger
	Codes     Codes
	Replies   Replies
	File      string
	Line      int
	// channelsLine is where trigger.channels is written, for Merge's
	// unknown-channel errors.
	channelsLine int
	// brand owns the campaign's stock and claims: the brand of the
	// scripts it was compiled in ("" for the base scripts). See Key.
	brand string
}

// Key names the campaign in the stores (claims, codes, the counter):
// its ID in the base scripts, exactly as before brands had scripts, and
// "<brand>:<ID>" in a brand's or an account's scripts, so two brands'
// campaigns of one id never share stock, codes or per-person limits. An
// account's campaign belongs to its brand: the brand's accounts (its OA,
// its WeCom) share one stock and one per_person limit per campaign id,
// across which a person linked by unionid claims once. A base campaign a
// brand's scripts read is that brand's own copy.
func (c *Campaign) Key() string {
	if c.brand == "" {
		return c.ID
	}
	return c.brand + ":" + c.ID
}

// Brand is the brand whose campaign it is ("" for the base scripts').
func (c *Campaign) Brand() string { return c.brand }

// Trigger says which events claim a campaign's coupon.
type Trigger struct {
	// Keywords are exact messages (in bot.Normalize's form): 领券.
	Keywords []string
	// Intent is the classifier's intent that claims, e.g. coupon: from
	// the service's MinConfidence it asks first (Replies.Confirm), and
	// claims on its own only when the reading is sure
	// (bot.Turn.SureAt(SureConfidence)).
	Intent string
	// SureConfidence is the brand's own threshold for claiming on the
	// intent alone (0: off, only a reading the classifier marks sure).
	SureConfidence float64
	// Follow: a new follower (OA) or new external contact (WeCom).
	Follow bool
	// Channels, when set, limit claims to contacts acquired through these
	// channels (the scripts' channels: states).
	Channels []string
	// CheckinStreak is the check-in streak whose milestone earns the
	// coupon (bot/checkin calls ClaimReward); 0: none.
	CheckinStreak int
}

// Codes says where a campaign's codes come from: generated (Length > 0)
// or imported with `siyu coupons import`.
type Codes struct {
	Prefix string
	Length int // of the random part
	Import bool
}

// Replies are what a person is told, by outcome. {{code}}, {{name}} and
// {{end}} are replaced.
type Replies struct {
	Issued, OutOfStock, LimitReached, Ended, NotStarted string
	// Confirm asks before a claim read from the intent alone; its answer
	// is one of ConfirmWords.
	Confirm string
}

// ConfirmWords are the answers to the campaign's confirming question:
// its keywords, or 领券 when it has none.
func (c *Campaign) ConfirmWords() []string {
	if len(c.Trigger.Keywords) > 0 {
		return c.Trigger.Keywords
	}
	return []string{DefaultConfirmWord}
}

// DefaultConfirmWord answers the question of a campaign without keywords.
const DefaultConfirmWord = "领券"

// InWindow reports where now is relative to the campaign's window.
func (c *Campaign) InWindow(now time.Time) Outcome {
	switch {
	case !c.Start.IsZero() && now.Before(c.Start):
		return NotStarted
	case !c.End.IsZero() && now.After(c.End):
		return Ended
	}
	return ""
}

// AllowsChannel reports whether a contact acquired through channel may
// claim: always when the campaign names no channels.
func (c *Campaign) AllowsChannel(channel string) bool {
	if len(c.Trigger.Channels) == 0 {
		return true
	}
	for _, ch := range c.Trigger.Channels {
		if ch == channel {
			return true
		}
	}
	return false
}

// Campaigns is the compiled campaigns: section, in file order.
type Campaigns struct {
	list  []Campaign
	byID  map[string]int
	brand string // of every campaign in list
}

// Get returns the campaign with the given id.
func (cs *Campaigns) Get(id string) (*Campaign, bool) {
	if cs == nil {
		return nil, false
	}
	i, ok := cs.byID[id]
	if !ok {
		return nil, false
	}
	return &cs.list[i], true
}

// GetKey returns the campaign whose Key is key.
func (cs *Campaigns) GetKey(key string) (*Campaign, bool) {
	if cs == nil {
		return nil, false
	}
	id := key
	if cs.brand != "" {
		var ok bool
		if id, ok = strings.CutPrefix(key, cs.brand+":"); !ok {
			return nil, false
		}
	}
	return cs.Get(id)
}

// Has reports whether a campaign has the given id (check-in rewards name
// campaigns by id).
func (cs *Campaigns) Has(id string) bool {
	_, ok := cs.Get(id)
	return ok
}

// List returns the campaigns in file order. The slice is shared: do not
// modify it.
func (cs *Campaigns) List() []Campaign {
	if cs == nil {
		return nil
	}
	return cs.list
}

// Section is the scripts' campaigns: section. Use it with
// bot.LoadScripts / bot.NewLibrary; read the result with From.
type Section struct{}

// Key implements bot.Section.
func (Section) Key() string { return "campaigns" }

// From returns the campaigns of s (none when s was loaded without
// Section).
func From(s *bot.Scripts) *Campaigns {
	if s == nil {
		return nil
	}
	cs, _ := s.Section("campaigns").(*Campaigns)
	return cs
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// codeAlphabet is the alphabet of generated codes: digits and capitals
// without 0, O, 1, I, L, which people misread when typing a code.
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9-]*$`)

// Parse implements bot.Section: one file's list of campaigns.
func (Section) Parse(p *bot.SectionParser, n *yaml.Node) any {
	var out []Campaign
	for _, item := range p.Sequence(n, "campaigns") {
		// A campaign with mistakes still takes part in Merge's checks
		// (duplicate ids, unknown channels); the load fails anyway.
		if c, ok := parseCampaign(p, item); ok || c.ID != "" {
			out = append(out, c)
		}
	}
	return out
}

func parseCampaign(p *bot.SectionParser, n *yaml.Node) (Campaign, bool) {
	c := Campaign{File: p.File(), Line: n.Line, PerPerson: 1}
	kvs, ok := p.Mapping(n, "campaign", "id", "name", "stock", "per_person", "start", "end", "trigger", "codes", "replies")
	what := "campaign"
	var haveStock, haveCodes bool
	var endN *yaml.Node
	for _, kv := range kvs {
		if kv.Key != "id" {
			continue
		}
		id, idOK := p.Text(kv.Value, "campaign: id")
		switch {
		case !idOK:
			ok = false
		case len(id) > MaxIDLen || !idPattern.MatchString(id):
			p.Errorf(kv.Value, "campaign: id %q: want letters, digits, '-', '_' or '.', at most %d", id, MaxIDLen)
			ok = false
		default:
			c.ID, what = id, fmt.Sprintf("campaign %q", id)
		}
	}
	if c.ID == "" && ok {
		p.Errorf(n, "campaign: missing id")
		ok = false
	}
	for _, kv := range kvs {
		var good bool
		switch kv.Key {
		case "id":
			good = true
		case "name":
			c.Name, good = p.Text(kv.Value, what+": name")
		case "stock":
			c.Stock, good = p.Int(kv.Value, what+": stock")
			if good && c.Stock < 0 {
				p.Errorf(kv.Value, "%s: stock %d is below zero", what, c.Stock)
				good = false
			}
			haveStock = good
		case "per_person":
			c.PerPerson, good = p.Int(kv.Value, what+": per_person")
			if good && c.PerPerson < 1 {
				p.Errorf(kv.Value, "%s: per_person %d: want at least 1", what, c.PerPerson)
				good = false
			}
		case "start":
			c.Start, good = parseTime(p, kv.Value, what+": start")
		case "end":
			c.End, good = parseTime(p, kv.Value, what+": end")
			endN = kv.Value
		case "trigger":
			c.Trigger, c.channelsLine, good = parseTrigger(p, kv.Value, what+": trigger")
		case "codes":
			c.Codes, good = parseCodes(p, kv.Value, what+": codes")
			haveCodes = good
		case "replies":
			c.Replies, good = parseReplies(p, kv.Value, what+": replies")
		}
		ok = ok && good
	}
	if c.ID != "" && !haveStock && ok {
		p.Errorf(n, "%s: missing stock", what)
		ok = false
	}
	if c.ID != "" && !haveCodes && ok {
		p.Errorf(n, "%s: no codes source (want codes: {generate: {prefix, length}} or codes: {import: true})", what)
		ok = false
	}
	if !c.Start.IsZero() && !c.End.IsZero() && !c.End.After(c.Start) {
		p.Errorf(endN, "%s: end %s is not after start %s", what, c.End.Format(time.RFC3339), c.Start.Format(time.RFC3339))
		ok = false
	}
	t := c.Trigger
	if ok && len(t.Keywords) == 0 && t.Intent == "" && !t.Follow && t.CheckinStreak == 0 {
		p.Errorf(n, "%s: trigger: nothing claims it (want keywords, intent, follow or checkin_streak)", what)
		ok = false
	}
	r := &c.Replies
	r.Issued = cmpOr(r.Issued, DefaultIssued)
	r.OutOfStock = cmpOr(r.OutOfStock, DefaultOutOfStock)
	r.LimitReached = cmpOr(r.LimitReached, DefaultLimitReached)
	r.Ended = cmpOr(r.Ended, DefaultEnded)
	r.NotStarted = cmpOr(r.NotStarted, DefaultNotStarted)
	r.Confirm = cmpOr(r.Confirm, "想领取{{name}}吗？回复「"+c.ConfirmWords()[0]+"」领取～")
	return c, ok
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func parseTime(p *bot.SectionParser, n *yaml.Node, what string) (time.Time, bool) {
	s, ok := p.Text(n, what)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		p.Errorf(n, "%s: want a time like 2026-11-01T00:00:00+08:00, got %q", what, s)
		return time.Time{}, false
	}
	return t, true
}

func parseTrigger(p *bot.SectionParser, n *yaml.Node, what string) (t Trigger, channelsLine int, ok bool) {
	kvs, ok := p.Mapping(n, what, "keywords", "intent", "sure_confidence", "follow", "channels", "checkin_streak")
	channelsLine = n.Line
	for _, kv := range kvs {
		var good bool
		switch kv.Key {
		case "keywords":
			t.Keywords, good = p.Keywords(kv.Value, what+": keywords")
		case "intent":
			t.Intent, good = p.Text(kv.Value, what+": intent")
		case "sure_confidence":
			t.SureConfidence, good = p.SureConfidence(kv.Value, what+": sure_confidence")
		case "follow":
			t.Follow, good = p.Bool(kv.Value, what+": follow")
		case "channels":
			t.Channels, good = p.Texts(kv.Value, what+": channels")
			channelsLine = kv.KeyNode.Line
		case "checkin_streak":
			t.CheckinStreak, good = p.Int(kv.Value, what+": checkin_streak")
			if good && t.CheckinStreak < 0 {
				p.Errorf(kv.Value, "%s: checkin_streak %d is below zero", what, t.CheckinStreak)
				good = false
			}
		}
		ok = ok && good
	}
	return t, channelsLine, ok
}

func parseCodes(p *bot.SectionParser, n *yaml.Node, what string) (Codes, bool) {
	var c Codes
	kvs, ok := p.Mapping(n, what, "generate", "import")
	var gen bool
	for _, kv := range kvs {
		switch kv.Key {
		case "generate":
			gkvs, gok := p.Mapping(kv.Value, what+": generate", "prefix", "length")
			ok = ok && gok
			for _, g := range gkvs {
				switch g.Key {
				case "prefix":
					s, sok := p.Text(g.Value, what+": generate: prefix")
					if sok && !prefixPattern.MatchString(s) {
						p.Errorf(g.Value, "%s: generate: prefix %q: want letters, digits or '-'", what, s)
						sok = false
					}
					c.Prefix, ok = s, ok && sok
				case "length":
					l, lok := p.Int(g.Value, what+": generate: length")
					if lok && (l < MinRandomLen || l > MaxCodeLen) {
						p.Errorf(g.Value, "%s: generate: length %d: want %d to %d", what, l, MinRandomLen, MaxCodeLen)
						lok = false
					}
					c.Length, ok = l, ok && lok
				}
			}
			if gok && c.Length == 0 && ok {
				p.Errorf(kv.Value, "%s: generate: missing length", what)
				ok = false
			}
			if len(c.Prefix)+c.Length > MaxCodeLen && ok {
				p.Errorf(kv.Value, "%s: generate: prefix and length make codes longer than %d", what, MaxCodeLen)
				ok = false
			}
			gen = true
		case "import":
			b, bok := p.Bool(kv.Value, what+": import")
			c.Import, ok = b, ok && bok
		}
	}
	switch {
	case !ok:
	case gen && c.Import:
		p.Errorf(n, "%s: generate and import: want one codes source", what)
		ok = false
	case !gen && !c.Import:
		p.Errorf(n, "%s: no codes source (want generate: {prefix, length} or import: true)", what)
		ok = false
	}
	return c, ok
}

func parseReplies(p *bot.SectionParser, n *yaml.Node, what string) (Replies, bool) {
	var r Replies
	kvs, ok := p.Mapping(n, what, "issued", "out_of_stock", "limit_reached", "ended", "not_started", "confirm")
	for _, kv := range kvs {
		s, good := p.Text(kv.Value, what+": "+kv.Key)
		switch kv.Key {
		case "issued":
			r.Issued = s
			if good && !strings.Contains(s, "{{code}}") {
				p.Errorf(kv.Value, "%s: issued: the reply must show {{code}}", what)
				good = false
			}
		case "out_of_stock":
			r.OutOfStock = s
		case "limit_reached":
			r.LimitReached = s
		case "ended":
			r.Ended = s
		case "not_started":
			r.NotStarted = s
		case "confirm":
			r.Confirm = s
		}
		ok = ok && good
	}
	return r, ok
}

// Merge implements bot.Section: every file's campaigns, ids unique
// across files, channels known to the core scripts, each campaign the
// brand's of the scripts' scope (Campaign.Key).
func (Section) Merge(m *bot.SectionMerger, s *bot.Scripts, parts []bot.SectionPart) any {
	cs := &Campaigns{byID: map[string]int{}, brand: s.Scope().Brand}
	for _, part := range parts {
		list, _ := part.Value.([]Campaign)
		for _, c := range list { // a copy: the part is every scope's
			c.brand = cs.brand
			if k := c.Key(); len(k) > MaxIDLen {
				m.Errorf(c.File, c.Line, "campaign %q: with its brand's name (%s) its id is longer than %d: shorten the id", c.ID, k, MaxIDLen)
				continue
			}
			if i, dup := cs.byID[c.ID]; dup {
				prev := cs.list[i]
				m.Errorf(c.File, c.Line, "campaign %q already defined at %s:%d", c.ID, prev.File, prev.Line)
				continue
			}
			for _, ch := range c.Trigger.Channels {
				if _, ok := s.Channel(ch); !ok {
					m.Errorf(c.File, c.channelsLine, "campaign %q: trigger: unknown channel %q (not in channels:)", c.ID, ch)
				}
			}
			cs.byID[c.ID] = len(cs.list)
			cs.list = append(cs.list, c)
		}
	}
	return cs
}
