package risk

import (
	"context"
	"fmt"
	"strconv"

	"github.com/siyu-bot/siyu/bot"
)

// Install adds risk to the stack: the risk: section, the analyzer that
// scans each message once, the observer that records, escalates and
// alerts, and the renderer of grouped alerts.
func (s *Service) Install(st *bot.Stack) error {
	st.Sections(Section{})
	st.Analyze(s.Analyzer())
	st.Observe(s.Observer())
	return st.Render(RendererName, s.Renderer())
}

// Filter selects events for staff.
type Filter struct {
	Category Category // "" for all
	Status   Status   // "" for all
	// Brands keeps the events of those brands' accounts only; none
	// keeps every event, the environment's account's included.
	Brands []string
	// Account, when set, keeps one account's events.
	Account *AccountKey
	Limit   int
}

// AccountKey names one configured account: its platform and its name in
// the accounts file ("" for the environment's account on Platform).
type AccountKey struct {
	Platform bot.Platform
	Name     string
}

// Query is what staff ask for, as they ask it: Category and Status are
// names ("" for all), checked by Events.
type Query struct {
	Category, Status string
	// Brands and Account are as in Filter.
	Brands  []string
	Account *AccountKey
	Limit   int
}

// Reviews are what staff reviewing events need from storage.
// sqlstore.Risk implements them.
type Reviews interface {
	// ListRisk returns events, newest first. Errors are
	// bot.ErrUnavailable.
	ListRisk(ctx context.Context, f Filter) ([]Event, error)
	// SetRiskStatus moves event id to status. Errors: bot.ErrNotFound,
	// bot.ErrUnavailable.
	SetRiskStatus(ctx context.Context, id int64, status Status) error
	// RiskEvent returns event id. Errors: bot.ErrNotFound,
	// bot.ErrUnavailable.
	RiskEvent(ctx context.Context, id int64) (Event, error)
}

// Events returns recorded events for staff, newest first; q's category
// and status filter when not empty (an unknown one is bot.ErrInvalid),
// its brands and account as Filter's do. Customer ids come masked
// (evidence and text are masked when recorded).
func (s *Service) Events(ctx context.Context, q Query) ([]Event, error) {
	f := Filter{Brands: q.Brands, Account: q.Account, Limit: q.Limit}
	var err error
	if q.Category != "" {
		if f.Category, err = ParseCategory(q.Category); err != nil {
			return nil, err
		}
	}
	if q.Status != "" {
		if f.Status, err = ParseStatus(q.Status); err != nil {
			return nil, err
		}
	}
	events, err := s.reviews().ListRisk(ctx, f)
	if err != nil {
		return nil, err
	}
	for i := range events {
		masked(&events[i])
	}
	return events, nil
}

// Event returns event id for staff, masked as Events' are: whose brand
// it is decides who may review it. Errors: bot.ErrNotFound,
// bot.ErrUnavailable.
func (s *Service) Event(ctx context.Context, id int64) (Event, error) {
	e, err := s.reviews().RiskEvent(ctx, id)
	if err != nil {
		return Event{}, err
	}
	masked(&e)
	return e, nil
}

// masked hides the customer ids of an event shown to staff.
func masked(e *Event) {
	e.Conversation = bot.GroupID(MaskID(string(e.Conversation)))
	e.Sender = bot.UserID(MaskID(string(e.Sender)))
}

// SetStatus moves an event to acknowledged or dismissed (kept as a
// labelled false positive) and hands the labelled line to the Learner: a
// dismissed event's masked text is a none line, an acknowledged one's a
// line of its category (personal data is found by detectors, not
// learnt: a pii event acknowledged teaches nothing). Errors:
// bot.ErrInvalid, bot.ErrNotFound, bot.ErrUnavailable (the status may be
// set while the line is not kept: setting it again keeps it).
func (s *Service) SetStatus(ctx context.Context, id int64, status string) error {
	st, err := ParseStatus(status)
	if err != nil {
		return err
	}
	if err := s.reviews().SetRiskStatus(ctx, id, st); err != nil {
		return err
	}
	if s.cfg.Learner == nil || st == StatusOpen {
		return nil
	}
	e, err := s.reviews().RiskEvent(ctx, id)
	if err != nil {
		return fmt.Errorf("risk.SetStatus %d: %w", id, err)
	}
	l := bot.Labelled{Dataset: Dataset, Text: e.TextMasked, Was: string(e.Category), Key: "risk:" + strconv.FormatInt(id, 10)}
	switch {
	case st == StatusDismissed:
		l.Label, l.Source = LabelNone, bot.SourceRiskDismissed
	case e.Category == PII:
		return nil
	default:
		l.Label, l.Source = string(e.Category), bot.SourceRiskConfirmed
	}
	if err := s.cfg.Learner.Learn(ctx, l); err != nil {
		return fmt.Errorf("risk.SetStatus %d: %w", id, err)
	}
	return nil
}

// Dataset is the knowledge/ dataset the risk model is trained on, and
// LabelNone its label of ordinary messages.
const (
	Dataset   = "risk"
	LabelNone = "none"
)

// Labels are the risk model's labels: the categories it learns and none.
func Labels() []string {
	return []string{string(Abuse), string(AdSpam), string(Complaint), string(Fraud), LabelNone, string(Poaching)}
}

func (s *Service) reviews() Reviews {
	if s.cfg.Reviews == nil {
		return noReviews{}
	}
	return s.cfg.Reviews
}

type noReviews struct{}

func (noReviews) ListRisk(context.Context, Filter) ([]Event, error) { return nil, nil }
func (noReviews) SetRiskStatus(context.Context, int64, Status) error {
	return bot.ErrNotFound
}
func (noReviews) RiskEvent(context.Context, int64) (Event, error) { return Event{}, bot.ErrNotFound }
