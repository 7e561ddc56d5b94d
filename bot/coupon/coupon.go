// Package coupon hands out coupons of the campaigns written in the
// scripts' campaigns: section: to a person who asks (领券, or the coupon
// intent), to a new follower or contact, and for a check-in milestone
// (ClaimReward). A claim never takes a campaign below zero stock, never
// gives a person more than per_person coupons (across platforms where
// siyu links them, see bot.PersonID), and is idempotent on (campaign,
// person, trigger): a retried callback, the same message on two replicas
// or a replayed milestone gets the first claim back, never a second
// coupon.
//
// The database is the truth: every claim is a row whose unique
// constraints (campaign+seq with seq ≤ stock, campaign+person+slot with
// slot ≤ per_person, campaign+person+trigger, campaign+code) make an
// oversell or a second coupon impossible whatever the replicas do. A
// Counter (one Redis Lua script) hands out seq and slot numbers so that
// concurrent claims rarely collide there; when its state is lost it is
// rebuilt from the database, and any collision a stale counter causes is
// caught by the constraints and retried.
//
// A person linked across platforms (bot.Event.UnionID) claims as
// union:<unionid>, but what they claimed before siyu learnt the link
// stands under their platform-scoped name (wechat:<appid>:<openid>). So
// a claim has up to two names: Person, and Alias, the platform-scoped
// name when Person is the union name. Each claim occupies its slot under
// every name it has (the store keeps one row per name and slot, unique),
// so a person's claims under either name share the per_person slots:
// claims under the platform name before the link and under the union
// name after it can never together exceed per_person, whichever replica
// claims and in whatever order. The Counter counts under both names too;
// where it is wrong, the store's constraints decide. Claims made under
// another platform's name before the link (the same person's WeCom id,
// while this claim comes from the Official Account) are not counted: the
// event does not carry that name.
//
// The coupon's message is written to the outbox in the claim's own
// transaction, keyed by the claim id, so it is sent even if the replica
// dies right after the claim, retried until delivered, and never queued
// twice. When the callback's answer can carry it (a WeChat passive reply
// inside the reply budget), the turn answers with the code itself and
// the row is written on standby: it is sent only if that answer does not
// carry the message after all (the budget ran out, or WeChat retried
// because the answer was lost), when the adapter queues the reply under
// the row's key.
package coupon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// Outcome is what became of a claim.
type Outcome string

// Outcomes, each with its own reply.
const (
	Issued       Outcome = "issued"
	OutOfStock   Outcome = "out_of_stock"
	LimitReached Outcome = "limit_reached"
	Ended        Outcome = "ended"
	NotStarted   Outcome = "not_started"
	NotEligible  Outcome = "not_eligible"
)

// RendererName is the outbox renderer that builds a claim's message when
// it is sent (bot.Render.Renderer).
const RendererName = "coupon"

// Topic is the bot.Push topic of proactive coupon messages.
const Topic = "coupon"

// Claim is one issued coupon.
type Claim struct {
	ID string
	// Campaign is the campaign's Key: its id, or <brand>:<id>.
	Campaign string
	Person   bot.PersonID
	// Alias is the platform-scoped name of a person who claims under
	// their union name ("" otherwise); the claim counts against
	// per_person under both names.
	Alias bot.PersonID
	// Trigger is the claiming event's identity: platform:account:dedupe
	// key for a message or a follow, the milestone id for a reward.
	Trigger string
	// Seq numbers the campaign's claims from 1 to its stock; Slot numbers
	// a person's claims from 1 to per_person.
	Seq, Slot int
	// Code is empty for a platform-native coupon not issued yet.
	Code    string
	Channel string
	// To is where the coupon's message goes.
	To bot.Target
	// Message is the issued reply as promised at claim time, {{code}}
	// still to be filled in.
	Message   string
	Proactive bool
	CreatedAt time.Time
}

// Sentinel conflicts Store.Insert reports; each wraps bot.ErrConflict.
var (
	// ErrTriggerTaken: the (campaign, person, trigger) is claimed already.
	ErrTriggerTaken = fmt.Errorf("coupon: trigger already claimed: %w", bot.ErrConflict)
	// ErrSeqTaken: another claim holds the seq (a stale counter).
	ErrSeqTaken = fmt.Errorf("coupon: seq taken: %w", bot.ErrConflict)
	// ErrCodeTaken: the code is another claim's.
	ErrCodeTaken = fmt.Errorf("coupon: code taken: %w", bot.ErrConflict)
	// ErrLimit: the person has per_person claims already.
	ErrLimit = fmt.Errorf("coupon: per-person limit reached: %w", bot.ErrConflict)
)

// Store is the database truth of claims and imported codes.
type Store interface {
	// Insert stores c and, in the same transaction, msg in the outbox.
	// (campaign, trigger) is unique per platform name (c.Alias, or
	// c.Person when c has no alias), so one event claims once whether or
	// not it was linked when it claimed. A
	// slot taken by another of the person's claims is replaced by a free
	// one up to perPerson. Conflicts are the Err… sentinels above.
	Insert(ctx context.Context, c Claim, perPerson int, msg bot.OutboxItem) (Claim, error)
	// ByTrigger returns the claim of (campaign, person, trigger). A
	// claim's trigger is unique under its platform name (Alias when it
	// has one, else Person): ask with that name.
	ByTrigger(ctx context.Context, campaign string, person bot.PersonID, trigger string) (Claim, bool, error)
	// Get returns a claim by id (bot.ErrNotFound when unknown).
	Get(ctx context.Context, id string) (Claim, error)
	// SetCode records a native coupon's code on a claim that has none.
	SetCode(ctx context.Context, id, code string) error
	// CodeAt returns the imported code numbered seq (bot.ErrNotFound).
	CodeAt(ctx context.Context, campaign string, seq int) (string, error)
	// Snapshot reads what a Counter is rebuilt from.
	Snapshot(ctx context.Context, campaign string) (Snapshot, error)
	// Issued counts a campaign's claims.
	Issued(ctx context.Context, campaign string) (int, error)
	// Held counts the claims of a campaign held under any of the names.
	Held(ctx context.Context, campaign string, persons ...bot.PersonID) (int, error)
}

// Snapshot is a campaign's state in the database.
type Snapshot struct {
	Seqs    []int                // claimed seqs, ascending
	Persons map[bot.PersonID]int // claims per name (a linked claim counts under both)
	Codes   int                  // imported codes
}

// ReserveStatus is the Counter's answer.
type ReserveStatus int

// Counter answers.
const (
	// Reserved: Seq and Slot are the caller's to insert.
	Reserved ReserveStatus = iota + 1
	// NeedRebuild: the counter has no state (Redis was emptied).
	NeedRebuild
	// FullForPerson: the person has per_person claims.
	FullForPerson
	// SoldOut: every seq up to the stock is taken. Slot then counts the
	// person's claims as the counter knows them (the most under any of
	// their names), 0 when they hold none.
	SoldOut
)

// Reservation is a seq and slot handed out by a Counter.
type Reservation struct {
	Status    ReserveStatus
	Seq, Slot int
	// Epoch names the counter state it came from; releasing into a
	// rebuilt state is ignored.
	Epoch string
}

// Counter is the fast path: atomic counters shared by all replicas
// (Redis). It may be wrong after a loss; the Store's constraints are not.
type Counter interface {
	// Reserve takes the next free seq (≤ stock, or ≤ the imported codes
	// when importOnly) and a slot (≤ perPerson) under every one of the
	// person's names: FullForPerson when any name has perPerson claims.
	Reserve(ctx context.Context, campaign string, persons []bot.PersonID, stock, perPerson int, importOnly bool) (Reservation, error)
	// Release gives back a reservation's seq (when seq) and slot under
	// every name (when slot) that were not used.
	Release(ctx context.Context, campaign string, persons []bot.PersonID, r Reservation, seq, slot bool) error
	// Rebuild replaces the campaign's state with one read by snap, unless
	// another replica is doing it; callers then Reserve again.
	Rebuild(ctx context.Context, campaign string, snap func(context.Context) (Snapshot, error)) error
	// Reset forgets the campaign's state, so the next Reserve rebuilds it
	// (after an import, or when stock seems lost).
	Reset(ctx context.Context, campaign string) error
}

// NativeIssuer issues a platform's own coupon (WeChat Pay's send-coupon)
// for a claim. It must be idempotent on claimID (WeChat Pay's
// out_request_no): the outbox retries a failed send and calls it again.
type NativeIssuer interface {
	Issue(ctx context.Context, campaign *Campaign, claimID string, to bot.Target) (code string, err error)
}

// Config holds the Service's dependencies.
type Config struct {
	Store   Store
	Counter Counter
	// Reports answer staff's questions; nil: empty figures.
	Reports Reports
	// Native issuers by campaign key (Campaign.Key: the id, or
	// <brand>:<id> for a brand's campaign): their coupons come from the
	// platform instead of generated or imported codes.
	Native map[string]NativeIssuer
	// MinConfidence is where a campaign's intent starts to count: from it
	// a 1:1 message is asked to confirm (or, when the reading is sure,
	// claims); 0.6 by default.
	MinConfidence float64
	// Confirm asks before a claim read from the intent alone, and
	// recognises the answer; nil asks without remembering (a campaign's
	// keyword answers it anyway).
	Confirm *bot.Confirmations
	// RecheckAfter bounds how often a sold-out answer is checked against
	// the database (a lost reservation would otherwise strand stock).
	RecheckAfter time.Duration
	// Scripts gives the campaigns in force outside a turn: check-in's
	// rewards (ClaimReward), the outbox's renderer and the admin API,
	// each for the route it serves (bot.ScriptsFor). Turns read their
	// own scripts.
	Scripts bot.ScriptSource
	// OnClaim, when set, is told every claim's campaign (its Key) and outcome
	// (issued, out_of_stock, limit_reached, ended, not_started); metrics
	// count them.
	OnClaim func(campaign, outcome string)
	Now     func() time.Time
	Logger  *slog.Logger
}

// Service claims coupons; it is the command stage (rank 30), the outbox
// renderer of coupon messages, and check-in's CouponClaimer.
type Service struct {
	cfg Config

	mu      sync.Mutex
	checked map[string]time.Time // check → when it last ran (see due)
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinConfidence <= 0 {
		cfg.MinConfidence = 0.6
	}
	if cfg.RecheckAfter <= 0 {
		cfg.RecheckAfter = 10 * time.Second
	}
	return &Service{cfg: cfg, checked: map[string]time.Time{}}
}

// Campaigns returns the campaigns of the base scripts in force (none
// without Config.Scripts).
func (s *Service) Campaigns() *Campaigns { return s.CampaignsFor(bot.Route{}) }

// CampaignsFor returns the campaigns of the scripts in force for route r
// (bot.ScriptsFor): an account's, its brand's or the base scripts'.
func (s *Service) CampaignsFor(r bot.Route) *Campaigns {
	return From(bot.ScriptsFor(s.cfg.Scripts, r))
}

// Request is one claim.
type Request struct {
	Person bot.PersonID
	// Alias is the platform-scoped name when Person is the union name
	// (see AliasOf); claims under it count against per_person too.
	Alias     bot.PersonID
	Trigger   string
	To        bot.Target
	Channel   string
	Proactive bool
	// InAnswer: the callback's own answer carries the claim's message (a
	// passive reply), so its outbox row is written on standby
	// (bot.OutboxStandby), to be sent only if that answer does not carry
	// it after all. Ignored for a coupon whose code is issued at send
	// time (native): its message can only go through the outbox.
	InAnswer bool
}

// Result is a claim's outcome, with the claim when issued.
type Result struct {
	Outcome Outcome
	Claim   Claim
	// Replayed: the trigger had claimed before; Claim is that claim.
	Replayed bool
}

// AliasOf returns the platform-scoped name of ev's sender when the event
// is linked (Person is then the union name), else "".
func AliasOf(ev *bot.Event) bot.PersonID {
	if ev.UnionID == "" || ev.Sender == "" {
		return ""
	}
	return bot.PersonOf(ev.Platform, ev.Account, ev.Sender, "")
}

// names returns the names a request's claims count under.
func (req Request) names() []bot.PersonID {
	if req.Alias == "" || req.Alias == req.Person {
		return []bot.PersonID{req.Person}
	}
	return []bot.PersonID{req.Person, req.Alias}
}

// retryReach is how long after a campaign's end a platform's retry of a
// claim made before it may still come (WeChat retries within seconds;
// the outbox and dedupe within minutes).
const retryReach = time.Hour

// maxAttempts bounds the retries of one claim after conflicts caused by
// a stale counter.
const maxAttempts = 64

// Claim claims c's coupon for req. Errors are bot.ErrUnavailable (a
// store failed) or bot.ErrInvalid (an incomplete request).
func (s *Service) Claim(ctx context.Context, c *Campaign, req Request) (Result, error) {
	if req.Person == "" || req.Trigger == "" || req.To.Platform == "" {
		return Result{}, fmt.Errorf("coupon.Claim: person, trigger and target are required: %w", bot.ErrInvalid)
	}
	now := s.cfg.Now()
	if o := c.InWindow(now); o != "" {
		// A campaign not started, or ended beyond a retry's reach, has
		// no claim of this trigger to replay.
		if o == NotStarted || now.Sub(c.End) > retryReach {
			return Result{Outcome: o}, nil
		}
		return s.negative(ctx, c, req, o)
	}
	native := s.cfg.Native[c.Key()]
	importOnly := c.Codes.Import && native == nil
	names := req.names()
	var alias bot.PersonID
	if len(names) > 1 {
		alias = names[1]
	}
	for range maxAttempts {
		r, err := s.cfg.Counter.Reserve(ctx, c.Key(), names, c.Stock, c.PerPerson, importOnly)
		if err != nil {
			return Result{}, fmt.Errorf("coupon.Claim: %w", err)
		}
		switch r.Status {
		case NeedRebuild:
			if err := s.cfg.Counter.Rebuild(ctx, c.Key(), func(ctx context.Context) (Snapshot, error) {
				return s.cfg.Store.Snapshot(ctx, c.Key())
			}); err != nil {
				return Result{}, fmt.Errorf("coupon.Claim: %w", err)
			}
			continue
		case FullForPerson:
			if s.recheckPerson(ctx, c, names, now) {
				continue
			}
			return s.negative(ctx, c, req, LimitReached)
		case SoldOut:
			if s.recheck(ctx, c, now) {
				continue
			}
			if r.Slot == 0 {
				// The counter holds no claim of the person's, so none of
				// this trigger's: a new follower of a sold-out campaign
				// costs no read of the database.
				return Result{Outcome: OutOfStock}, nil
			}
			return s.negative(ctx, c, req, OutOfStock)
		}
		if r.Seq < 1 || r.Seq > c.Stock || r.Slot < 1 || r.Slot > c.PerPerson {
			// A counter from before the scripts changed stock or limit:
			// give both back and rebuild against the current numbers.
			s.release(ctx, c, names, r, true, true)
			if err := s.cfg.Counter.Reset(ctx, c.Key()); err != nil {
				return Result{}, fmt.Errorf("coupon.Claim: %w", err)
			}
			continue
		}
		cl := Claim{
			ID: newID(), Campaign: c.Key(), Person: req.Person, Alias: alias, Trigger: req.Trigger, Seq: r.Seq, Slot: r.Slot,
			Channel: req.Channel, To: req.To, Message: c.message(c.Replies.Issued), Proactive: req.Proactive,
			CreatedAt: now,
		}
		switch {
		case native != nil:
		case importOnly:
			code, err := s.cfg.Store.CodeAt(ctx, c.Key(), r.Seq)
			if errors.Is(err, bot.ErrNotFound) {
				s.release(ctx, c, names, r, false, true)
				if err := s.cfg.Counter.Reset(ctx, c.Key()); err != nil {
					return Result{}, fmt.Errorf("coupon.Claim: %w", err)
				}
				continue
			}
			if err != nil {
				s.release(ctx, c, names, r, true, true)
				return Result{}, fmt.Errorf("coupon.Claim: %w", err)
			}
			cl.Code = code
		default:
			cl.Code = GenerateCode(c.Codes)
		}
		msg, err := cl.outboxItem()
		if err != nil {
			s.release(ctx, c, names, r, true, true)
			return Result{}, fmt.Errorf("coupon.Claim: %w", err)
		}
		if req.InAnswer && cl.Code != "" {
			msg.Status = bot.OutboxStandby
		}
		stored, err := s.cfg.Store.Insert(ctx, cl, c.PerPerson, msg)
		switch {
		case err == nil:
			return Result{Outcome: Issued, Claim: stored}, nil
		case errors.Is(err, ErrTriggerTaken):
			s.release(ctx, c, names, r, true, true)
			return s.negative(ctx, c, req, LimitReached)
		case errors.Is(err, ErrSeqTaken):
			// The seq is really taken: keep it counted, take another.
			s.release(ctx, c, names, r, false, true)
		case errors.Is(err, ErrCodeTaken):
			s.release(ctx, c, names, r, true, true)
		case errors.Is(err, ErrLimit):
			// The counter undercounted the person; leaving its slot
			// taken brings it closer to the truth.
			s.release(ctx, c, names, r, true, false)
			return s.negative(ctx, c, req, LimitReached)
		default:
			s.release(ctx, c, names, r, true, true)
			return Result{}, fmt.Errorf("coupon.Claim: %w", err)
		}
	}
	return Result{}, fmt.Errorf("coupon.Claim %s: still conflicting after %d attempts: %w", c.Key(), maxAttempts, bot.ErrUnavailable)
}

// negative answers a claim that found no coupon, unless the trigger
// claimed one before: then that claim is the answer (a retry).
func (s *Service) negative(ctx context.Context, c *Campaign, req Request, o Outcome) (Result, error) {
	// Under either name: the platform name finds a callback's claim
	// whether or not it was linked; the union name finds claims stored
	// before triggers were kept under the platform name.
	for _, name := range req.names() {
		prev, ok, err := s.cfg.Store.ByTrigger(ctx, c.Key(), name, req.Trigger)
		if err != nil {
			return Result{}, fmt.Errorf("coupon.Claim: %w", err)
		}
		if ok {
			return Result{Outcome: Issued, Claim: prev, Replayed: true}, nil
		}
	}
	return Result{Outcome: o}, nil
}

// recheck reports whether a sold-out campaign has stock after all: at
// most once per RecheckAfter per replica, it compares the database's
// count with the stock and resets the counter when some is missing (a
// replica died holding a reservation).
func (s *Service) recheck(ctx context.Context, c *Campaign, now time.Time) bool {
	if !s.due("stock:"+c.Key(), now) {
		return false
	}
	n, err := s.cfg.Store.Issued(ctx, c.Key())
	if err != nil || n >= c.Stock {
		return false
	}
	if c.Codes.Import {
		snap, err := s.cfg.Store.Snapshot(ctx, c.Key())
		if err != nil || n >= snap.Codes {
			return false
		}
	}
	if err := s.cfg.Counter.Reset(ctx, c.Key()); err != nil {
		return false
	}
	s.cfg.Logger.InfoContext(ctx, "coupon: counter below the database's stock; rebuilding", "campaign", c.Key(), "issued", n, "stock", c.Stock)
	return true
}

// recheckPerson is recheck for a person the counter says is at the
// limit: when the database holds fewer claims of theirs (it was restored
// while Redis kept its state), the counter is rebuilt. A claim of theirs
// still being inserted can trigger it too; that only costs a rebuild.
func (s *Service) recheckPerson(ctx context.Context, c *Campaign, persons []bot.PersonID, now time.Time) bool {
	if !s.due("person:"+c.Key(), now) {
		return false
	}
	n, err := s.cfg.Store.Held(ctx, c.Key(), persons...)
	if err != nil || n >= c.PerPerson {
		return false
	}
	if err := s.cfg.Counter.Reset(ctx, c.Key()); err != nil {
		return false
	}
	s.cfg.Logger.InfoContext(ctx, "coupon: counter above the database's count for a person; rebuilding", "campaign", c.Key())
	return true
}

// due reports whether the check named key may run now, at most once
// per RecheckAfter on this replica, and marks it run.
func (s *Service) due(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, seen := s.checked[key]
	if seen && now.Sub(last) < s.cfg.RecheckAfter {
		return false
	}
	s.checked[key] = now
	return true
}

func (s *Service) release(ctx context.Context, c *Campaign, persons []bot.PersonID, r Reservation, seq, slot bool) {
	// The claim's context may be ending; the release must still happen.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.cfg.Counter.Release(rctx, c.Key(), persons, r, seq, slot); err != nil {
		s.cfg.Logger.WarnContext(ctx, "coupon: release failed; the counter is rebuilt when stock runs short", "campaign", c.Key(), "err", err)
	}
}

// message fills a reply's {{name}} and {{end}}; {{code}} stays for the
// claim's code.
func (c *Campaign) message(text string) string {
	end := ""
	if !c.End.IsZero() {
		end = c.End.Format("2006-01-02")
	}
	return strings.NewReplacer("{{name}}", c.Name, "{{end}}", end).Replace(text)
}

// Text is the claim's message with its code.
func (cl Claim) Text() string { return strings.ReplaceAll(cl.Message, "{{code}}", cl.Code) }

// OutboxKey is the outbox key of the claim's message. It is the key
// bot.Outbox.Enqueue gives the action Action returns, so enqueueing that
// action again (a replayed callback) is a no-op.
func (cl Claim) OutboxKey() string { return "batch:" + cl.batchKey() }

func (cl Claim) batchKey() string { return "coupon:" + cl.ID }

// message returns the action that sends the claim's message: rendered at
// send time (a native coupon is issued then), a Push when proactive.
func (cl Claim) message() bot.Action {
	var a bot.Action = bot.Render{To: cl.To, Renderer: RendererName, Key: cl.ID}
	if cl.Proactive {
		a = bot.Push{Action: a, Topic: Topic}
	}
	return a
}

// Action is what a turn answers a claim with: the claim's message under
// its outbox key, which the claim's transaction queued already. A claim
// with its code, answering the person's own message, is a Reply with the
// code that the callback's answer can carry, kept under the same key
// (bot.Reply.OutboxKey): if the answer does not carry it, queueing it
// sends the row (on standby when the claim was InAnswer), never a second
// one.
func (cl Claim) Action() bot.Action {
	if !cl.Proactive && cl.Code != "" {
		return bot.Reply{To: cl.To, Text: cl.Text(), OutboxKey: cl.OutboxKey()}
	}
	return bot.Batched{Action: cl.message(), Key: cl.batchKey(), SendAt: cl.CreatedAt}
}

func (cl Claim) outboxItem() (bot.OutboxItem, error) {
	payload, err := bot.MarshalAction(cl.message())
	if err != nil {
		return bot.OutboxItem{}, err
	}
	return bot.OutboxItem{Key: cl.OutboxKey(), Platform: cl.To.Platform, Payload: payload, NextAt: cl.CreatedAt}, nil
}

// newID returns a claim id: 128 random bits in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand docs)
	return hex.EncodeToString(b[:])
}

// GenerateCode returns a new code: the prefix and Length characters of
// codeAlphabet drawn with crypto/rand, so codes cannot be guessed from
// one another.
func GenerateCode(c Codes) string {
	b := make([]byte, len(c.Prefix)+c.Length)
	copy(b, c.Prefix)
	rnd := b[len(c.Prefix):]
	_, _ = rand.Read(rnd) // never fails (crypto/rand docs)
	// Rejection sampling would be exact; 256 mod 31 = 8 gives the first
	// 8 letters a 9/8 weight, which still leaves about 4.9 bits each.
	for i, v := range rnd {
		rnd[i] = codeAlphabet[int(v)%len(codeAlphabet)]
	}
	return string(b)
}

// Render implements bot.Renderer for RendererName: the claim's message
// with its code, issuing a native coupon first when the claim has none.
func (s *Service) Render(ctx context.Context, r bot.Render) (bot.Action, error) {
	cl, err := s.cfg.Store.Get(ctx, r.Key)
	if errors.Is(err, bot.ErrNotFound) {
		return nil, fmt.Errorf("coupon.Render: claim %s: %w", r.Key, bot.ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("coupon.Render: %w", err)
	}
	if cl.Code == "" {
		n, ok := s.cfg.Native[cl.Campaign]
		if !ok {
			return nil, fmt.Errorf("coupon.Render: claim %s has no code and campaign %s no native issuer: %w", r.Key, cl.Campaign, bot.ErrInvalid)
		}
		// The claim's target has the route whose scripts hold its
		// campaign; cl.Campaign is the campaign's Key.
		c, _ := s.CampaignsFor(r.To.Route).GetKey(cl.Campaign)
		if c == nil {
			c = &Campaign{ID: cl.Campaign}
		}
		code, err := n.Issue(ctx, c, cl.ID, cl.To)
		if err != nil {
			return nil, fmt.Errorf("coupon.Render: native issue: %w", err)
		}
		if err := s.cfg.Store.SetCode(ctx, cl.ID, code); err != nil {
			return nil, fmt.Errorf("coupon.Render: %w", err)
		}
		cl.Code = code
	}
	return bot.Reply{To: r.To, Text: cl.Text()}, nil
}
