package checkin

import (
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // the default zone must load on images without /usr/share/zoneinfo

	"gopkg.in/yaml.v3"

	"github.com/siyu-bot/siyu/bot"
)

// Defaults of the checkin: section.
const (
	DefaultTimezone = "Asia/Shanghai"
	DefaultPoints   = 10
	DefaultReply    = "签到成功！连续 {{streak}} 天，积分 +{{points}}，总积分 {{total}}，今日第 {{rank}} 位"
	DefaultAlready  = "今天已签到过啦，明天再来～ 连续 {{streak}} 天，总积分 {{total}}"
	// DefaultDigestWindow gathers a group's check-ins into one message:
	// long enough for a morning burst, short enough to feel like an answer.
	DefaultDigestWindow = 30 * time.Second
)

// Reward is a milestone: reaching Streak consecutive days earns Message
// and, when Coupon names a campaign, a coupon from it.
type Reward struct {
	Streak  int
	Message string
	Coupon  string

	couponFile string // where Coupon is written, for Merge's check
	couponLine int
}

// Config is the compiled checkin: section.
type Config struct {
	// Keywords take a message for a check-in when its normalised text
	// is one of them.
	Keywords []string
	Location *time.Location
	Points   int
	// StreakBonus adds points on the day a streak reaches a key.
	StreakBonus map[int]int
	// Rewards are sorted by Streak.
	Rewards       []Reward
	Reply         Template
	Already       Template
	BoardKeywords []string
	DigestWindow  time.Duration
	// SureConfidence is the brand's own threshold for checking in on the
	// classifier's checkin intent alone (0: off, only a reading the
	// classifier marks sure); below it a 1:1 message is asked
	// ConfirmReply, whose answer is a keyword.
	SureConfidence float64
	ConfirmReply   string
	// Brand is the brand of the scripts the section was compiled in (""
	// for the base scripts): its check-ins count in scopes of their own
	// (ScopeOf), so two brands sharing an account id never share boards.
	Brand string
}

// ScopeOf returns the scope ev's check-in counts in under c: the
// package's ScopeOf for the base scripts, exactly as before brands had
// scripts; the brand's own scope of it for a brand's or an account's
// scripts (an account's check-ins belong to its brand, as its groups
// and 1:1 chats already name the account).
func (c *Config) ScopeOf(ev bot.Event) string { return ScopeIn(c.Brand, ev) }

// Section decodes the scripts' checkin: key. Its compiled value, read
// with Scripts.Section("checkin"), is a *Config, or nil when no file has
// the key (check-ins are then off).
type Section struct{}

// Key returns "checkin".
func (Section) Key() string { return "checkin" }

// Parse decodes one file's checkin: mapping into a *Config.
func (Section) Parse(p *bot.SectionParser, n *yaml.Node) any {
	entries, _ := p.Mapping(n, "checkin", "keywords", "timezone", "points", "streak_bonus", "rewards", "reply", "already", "board_keywords", "digest_window", "sure_confidence", "confirm_reply")
	c := &Config{Points: DefaultPoints, DigestWindow: DefaultDigestWindow, BoardKeywords: []string{"排行榜"}, StreakBonus: map[int]int{}}
	c.Location, _ = time.LoadLocation(DefaultTimezone)
	c.Reply, _ = ParseTemplate(DefaultReply)
	c.Already, _ = ParseTemplate(DefaultAlready)
	hasKeywords := false
	for _, e := range entries {
		what := "checkin." + e.Key
		switch e.Key {
		case "keywords":
			c.Keywords, _ = p.Keywords(e.Value, what)
			hasKeywords = true
		case "board_keywords":
			c.BoardKeywords, _ = p.Keywords(e.Value, what)
		case "timezone":
			if loc, ok := p.Location(e.Value, what); ok {
				c.Location = loc
			}
		case "points":
			if v, ok := p.Int(e.Value, what); ok {
				if v < 0 {
					p.Errorf(e.Value, "%s: want 0 or more, got %d", what, v)
				}
				c.Points = v
			}
		case "streak_bonus":
			parseBonus(p, e.Value, what, c.StreakBonus)
		case "rewards":
			c.Rewards = parseRewards(p, e.Value, what)
		case "reply", "already":
			s, ok := p.Text(e.Value, what)
			if !ok {
				continue
			}
			if s == "" {
				p.Errorf(e.Value, "%s: empty", what)
				continue
			}
			t, err := ParseTemplate(s)
			if err != nil {
				p.Errorf(e.Value, "%s: %v", what, err)
				continue
			}
			if e.Key == "reply" {
				c.Reply = t
			} else {
				c.Already = t
			}
		case "sure_confidence":
			if v, ok := p.SureConfidence(e.Value, what); ok {
				c.SureConfidence = v
			}
		case "confirm_reply":
			if s, ok := p.Text(e.Value, what); ok {
				if s == "" {
					p.Errorf(e.Value, "%s: empty", what)
				}
				c.ConfirmReply = s
			}
		case "digest_window":
			if d, ok := p.Duration(e.Value, what); ok {
				if d < time.Second {
					p.Errorf(e.Value, "%s: want at least 1s, got %v", what, d)
				}
				c.DigestWindow = d
			}
		}
	}
	if !hasKeywords {
		p.Errorf(n, "checkin: keywords missing (the words that check in, e.g. [签到, 打卡])")
	}
	if c.ConfirmReply == "" && len(c.Keywords) > 0 {
		// The answer is a keyword: it checks in even where the question
		// was not remembered.
		c.ConfirmReply = "要签到吗？回复「" + c.Keywords[0] + "」打卡～"
	}
	return c
}

func parseBonus(p *bot.SectionParser, n *yaml.Node, what string, into map[int]int) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.Errorf(n, "%s: want a mapping of streak: points, like {3: 5, 7: 20}", what)
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, ok := p.Int(n.Content[i], what+" streak")
		if !ok {
			continue
		}
		v, ok := p.Int(n.Content[i+1], what+" points")
		if !ok {
			continue
		}
		switch _, dup := into[k]; {
		case k < 1:
			p.Errorf(n.Content[i], "%s: streak %d: want 1 or more", what, k)
		case v < 0:
			p.Errorf(n.Content[i+1], "%s: points %d: want 0 or more", what, v)
		case dup:
			p.Errorf(n.Content[i], "%s: streak %d given twice", what, k)
		default:
			into[k] = v
		}
	}
}

func parseRewards(p *bot.SectionParser, n *yaml.Node, what string) []Reward {
	var out []Reward
	for _, item := range p.Sequence(n, what) {
		entries, _ := p.Mapping(item, what, "streak", "message", "coupon")
		var (
			r                     Reward
			hasStreak, hasMessage bool
		)
		for _, e := range entries {
			switch e.Key {
			case "streak":
				if v, ok := p.Int(e.Value, what+".streak"); ok {
					if v < 1 {
						p.Errorf(e.Value, "%s.streak: want 1 or more, got %d", what, v)
					}
					r.Streak, hasStreak = v, true
				}
			case "message":
				s, _ := p.Text(e.Value, what+".message")
				if s == "" {
					continue // reported below as a missing message
				}
				if _, err := ParseTemplate(s); err != nil {
					p.Errorf(e.Value, "%s.message: %v", what, err)
				}
				r.Message, hasMessage = s, true
			case "coupon":
				r.Coupon, _ = p.Text(e.Value, what+".coupon")
				r.couponFile, r.couponLine = p.File(), e.Value.Line
			}
		}
		switch {
		case !hasStreak:
			p.Errorf(item, "%s: a reward without a streak", what)
		case !hasMessage:
			p.Errorf(item, "%s: the reward at streak %d has no message", what, r.Streak)
		case slices.ContainsFunc(out, func(o Reward) bool { return o.Streak == r.Streak }):
			p.Errorf(item, "%s: streak %d has a reward already", what, r.Streak)
		default:
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Reward) int { return a.Streak - b.Streak })
	return out
}

// Merge takes the one file that may define checkin:, for the brand of
// the scripts' scope (Config.Brand).
//
// A reward's coupon must name a campaign when the scripts have a
// campaigns: section (bot/coupon, merged before this one); checkin does
// not import coupon, so it asks through the one method it needs.
func (Section) Merge(m *bot.SectionMerger, s *bot.Scripts, parts []bot.SectionPart) any {
	p, ok := m.Once("checkin", parts)
	if !ok {
		return nil
	}
	c, _ := p.Value.(*Config)
	if c == nil {
		return nil
	}
	// A copy: the parsed part is every scope's that reads the file.
	cc := *c
	cc.Brand = s.Scope().Brand
	c = &cc
	if campaigns, ok := s.Section("campaigns").(interface{ Has(id string) bool }); ok {
		for _, r := range c.Rewards {
			if r.Coupon != "" && !campaigns.Has(r.Coupon) {
				m.Errorf(r.couponFile, r.couponLine, "checkin.rewards: coupon %q is not the id of a campaign in campaigns:", r.Coupon)
			}
		}
	}
	return c
}

// FromScripts returns the compiled checkin: section, or nil when the
// scripts have none.
func FromScripts(s *bot.Scripts) *Config {
	if s == nil {
		return nil
	}
	c, _ := s.Section("checkin").(*Config)
	return c
}

// known reports whether name is a placeholder a reply, already or
// reward text may use.
func known(name string) bool {
	switch name {
	case "streak", "points", "total", "rank", "name":
		return true
	}
	return false
}

// Template is a text with {{placeholder}}s, parsed once when scripts load.
type Template struct {
	parts []string // literal, name, literal, name, …, literal
}

// ParseTemplate parses s; an unknown placeholder is an error naming it.
func ParseTemplate(s string) (Template, error) {
	var t Template
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			t.parts = append(t.parts, s)
			return t, nil
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return Template{}, fmt.Errorf("unclosed {{ in %q", s)
		}
		name := strings.TrimSpace(s[i+2 : i+j])
		if !known(name) {
			return Template{}, fmt.Errorf("unknown placeholder {{%s}} (want {{streak}}, {{points}}, {{total}}, {{rank}} or {{name}})", name)
		}
		t.parts = append(t.parts, s[:i], name)
		s = s[i+j+2:]
	}
}

// Uses reports whether the template shows the placeholder name.
func (t Template) Uses(name string) bool {
	for i := 1; i < len(t.parts); i += 2 {
		if t.parts[i] == name {
			return true
		}
	}
	return false
}

// Values fill a Template.
type Values struct {
	Streak, Points, Total, Rank int
	Name                        string
}

// Render fills the placeholders with v.
func (t Template) Render(v Values) string {
	var b strings.Builder
	for i, p := range t.parts {
		if i%2 == 0 {
			b.WriteString(p)
			continue
		}
		switch p {
		case "streak":
			b.WriteString(itoa(v.Streak))
		case "points":
			b.WriteString(itoa(v.Points))
		case "total":
			b.WriteString(itoa(v.Total))
		case "rank":
			b.WriteString(itoa(v.Rank))
		case "name":
			b.WriteString(v.Name)
		}
	}
	return b.String()
}
