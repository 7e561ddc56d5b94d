package nlp

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/siyu-bot/siyu/bot"
)

// Settings is the compiled `intents:` section of the scripts:
//
//	intents:
//	  min_confidence: 0.75       # the hand-over answers from this confidence
//	  handover_intent: human_agent
//	  handover_reply: "好的，已为你转接人工客服，请稍候～"   # one text or a list
//	  alert_title: 客户请求人工
type Settings struct {
	MinConfidence  float64
	HandoverIntent string
	HandoverReply  []string
	AlertTitle     string
	// SureConfidence is the brand's own threshold for handing over on the
	// intent alone (0: off, only a reading the classifier marks sure,
	// bot.Turn.SureAt); from MinConfidence up to it a 1:1 message is
	// asked ConfirmReply, and one of ConfirmWords hands over.
	SureConfidence float64
	ConfirmReply   string
	ConfirmWords   []string
}

// DefaultSettings are the settings of scripts without an intents:
// section.
func DefaultSettings() *Settings {
	return &Settings{
		// The calibrated model on the held-out lines: human_agent at 0.75
		// is never wrong (precision 1.000) and finds 86% of requests.
		MinConfidence:  0.75,
		HandoverIntent: "human_agent",
		HandoverReply:  []string{"好的，已为你转接人工客服，工作人员会尽快回复你，请稍候～"},
		AlertTitle:     "客户请求人工客服",
		// Staff alerted by a misread line stop trusting alerts: a reading
		// that is not sure asks first.
		ConfirmReply: "需要为你转接人工客服吗？回复「人工」即可转接～",
		ConfirmWords: []string{"人工", "转人工", "人工客服"},
	}
}

// IntentsSection owns the scripts' `intents:` key. Its Merge also checks
// that every intent a rule matches (match.intent) is one of Labels, the
// intent model's labels, with the rule's file and line.
type IntentsSection struct {
	// Labels are the model's labels; nil: no model, so no rule may match
	// an intent.
	Labels []string
}

// Key returns "intents".
func (IntentsSection) Key() string { return "intents" }

// Parse decodes one file's intents: mapping.
func (IntentsSection) Parse(p *bot.SectionParser, n *yaml.Node) any {
	entries, _ := p.Mapping(n, "intents", "min_confidence", "handover_intent", "handover_reply", "alert_title",
		"sure_confidence", "confirm_reply", "confirm_words")
	s := DefaultSettings()
	for _, e := range entries {
		switch e.Key {
		case "min_confidence":
			if v, ok := p.Float(e.Value, "intents.min_confidence"); ok {
				if v <= 0 || v > 1 {
					p.Errorf(e.Value, "intents.min_confidence: want a number in (0, 1], got %v", v)
				}
				s.MinConfidence = v
			}
		case "handover_intent":
			if v, ok := p.Text(e.Value, "intents.handover_intent"); ok {
				if !validLabel(v) {
					p.Errorf(e.Value, "intents.handover_intent: intent names are lower-case letters, digits and _, got %q", v)
				}
				s.HandoverIntent = v
			}
		case "handover_reply":
			if v, ok := p.Texts(e.Value, "intents.handover_reply"); ok {
				s.HandoverReply = v
			}
		case "alert_title":
			if v, ok := p.Text(e.Value, "intents.alert_title"); ok && v != "" {
				s.AlertTitle = v
			}
		case "sure_confidence":
			if v, ok := p.SureConfidence(e.Value, "intents.sure_confidence"); ok {
				s.SureConfidence = v
			}
		case "confirm_reply":
			if v, ok := p.Text(e.Value, "intents.confirm_reply"); ok {
				if v == "" {
					p.Errorf(e.Value, "intents.confirm_reply: empty")
					continue
				}
				s.ConfirmReply = v
			}
		case "confirm_words":
			if v, ok := p.Keywords(e.Value, "intents.confirm_words"); ok {
				s.ConfirmWords = v
			}
		}
	}
	return s
}

// Merge returns the *Settings of the one file that defines intents:
// (DefaultSettings without one) and checks the rules' intents against
// the model's labels.
func (sec IntentsSection) Merge(m *bot.SectionMerger, s *bot.Scripts, parts []bot.SectionPart) any {
	out := DefaultSettings()
	if p, ok := m.Once("intents", parts); ok {
		if v, ok := p.Value.(*Settings); ok {
			out = v
		}
		if !slices.Contains(sec.Labels, out.HandoverIntent) && sec.Labels != nil {
			m.Errorf(p.File, p.Line, "intents.handover_intent: %q is not an intent of the model (%s)", out.HandoverIntent, strings.Join(sec.Labels, ", "))
		}
	}
	for _, r := range s.Rules() {
		for _, in := range r.Intents {
			if !slices.Contains(sec.Labels, in) {
				if sec.Labels == nil {
					m.Errorf(r.File, r.Line, "rule %s: match.intent %q: no intent model is loaded", r.Name, in)
					continue
				}
				m.Errorf(r.File, r.Line, "rule %s: match.intent %q is not an intent of the model (%s)", r.Name, in, strings.Join(sec.Labels, ", "))
			}
		}
	}
	return out
}

// FAQSection owns the scripts' `faq:` key: questions written down with
// their answer, in any number of files.
//
//	faq:
//	  - name: opening-hours
//	    questions: ["你们几点开门", "营业时间是几点到几点", "周末营业吗"]
//	    answer: "山茶咖啡各门店每天 9:00-21:00 营业。"   # one text or a list
//	    min_score: 0.6                                   # optional
type FAQSection struct{}

// Key returns "faq".
func (FAQSection) Key() string { return "faq" }

type faqPart struct{ entries []FAQEntry }

// Parse decodes one file's faq: list.
func (FAQSection) Parse(p *bot.SectionParser, n *yaml.Node) any {
	var part faqPart
	for i, item := range p.Sequence(n, "faq") {
		what := "faq[" + itoa(i) + "]"
		entries, _ := p.Mapping(item, what, "name", "questions", "answer", "min_score")
		e := FAQEntry{MinScore: DefaultFAQScore, File: p.File(), Line: item.Line}
		for _, kv := range entries {
			switch kv.Key {
			case "name":
				e.Name, _ = p.Text(kv.Value, what+".name")
			case "questions":
				qs, ok := p.Texts(kv.Value, what+".questions")
				if ok {
					for _, q := range qs {
						if Canonical(q) == "" {
							p.Errorf(kv.Value, "%s.questions: %q is empty once normalised", what, q)
							continue
						}
						e.Questions = append(e.Questions, q)
					}
				}
			case "answer":
				e.Answer, _ = p.Texts(kv.Value, what+".answer")
			case "min_score":
				if v, ok := p.Float(kv.Value, what+".min_score"); ok {
					if v <= 0 || v > 1 {
						p.Errorf(kv.Value, "%s.min_score: want a number in (0, 1], got %v", what, v)
					}
					e.MinScore = v
				}
			}
		}
		switch {
		case e.Name == "":
			p.Errorf(item, "%s: name is required", what)
		case len(e.Questions) == 0:
			p.Errorf(item, "%s (%s): questions are required", what, e.Name)
		case len(e.Answer) == 0:
			p.Errorf(item, "%s (%s): answer is required", what, e.Name)
		default:
			part.entries = append(part.entries, e)
		}
	}
	return part
}

// Merge compiles every file's entries into one *FAQ, refusing a name
// used twice.
func (FAQSection) Merge(m *bot.SectionMerger, _ *bot.Scripts, parts []bot.SectionPart) any {
	var all []FAQEntry
	seen := map[string]FAQEntry{}
	for _, p := range parts {
		fp, _ := p.Value.(faqPart)
		for _, e := range fp.entries {
			if prev, ok := seen[e.Name]; ok {
				m.Errorf(e.File, e.Line, "faq %s already defined at %s:%d", e.Name, prev.File, prev.Line)
				continue
			}
			seen[e.Name] = e
			all = append(all, e)
		}
	}
	return NewFAQ(all)
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
