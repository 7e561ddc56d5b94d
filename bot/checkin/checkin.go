// Package checkin is siyu's daily check-in (签到/打卡): one check-in per
// person per scope (a group, or the account for 1:1 chats) per day in the
// configured time zone, with streaks, points, milestone rewards,
// leaderboards, and one digest per window in groups instead of a reply
// per member. The database is the truth (a unique key per person, scope
// and day); leaderboards are read from Redis sorted sets rebuilt from it.
package checkin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// Checkin is one person's check-in in one scope on one day.
type Checkin struct {
	// ID is the store's id, increasing in the order check-ins were
	// recorded: a day's ranks follow it.
	ID     int64
	Scope  string
	Person string // PersonKey of the person
	Name   string // display name when known, else ""
	Day    Day
	Week   int // Day.Week()
	// Streak counts consecutive days ending with Day.
	Streak int
	// Points were earned by this check-in, Bonus included.
	Points int
	Bonus  int
	// Total is the person's points in the scope after this check-in;
	// WeekPoints the same within Week.
	Total      int
	WeekPoints int
	// Rank is the check-in's place in the scope that day, from 1.
	Rank int
	// Rewards is how many milestones this check-in reached.
	Rewards int
	At      time.Time
}

// Milestone is a reward earned by reaching a streak. A streak is named by
// the day it started, so a milestone is given once per streak: a streak
// that breaks and starts again may earn it again.
type Milestone struct {
	Scope    string
	Person   string
	Streak   int // the milestone, e.g. 7
	StartDay Day // the day the streak began
	Day      Day // the day it was reached
}

// Trigger names the milestone for the coupon claim, which is idempotent
// on it.
func (m Milestone) Trigger() string {
	return "checkin:" + m.Scope + ":" + strconv.Itoa(m.Streak) + ":" + strconv.Itoa(int(m.StartDay))
}

// Store keeps check-ins: the truth that leaderboards are rebuilt from.
type Store interface {
	// Latest returns the person's latest check-in in scope on or before
	// day (without its Rank), or an error wrapping bot.ErrNotFound when
	// there is none.
	Latest(ctx context.Context, scope, person string, day Day) (Checkin, error)
	// Insert records c and its milestones (not yet given) atomically and
	// returns c with its ID. It returns an error wrapping
	// bot.ErrConflict, and records nothing, when the person already
	// checked in that day in that scope, however many callers race.
	Insert(ctx context.Context, c Checkin, ms []Milestone) (Checkin, error)
	// Rank counts the check-ins of c's scope and day up to c: its place
	// that day. It costs a scan of the day; Boards answer it in O(log n)
	// and this is the fallback while they are rebuilt.
	Rank(ctx context.Context, c Checkin) (int, error)
	// PendingRewards returns the person's milestones reached on day and
	// not yet given.
	PendingRewards(ctx context.Context, scope, person string, day Day) ([]Milestone, error)
	// FinishReward marks a milestone given and reports whether this
	// caller did so (false when someone else already had).
	FinishReward(ctx context.Context, m Milestone) (bool, error)
	// Window returns up to limit check-ins of scope on day made in
	// [from, to), in order, and how many there are in all.
	Window(ctx context.Context, scope string, day Day, from, to time.Time, limit int) ([]Checkin, int, error)
	// CountDay returns how many people checked in to scope on day.
	CountDay(ctx context.Context, scope string, day Day) (int, error)
	// Standings computes the boards of scope as of day from the
	// check-ins: today's, the week's and all time.
	Standings(ctx context.Context, scope string, day Day) (Standings, error)
	// Names returns the known display names of persons in scope.
	Names(ctx context.Context, scope string, persons []string) (map[string]string, error)
	// RecordUnsent records that a group's digest could not be posted, and
	// why, for staff. Recording the same window again does nothing.
	RecordUnsent(ctx context.Context, u Unsent) error
}

// Unsent is a digest a platform would not let siyu post.
type Unsent struct {
	Scope     string
	Day       Day
	WindowEnd time.Time
	Reason    string
}

// CouponClaimer gives a milestone's coupon. bot/coupon implements it,
// idempotent on (campaign, person, trigger), and returns the actions that
// tell the person (wrapped in bot.Push when proactive).
type CouponClaimer interface {
	ClaimReward(ctx context.Context, campaign string, ev bot.Event, trigger string) ([]bot.Action, error)
}

// Namer finds a person's display name (a group nickname), "" when
// unknown. It is optional.
type Namer interface {
	Name(ctx context.Context, ev bot.Event) string
}

// Options are a Service's dependencies.
type Options struct {
	Store  Store
	Boards Boards
	// Records answer staff's questions; nil: empty answers.
	Records Records
	// Coupons gives milestone coupons; nil gives none (messages only).
	Coupons CouponClaimer
	// Names finds display names; nil: none known.
	Names  Namer
	Now    func() time.Time
	Logger *slog.Logger
	// MinConfidence is where the classifier's "checkin" reading starts to
	// count without a keyword: from it a 1:1 message is asked to confirm
	// (or, when the reading is sure, checked in). 0 means 0.8.
	MinConfidence float64
	// Confirm asks before a check-in read from the intent alone; nil asks
	// without remembering (the answer, a keyword, checks in anyway).
	Confirm *bot.Confirmations
	// Scripts gives the checkin: section in force to callers outside a
	// turn (the admin API's "today" needs the time zone); nil: defaults.
	Scripts bot.ScriptSource
}

// Service is the check-in capability: a command stage (HandleTurn), the
// digest renderer (Render) and the boards staff read (Board).
type Service struct {
	store   Store
	boards  Boards
	coupons CouponClaimer
	names   Namer
	now     func() time.Time
	log     *slog.Logger
	minConf float64
	scripts bot.ScriptSource
	rec     Records
	asker   *bot.Confirmations
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, boards: o.Boards, coupons: o.Coupons, names: o.Names, now: o.Now, log: o.Logger, minConf: o.MinConfidence, scripts: o.Scripts, rec: o.Records, asker: o.Confirm}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.minConf <= 0 {
		// The calibrated intents model, on its held-out lines: checkin at
		// 0.8 is never wrong (precision 1.000) and finds 95% of check-ins;
		// on real text a courier's 需要签收 read checkin at 0.99, so from
		// here it asks unless the reading is sure.
		s.minConf = 0.8
	}
	return s
}

// config is the checkin: section in force, for callers outside a turn;
// the defaults (Asia/Shanghai) without scripts or a section.
func (s *Service) config() *Config {
	if s.scripts != nil {
		if c := FromScripts(s.scripts.Scripts()); c != nil {
			return c
		}
	}
	c := &Config{Points: DefaultPoints, DigestWindow: DefaultDigestWindow}
	c.Location, _ = time.LoadLocation(DefaultTimezone)
	return c
}

// Location returns the time zone days are counted in.
func (s *Service) Location() *time.Location { return s.config().Location }

// Today returns the current day in the configured time zone.
func (s *Service) Today() Day { return DayOf(s.now(), s.config().Location) }

// Observer returns the layer-2 stage that counts check-ins seen after
// the fact (bot.Event.Observe): WeCom customer groups reach siyu only
// through the chat archive, and their check-ins count too. It never
// answers in the conversation; milestone rewards go to the person 1:1.
func (s *Service) Observer() bot.Stage {
	return bot.StageFunc(func(ctx context.Context, t *bot.Turn) (bool, error) {
		if !t.Event.Observe || t.Event.Kind != bot.KindMessage || t.Event.Sender == "" {
			return false, nil
		}
		cfg := FromScripts(t.Scripts)
		if cfg == nil || s.reading(cfg, t) != checkIn {
			return false, nil
		}
		return false, s.checkinTurn(ctx, cfg, t)
	})
}

// Capability names check-in's confirming questions.
const Capability = "checkin"

// verdict is what a message asks of check-ins.
type verdict int

const (
	notCheckin verdict = iota
	checkIn
	askFirst // the intent alone says checkin, not surely
)

// reading says whether t is a check-in: a keyword, the answer to the
// check-in question, or the checkin intent when it is sure. The intent
// that is not sure asks first. A message flagged as spam, fraud or
// poaching earns no points.
func (s *Service) reading(cfg *Config, t *bot.Turn) verdict {
	switch {
	case t.Barred():
		return notCheckin
	case slices.Contains(cfg.Keywords, t.Text):
		return checkIn
	case slices.Contains(cfg.BoardKeywords, t.Text):
		return notCheckin
	}
	if _, ok := t.Confirms(Capability); ok {
		return checkIn
	}
	if t.Intent == "checkin" && t.Confidence >= s.minConf {
		if t.SureAt(cfg.SureConfidence) {
			return checkIn
		}
		return askFirst
	}
	return notCheckin
}

// HandleTurn takes check-in and leaderboard messages (layer 3).
func (s *Service) HandleTurn(ctx context.Context, t *bot.Turn) (bool, error) {
	if t.Event.Kind != bot.KindMessage || t.Event.Sender == "" || t.Event.Observe {
		return false, nil
	}
	cfg := FromScripts(t.Scripts)
	if cfg == nil {
		return false, nil
	}
	if slices.Contains(cfg.BoardKeywords, t.Text) {
		return true, s.boardTurn(ctx, cfg, t)
	}
	switch s.reading(cfg, t) {
	case checkIn:
		return true, s.checkinTurn(ctx, cfg, t)
	case askFirst:
		// In a group nothing is asked: the message goes on as chatter.
		q := bot.Question{Capability: Capability, Words: cfg.Keywords, Prompt: cfg.ConfirmReply}
		if s.asker.Ask(ctx, t, q) {
			t.Answer = bot.Answer{Stage: "ask:checkin", Rule: "checkin", Intent: t.Intent, Confidence: t.Confidence}
			return true, nil
		}
	}
	return false, nil
}

// Outcome is what a check-in did.
type Outcome struct {
	Checkin Checkin
	// Already is true when the person had checked in that day: nothing
	// was recorded.
	Already bool
	// Reached are the milestones this check-in reached.
	Reached []Reward
}

func (s *Service) checkinTurn(ctx context.Context, cfg *Config, t *bot.Turn) error {
	ev := t.Event
	t.Answer = bot.Answer{Stage: "command:checkin", Intent: t.Intent, Confidence: t.Confidence}
	if t.DryRun {
		return s.dryRun(ctx, cfg, t)
	}
	out, err := s.CheckIn(ctx, cfg, ev)
	if err != nil {
		return err
	}
	c := out.Checkin
	name := c.Name
	if name == "" {
		name = "你"
	}
	v := Values{Streak: c.Streak, Points: c.Points, Total: c.Total, Rank: c.Rank, Name: name}
	if out.Already {
		t.Answer.Rule = "already"
		s.sayAlready(t, c, cfg.Already.Render(v))
	} else {
		t.Answer.Rule = "checkin"
		s.confirm(ctx, cfg, t, c, v)
	}
	return s.giveRewards(ctx, cfg, t, c, v)
}

// confirm answers a new check-in: at once in a 1:1 chat, in the window's
// digest in a group.
func (s *Service) confirm(ctx context.Context, cfg *Config, t *bot.Turn, c Checkin, v Values) {
	ev := t.Event
	if !ev.Conversation.IsGroup() {
		if !ev.Observe { // no reply is possible to a message seen after the fact
			t.ReplyText(cfg.Reply.Render(v))
		}
		return
	}
	start := c.At.Truncate(cfg.DigestWindow)
	end := start.Add(cfg.DigestWindow)
	if !CanPostToGroup(ev.Platform) {
		// The check-in counts; the digest cannot go out. Staff see why.
		u := Unsent{Scope: c.Scope, Day: c.Day, WindowEnd: end, Reason: "wecom customer groups accept no bot messages"}
		if err := s.store.RecordUnsent(ctx, u); err != nil {
			s.log.WarnContext(ctx, "checkin: recording an unsent digest failed", "err", err)
		}
		return
	}
	ref := DigestRef{Scope: c.Scope, Day: c.Day, From: start, To: end}
	to := bot.Target{Platform: ev.Platform, Account: ev.Account, Route: ev.Route, Conversation: ev.Conversation}
	t.Add(bot.Batched{
		// The day is part of the key: a window across midnight has one
		// digest per day, each listing its own day's check-ins.
		Key:    "checkin:" + c.Scope + ":" + strconv.Itoa(int(c.Day)) + ":" + strconv.FormatInt(end.Unix(), 10),
		SendAt: end,
		Action: bot.Push{Topic: "checkin_digest", Action: bot.Render{Renderer: DigestRenderer, Key: ref.String(), To: to}},
	})
}

// sayAlready answers a repeated check-in. In a group it says so once per
// person and day (a Batched reply keyed by both, due at once), so people
// who post 签到 again and again cannot make the bot flood the group; in a
// group no bot may post into it says nothing.
func (s *Service) sayAlready(t *bot.Turn, c Checkin, text string) {
	ev := t.Event
	switch {
	case ev.Observe:
	case !ev.Conversation.IsGroup():
		t.ReplyText(text)
	case CanPostToGroup(ev.Platform):
		t.Add(bot.Batched{
			// Hashed: the outbox bounds its keys, and scope and person
			// together may pass the bound.
			Key:    "checkin-already:" + digest(c.Scope+"|"+c.Person) + ":" + strconv.Itoa(int(c.Day)),
			SendAt: s.now(),
			Action: bot.Reply{To: ev.ReplyTarget(), Text: text, InReplyTo: ev.MessageID},
		})
	}
}

// CanPostToGroup reports whether a bot can post into a group on p: WeCom
// customer groups take messages only from staff members' own clients.
func CanPostToGroup(p bot.Platform) bool { return p != bot.WeCom }

// CheckIn records ev's check-in (or finds the one already made today)
// and, for a new one, puts it on the boards.
func (s *Service) CheckIn(ctx context.Context, cfg *Config, ev bot.Event) (Outcome, error) {
	now := s.now()
	day := DayOf(now, cfg.Location)
	scope := cfg.ScopeOf(ev)
	person, prev, err := s.resolve(ctx, scope, ev, day)
	switch {
	case err == nil && prev.Day == day:
		return s.already(ctx, cfg, prev)
	case err != nil && !errors.Is(err, bot.ErrNotFound):
		return Outcome{}, fmt.Errorf("checkin.CheckIn: %w", err)
	case err != nil:
		prev = Checkin{}
	}
	name := ""
	if s.names != nil {
		name = s.names.Name(ctx, ev)
	}
	c, reached := Next(cfg, prev, scope, person, day, now)
	c.Name = name
	ms := make([]Milestone, len(reached))
	for i, r := range reached {
		ms[i] = Milestone{Scope: scope, Person: person, Streak: r.Streak, StartDay: day.AddDays(1 - c.Streak), Day: day}
	}
	c, err = s.store.Insert(ctx, c, ms)
	if errors.Is(err, bot.ErrConflict) {
		// A retry or another replica got there first: its check-in is
		// the one that counts.
		prev, err = s.store.Latest(ctx, scope, person, day)
		if err != nil {
			return Outcome{}, fmt.Errorf("checkin.CheckIn: %w", err)
		}
		return s.already(ctx, cfg, prev)
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("checkin.CheckIn: %w", err)
	}
	if c.Rank, err = s.addToBoards(ctx, c); err != nil {
		return Outcome{}, fmt.Errorf("checkin.CheckIn: %w", err)
	}
	return Outcome{Checkin: c, Reached: reached}, nil
}

// resolve returns the name ev's sender checks in under in scope, with
// their latest check-in there on or before day (an error wrapping
// bot.ErrNotFound when there is none).
//
// A linked sender (ev.UnionID) is union:<unionid>, but what they did
// before siyu learnt the link is under their platform name. Of the two,
// the name with the later check-in wins (the union name on a tie or when
// neither has one): a streak begun before the link goes on under the
// platform name, and once the union name has the later check-in (the
// person checked in from the other platform) it stays there. So history
// moves over once, nothing is rewritten, and a person who checked in
// today under either name is "already" under both. Check-ins made before
// the link under the other platform's name are not seen: the event does
// not carry it.
func (s *Service) resolve(ctx context.Context, scope string, ev bot.Event, day Day) (string, Checkin, error) {
	person := PersonKey(ev.Person())
	latest, err := s.store.Latest(ctx, scope, person, day)
	if ev.UnionID == "" || ev.Sender == "" || err != nil && !errors.Is(err, bot.ErrNotFound) {
		return person, latest, err
	}
	platform := PersonKey(bot.PersonOf(ev.Platform, ev.Account, ev.Sender, ""))
	old, oerr := s.store.Latest(ctx, scope, platform, day)
	switch {
	case oerr != nil && !errors.Is(oerr, bot.ErrNotFound):
		return person, Checkin{}, oerr
	case oerr == nil && (err != nil || old.Day > latest.Day):
		return platform, old, nil
	}
	return person, latest, err
}

// personIn is resolve's name alone, for the boards; the event's own
// person when the store cannot say.
func (s *Service) personIn(ctx context.Context, cfg *Config, scope string, ev bot.Event) string {
	person, _, err := s.resolve(ctx, scope, ev, DayOf(s.now(), cfg.Location))
	if err != nil && !errors.Is(err, bot.ErrNotFound) {
		return PersonKey(ev.Person())
	}
	return person
}

// addToBoards puts a new check-in on the boards and returns its rank of
// the day: from the boards when they are built, else counted in the
// store while the boards are rebuilt (the first check-in in a scope, or
// after Redis was emptied).
func (s *Service) addToBoards(ctx context.Context, c Checkin) (int, error) {
	if s.boards != nil {
		rank, err := s.boards.Add(ctx, c)
		if err != nil {
			// The database holds the check-in; the boards catch up when
			// they are next rebuilt.
			s.log.WarnContext(ctx, "checkin: board update failed", "err", err)
		}
		if rank > 0 {
			return rank, nil
		}
		if err == nil {
			s.rebuild(ctx, c.Scope, c.Day)
		}
	}
	return s.store.Rank(ctx, c)
}

// rebuild loads scope's boards from the store, unless another caller
// (in any replica) is doing so.
func (s *Service) rebuild(ctx context.Context, scope string, day Day) {
	err := s.boards.Load(ctx, scope, day, func(ctx context.Context) (Standings, error) {
		return s.store.Standings(ctx, scope, day)
	})
	if err != nil && !errors.Is(err, bot.ErrConflict) {
		s.log.WarnContext(ctx, "checkin: rebuilding boards failed", "err", err)
	}
}

// already is the outcome of a repeated check-in: today's, with its rank
// when the already text shows it.
func (s *Service) already(ctx context.Context, cfg *Config, c Checkin) (Outcome, error) {
	if cfg.Already.Uses("rank") {
		var err error
		if c.Rank, err = s.store.Rank(ctx, c); err != nil {
			return Outcome{}, fmt.Errorf("checkin.CheckIn: %w", err)
		}
	}
	return Outcome{Checkin: c, Already: true}, nil
}

// Next computes the check-in that follows prev (zero for a first one) on
// day: the streak goes on from yesterday or starts again at 1, points
// and bonuses as configured. It returns the milestones reached.
func Next(cfg *Config, prev Checkin, scope, person string, day Day, at time.Time) (Checkin, []Reward) {
	c := Checkin{Scope: scope, Person: person, Day: day, Week: day.Week(), Streak: 1, At: at}
	if prev.Day != 0 && prev.Day.AddDays(1) == day {
		c.Streak = prev.Streak + 1
	}
	c.Bonus = cfg.StreakBonus[c.Streak]
	c.Points = cfg.Points + c.Bonus
	c.Total = prev.Total + c.Points
	c.WeekPoints = c.Points
	if prev.Week == c.Week {
		c.WeekPoints += prev.WeekPoints
	}
	var reached []Reward
	for _, r := range cfg.Rewards {
		if r.Streak == c.Streak {
			reached = append(reached, r)
		}
	}
	c.Rewards = len(reached)
	return c, reached
}

// giveRewards gives the milestones of c not yet given: a new check-in's,
// or those a failed earlier attempt left (seen on a later message that
// day). Each is given by exactly one caller: FinishReward decides.
func (s *Service) giveRewards(ctx context.Context, cfg *Config, t *bot.Turn, c Checkin, v Values) error {
	if c.Rewards == 0 {
		return nil
	}
	pending, err := s.store.PendingRewards(ctx, c.Scope, c.Person, c.Day)
	if err != nil {
		s.log.WarnContext(ctx, "checkin: reading pending rewards failed", "err", err)
		return nil
	}
	ev := t.Event
	// Where nothing can be said in the conversation, the person is told
	// 1:1, the coupon's own message included.
	oneToOne := ev.Observe || ev.Conversation.IsGroup() && !CanPostToGroup(ev.Platform)
	claimEv := ev
	if oneToOne {
		claimEv.Conversation = bot.Conversation{}
	}
	for _, m := range pending {
		i := slices.IndexFunc(cfg.Rewards, func(r Reward) bool { return r.Streak == m.Streak })
		if i < 0 {
			continue // the reward was removed from the scripts since
		}
		r := cfg.Rewards[i]
		var coupon []bot.Action
		if r.Coupon != "" && s.coupons != nil {
			// Claim before marking given: the claim is idempotent on the
			// trigger, so a crash in between only repeats it.
			if coupon, err = s.coupons.ClaimReward(ctx, r.Coupon, claimEv, m.Trigger()); err != nil {
				s.log.WarnContext(ctx, "checkin: coupon claim failed; the reward stays pending", "streak", m.Streak, "err", err)
				continue
			}
		}
		mine, err := s.store.FinishReward(ctx, m)
		if err != nil {
			s.log.WarnContext(ctx, "checkin: finishing a reward failed", "err", err)
			continue
		}
		if !mine {
			continue // another replica told the person
		}
		text, _ := ParseTemplate(r.Message) // checked when the scripts loaded
		msg := text.Render(v)
		switch {
		case oneToOne:
			t.Add(bot.Push{Topic: "checkin_reward", Action: bot.Reply{To: claimEv.ReplyTarget(), Text: msg}})
		case ev.Conversation.IsGroup():
			t.Add(bot.Push{Topic: "checkin_reward", Action: bot.Reply{To: ev.ReplyTarget(), Text: msg}})
		default:
			t.ReplyText(msg)
		}
		t.Add(coupon...)
	}
	return nil
}

// dryRun says what a check-in would do and writes nothing.
func (s *Service) dryRun(ctx context.Context, cfg *Config, t *bot.Turn) error {
	ev := t.Event
	now := s.now()
	day := DayOf(now, cfg.Location)
	scope := cfg.ScopeOf(ev)
	person, prev, err := s.resolve(ctx, scope, ev, day)
	if err != nil && !errors.Is(err, bot.ErrNotFound) {
		return fmt.Errorf("checkin.dryRun: %w", err)
	}
	if err == nil && prev.Day == day {
		out, err := s.already(ctx, cfg, prev)
		if err != nil {
			return err
		}
		prev = out.Checkin
		t.Answer.Rule = "already"
		t.ReplyText(cfg.Already.Render(Values{Streak: prev.Streak, Points: prev.Points, Total: prev.Total, Rank: prev.Rank, Name: "你"}))
		return nil
	}
	if err != nil {
		prev = Checkin{}
	}
	c, reached := Next(cfg, prev, scope, person, day, now)
	n, err := s.store.CountDay(ctx, scope, day)
	if err != nil {
		return fmt.Errorf("checkin.dryRun: %w", err)
	}
	c.Rank = n + 1
	v := Values{Streak: c.Streak, Points: c.Points, Total: c.Total, Rank: c.Rank, Name: "你"}
	t.Answer.Rule = "checkin"
	text := cfg.Reply.Render(v)
	if ev.Conversation.IsGroup() {
		text = "（群内汇总到本轮摘要）" + text
	}
	t.ReplyText(text)
	for _, r := range reached {
		msg, _ := ParseTemplate(r.Message)
		line := "（里程碑）" + msg.Render(v)
		if r.Coupon != "" {
			line += "（发券：" + r.Coupon + "）"
		}
		t.ReplyText(line)
	}
	return nil
}
