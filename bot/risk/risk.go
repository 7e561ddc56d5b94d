// Package risk finds risky messages in a brand's private-domain chats:
// abuse, spam ads, fraud, poaching customers away, complaints that
// threaten to escalate, and customers' personal data posted in groups.
//
// A Scanner reads one message: it folds the evasions customers use
// (Fold), matches the lexicons kept in knowledge/risk/lexicon with an
// Aho-Corasick automaton, runs the personal-data detectors (mobile and
// landline numbers, ID cards with their checksum, bank cards with Luhn,
// emails, passports) and, when one is set, asks a Classifier for what
// words miss. The engine stages in service.go put it to work: an
// Analyzer fills bot.Turn.Risks (layer 1), an observer records every hit
// as an event in a RecordStore, escalates repeated hits, raises grouped
// staff alerts and reminds a customer who posted their own number
// (layer 2). Personal data never reaches a log and is masked in what is
// stored for display.
package risk

import (
	"fmt"
	"slices"
	"strings"

	"github.com/siyu-bot/siyu/bot"
)

// Category is a kind of risk. The set is closed.
type Category string

// The categories, each with its lexicon file knowledge/risk/lexicon/<category>.txt
// (pii has detectors instead).
const (
	Abuse     Category = "abuse"     // insults, threats of violence
	AdSpam    Category = "ad_spam"   // advertising unrelated to the brand, spam
	Fraud     Category = "fraud"     // scams: fake part-time jobs, fake refunds, investment and loan lures
	Poaching  Category = "poaching"  // luring customers to another account, private deals, other groups or platforms
	Complaint Category = "complaint" // threats to escalate: 12315, regulators, media, lawyers, bad reviews, chargebacks
	PII       Category = "pii"       // personal data: phone, ID card, bank card, email, passport numbers
)

// Categories lists every category in the order that breaks ties for the
// main category of a message: the one staff most need to see first.
func Categories() []Category {
	return []Category{Fraud, Complaint, Abuse, Poaching, AdSpam, PII}
}

// ParseCategory returns the category named s.
func ParseCategory(s string) (Category, error) {
	c := Category(strings.TrimSpace(s))
	if slices.Contains(Categories(), c) {
		return c, nil
	}
	return "", fmt.Errorf("risk: unknown category %q (want one of abuse, ad_spam, fraud, poaching, complaint, pii): %w", s, bot.ErrInvalid)
}

func (c Category) rank() int { return slices.Index(Categories(), c) }

// Label is the category's name for staff.
func (c Category) Label() string {
	switch c {
	case Abuse:
		return "辱骂攻击"
	case AdSpam:
		return "广告刷屏"
	case Fraud:
		return "诈骗"
	case Poaching:
		return "挖客引流"
	case Complaint:
		return "投诉升级"
	case PII:
		return "个人信息"
	}
	return string(c)
}

// Severity is how urgent a hit is. The zero value is no severity.
type Severity int

// Severities, in increasing order.
const (
	Low Severity = iota + 1
	Medium
	High
)

// String returns low, medium or high.
func (s Severity) String() string {
	switch s {
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return "none"
}

// Label is the severity's name for staff.
func (s Severity) Label() string {
	switch s {
	case Low:
		return "低"
	case Medium:
		return "中"
	case High:
		return "高"
	}
	return "无"
}

// ParseSeverity returns the severity named s (low, medium, high).
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "low":
		return Low, nil
	case "medium":
		return Medium, nil
	case "high":
		return High, nil
	}
	return 0, fmt.Errorf("risk: unknown severity %q (want low, medium or high): %w", s, bot.ErrInvalid)
}

// Raise returns the severity one step up, at most High.
func (s Severity) Raise() Severity { return min(s+1, High) }

// Sources of a hit.
const (
	SourceLexicon = "lexicon" // a term of knowledge/risk/lexicon
	SourceScript  = "script"  // a brand word from the scripts' risk: section
	SourcePII     = "pii"     // a personal-data detector
	SourceModel   = "model"   // the Classifier
)

// PII kinds, a pii Hit's Kind.
const (
	KindMobile   = "mobile"
	KindLandline = "landline"
	KindIDCard   = "id_card"
	KindBankCard = "bank_card"
	KindEmail    = "email"
	KindPassport = "passport"
)

// Hit is one finding in a message.
type Hit struct {
	Category Category
	Severity Severity
	// Source says what found it: SourceLexicon, SourceScript, SourcePII
	// or SourceModel.
	Source string
	// Kind is the PII kind for pii hits (KindMobile…).
	Kind string
	// Evidence is what was found as the customer wrote it, masked for
	// personal data ("138****8000"); for a model hit, the confidence.
	Evidence string
	// Start and End are the evidence's byte span in the scanned text
	// (both 0 for a model hit).
	Start, End int
	// Confidence is a model hit's calibrated confidence (0 for words and
	// detectors, which point at their evidence).
	Confidence float64
}

// Classifier is the model that reads what the lexicons miss (fraud
// phrased politely, a complaint without its keywords): bot/nlp's model
// trained on knowledge/risk/train. Classify gets text in bot.Normalize's
// form and returns one of the categories' names or "none", with its
// confidence in [0, 1] (siyu wires the calibrated probability that the
// text is risky at all, with the likeliest category).
type Classifier interface {
	Classify(text string) (label string, confidence float64)
}

// ClassifierFunc adapts a function to Classifier, for wiring a model
// whose method has another name or wants its own normalisation:
//
//	risk.ClassifierFunc(func(s string) (string, float64) { return m.Classify(nlp.Canonical(s)) })
type ClassifierFunc func(text string) (label string, confidence float64)

// Classify calls f.
func (f ClassifierFunc) Classify(text string) (string, float64) { return f(text) }

// Main returns the categories that hits name, the main one first: the
// highest severity, ties broken by Categories' order.
func Main(hits []Hit) []string {
	if len(hits) == 0 {
		return nil
	}
	best := map[Category]Severity{}
	for _, h := range hits {
		best[h.Category] = max(best[h.Category], h.Severity)
	}
	cats := make([]Category, 0, len(best))
	for c := range best {
		cats = append(cats, c)
	}
	slices.SortFunc(cats, func(a, b Category) int {
		if best[a] != best[b] {
			return int(best[b] - best[a])
		}
		return a.rank() - b.rank()
	})
	out := make([]string, len(cats))
	for i, c := range cats {
		out[i] = string(c)
	}
	return out
}
