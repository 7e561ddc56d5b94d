package risk

import (
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siyu-bot/siyu/bot"
)

// Config is the compiled risk: section of the reply scripts.
type Config struct {
	// AlertFrom is, per category, the least severity that alerts staff;
	// a category that is absent (or 0) does not alert.
	AlertFrom map[Category]Severity
	// AlertWindow groups alerts: every hit of one scope and category
	// within a window is one alert, sent at the window's end and naming
	// the count.
	AlertWindow time.Duration
	// EscalateAfter hits of one sender in one scope and category within
	// EscalateWithin raise the severity of the last one step.
	EscalateAfter  int
	EscalateWithin time.Duration
	// WaveAfter hits of one category in one scope within the current
	// alert window, from anyone, raise the severity of the next ones a
	// step: a spam wave from many accounts alerts like one persistent
	// sender. 0 turns it off.
	WaveAfter int
	// MinConfidence is the Classifier's least confidence for a hit.
	MinConfidence float64
	// ModelAlertConfidence is the least confidence at which a hit the
	// model alone found (no word, no detector) alerts staff: it is
	// recorded for review either way, but an alert on a guess is what
	// taught staff to ignore alerts (ordinary haggling read as ad spam).
	// 0 (off, the default) until the model's thresholds measured on text
	// from other sources say where it is right 99% of the time.
	ModelAlertConfidence float64
	// FlaggedReply answers, in a 1:1 chat, a message flagged ad_spam,
	// fraud or poaching (bot.Turn.Barred), which no rule, FAQ or
	// fallback answers since their texts may advertise; "" answers
	// nothing.
	FlaggedReply string
	// Reminder is told once to a customer who posts their own phone, ID,
	// bank card or passport number in a group; "" sends none.
	Reminder string
	// Words are the brand's extra terms per category (competitors'
	// names, local scams), matched with the lexicons.
	Words *Lexicon
}

// DefaultConfig is the configuration without a risk: section: fraud and
// complaints alert from medium, the rest from high, personal data never
// (its poster gets the reminder); alerts grouped over two minutes, the
// third hit of a sender within a day escalates, and so does the tenth
// hit of a category in one scope within an alert window.
func DefaultConfig() *Config {
	return &Config{
		AlertFrom: map[Category]Severity{
			Fraud: Medium, Complaint: Medium, Abuse: High, AdSpam: High, Poaching: High,
		},
		// Two minutes: soon enough for staff to step into a heated group,
		// long enough to gather a spam wave into one message.
		AlertWindow:    2 * time.Minute,
		EscalateAfter:  3,
		EscalateWithin: 24 * time.Hour,
		// Ten lines of one kind in two minutes is no conversation.
		WaveAfter:     10,
		MinConfidence: DefaultMinConfidence,
		FlaggedReply:  DefaultFlaggedReply,
		Reminder:      "温馨提示：群聊里大家都能看到消息，为保护你的隐私，请不要在群里发送手机号、身份证号、银行卡号等个人信息，需要时可以私聊客服哦～",
	}
}

// DefaultFlaggedReply acknowledges a flagged message without promising
// or offering anything: neutral for a spammer, not a snub for a customer
// flagged by mistake (staff see the event and may dismiss it).
const DefaultFlaggedReply = "收到你的消息了。"

// Alerts reports whether a hit of category c at severity s alerts staff.
func (c *Config) Alerts(cat Category, s Severity) bool {
	from := c.AlertFrom[cat]
	return from > 0 && s >= from
}

// Section decodes the scripts' risk: section:
//
//	risk:
//	  alert:
//	    window: 2m            # one alert per scope and category per window
//	    categories:           # alert from this severity, or off
//	      fraud: medium
//	      pii: off
//	  escalate: {after: 3, within: 24h, wave: 10}
//	  model: {min_confidence: 0.8}
//	  reminder: 温馨提示：……
//	  words:                  # the brand's extra terms ("term" or "term | high")
//	    poaching: [瑞幸, 库迪]
//
// Scripts.Section("risk") returns a *Config; without a risk: section,
// DefaultConfig.
type Section struct{}

// Key returns "risk".
func (Section) Key() string { return "risk" }

// Parse decodes one file's risk: section into a *Config over the
// defaults.
func (Section) Parse(p *bot.SectionParser, n *yaml.Node) any {
	cfg := DefaultConfig()
	entries, _ := p.Mapping(n, "risk", "alert", "escalate", "model", "reminder", "words", "flagged_reply")
	var terms []Term
	for _, e := range entries {
		switch e.Key {
		case "alert":
			parseAlert(p, e.Value, cfg)
		case "escalate":
			es, _ := p.Mapping(e.Value, "risk.escalate", "after", "within", "wave")
			for _, x := range es {
				switch x.Key {
				case "after":
					if v, ok := p.Int(x.Value, "risk.escalate.after"); ok {
						if v < 1 {
							p.Errorf(x.Value, "risk.escalate.after: want at least 1, got %d", v)
						}
						cfg.EscalateAfter = v
					}
				case "within":
					if d, ok := p.Duration(x.Value, "risk.escalate.within"); ok {
						cfg.EscalateWithin = d
					}
				case "wave":
					if v, ok := p.Int(x.Value, "risk.escalate.wave"); ok {
						if v < 0 {
							p.Errorf(x.Value, "risk.escalate.wave: want 0 (off) or more, got %d", v)
						}
						cfg.WaveAfter = v
					}
				}
			}
		case "model":
			ms, _ := p.Mapping(e.Value, "risk.model", "min_confidence", "alert_confidence")
			for _, x := range ms {
				if x.Key == "alert_confidence" {
					if v, ok := p.SureConfidence(x.Value, "risk.model.alert_confidence"); ok {
						cfg.ModelAlertConfidence = v
					}
					continue
				}
				if v, ok := p.Float(x.Value, "risk.model.min_confidence"); ok {
					if v <= 0 || v > 1 {
						p.Errorf(x.Value, "risk.model.min_confidence: want a number in (0, 1], got %v", v)
					}
					cfg.MinConfidence = v
				}
			}
		case "flagged_reply":
			if s, ok := p.Text(e.Value, "risk.flagged_reply"); ok {
				cfg.FlaggedReply = s
			}
		case "reminder":
			if s, ok := p.Text(e.Value, "risk.reminder"); ok {
				cfg.Reminder = s
			}
		case "words":
			terms = parseWords(p, e.Value)
		}
	}
	lex, err := NewLexicon(terms)
	if err != nil {
		p.Errorf(n, "risk.words: %v", err)
		return cfg
	}
	cfg.Words = lex
	return cfg
}

func parseAlert(p *bot.SectionParser, n *yaml.Node, cfg *Config) {
	entries, _ := p.Mapping(n, "risk.alert", "window", "categories")
	for _, e := range entries {
		switch e.Key {
		case "window":
			if d, ok := p.Duration(e.Value, "risk.alert.window"); ok {
				if d < time.Second {
					p.Errorf(e.Value, "risk.alert.window: want at least 1s, got %s", d)
				}
				cfg.AlertWindow = d
			}
		case "categories":
			cats := categoryNames()
			cs, _ := p.Mapping(e.Value, "risk.alert.categories", cats...)
			for _, c := range cs {
				s, ok := p.Text(c.Value, "risk.alert.categories."+c.Key)
				if !ok {
					continue
				}
				if strings.EqualFold(s, "off") || s == "" {
					delete(cfg.AlertFrom, Category(c.Key))
					continue
				}
				sev, err := ParseSeverity(s)
				if err != nil {
					p.Errorf(c.Value, "risk.alert.categories.%s: want low, medium, high or off, got %q", c.Key, s)
					continue
				}
				cfg.AlertFrom[Category(c.Key)] = sev
			}
		}
	}
}

func parseWords(p *bot.SectionParser, n *yaml.Node) []Term {
	var terms []Term
	entries, _ := p.Mapping(n, "risk.words", categoryNames()...)
	for _, e := range entries {
		c := Category(e.Key)
		what := "risk.words." + e.Key
		if c == PII {
			p.Errorf(e.KeyNode, "%s: personal data is found by detectors, not words", what)
			continue
		}
		items, ok := p.Texts(e.Value, what)
		if !ok {
			continue
		}
		var nodes []*yaml.Node
		if e.Value.Kind == yaml.SequenceNode {
			nodes = e.Value.Content
		}
		for i, s := range items {
			node := e.Value
			if i < len(nodes) {
				node = nodes[i]
			}
			t := Term{Category: c, Severity: DefaultSeverity(c), Text: s}
			if text, sev, ok := strings.Cut(s, "|"); ok {
				v, err := ParseSeverity(sev)
				if err != nil {
					p.Errorf(node, "%s: %q: want \"term\" or \"term | low|medium|high\"", what, s)
					continue
				}
				t.Text, t.Severity = strings.TrimSpace(text), v
			}
			if splitTerm(t.Text) == nil {
				p.Errorf(node, "%s: %q has a part without letters or digits", what, s)
				continue
			}
			terms = append(terms, t)
		}
	}
	return terms
}

// Merge returns the one file's *Config, or DefaultConfig.
func (Section) Merge(m *bot.SectionMerger, _ *bot.Scripts, parts []bot.SectionPart) any {
	part, ok := m.Once("risk", parts)
	if !ok {
		return DefaultConfig()
	}
	if cfg, ok := part.Value.(*Config); ok {
		return cfg
	}
	return DefaultConfig()
}

// ConfigOf returns the risk configuration of s (DefaultConfig when s is
// nil or was loaded without Section).
func ConfigOf(s *bot.Scripts) *Config {
	if s != nil {
		if cfg, ok := s.Section("risk").(*Config); ok {
			return cfg
		}
	}
	return DefaultConfig()
}

func categoryNames() []string {
	out := make([]string, 0, len(Categories()))
	for _, c := range Categories() {
		out = append(out, string(c))
	}
	return out
}
