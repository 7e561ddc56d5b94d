// Package dnd is do-not-disturb: it keeps siyu from spamming the private
// domain. A person opts out with 退订 (or TD, T, 取消推送, 别再发了, or what
// the classifier reads as the unsubscribe intent) and back in with 订阅;
// the brand sets quiet hours and frequency caps in the scripts' dnd:
// section; the platforms' own limits on proactive messages are counted
// too. Replies to a person's own message are never held back: only
// proactive actions (bot.IsProactive: Push and Batched) are.
//
// The rules are enforced twice: by Middleware when the engine produces
// actions (an opted-out person's push is dropped, a push in quiet hours
// or over a cap is rescheduled), and by the Service as the outbox's
// bot.SendGate when it sends them, so an opt-out that arrives while a
// message waits still stops it. Opt-outs and what was held back live in
// the database (Store); counters live in Redis (Counters); both are shared
// by every replica.
package dnd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// Store is the durable state: who opted out, and what was held back.
// The database is the truth for both; every replica reads it.
type Store interface {
	// SetOptOut records whether person opted out, at at. changed reports
	// whether that differs from what was recorded (a repeated 退订 does
	// not change anything). Errors are bot.ErrUnavailable.
	SetOptOut(ctx context.Context, person bot.PersonID, optedOut bool, at time.Time) (changed bool, err error)
	// AnyOptedOut reports whether any of persons (the names of one
	// person on several platforms) has opted out. Errors are
	// bot.ErrUnavailable.
	AnyOptedOut(ctx context.Context, persons ...bot.PersonID) (bool, error)
	// OptOut returns whether person has opted out and since when.
	OptOut(ctx context.Context, person bot.PersonID) (optedOut bool, since time.Time, err error)
	// RecordHeld stores one held-back record. It replaces the newest
	// record of the same Key that was deferred to h.At or earlier (Until
	// set, not after h.At): that is the same push come back when it was
	// due and held again, so a push held when it was produced and again
	// when the outbox tried it is one record, saying what happened last.
	// Errors are bot.ErrUnavailable.
	RecordHeld(ctx context.Context, h HeldBack) error
	// Held returns up to limit held-back records, newest first.
	Held(ctx context.Context, limit int) ([]HeldBack, error)
}

// Counter is one frequency count: Key names the window it counts in (a
// person's day, a group's minute), Limit is the most it may reach, and
// TTL outlives the window.
type Counter struct {
	Key   string
	Limit int
	TTL   time.Duration
}

// Counters keeps frequency counts shared by replicas.
type Counters interface {
	// Take checks every counter against its limit and, unless peek, counts
	// one against each, atomically: either all count or none. With peek,
	// pending[i] is added to counter i's count first (messages of the same
	// turn not yet counted). It returns the index of the first counter
	// already at its limit, or -1. Errors are bot.ErrUnavailable.
	Take(ctx context.Context, counters []Counter, pending []int, peek bool) (full int, err error)
	// Once reports whether key was not marked within ttl, and marks it.
	// Errors are bot.ErrUnavailable.
	Once(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// ScriptSource gives the scripts in force; a *bot.Library is one.
type ScriptSource interface {
	Scripts() *bot.Scripts
}

// Reasons a proactive message is held back, as recorded.
const (
	ReasonOptedOut    = "opted_out"
	ReasonQuietHours  = "quiet_hours"
	ReasonPersonDay   = "cap_person_day"
	ReasonPersonWeek  = "cap_person_week"
	ReasonGroupMinute = "cap_group_minute"
	// ReasonDouyinDay: Douyin lets an account message a customer on its
	// own initiative at most DouyinPerDay times a day.
	ReasonDouyinDay = "douyin_proactive_day"
	// ReasonWeComMonth: WeCom lets a customer or group receive at most
	// as many 企业群发 messages a month as the month has days.
	ReasonWeComMonth = "wecom_group_send_month"
)

// Topics of the Pushes the middleware wraps around Batched actions that
// were not Pushes, so the gate sees them.
const (
	TopicGroupWelcome = "group_welcome" // the engine's batched group welcome
	TopicBatched      = "batched"       // any other Batched action
)

// DouyinPerDay is Douyin's cap on proactive messages to one customer
// (SDK-NOTES: "capped at once a day, ≤3 messages").
const DouyinPerDay = 3

// HeldBack is one proactive action do-not-disturb dropped or deferred,
// as staff see it. It names the action's type, never its text.
type HeldBack struct {
	// Key identifies the held action (a digest of the push, recipient
	// included), the same when the engine produced it and when the
	// outbox tries to send it; "" for none.
	Key string
	// Person is who the action was for, or "group:<platform>:<account>:<group>"
	// for a group. It is a customer id: never log it.
	Person   string
	Platform bot.Platform
	Topic    string
	Reason   string
	// Action is the type of the action that would have gone out
	// ("reply", "news", "render").
	Action string
	// Until is when a deferred action is tried again; zero when dropped.
	Until time.Time
	At    time.Time
}

// Dropped reports whether the action was dropped for good.
func (h HeldBack) Dropped() bool { return h.Until.IsZero() }

// Config wires a Service.
type Config struct {
	Store    Store
	Counters Counters
	// Scripts gives the dnd: section in force to the middleware and the
	// gate (the command stage reads the turn's own scripts).
	Scripts ScriptSource
	Now     func() time.Time
	Logger  *slog.Logger
	// ConfirmEvery is how often a repeated 退订 (or 订阅) that changes
	// nothing is confirmed again: once per this span per person, so the
	// person is told it worked without a confirmation for every repeat.
	ConfirmEvery time.Duration
	// OnHeld, when set, is told the reason of every held-back record
	// stored (metrics count them).
	OnHeld func(reason string)
	// Confirm asks before an opt-out read from the intent alone, and
	// recognises the answer; nil asks without remembering the question
	// (its answer T still opts out, being an unsubscribe word).
	Confirm *bot.Confirmations
}

// Service is do-not-disturb: the command stage (Stage), the engine
// middleware (Middleware), the outbox's send gate (Admit) and the staff
// console's questions (Explain, OptOut, SetOptOut, Held).
type Service struct {
	store    Store
	counters Counters
	scripts  ScriptSource
	now      func() time.Time
	log      *slog.Logger
	every    time.Duration
	confirm  *bot.Confirmations
}

// Interface guard: the outbox asks the Service before sending a Push.
var _ bot.SendGate = (*Service)(nil)

// New returns a Service. Store and Counters are required.
func New(cfg Config) *Service {
	s := &Service{store: cfg.Store, counters: cfg.Counters, scripts: cfg.Scripts, now: cfg.Now, log: cfg.Logger, every: cfg.ConfirmEvery, confirm: cfg.Confirm}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.every <= 0 {
		s.every = 24 * time.Hour // one reminder a day is an answer, not a loop
	}
	if cfg.OnHeld != nil && s.store != nil {
		s.store = heldCounter{Store: s.store, count: cfg.OnHeld}
	}
	return s
}

// config is the dnd: section in force for the scripts of route r (the
// route of the action's target: its account's, its brand's or the base
// scripts, bot.ScriptsFor); the defaults without scripts.
func (s *Service) config(r bot.Route) *Rules {
	if s.scripts == nil {
		return DefaultRules()
	}
	return RulesOf(bot.ScriptsFor(s.scripts, r))
}

// Capability names do-not-disturb's confirming questions.
const Capability = "dnd"

// Stage returns the command stage: it takes the unsubscribe and
// resubscribe words, the answer to its confirming question, and the
// unsubscribe intent (which asks unless it is sure), in 1:1 chats.
func (s *Service) Stage() bot.Stage { return bot.StageFunc(s.handleTurn) }

// command is what a message asks of do-not-disturb.
type command int

const (
	noCommand command = iota
	unsubscribe
	resubscribe
)

// command reads what t asks of do-not-disturb; ask is true when only the
// intent says unsubscribe and is not sure: the person is asked first.
func (c *Rules) command(t *bot.Turn) (cmd command, ask bool) {
	if t.Text != "" {
		// Whole-message matches only: "T" opts out, "Tea" or "T恤" do not.
		if slices.Contains(c.Unsubscribe, t.Text) {
			return unsubscribe, false
		}
		if slices.Contains(c.Resubscribe, t.Text) {
			return resubscribe, false
		}
	}
	if _, ok := t.Confirms(Capability); ok {
		return unsubscribe, false
	}
	if c.Intent != "" && t.Intent == c.Intent && t.Confidence >= c.MinConfidence {
		return unsubscribe, !t.SureAt(c.SureConfidence)
	}
	return noCommand, false
}

// handleTurn is the command stage. Only 1:1 messages count: in a group a
// bare "T" is chatter more often than a request, and one member's opt-out
// cannot stop messages to the whole group anyway.
func (s *Service) handleTurn(ctx context.Context, t *bot.Turn) (bool, error) {
	ev := t.Event
	if ev.Kind != bot.KindMessage || ev.Conversation.IsGroup() || ev.Sender == "" {
		return false, nil
	}
	c := RulesOf(t.Scripts)
	cmd, ask := c.command(t)
	if cmd == noCommand {
		return false, nil
	}
	if ask && !t.DryRun {
		// Someone opted out already loses nothing: no question then.
		out, err := s.store.AnyOptedOut(ctx, personIDs(ev.ReplyTarget())...)
		if err != nil {
			return false, fmt.Errorf("dnd.Stage: %w", err)
		}
		ask = !out
	}
	if ask {
		// Silencing a customer by mistake is worse than one question.
		if !s.confirm.Ask(ctx, t, bot.Question{Capability: Capability, Words: c.ConfirmWords, Prompt: c.ConfirmReply}) {
			return false, nil
		}
		t.Answer = bot.Answer{Stage: "ask:dnd", Rule: "unsubscribe", Intent: t.Intent, Confidence: t.Confidence}
		return true, nil
	}
	optOut, reply, rule := cmd == unsubscribe, c.UnsubscribedReply, "unsubscribe"
	if !optOut {
		reply, rule = c.ResubscribedReply, "resubscribe"
	}
	t.Answer = bot.Answer{Stage: "command:dnd", Rule: rule, Intent: t.Intent, Confidence: t.Confidence}
	if t.DryRun {
		t.ReplyText(reply)
		return true, nil
	}
	now := s.now()
	changed := false
	for _, p := range personIDs(ev.ReplyTarget()) {
		ch, err := s.store.SetOptOut(ctx, p, optOut, now)
		if err != nil {
			return false, fmt.Errorf("dnd.Stage: %w", err)
		}
		changed = changed || ch
	}
	// A change is always confirmed; a repeat that changes nothing is
	// confirmed again at most once per ConfirmEvery after the last
	// confirmation. Either way the confirmation is marked.
	first, err := s.counters.Once(ctx, "confirm:"+rule+":"+string(ev.Person()), s.every)
	if err != nil {
		return false, fmt.Errorf("dnd.Stage: %w", err)
	}
	if changed || first {
		t.ReplyText(reply)
	}
	return true, nil
}

// personIDs returns every name of the person a target is for: the
// cross-platform PersonID and, when that is the unionid, the
// platform's own id too, so an opt-out recorded before the unionid was
// known still counts. Empty for a whole group.
func personIDs(to bot.Target) []bot.PersonID {
	p := to.Person()
	if p == "" {
		return nil
	}
	out := []bot.PersonID{p}
	if to.UnionID != "" && to.User != "" {
		out = append(out, bot.PersonOf(to.Platform, to.Account, to.User, ""))
	}
	return out
}

// Middleware checks proactive actions when the engine produces them: an
// opted-out person's are dropped; those in quiet hours or over a cap are
// deferred (re-wrapped as bot.Batched due when the quiet hours end or the
// cap resets) or dropped by rule; each is recorded. Replies pass
// untouched. A Batched action that is not a Push (a group's welcome) is
// wrapped in a Push so the outbox's gate checks it again at send time.
// Caps are only looked at here; the gate counts what is really sent.
func (s *Service) Middleware() bot.Middleware {
	return func(next bot.Handler) bot.Handler {
		return bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
			actions, err := next.HandleEvent(ctx, ev)
			if err != nil || !slices.ContainsFunc(actions, bot.IsProactive) {
				return actions, err
			}
			out, err := s.filter(ctx, ev.DedupeKey, actions)
			if err != nil {
				// Without the stores nothing proactive may go: the
				// platform retries the callback.
				return nil, fmt.Errorf("dnd.Middleware: %w", err)
			}
			return out, nil
		})
	}
}

// Explain says what do-not-disturb would hold back of actions at now,
// recording nothing and counting nothing: the staff console's dry-run
// calls it with the actions the engine's dry-run produced.
func (s *Service) Explain(ctx context.Context, actions []bot.Action, now time.Time) ([]HeldBack, error) {
	var held []HeldBack
	tally := map[string]int{}
	for _, a := range actions {
		if !bot.IsProactive(a) {
			continue
		}
		d, err := s.check(ctx, s.config(a.Dest().Route), a, dueAt(a, now), tally, false)
		if err != nil {
			return nil, fmt.Errorf("dnd.Explain: %w", err)
		}
		if d.held {
			held = append(held, d.record)
		}
	}
	return held, nil
}

// filter applies the rules to the proactive actions of one turn.
func (s *Service) filter(ctx context.Context, key string, actions []bot.Action) ([]bot.Action, error) {
	now := s.now()
	tally := map[string]int{}
	out := make([]bot.Action, 0, len(actions))
	for i, a := range actions {
		if !bot.IsProactive(a) {
			out = append(out, a)
			continue
		}
		d, err := s.check(ctx, s.config(a.Dest().Route), a, dueAt(a, now), tally, false)
		if err != nil {
			return nil, err
		}
		if d.held {
			d.record.Key = heldKey(asPush(a))
			if err := s.store.RecordHeld(ctx, d.record); err != nil {
				return nil, err
			}
			s.logHeld(ctx, "produced", d.record)
		}
		switch {
		case d.held && d.record.Dropped():
			continue
		case d.held:
			out = append(out, bot.Batched{Action: asPush(a), Key: batchKey(a, key, i, d.record.Until), SendAt: d.record.Until})
		default:
			out = append(out, gated(a))
		}
	}
	return out, nil
}

// dueAt is when a proactive action would go out.
func dueAt(a bot.Action, now time.Time) time.Time {
	if b, ok := a.(bot.Batched); ok && b.SendAt.After(now) {
		return b.SendAt
	}
	return now
}

// asPush returns the Push inside a, or a's action wrapped in one, so the
// outbox's gate sees it: an engine's group welcome (a Batched keyed
// "welcome:…") under TopicGroupWelcome, anything else under
// TopicBatched.
func asPush(a bot.Action) bot.Push {
	topic := TopicBatched
	for {
		switch w := a.(type) {
		case bot.Push:
			return w
		case bot.Batched:
			if strings.HasPrefix(w.Key, "welcome:") {
				topic = TopicGroupWelcome
			}
			a = w.Action
		default:
			return bot.Push{Action: a, Topic: topic}
		}
	}
}

// gated returns a with a Batched's action wrapped in a Push, keeping its
// key and due time, so the outbox's gate checks it at send time.
func gated(a bot.Action) bot.Action {
	b, ok := a.(bot.Batched)
	if !ok {
		return a
	}
	b.Action = asPush(b)
	return b
}

// batchKey names a deferred action's outbox row: the Batched's own key
// (a batch stays one message), else the event's key and the action's
// place in it (a retried callback queues it once).
func batchKey(a bot.Action, eventKey string, i int, until time.Time) string {
	if b, ok := a.(bot.Batched); ok && b.Key != "" {
		return b.Key
	}
	if eventKey != "" {
		return "dnd:" + eventKey + "#" + strconv.Itoa(i)
	}
	payload, _ := bot.MarshalAction(a)
	sum := sha256.Sum256(append(payload, until.UTC().Format(time.RFC3339)...))
	return "dnd:" + hex.EncodeToString(sum[:12])
}

// Admit implements bot.SendGate: the outbox asks it right before sending
// a Push. An opted-out person's push is refused with bot.ErrInvalid (the
// outbox drops it with the reason); one in quiet hours or over a cap is
// deferred to when they end, or dropped by rule. A push let through is
// counted against the caps. Whatever is held back is recorded.
func (s *Service) Admit(ctx context.Context, p bot.Push, now time.Time) (time.Time, error) {
	d, err := s.check(ctx, s.config(p.Dest().Route), p, now, nil, true)
	if err != nil {
		return time.Time{}, fmt.Errorf("dnd.Admit: %w", err)
	}
	if !d.held {
		return time.Time{}, nil
	}
	d.record.Key = heldKey(p)
	if err := s.store.RecordHeld(ctx, d.record); err != nil {
		// Not recorded is better than sent against the rules: the outbox
		// defers and asks again.
		return time.Time{}, fmt.Errorf("dnd.Admit: %w", err)
	}
	s.logHeld(ctx, "sending", d.record)
	if d.record.Dropped() {
		return time.Time{}, fmt.Errorf("dnd: %s: %w", d.record.Reason, bot.ErrInvalid)
	}
	return d.record.Until, nil
}

// logHeld logs a held-back action without saying whose it was.
func (s *Service) logHeld(ctx context.Context, when string, h HeldBack) {
	s.log.InfoContext(ctx, "dnd: proactive action held back", "when", when, "reason", h.Reason,
		"topic", h.Topic, "platform", h.Platform, "dropped", h.Dropped(), "until", h.Until)
}

// decision is what the rules say of one proactive action.
type decision struct {
	held   bool
	record HeldBack // when held
}

// check applies the rules to a due at at. With take it counts a
// let-through action against the caps (the gate); otherwise it only
// looks, adding tally (actions of the same turn let through so far) and
// growing it.
func (s *Service) check(ctx context.Context, c *Rules, a bot.Action, at time.Time, tally map[string]int, take bool) (decision, error) {
	to := a.Dest()
	rec := HeldBack{Person: recipient(to), Platform: to.Platform, Topic: asPush(a).Topic, Action: actionType(bot.Unwrap(a)), At: s.now()}
	if ids := personIDs(to); len(ids) > 0 {
		out, err := s.store.AnyOptedOut(ctx, ids...)
		if err != nil {
			return decision{}, err
		}
		if out {
			rec.Reason = ReasonOptedOut
			return decision{held: true, record: rec}, nil
		}
	}
	if until := c.quietUntil(at); !until.IsZero() {
		rec.Reason, rec.Until = ReasonQuietHours, until
		return decision{held: true, record: rec}, nil
	}
	counters, reasons, resets := c.counters(to, at)
	if len(counters) == 0 {
		return decision{}, nil
	}
	var pending []int
	if !take {
		pending = make([]int, len(counters))
		for i, k := range counters {
			pending[i] = tally[k.Key]
		}
	}
	full, err := s.counters.Take(ctx, counters, pending, !take)
	if err != nil {
		return decision{}, err
	}
	if full < 0 {
		if tally != nil {
			for _, k := range counters {
				tally[k.Key]++
			}
		}
		return decision{}, nil
	}
	rec.Reason = reasons[full]
	if c.overRule(rec.Topic) == OverDefer {
		until := resets[full]
		if q := c.quietUntil(until); !q.IsZero() {
			until = q // a cap that resets at midnight waits out the night too
		}
		rec.Until = until
	}
	return decision{held: true, record: rec}, nil
}

// counters returns the caps that apply to a message to `to` at at, with
// the reason each holds a message back for and when each resets.
func (c *Rules) counters(to bot.Target, at time.Time) ([]Counter, []string, []time.Time) {
	var (
		cs      []Counter
		reasons []string
		resets  []time.Time
	)
	add := func(key string, limit int, reason string, reset time.Time) {
		if limit <= 0 {
			return
		}
		// Keep the count a while past its window, so clocks a little
		// apart between replicas still find it.
		cs = append(cs, Counter{Key: key, Limit: limit, TTL: reset.Sub(at) + time.Hour})
		reasons = append(reasons, reason)
		resets = append(resets, reset)
	}
	lt := at.In(c.Location)
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, c.Location)
	nextDay := day.AddDate(0, 0, 1)
	dayKey := day.Format("20060102")
	// Weeks start on Monday, as Chinese calendars do.
	week := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	nextWeek := week.AddDate(0, 0, 7)
	month := time.Date(lt.Year(), lt.Month(), 1, 0, 0, 0, 0, c.Location)
	nextMonth := month.AddDate(0, 1, 0)

	if person := to.Person(); person != "" {
		add("pd:"+string(person)+":"+dayKey, c.PerPersonDay, ReasonPersonDay, nextDay)
		add("pw:"+string(person)+":"+week.Format("20060102"), c.PerPersonWeek, ReasonPersonWeek, nextWeek)
	}
	if to.Conversation.IsGroup() {
		minute := at.Truncate(time.Minute)
		add("gm:"+groupKey(to)+":"+strconv.FormatInt(minute.Unix(), 10), c.PerGroupMinute, ReasonGroupMinute, minute.Add(time.Minute))
	}
	local := localRecipient(to)
	switch to.Platform {
	case bot.Douyin:
		if !to.Conversation.IsGroup() && local != "" {
			add("dy:"+local+":"+dayKey, DouyinPerDay, ReasonDouyinDay, nextDay)
		}
	case bot.WeCom:
		if local != "" {
			days := nextMonth.AddDate(0, 0, -1).Day()
			add("wm:"+local+":"+month.Format("200601"), days, ReasonWeComMonth, nextMonth)
		}
	}
	return cs, reasons, resets
}

func groupKey(to bot.Target) string {
	return string(to.Platform) + ":" + string(to.Account) + ":" + string(to.Conversation.Group)
}

// heldKey identifies a held push: the digest of what the outbox stores
// and hands back to the gate, so the engine's and the gate's holds of one
// push name it alike. (Two pushes of the same text to the same person
// share a key too; the store tells them apart by when each was due.)
func heldKey(p bot.Push) string {
	payload, err := bot.MarshalAction(p)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:16])
}

// recipient names who a held-back action was for, for staff.
func recipient(to bot.Target) string {
	if to.Conversation.IsGroup() && to.User == "" {
		return "group:" + groupKey(to)
	}
	return string(to.Person())
}

// localRecipient names the recipient on its own platform (the
// platforms' limits are per platform account, not per linked person).
func localRecipient(to bot.Target) string {
	if to.Conversation.IsGroup() {
		return "group:" + groupKey(to)
	}
	if to.User == "" {
		return ""
	}
	return string(bot.PersonOf(to.Platform, to.Account, to.User, ""))
}

// actionType names an action's type as staff read it.
func actionType(a bot.Action) string {
	switch a.(type) {
	case bot.Reply:
		return "reply"
	case bot.News:
		return "news"
	case bot.Welcome:
		return "welcome"
	case bot.StaffAlert:
		return "staff_alert"
	case bot.Render:
		return "render"
	}
	return fmt.Sprintf("%T", a)
}

// OptOut returns whether person opted out and since when, for staff.
func (s *Service) OptOut(ctx context.Context, person bot.PersonID) (bool, time.Time, error) {
	out, since, err := s.store.OptOut(ctx, person)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("dnd.OptOut: %w", err)
	}
	return out, since, nil
}

// SetOptOut records a person's opt-out (or its end) on staff's word.
func (s *Service) SetOptOut(ctx context.Context, person bot.PersonID, optedOut bool) error {
	if person == "" {
		return fmt.Errorf("dnd.SetOptOut: no person: %w", bot.ErrInvalid)
	}
	if _, err := s.store.SetOptOut(ctx, person, optedOut, s.now()); err != nil {
		return fmt.Errorf("dnd.SetOptOut: %w", err)
	}
	return nil
}

// Held returns up to limit held-back records, newest first.
func (s *Service) Held(ctx context.Context, limit int) ([]HeldBack, error) {
	h, err := s.store.Held(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("dnd.Held: %w", err)
	}
	return h, nil
}
