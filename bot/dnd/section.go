package dnd

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siyu-bot/siyu/bot"
)

// Key is the top-level key of the reply scripts this package owns.
const Key = "dnd"

// Over-cap rules: what happens to a proactive message a cap holds back.
const (
	// OverDefer moves it to when the cap resets (the next day, week or
	// minute), where it is checked again.
	OverDefer = "defer"
	// OverDrop drops it for good.
	OverDrop = "drop"
)

// Rules is the compiled dnd: section: how a person opts out and back in,
// the brand's quiet hours and the frequency caps. The zero value is not
// used; Section.Merge fills defaults for what the scripts leave out.
type Rules struct {
	// Unsubscribe and Resubscribe are the words, in bot.Normalize's form,
	// that opt a person out and back in. A message matches only when it is
	// exactly one of them, so "T" opts out while "Tea" does not.
	Unsubscribe []string
	Resubscribe []string
	// UnsubscribedReply and ResubscribedReply confirm the change.
	UnsubscribedReply string
	ResubscribedReply string
	// Intent is the classifier's label that means an opt-out, read from
	// MinConfidence. It opts out on its own only when the reading is sure
	// (bot.Turn.SureAt(SureConfidence)); below that the person is asked
	// ConfirmReply, and the next message, if it is one of ConfirmWords,
	// opts out.
	Intent        string
	MinConfidence float64
	// SureConfidence is the brand's own threshold for acting on the
	// intent alone (0: off, only a reading the classifier marks sure).
	SureConfidence float64
	ConfirmReply   string
	// ConfirmWords answer ConfirmReply, in bot.Normalize's form.
	ConfirmWords []string
	// Location is the brand's time zone: quiet hours, days, weeks and
	// months of the caps are counted in it.
	Location *time.Location
	// Quiet is nil when the brand has no quiet hours.
	Quiet *QuietHours
	// PerPersonDay and PerPersonWeek cap proactive messages to one
	// person across platforms (0: no cap); PerGroupMinute caps bot
	// messages to one group per minute.
	PerPersonDay   int
	PerPersonWeek  int
	PerGroupMinute int
	// Over says, by Push topic, whether a capped message is deferred or
	// dropped (OverDefer, OverDrop); OverDefault applies to other topics.
	Over        map[string]string
	OverDefault string
}

// QuietHours is a daily span, in the brand's time zone, in which
// proactive messages wait. From after To spans midnight (22:00–08:00).
type QuietHours struct {
	From, To time.Duration // since midnight
}

// Defaults for what the scripts leave out.
var (
	defaultUnsubscribe = []string{"退订", "TD", "T", "取消推送", "别再发了"}
	defaultResubscribe = []string{"订阅"}
	defaultConfirm     = []string{"T", "确认退订"}
)

// Default confirmations and intent settings.
const (
	DefaultUnsubscribedReply = "已为您退订，回复「订阅」可恢复"
	DefaultResubscribedReply = "已恢复推送，感谢关注"
	DefaultIntent            = "unsubscribe"
	// DefaultConfirmReply asks before an opt-out read from other words
	// (那我不要了 may be about an item): T is an unsubscribe word, so the
	// answer works even where the question was not remembered.
	DefaultConfirmReply = "请问是要退订消息推送吗？回复 T 确认退订"
	// DefaultMinConfidence is where the intent starts to count: from it
	// the person is asked (or, when sure, opted out). On the intents
	// model's held-out lines unsubscribe at 0.8 is never wrong and finds
	// 86% of the opt-outs, but on real text 那我不要了 about an item reads
	// unsubscribe at 0.94: so the reading asks, it does not act.
	DefaultMinConfidence = 0.8
	DefaultTimeZone      = "Asia/Shanghai"
)

// DefaultRules returns the rules used when no file has a dnd:
// section: the usual words and confirmations, no quiet hours, no caps of
// the brand's own (the platforms' limits always apply).
func DefaultRules() *Rules {
	c := &Rules{
		UnsubscribedReply: DefaultUnsubscribedReply,
		ResubscribedReply: DefaultResubscribedReply,
		Intent:            DefaultIntent,
		MinConfidence:     DefaultMinConfidence,
		ConfirmReply:      DefaultConfirmReply,
		Location:          defaultLocation(),
		OverDefault:       OverDefer,
	}
	for _, w := range defaultUnsubscribe {
		c.Unsubscribe = append(c.Unsubscribe, bot.Normalize(w))
	}
	for _, w := range defaultResubscribe {
		c.Resubscribe = append(c.Resubscribe, bot.Normalize(w))
	}
	for _, w := range defaultConfirm {
		c.ConfirmWords = append(c.ConfirmWords, bot.Normalize(w))
	}
	return c
}

// defaultLocation is Asia/Shanghai, or UTC+8 by another name where the
// system has no time zone data (China has had no daylight saving since
// 1991, so the fixed offset is the same clock).
func defaultLocation() *time.Location {
	if loc, err := time.LoadLocation(DefaultTimeZone); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*3600)
}

// RulesOf returns the dnd rules of s, or the defaults when s was
// loaded without the section (or is nil).
func RulesOf(s *bot.Scripts) *Rules {
	if s != nil {
		if c, ok := s.Section(Key).(*Rules); ok && c != nil {
			return c
		}
	}
	return DefaultRules()
}

// Section is the dnd: section of the reply scripts.
type Section struct{}

// Interface guard.
var _ bot.Section = Section{}

// Key implements bot.Section.
func (Section) Key() string { return Key }

// Parse implements bot.Section.
func (Section) Parse(p *bot.SectionParser, n *yaml.Node) any {
	entries, _ := p.Mapping(n, "dnd", "unsubscribe", "resubscribe", "unsubscribed_reply", "resubscribed_reply",
		"intent", "min_confidence", "sure_confidence", "confirm_reply", "confirm_words", "quiet_hours", "timezone", "caps")
	c := DefaultRules()
	for _, e := range entries {
		switch e.Key {
		case "unsubscribe":
			if ws, ok := p.Keywords(e.Value, "dnd.unsubscribe"); ok {
				c.Unsubscribe = ws
			}
		case "resubscribe":
			if ws, ok := p.Keywords(e.Value, "dnd.resubscribe"); ok {
				c.Resubscribe = ws
			}
		case "unsubscribed_reply":
			c.UnsubscribedReply = nonEmpty(p, e, c.UnsubscribedReply)
		case "resubscribed_reply":
			c.ResubscribedReply = nonEmpty(p, e, c.ResubscribedReply)
		case "intent":
			if s, ok := p.Text(e.Value, "dnd.intent"); ok {
				c.Intent = s // "" turns the intent off
			}
		case "min_confidence":
			if f, ok := p.Float(e.Value, "dnd.min_confidence"); ok {
				if f < 0 || f > 1 {
					p.Errorf(e.Value, "dnd.min_confidence: want a number from 0 to 1, got %v", f)
				} else {
					c.MinConfidence = f
				}
			}
		case "sure_confidence":
			if v, ok := p.SureConfidence(e.Value, "dnd.sure_confidence"); ok {
				c.SureConfidence = v
			}
		case "confirm_reply":
			c.ConfirmReply = nonEmpty(p, e, c.ConfirmReply)
		case "confirm_words":
			if ws, ok := p.Keywords(e.Value, "dnd.confirm_words"); ok {
				c.ConfirmWords = ws
			}
		case "timezone":
			if loc, ok := p.Location(e.Value, "dnd.timezone"); ok {
				c.Location = loc
			}
		case "quiet_hours":
			parseQuiet(p, e.Value, c)
		case "caps":
			parseCaps(p, e.Value, c)
		}
	}
	for _, w := range c.Unsubscribe {
		for _, r := range c.Resubscribe {
			if w == r {
				p.Errorf(n, "dnd: %q is both an unsubscribe and a resubscribe word", w)
			}
		}
	}
	for _, w := range c.ConfirmWords {
		for _, r := range c.Resubscribe {
			if w == r {
				p.Errorf(n, "dnd: %q is both a confirm word and a resubscribe word", w)
			}
		}
	}
	return c
}

func nonEmpty(p *bot.SectionParser, e bot.Entry, def string) string {
	s, ok := p.Text(e.Value, "dnd."+e.Key)
	if !ok {
		return def
	}
	if s == "" {
		p.Errorf(e.Value, "dnd.%s: empty", e.Key)
		return def
	}
	return s
}

func parseQuiet(p *bot.SectionParser, n *yaml.Node, c *Rules) {
	entries, _ := p.Mapping(n, "dnd.quiet_hours", "from", "to", "timezone")
	q := &QuietHours{From: -1, To: -1}
	for _, e := range entries {
		switch e.Key {
		case "from", "to":
			d, ok := clock(p, e)
			if !ok {
				return
			}
			if e.Key == "from" {
				q.From = d
			} else {
				q.To = d
			}
		case "timezone":
			if loc, ok := p.Location(e.Value, "dnd.quiet_hours.timezone"); ok {
				c.Location = loc
			}
		}
	}
	switch {
	case q.From < 0 || q.To < 0:
		p.Errorf(n, "dnd.quiet_hours: want both from and to, like {from: \"22:00\", to: \"08:00\"}")
	case q.From == q.To:
		p.Errorf(n, "dnd.quiet_hours: from and to are the same time; leave quiet_hours out for none")
	default:
		c.Quiet = q
	}
}

// clock parses "HH:MM" (24-hour) as a duration since midnight.
func clock(p *bot.SectionParser, e bot.Entry) (time.Duration, bool) {
	what := "dnd.quiet_hours." + e.Key
	s, ok := p.Text(e.Value, what)
	if !ok {
		return 0, false
	}
	t, err := time.Parse("15:04", s)
	if err != nil || strings.Count(s, ":") != 1 {
		p.Errorf(e.Value, "%s: want a time of day like \"22:00\", got %q", what, s)
		return 0, false
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, true
}

func parseCaps(p *bot.SectionParser, n *yaml.Node, c *Rules) {
	entries, _ := p.Mapping(n, "dnd.caps", "per_person_day", "per_person_week", "per_group_minute", "over")
	for _, e := range entries {
		what := "dnd.caps." + e.Key
		switch e.Key {
		case "per_person_day", "per_person_week", "per_group_minute":
			v, ok := p.Int(e.Value, what)
			if !ok {
				continue
			}
			if v < 0 {
				p.Errorf(e.Value, "%s: want 0 (no cap) or more, got %d", what, v)
				continue
			}
			switch e.Key {
			case "per_person_day":
				c.PerPersonDay = v
			case "per_person_week":
				c.PerPersonWeek = v
			default:
				c.PerGroupMinute = v
			}
		case "over":
			parseOver(p, e.Value, c)
		}
	}
}

// parseOver reads `over: defer`, or a mapping of topics to defer|drop
// with an optional default: `over: {default: defer, reminder: drop}`.
func parseOver(p *bot.SectionParser, n *yaml.Node, c *Rules) {
	rule := func(v *yaml.Node, what string) (string, bool) {
		s, ok := p.Text(v, what)
		if !ok {
			return "", false
		}
		if s != OverDefer && s != OverDrop {
			p.Errorf(v, "%s: want defer or drop, got %q", what, s)
			return "", false
		}
		return s, true
	}
	if n.Kind == yaml.ScalarNode {
		if s, ok := rule(n, "dnd.caps.over"); ok {
			c.OverDefault = s
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		p.Errorf(n, "dnd.caps.over: want defer, drop, or a mapping of topics to them")
		return
	}
	// Topics are open-ended (each capability names its own), so the
	// mapping's keys are read here rather than through p.Mapping.
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		topic := strings.TrimSpace(kn.Value)
		if kn.Kind != yaml.ScalarNode || topic == "" {
			p.Errorf(kn, "dnd.caps.over: want a topic name")
			continue
		}
		if seen[topic] {
			p.Errorf(kn, "dnd.caps.over: %s given twice", topic)
			continue
		}
		seen[topic] = true
		s, ok := rule(vn, fmt.Sprintf("dnd.caps.over.%s", topic))
		if !ok {
			continue
		}
		if topic == "default" {
			c.OverDefault = s
			continue
		}
		if c.Over == nil {
			c.Over = map[string]string{}
		}
		c.Over[topic] = s
	}
}

// Merge implements bot.Section: the section may be defined in one file
// only; without one the defaults apply.
func (Section) Merge(m *bot.SectionMerger, _ *bot.Scripts, parts []bot.SectionPart) any {
	part, ok := m.Once(Key, parts)
	if !ok {
		return DefaultRules()
	}
	if c, ok := part.Value.(*Rules); ok {
		return c
	}
	return DefaultRules()
}

// overRule is what happens to a push of topic held back by a cap.
func (c *Rules) overRule(topic string) string {
	if r, ok := c.Over[topic]; ok {
		return r
	}
	if c.OverDefault == "" {
		return OverDefer
	}
	return c.OverDefault
}

// quietUntil returns the end of the quiet hours t falls in, or the zero
// time when t is not in quiet hours.
func (c *Rules) quietUntil(t time.Time) time.Time {
	if c.Quiet == nil {
		return time.Time{}
	}
	lt := t.In(c.Location)
	midnight := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, c.Location)
	since := lt.Sub(midnight)
	from, to := c.Quiet.From, c.Quiet.To
	at := func(dayOffset int, d time.Duration) time.Time {
		day := time.Date(lt.Year(), lt.Month(), lt.Day()+dayOffset, 0, 0, 0, 0, c.Location)
		return day.Add(d)
	}
	if from < to { // e.g. 12:00–14:00, within one day
		if since >= from && since < to {
			return at(0, to)
		}
		return time.Time{}
	}
	// Spans midnight, e.g. 22:00–08:00.
	switch {
	case since >= from:
		return at(1, to)
	case since < to:
		return at(0, to)
	}
	return time.Time{}
}
