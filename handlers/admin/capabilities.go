package admin

import (
	"context"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/bot/feedback"
	"github.com/siyu-bot/siyu/bot/risk"
)

// The staff questions each capability answers, in its own types. A
// capability offers a module by implementing one of these; the adapters
// below shape its answers for the API.
type (
	// CheckinService is bot/checkin's Service as staff ask it.
	CheckinService interface {
		StaffBoard(ctx context.Context, scope string, period checkin.Period) (checkin.Board, error)
		History(ctx context.Context, scope, person string) (checkin.History, error)
		ScopesToday(ctx context.Context) ([]checkin.ScopeCount, error)
		Unsent(ctx context.Context, limit int) ([]checkin.Unsent, error)
	}
	// CouponService is bot/coupon's Service as staff ask it.
	CouponService interface {
		Figures(ctx context.Context) ([]coupon.Figures, error)
		ClaimsOf(ctx context.Context, campaign string, limit int) ([]coupon.Claim, error)
	}
	// RiskService is bot/risk's Service as staff ask it.
	RiskService interface {
		Events(ctx context.Context, q risk.Query) ([]risk.Event, error)
		Event(ctx context.Context, id int64) (risk.Event, error)
		SetStatus(ctx context.Context, id int64, status string) error
	}
	// DNDService is bot/dnd's Service as staff ask it.
	DNDService interface {
		OptOut(ctx context.Context, person bot.PersonID) (bool, time.Time, error)
		SetOptOut(ctx context.Context, person bot.PersonID, optedOut bool) error
		Held(ctx context.Context, limit int) ([]dnd.HeldBack, error)
		HoldExplainer
	}
	// FeedbackService is bot/feedback's Service as staff ask it.
	FeedbackService interface {
		Lines(ctx context.Context, dataset string, limit int) ([]feedback.Line, error)
		Export(ctx context.Context, dataset string) ([]feedback.File, error)
		Correct(ctx context.Context, text, intent, was string) (feedback.Line, error)
	}
)

// FromCapabilities returns the modules of the capabilities that offer
// one, in order, and the explainer of what do-not-disturb would hold
// back (nil without do-not-disturb). It asks each capability itself, so
// wrapping another's send gate or middleware cannot hide it.
func FromCapabilities(caps []bot.Capability) (modules []Module, holds HoldExplainer) {
	for _, c := range caps {
		if svc, ok := c.(CheckinService); ok {
			modules = append(modules, NewCheckin(checkinAdapter{svc}))
		}
		if svc, ok := c.(CouponService); ok {
			modules = append(modules, NewCoupon(couponAdapter{svc}))
		}
		if svc, ok := c.(RiskService); ok {
			modules = append(modules, NewRisk(riskAdapter{svc}))
		}
		if svc, ok := c.(DNDService); ok {
			modules = append(modules, NewDND(dndAdapter{svc}))
			holds = svc
		}
		if svc, ok := c.(FeedbackService); ok {
			modules = append(modules, NewFeedback(feedbackAdapter{svc}))
		}
		if svc, ok := c.(InboxService); ok {
			modules = append(modules, NewInbox(svc))
		}
	}
	return modules, holds
}

type checkinAdapter struct{ svc CheckinService }

func (a checkinAdapter) Board(ctx context.Context, scope, period string) (CheckinBoard, error) {
	p, err := checkin.ParsePeriod(period)
	if err != nil {
		return CheckinBoard{}, err
	}
	b, err := a.svc.StaffBoard(ctx, scope, p)
	if err != nil {
		return CheckinBoard{}, err
	}
	return CheckinBoard{Scope: scope, Period: string(p), ByPoints: checkinEntries(b.ByPoints), ByStreak: checkinEntries(b.ByStreak)}, nil
}

func checkinEntries(es []checkin.Entry) []CheckinEntry {
	out := make([]CheckinEntry, len(es))
	for i, e := range es {
		out[i] = CheckinEntry{Rank: e.Rank, Name: e.Name, Person: e.Person, Points: e.Points, Streak: e.Streak}
	}
	return out
}

func (a checkinAdapter) History(ctx context.Context, scope, person string) (CheckinHistory, error) {
	h, err := a.svc.History(ctx, scope, person)
	if err != nil {
		return CheckinHistory{}, err
	}
	out := CheckinHistory{Person: h.Person, Total: h.Total, Streak: h.Streak, Days: make([]CheckinDay, len(h.Days))}
	for i, c := range h.Days {
		out.Days[i] = CheckinDay{Day: c.Day.String(), Points: c.Points, Streak: c.Streak}
	}
	return out, nil
}

func (a checkinAdapter) Unsent(ctx context.Context, limit int) ([]CheckinUnsent, error) {
	us, err := a.svc.Unsent(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]CheckinUnsent, len(us))
	for i, u := range us {
		out[i] = CheckinUnsent{Scope: u.Scope, Day: u.Day.String(), WindowEnd: u.WindowEnd, Reason: u.Reason}
	}
	return out, nil
}

func (a checkinAdapter) Scopes(ctx context.Context) ([]CheckinScope, error) {
	sc, err := a.svc.ScopesToday(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]CheckinScope, len(sc))
	for i, s := range sc {
		out[i] = CheckinScope{Scope: s.Scope, CheckinsToday: s.Checkins}
	}
	return out, nil
}

type couponAdapter struct{ svc CouponService }

func (a couponAdapter) Campaigns(ctx context.Context) ([]CouponCampaign, error) {
	figs, err := a.svc.Figures(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]CouponCampaign, len(figs))
	for i, f := range figs {
		c := f.Campaign
		out[i] = CouponCampaign{
			ID: c.ID, Name: c.Name, Stock: f.Stock, Issued: f.Issued, Remaining: f.Remaining,
			Start: timeOrNil(c.Start), End: timeOrNil(c.End), PerChannel: f.Stats.PerChannel,
		}
	}
	return out, nil
}

func (a couponAdapter) Claims(ctx context.Context, campaign string, limit int) ([]CouponClaim, error) {
	claims, err := a.svc.ClaimsOf(ctx, campaign, limit)
	if err != nil {
		return nil, err
	}
	out := make([]CouponClaim, len(claims))
	for i, cl := range claims {
		out[i] = CouponClaim{Person: string(cl.Person), Code: cl.Code, Channel: cl.Channel, Trigger: cl.Trigger, CreatedAt: cl.CreatedAt}
	}
	return out, nil
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

type riskAdapter struct{ svc RiskService }

func (a riskAdapter) ListEvents(ctx context.Context, q RiskQuery) ([]RiskEvent, error) {
	events, err := a.svc.Events(ctx, risk.Query{Category: q.Category, Status: q.Status, Brands: q.Brands, Account: q.Account, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]RiskEvent, len(events))
	for i, e := range events {
		out[i] = riskEvent(e)
	}
	return out, nil
}

func (a riskAdapter) Event(ctx context.Context, id int64) (RiskEvent, error) {
	e, err := a.svc.Event(ctx, id)
	if err != nil {
		return RiskEvent{}, err
	}
	return riskEvent(e), nil
}

func riskEvent(e risk.Event) RiskEvent {
	return RiskEvent{
		ID: e.ID, Category: string(e.Category), Severity: e.Severity.String(), Evidence: e.Evidence,
		Platform: string(e.Platform), Brand: e.Route.Brand, Account: e.Route.Name, Conversation: string(e.Conversation), Sender: senderOf(e),
		TextMasked: e.TextMasked, Count: e.Count, Status: string(e.Status), CreatedAt: e.CreatedAt,
	}
}

// senderOf is the PersonID of who sent a risky message (the module
// masks it).
func senderOf(e risk.Event) string {
	if e.Person != "" {
		return string(e.Person)
	}
	if e.Sender == "" {
		return ""
	}
	return string(bot.PersonOf(e.Platform, e.Account, e.Sender, ""))
}

func (a riskAdapter) SetStatus(ctx context.Context, id int64, status string) error {
	return a.svc.SetStatus(ctx, id, status)
}

type dndAdapter struct{ svc DNDService }

func (a dndAdapter) OptOut(ctx context.Context, person bot.PersonID) (bool, time.Time, error) {
	return a.svc.OptOut(ctx, person)
}

func (a dndAdapter) SetOptOut(ctx context.Context, person bot.PersonID, optedOut bool) error {
	return a.svc.SetOptOut(ctx, person, optedOut)
}

func (a dndAdapter) HeldBack(ctx context.Context, limit int) ([]DNDHeld, error) {
	held, err := a.svc.Held(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]DNDHeld, len(held))
	for i, h := range held {
		out[i] = DNDHeld{Person: h.Person, Topic: h.Topic, Reason: h.Reason, Action: h.Action, Until: h.Until, CreatedAt: h.At}
	}
	return out, nil
}

type feedbackAdapter struct{ svc FeedbackService }

func feedbackLine(l feedback.Line) FeedbackLine {
	return FeedbackLine{Dataset: l.Dataset, Label: l.Label, Text: l.Text, Source: l.Source, Was: l.Was, UpdatedAt: l.At}
}

func (a feedbackAdapter) Lines(ctx context.Context, dataset string, limit int) ([]FeedbackLine, error) {
	lines, err := a.svc.Lines(ctx, dataset, limit)
	if err != nil {
		return nil, err
	}
	out := make([]FeedbackLine, len(lines))
	for i, l := range lines {
		out[i] = feedbackLine(l)
	}
	return out, nil
}

func (a feedbackAdapter) Export(ctx context.Context, dataset string) ([]FeedbackFile, error) {
	files, err := a.svc.Export(ctx, dataset)
	if err != nil {
		return nil, err
	}
	out := make([]FeedbackFile, len(files))
	for i, f := range files {
		out[i] = FeedbackFile{Path: f.Path, Label: f.Label, Data: f.Data}
	}
	return out, nil
}

func (a feedbackAdapter) Correct(ctx context.Context, text, intent, was string) (FeedbackLine, error) {
	l, err := a.svc.Correct(ctx, text, intent, was)
	if err != nil {
		return FeedbackLine{}, err
	}
	return feedbackLine(l), nil
}

// Interface guards: the capabilities offer their modules.
var (
	_ CheckinService  = (*checkin.Service)(nil)
	_ CouponService   = (*coupon.Service)(nil)
	_ RiskService     = (*risk.Service)(nil)
	_ DNDService      = (*dnd.Service)(nil)
	_ FeedbackService = (*feedback.Service)(nil)
)
