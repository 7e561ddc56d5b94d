package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Acting only when sure. A stage that changes a customer's state or
// alerts staff (opting out, recording a check-in, claiming a coupon,
// handing over to a person) acts on the command words it defines, or on a
// classifier reading that is sure (Turn.SureAt); on a reading it is not
// sure of it asks one short question instead (Confirmations.Ask: 回复 T
// 确认退订), and the person's next message, if it is one of the question's
// words within a few minutes, confirms it (Turn.Confirms): the stage then
// acts as if it had been sure.

// Question is a confirming question siyu asked instead of acting.
type Question struct {
	// Capability names who asked ("dnd", "checkin", "coupon",
	// "handover"); only it acts on the answer.
	Capability string `json:"c"`
	// Ref is the asking capability's own reference: what it will do
	// (the campaigns a coupon question offers).
	Ref string `json:"r,omitempty"`
	// Words are the answers that confirm, in Normalize's form.
	Words []string `json:"w"`
	// Trigger identifies the message that raised the question (its
	// dedupe key), so what the answer confirms can be done idempotently
	// on it: however often the question is answered, it acts once.
	Trigger string `json:"t,omitempty"`
	// Prompt is the question as the customer reads it (回复 T 确认退订).
	// It is not stored.
	Prompt  string    `json:"-"`
	AskedAt time.Time `json:"at"`
}

// QuestionStore keeps each person's open question in storage every
// replica shares, for a few minutes. redisstore.Questions implements it.
type QuestionStore interface {
	// Put makes q the open question under key for ttl, replacing any
	// earlier one, answered or not. Errors are ErrUnavailable.
	Put(ctx context.Context, key string, q []byte, ttl time.Duration) error
	// Claim hands key's open question to the message msg, once: the first
	// message to claim it gets it, and so does the same msg again (a
	// platform's retry, a copy on another replica); every other message
	// gets ok false. A claimed question lasts at least keep more, so that
	// the retries of its message find it. Errors are ErrUnavailable.
	Claim(ctx context.Context, key, msg string, keep time.Duration) (q []byte, ok bool, err error)
}

// ConfirmConfig wires Confirmations.
type ConfirmConfig struct {
	// Store keeps open questions; nil: questions are asked but not
	// remembered, so only the capabilities' own command words confirm.
	Store QuestionStore
	// TTL is how long a question stays open (DefaultQuestionTTL when
	// zero).
	TTL    time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultQuestionTTL is how long a confirming question waits for its
// answer: "within a few minutes". Long enough to read the question and
// type one word on a phone, short enough that a 好的 an hour later about
// something else cannot confirm it.
const DefaultQuestionTTL = 5 * time.Minute

// answerKeep is how long a claimed question stays readable by its
// message's retries: platforms retry a callback within seconds (WeChat
// three times in 15 s), and a replica that failed half-way is retried
// within the minute.
const answerKeep = 2 * time.Minute

// Confirmations asks confirming questions and recognises their answers,
// through a QuestionStore shared by replicas. It is installed on the
// stack as an observer that, for a 1:1 message that is one of the asking
// capabilities' answer words (Answers), claims the person's open
// question: the first such message within the TTL answers it, once.
// Other messages leave the question alone and cost no store read; the
// answer words are the capabilities' own command words or close to them
// (T, 签到, 领券, 人工), so a late answer acts no more than the command
// itself would. The capabilities that ask get it through
// their constructors; a nil *Confirmations asks without remembering.
type Confirmations struct {
	store QuestionStore
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger
	// answers report, for the scripts in force, whether a text may
	// answer one of an asking capability's questions (see Answers).
	answers []func(s *Scripts, text string) bool
}

// Answers registers a test of whether a text (in Normalize's form) is a
// word that may answer a capability's questions under the scripts in
// force. The observer reads the store only for a
// message that is one of them, so an ordinary message costs no round
// trip on the reply path (the hot-path rule: the dedupe claim is its only
// one). Capabilities register when they install, before any event runs.
// A nil Confirmations ignores it.
func (c *Confirmations) Answers(is func(s *Scripts, text string) bool) {
	if c != nil {
		c.answers = append(c.answers, is)
	}
}

// couldAnswer reports whether t's text is a word some question may be
// answered with.
func (c *Confirmations) couldAnswer(t *Turn) bool {
	for _, is := range c.answers {
		if is(t.Scripts, t.Text) {
			return true
		}
	}
	return false
}

// NewConfirmations returns Confirmations.
func NewConfirmations(cfg ConfirmConfig) *Confirmations {
	c := &Confirmations{store: cfg.Store, ttl: cfg.TTL, now: cfg.Now, log: cfg.Logger}
	if c.ttl <= 0 {
		c.ttl = DefaultQuestionTTL
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Install adds the observer that claims each 1:1 message's open
// question (layer 2, before any command reads Turn.Confirms).
func (c *Confirmations) Install(st *Stack) error {
	st.Observe(StageFunc(c.observe))
	return nil
}

// answerKey is the Turn value under which the observer keeps the
// question the message claimed.
type answerKey struct{}

// canAsk reports whether t is a message siyu may ask about: a 1:1
// message the person sent (not one seen after the fact). Groups are never
// asked: a question to one member is noise to the rest.
func canAsk(t *Turn) bool {
	ev := &t.Event
	return ev.Kind == KindMessage && !ev.Observe && !ev.Conversation.IsGroup() && ev.Sender != ""
}

// questionKey names a person's open question: on the platform and
// account where it was asked, since an answer comes in the same chat.
func questionKey(ev *Event) string {
	return "q:" + string(PersonOf(ev.Platform, ev.Account, ev.Sender, ""))
}

// messageKey identifies a message across the platform's retries.
func messageKey(ev *Event) string {
	switch {
	case ev.DedupeKey != "":
		return ev.DedupeKey
	case ev.MessageID != "":
		return string(ev.Platform) + ":" + ev.MessageID
	}
	return "t" + strconv.FormatInt(ev.Time.UnixNano(), 36) + ":" + string(ev.Sender)
}

func (c *Confirmations) observe(ctx context.Context, t *Turn) (bool, error) {
	if c.store == nil || t.DryRun || !canAsk(t) || !c.couldAnswer(t) {
		return false, nil
	}
	raw, ok, err := c.store.Claim(ctx, questionKey(&t.Event), messageKey(&t.Event), answerKeep)
	if err != nil {
		// Without the store no answer is recognised: nothing acts that
		// was not asked for by its own command words. The event goes on.
		c.log.WarnContext(ctx, "bot: reading an open question failed", "err", err)
		return false, nil
	}
	if !ok {
		return false, nil
	}
	var q Question
	if err := json.Unmarshal(raw, &q); err != nil {
		c.log.WarnContext(ctx, "bot: an open question is unreadable", "err", err)
		return false, nil
	}
	if c.now().Sub(q.AskedAt) > c.ttl {
		// The store's expiry runs on its own clock; the question's age
		// on this one decides too.
		return false, nil
	}
	t.Set(answerKey{}, q)
	return false, nil
}

// Ask asks the turn's sender q instead of acting: it adds q.Prompt as the
// reply and remembers q, so that the person's next message, if it is one
// of q.Words, confirms it. It reports whether it asked: never in a group
// or about a message seen after the fact (no question to one member in
// front of the others; no reply possible), and the caller then neither
// acts nor asks. A dry run only shows the prompt. A store that fails is
// logged: the question is asked anyway, and its own command words still
// confirm it.
func (c *Confirmations) Ask(ctx context.Context, t *Turn, q Question) bool {
	if !canAsk(t) {
		return false
	}
	t.ReplyText(q.Prompt)
	if c == nil || c.store == nil || t.DryRun {
		return true
	}
	if q.Trigger == "" {
		q.Trigger = messageKey(&t.Event)
	}
	q.AskedAt = c.now()
	raw, err := json.Marshal(q)
	if err == nil {
		err = c.store.Put(ctx, questionKey(&t.Event), raw, c.ttl)
	}
	if err != nil {
		c.log.WarnContext(ctx, "bot: storing a question failed", "capability", q.Capability, "err", fmt.Errorf("bot.Confirmations.Ask: %w", err))
	}
	return true
}

// Confirms returns the question of capability that this message answers
// with one of its words, and reports whether it does. The message is the
// first after the question and within its TTL.
func (t *Turn) Confirms(capability string) (Question, bool) {
	q, ok := t.Value(answerKey{}).(Question)
	if !ok || q.Capability != capability || !slices.Contains(q.Words, t.Text) {
		return Question{}, false
	}
	return q, true
}

// SureAt reports whether the classifier's reading of the turn (Intent at
// Confidence) is sure enough to act on alone: the classifier marked it
// sure (Turn.Sure: its calibrated threshold for the intent, right ≥ 99%
// of the time on text from sources it never learned from), or the
// confidence reaches min, a brand's own threshold (0: none). Callers
// check that Intent is theirs first.
func (t *Turn) SureAt(min float64) bool {
	return t.Sure || min > 0 && t.Confidence >= min
}

// Risk categories that bar a message (bot/risk's names).
const (
	RiskAdSpam   = "ad_spam"
	RiskFraud    = "fraud"
	RiskPoaching = "poaching"
)

// Barred reports whether the message was flagged ad_spam, fraud or
// poaching. A barred message earns no coupon, points or reward, is not
// handed over (risk tells staff about it, once), and is answered with no
// marketing text: the engine runs no keyword rule, intent rule, meaning
// stage or fallback for it, since any scripted text may advertise.
func (t *Turn) Barred() bool {
	for _, r := range t.Risks {
		switch r {
		case RiskAdSpam, RiskFraud, RiskPoaching:
			return true
		}
	}
	return false
}

// SureConfidence reads a capability's sure_confidence: the least
// confidence at which a classifier's reading acts on its own, a number in
// (0, 1], or off (returned as 0: never on the confidence alone; a reading
// the classifier marks sure still acts, see Turn.SureAt).
func (sp *SectionParser) SureConfidence(n *yaml.Node, what string) (float64, bool) {
	if r := yamlResolve(n); r.Kind == yaml.ScalarNode && strings.EqualFold(strings.TrimSpace(r.Value), "off") {
		return 0, true
	}
	v, ok := sp.Float(n, what)
	if !ok {
		return 0, false
	}
	if v <= 0 || v > 1 {
		sp.Errorf(n, "%s: want a number in (0, 1] or off, got %v", what, v)
		return 0, false
	}
	return v, true
}
