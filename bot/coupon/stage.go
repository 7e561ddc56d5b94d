package coupon

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/siyu-bot/siyu/bot"
)

// Capability names coupon's confirming questions.
const Capability = "coupon"

// HandleTurn implements bot.Stage as a command. A message that is a
// campaign's keyword, the answer to a coupon question, or a sure reading
// of a campaign's intent is taken and answered with the claim's outcome;
// a reading that is not sure asks first (replies.confirm). A message
// flagged as spam, fraud or poaching claims nothing. A follow or a new
// contact claims the campaigns with trigger.follow without being taken,
// so the welcome still goes, and says nothing unless a coupon is issued.
func (s *Service) HandleTurn(ctx context.Context, t *bot.Turn) (bool, error) {
	cs := From(t.Scripts)
	if cs == nil || len(cs.list) == 0 {
		return false, nil
	}
	ev := &t.Event
	switch ev.Kind {
	case bot.KindMessage:
		if ev.Conversation.IsGroup() || ev.Sender == "" {
			return false, nil // a code posted in a group is everyone's
		}
		if t.Barred() {
			return false, nil // spam, fraud and poaching earn nothing
		}
		matched, ask, trigger := s.match(cs, t)
		if len(matched) == 0 {
			if len(ask) == 0 {
				return false, nil
			}
			ids := make([]string, len(ask))
			for i, c := range ask {
				ids[i] = c.ID
			}
			q := bot.Question{Capability: Capability, Ref: strings.Join(ids, ","), Words: ask[0].ConfirmWords(), Prompt: ask[0].message(ask[0].Replies.Confirm)}
			if !s.cfg.Confirm.Ask(ctx, t, q) {
				return false, nil
			}
			t.Answer = bot.Answer{Stage: "ask:coupon", Rule: ask[0].ID, Intent: t.Intent, Confidence: t.Confidence, File: ask[0].File, Line: ask[0].Line}
			return true, nil
		}
		for _, c := range matched {
			if err := s.answer(ctx, t, c, trigger, false); err != nil {
				return false, err
			}
		}
		t.Answer = bot.Answer{Stage: "command:coupon", Rule: matched[0].ID, Intent: t.Intent, Confidence: t.Confidence, File: matched[0].File, Line: matched[0].Line}
		return true, nil
	case bot.KindFollow, bot.KindContactAdded:
		if ev.Sender == "" {
			return false, nil
		}
		for i := range cs.list {
			c := &cs.list[i]
			if !c.Trigger.Follow || !c.AllowsChannel(ev.Channel) {
				continue
			}
			if err := s.answer(ctx, t, c, EventTrigger(ev), true); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

// match returns the campaigns a message claims and the trigger it claims
// them under: those of the coupon question it answers, under the asking
// message's trigger (so a question answered twice claims once); else
// those whose keyword it is, or whose intent it surely means, under its
// own. ask are the campaigns whose intent it means without being sure.
func (s *Service) match(cs *Campaigns, t *bot.Turn) (matched, ask []*Campaign, trigger string) {
	if q, ok := t.Confirms(Capability); ok {
		for _, id := range strings.Split(q.Ref, ",") {
			if c, ok := cs.Get(id); ok {
				matched = append(matched, c)
			}
		}
		if q.Trigger != "" {
			trigger = string(t.Event.Platform) + ":" + string(t.Event.Account) + ":" + q.Trigger
		}
		if len(matched) > 0 {
			return matched, nil, trigger
		}
	}
	var unclaimable []*Campaign
	for i := range cs.list {
		c := &cs.list[i]
		switch {
		case slices.Contains(c.Trigger.Keywords, t.Text):
			matched = append(matched, c)
		case c.Trigger.Intent != "" && t.Intent == c.Trigger.Intent && t.Confidence >= s.cfg.MinConfidence:
			switch {
			case t.SureAt(c.Trigger.SureConfidence):
				matched = append(matched, c)
			case !c.AllowsChannel(t.Event.Channel) || c.InWindow(s.cfg.Now()) != "":
				// Nothing to confirm: the answer (not eligible, ended, not
				// started) changes nothing.
				unclaimable = append(unclaimable, c)
			default:
				ask = append(ask, c)
			}
		}
	}
	if len(matched) == 0 && len(ask) == 0 {
		matched = unclaimable
	}
	return matched, ask, EventTrigger(&t.Event)
}

// answer claims c for the turn's sender under trigger and adds the
// outcome's reply. Proactive claims (a follow) only ever add an issued
// coupon.
func (s *Service) answer(ctx context.Context, t *bot.Turn, c *Campaign, trigger string, proactive bool) error {
	ev := &t.Event
	to := personTarget(ev)
	var res Result
	switch {
	case !c.AllowsChannel(ev.Channel):
		// A message carries no channel; a channel campaign is for the
		// contacts that channel brought, claimed when they arrive.
		res = Result{Outcome: NotEligible}
	case t.DryRun:
		res = s.dryRun(ctx, c, ev, trigger)
	default:
		var err error
		res, err = s.Claim(ctx, c, Request{Person: ev.Person(), Alias: AliasOf(ev), Trigger: trigger, To: to, Channel: ev.Channel, Proactive: proactive,
			InAnswer: !proactive && bot.AnswerWindowFrom(ctx).Open()})
		if err != nil {
			return fmt.Errorf("coupon stage %s: %w", c.Key(), err)
		}
		if s.cfg.OnClaim != nil {
			s.cfg.OnClaim(c.Key(), string(res.Outcome))
		}
	}
	if proactive && res.Outcome != Issued {
		return nil
	}
	t.Add(s.actionFor(c, res, to, proactive, t.DryRun))
	return nil
}

// dryRun says what a claim would answer without claiming, from reads
// only: the window, a claim the trigger made before, the stock left. The
// person's limit is not read (it needs the counter).
func (s *Service) dryRun(ctx context.Context, c *Campaign, ev *bot.Event, trigger string) Result {
	if o := c.InWindow(s.cfg.Now()); o != "" {
		return Result{Outcome: o}
	}
	for _, name := range (Request{Person: ev.Person(), Alias: AliasOf(ev)}).names() {
		if prev, ok, err := s.cfg.Store.ByTrigger(ctx, c.Key(), name, trigger); err == nil && ok {
			return Result{Outcome: Issued, Claim: prev, Replayed: true}
		}
	}
	if n, err := s.cfg.Store.Issued(ctx, c.Key()); err == nil && n >= c.Stock {
		return Result{Outcome: OutOfStock}
	}
	return Result{Outcome: Issued}
}

// DryRunCode stands for the code in a dry-run's answer.
const DryRunCode = "（试运行，不发券）"

// actionFor is the action that tells the person a claim's outcome.
func (s *Service) actionFor(c *Campaign, res Result, to bot.Target, proactive, dryRun bool) bot.Action {
	if res.Outcome == Issued && !dryRun {
		return res.Claim.Action()
	}
	text := c.Reply(res.Outcome)
	if res.Outcome == Issued {
		code := DryRunCode
		if res.Replayed {
			code = res.Claim.Code
		}
		text = Claim{Message: c.message(c.Replies.Issued), Code: code}.Text()
	}
	var a bot.Action = bot.Reply{To: to, Text: text}
	if proactive {
		a = bot.Push{Action: a, Topic: Topic}
	}
	return a
}

// Reply returns the campaign's text for an outcome other than Issued.
func (c *Campaign) Reply(o Outcome) string {
	switch o {
	case OutOfStock:
		return c.message(c.Replies.OutOfStock)
	case LimitReached:
		return c.message(c.Replies.LimitReached)
	case Ended:
		return c.message(c.Replies.Ended)
	case NotStarted:
		return c.message(c.Replies.NotStarted)
	case NotEligible:
		return DefaultNotEligible
	}
	return c.message(c.Replies.Issued)
}

// ClaimReward implements check-in's CouponClaimer: it claims campaign's
// coupon for ev's sender, idempotent on (campaign, person, trigger) where
// trigger is the milestone's id, and returns the actions that tell the
// person, as bot.Push{Topic: "coupon"} sent 1:1 even when the check-in
// was in a group. campaign is an id in the scripts of ev's route. An
// unknown campaign is bot.ErrNotFound.
func (s *Service) ClaimReward(ctx context.Context, campaign string, ev bot.Event, trigger string) ([]bot.Action, error) {
	c, ok := s.CampaignsFor(ev.Route).Get(campaign)
	if !ok {
		return nil, fmt.Errorf("coupon.ClaimReward %s: %w", campaign, bot.ErrNotFound)
	}
	to := personTarget(&ev)
	res, err := s.Claim(ctx, c, Request{Person: ev.Person(), Alias: AliasOf(&ev), Trigger: "reward:" + trigger, To: to, Channel: ev.Channel, Proactive: true})
	if err != nil {
		return nil, fmt.Errorf("coupon.ClaimReward: %w", err)
	}
	return []bot.Action{s.actionFor(c, res, to, true, false)}, nil
}

// personTarget is the sender alone, 1:1, wherever the event happened.
func personTarget(ev *bot.Event) bot.Target {
	return bot.Target{Platform: ev.Platform, Account: ev.Account, Route: ev.Route, User: ev.Sender, UnionID: ev.UnionID}
}

// EventTrigger is an event's identity as a claim's trigger: the same
// callback retried or seen by two replicas has the same one.
func EventTrigger(ev *bot.Event) string {
	id := ev.DedupeKey
	if id == "" {
		id = ev.MessageID
	}
	if id == "" {
		// Nothing identifies the event across retries; its time and
		// sender at least make two different events two triggers.
		id = "t" + strconv.FormatInt(ev.Time.UnixNano(), 36) + ":" + string(ev.Sender)
	}
	return string(ev.Platform) + ":" + string(ev.Account) + ":" + id
}
