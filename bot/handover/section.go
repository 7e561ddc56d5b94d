package handover

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siyu-bot/siyu/bot"
)

// Settings is the compiled handover: section of the scripts:
//
//	handover:
//	  keywords: [转人工, 人工客服]      # a message containing one hands over
//	  exact: [人工, 真人]               # a message that is only this hands over
//	  menu: [MENU_CONTACT]              # menu clicks that hand over
//	  risks: [complaint]                # risk categories that hand over
//	  reply: "好的，已为你转接人工客服，请稍候～"   # one text or a list
//	  risk_reply: "非常抱歉，已请客服同事尽快联系你"  # for risks; default reply
//	  alert_title: 客户请求人工客服
//	  quiet: 30m                        # the bot answers again after this long without a message
//	  agents:                           # who takes it on the platform; several: in turn
//	    wechat: [kf2001@gh_1234567890ab] # Official Account KfAccounts
//	    wecom: [zhangsan, lisi]          # 微信客服 servicers' userids
//
// Scripts without the section hand over only on what other capabilities
// ask (the human_agent intent), with the defaults below.
type Settings struct {
	Keywords   []string // in bot.Normalize's form
	Exact      []string // in bot.Normalize's form
	Menu       []string
	Risks      []string
	Reply      []string
	RiskReply  []string
	AlertTitle string
	// Quiet is how long a held conversation stays held after the last
	// message of the customer or of staff.
	Quiet  time.Duration
	Agents map[bot.Platform][]string
}

// DefaultQuiet is the quiet time of scripts that set none.
const DefaultQuiet = 30 * time.Minute

// DefaultSettings are the settings of scripts without a handover:
// section.
func DefaultSettings() *Settings {
	return &Settings{
		Reply:      []string{"好的，已为你转接人工客服，工作人员会尽快回复你，请稍候～"},
		AlertTitle: "客户请求人工客服",
		Quiet:      DefaultQuiet,
	}
}

func settingsOf(s *bot.Scripts) *Settings {
	if s != nil {
		if v, ok := s.Section(Section{}.Key()).(*Settings); ok {
			return v
		}
	}
	return DefaultSettings()
}

// matches returns the reason a message or menu click hands over, "" when
// it does not. text is in bot.Normalize's form.
func (st *Settings) matches(ev bot.Event, text string, risks []string) string {
	switch ev.Kind {
	case bot.KindMenuClick:
		if slices.Contains(st.Menu, ev.Key) {
			return ReasonKeyword
		}
	case bot.KindMessage:
		if text != "" && (slices.Contains(st.Exact, text) || slices.ContainsFunc(st.Keywords, func(k string) bool { return strings.Contains(text, k) })) {
			return ReasonKeyword
		}
		for _, r := range risks {
			if slices.Contains(st.Risks, r) {
				return ReasonRisk
			}
		}
	}
	return ""
}

// reply picks the reply to a hand-over for reason.
func (st *Settings) reply(reason string, pick func(int) int) string {
	texts := st.Reply
	if reason == ReasonRisk && len(st.RiskReply) > 0 {
		texts = st.RiskReply
	}
	if len(texts) == 0 {
		return ""
	}
	if pick == nil {
		pick = rand.IntN
	}
	return texts[pick(len(texts))]
}

// Section owns the scripts' handover: key; one file defines it.
type Section struct{}

// Key returns "handover".
func (Section) Key() string { return "handover" }

// identifier is what a risk category looks like (complaint, ad_spam).
var identifier = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Parse decodes one file's handover: mapping.
func (Section) Parse(p *bot.SectionParser, n *yaml.Node) any {
	entries, _ := p.Mapping(n, "handover", "keywords", "exact", "menu", "risks", "reply", "risk_reply", "alert_title", "quiet", "agents")
	s := DefaultSettings()
	for _, e := range entries {
		what := "handover." + e.Key
		switch e.Key {
		case "keywords":
			s.Keywords, _ = p.Keywords(e.Value, what)
		case "exact":
			s.Exact, _ = p.Keywords(e.Value, what)
		case "menu":
			s.Menu, _ = p.Texts(e.Value, what)
		case "risks":
			if v, ok := p.Texts(e.Value, what); ok {
				for _, r := range v {
					if !identifier.MatchString(r) {
						p.Errorf(e.Value, "%s: %q is not a risk category (lower-case letters, digits and _, like complaint)", what, r)
					}
				}
				s.Risks = v
			}
		case "reply":
			if v, ok := p.Texts(e.Value, what); ok {
				s.Reply = v
			}
		case "risk_reply":
			s.RiskReply, _ = p.Texts(e.Value, what)
		case "alert_title":
			if v, ok := p.Text(e.Value, what); ok && v != "" {
				s.AlertTitle = v
			}
		case "quiet":
			if d, ok := p.Duration(e.Value, what); ok {
				// Under a minute the bot would cut in while staff type;
				// over two days outlives every platform's reply window.
				if d < time.Minute || d > 48*time.Hour {
					p.Errorf(e.Value, "%s: want between 1m and 48h, got %s", what, d)
				}
				s.Quiet = d
			}
		case "agents":
			agents, _ := p.Mapping(e.Value, what, string(bot.WeChat), string(bot.WeCom))
			s.Agents = map[bot.Platform][]string{}
			for _, a := range agents {
				if v, ok := p.Texts(a.Value, what+"."+a.Key); ok {
					s.Agents[bot.Platform(a.Key)] = v
				}
			}
		}
	}
	return s
}

// Merge returns the *Settings of the one file that defines handover:
// (DefaultSettings without one).
func (Section) Merge(m *bot.SectionMerger, _ *bot.Scripts, parts []bot.SectionPart) any {
	if p, ok := m.Once("handover", parts); ok {
		if v, ok := p.Value.(*Settings); ok {
			return v
		}
	}
	return DefaultSettings()
}
