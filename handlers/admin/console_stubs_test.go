package admin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/bot/dnd"
)

// The browser tests drive the real modules (risk, coupon, check-in,
// do-not-disturb) over in-memory services with the contracts of the
// real ones, so what the console shows is what the API really answers.

// fakeCoupons is a CouponAdmin with two campaigns and their claims.
type fakeCoupons struct{}

func (fakeCoupons) Campaigns(context.Context) ([]CouponCampaign, error) {
	at := func(s string) *time.Time { t, _ := time.Parse(time.RFC3339, s); return &t }
	return []CouponCampaign{
		{ID: "c1", Name: "新人首杯立减", Stock: 200, Issued: 150, Remaining: 50, Start: at("2026-11-01T00:00:00+08:00"), End: at("2026-12-31T23:59:59+08:00"),
			PerChannel: map[string]int{"shop-1": 90, "": 60}},
		{ID: "c2", Name: "会员日半价", Stock: 100, Issued: 96, Remaining: 4, Start: at("2026-11-20T00:00:00+08:00"), End: at("2026-11-30T23:59:59+08:00"),
			PerChannel: map[string]int{"shop-1": 96}},
		{ID: "c3", Name: "周末买一送一", Stock: 500, Issued: 20, Remaining: 480, Start: at("2026-11-28T00:00:00+08:00"), End: at("2026-11-29T23:59:59+08:00")},
		{ID: "c4", Name: "生日礼券", Stock: 1000, Issued: 300, Remaining: 700, Start: at("2026-01-01T00:00:00+08:00"), End: at("2026-12-31T23:59:59+08:00")},
		{ID: "c5", Name: "老带新", Stock: 300, Issued: 12, Remaining: 288, Start: at("2026-11-01T00:00:00+08:00"), End: at("2027-01-31T23:59:59+08:00")},
	}, nil
}

func (fakeCoupons) Claims(_ context.Context, campaign string, _ int) ([]CouponClaim, error) {
	if campaign != "c1" && campaign != "c2" {
		return nil, fmt.Errorf("fakeCoupons: %s: %w", campaign, bot.ErrNotFound)
	}
	t := time.Date(2026, 11, 26, 1, 12, 0, 0, time.UTC)
	return []CouponClaim{
		{Person: "wechat:wxconsoletest0001:o-claimer", Code: "CF8K2M7PQR7K", Channel: "", Trigger: "reward:streak7", CreatedAt: t},
		{Person: "wecom:corp1:wm-buyer", Code: "CF9X3N4TTW2A", Channel: "shop-1", Trigger: "wecom:corp1:msg-77", CreatedAt: t.Add(time.Hour)},
	}, nil
}

// boardPeople are the check-in fixture's people: two tied at 30 points.
var boardPeople = []checkin.Score{
	{Person: "wechat:wxconsoletest0001:o-alpha", Points: 30, Streak: 3},
	{Person: "wechat:wxconsoletest0001:o-beta", Points: 30, Streak: 2},
	{Person: "wechat:wxconsoletest0001:o-gamma", Points: 10, Streak: 1},
}

// fakeCheckins is a CheckinService whose boards are ranked by
// checkin.Rank (the code the database fallback ranks with), and whose
// people without a name are called by their tag, as the real service
// does.
type fakeCheckins struct{}

func (fakeCheckins) StaffBoard(_ context.Context, scope string, period checkin.Period) (checkin.Board, error) {
	name := func(es []checkin.Entry) []checkin.Entry {
		for i := range es {
			if es[i].Person == boardPeople[0].Person {
				es[i].Name = "小山"
			} else {
				es[i].Name = PersonTag(es[i].Person)
			}
		}
		return es
	}
	byPoints, _ := checkin.Rank(boardPeople, "points", checkin.BoardSize, "")
	byStreak, _ := checkin.Rank(boardPeople, "streak", checkin.BoardSize, "")
	return checkin.Board{Scope: scope, Period: period, ByPoints: name(byPoints), ByStreak: name(byStreak)}, nil
}

func (fakeCheckins) History(_ context.Context, scope, person string) (checkin.History, error) {
	for _, p := range boardPeople {
		if p.Person == person {
			return checkin.History{Person: person, Total: p.Points, Streak: p.Streak, Days: []checkin.Checkin{{Day: 20261126, Points: 10, Streak: p.Streak}}}, nil
		}
	}
	return checkin.History{Person: person}, nil
}

func (fakeCheckins) ScopesToday(context.Context) ([]checkin.ScopeCount, error) {
	return []checkin.ScopeCount{{Scope: "wechat:wxconsoletest0001", Checkins: 12}}, nil
}

func (fakeCheckins) Unsent(context.Context, int) ([]checkin.Unsent, error) { return nil, nil }

// memDND is dnd.Store, dnd.Counters and OptOutLister in memory, with
// RecordHeld's contract: the newest record of a Key deferred to h.At or
// earlier is replaced.
type memDND struct {
	mu    sync.Mutex
	out   map[bot.PersonID]time.Time
	held  []dnd.HeldBack
	count map[string]int
	once  map[string]bool
}

func newMemDND() *memDND {
	return &memDND{out: map[bot.PersonID]time.Time{}, count: map[string]int{}, once: map[string]bool{}}
}

func (m *memDND) SetOptOut(_ context.Context, p bot.PersonID, optedOut bool, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, was := m.out[p]
	if optedOut {
		if !was {
			m.out[p] = at
		}
	} else {
		delete(m.out, p)
	}
	return was != optedOut, nil
}

func (m *memDND) AnyOptedOut(_ context.Context, ps ...bot.PersonID) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range ps {
		if _, ok := m.out[p]; ok {
			return true, nil
		}
	}
	return false, nil
}

func (m *memDND) OptOut(_ context.Context, p bot.PersonID) (bool, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	since, ok := m.out[p]
	return ok, since, nil
}

func (m *memDND) RecordHeld(_ context.Context, h dnd.HeldBack) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.held) - 1; h.Key != "" && i >= 0; i-- {
		if o := m.held[i]; o.Key == h.Key && !o.Until.IsZero() && !o.Until.After(h.At) {
			m.held = slices.Delete(m.held, i, i+1)
			break
		}
	}
	m.held = append(m.held, h)
	return nil
}

func (m *memDND) Held(_ context.Context, limit int) ([]dnd.HeldBack, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.held)
	slices.Reverse(out)
	return out[:min(limit, len(out))], nil
}

func (m *memDND) Take(_ context.Context, counters []dnd.Counter, pending []int, peek bool) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range counters {
		n := m.count[c.Key]
		if pending != nil {
			n += pending[i]
		}
		if n >= c.Limit {
			return i, nil
		}
	}
	if !peek {
		for _, c := range counters {
			m.count[c.Key]++
		}
	}
	return -1, nil
}

func (m *memDND) Once(_ context.Context, key string, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	first := !m.once[key]
	m.once[key] = true
	return first, nil
}

func (m *memDND) OptedOut(_ context.Context, cursor string, limit int) ([]OptOut, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []OptOut
	for p, since := range m.out {
		all = append(all, OptOut{Person: string(p), Since: since})
	}
	slices.SortFunc(all, func(a, b OptOut) int {
		if c := b.Since.Compare(a.Since); c != 0 {
			return c
		}
		return strings.Compare(b.Person, a.Person)
	})
	if cursor != "" {
		i := slices.IndexFunc(all, func(o OptOut) bool { return OptOutCursor(o) == cursor })
		all = all[i+1:]
	}
	return all[:min(limit, len(all))], nil
}

func (m *memDND) CountOptedOut(_ context.Context, since time.Time) (int, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	recent := 0
	for _, s := range m.out {
		if !s.Before(since) {
			recent++
		}
	}
	return len(m.out), recent, nil
}

func (m *memDND) heldCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.held)
}

// memOverview is an OverviewStore and DeadGrouper over the fixture's
// fakes.
type memOverview struct {
	risk   *fakeRisk
	outbox *fakeOutbox
	dnd    *memDND
}

func (o memOverview) OpenAlerts(context.Context) ([]AlertCount, error) {
	var out []AlertCount
	for _, e := range o.risk.events {
		if e.Status == "open" {
			out = append(out, AlertCount{Category: e.Category, Severity: e.Severity, Count: 1})
		}
	}
	return out, nil
}

func (o memOverview) DeadReasons(context.Context, int) ([]DeadReason, error) {
	by := map[string]*DeadReason{}
	var order []string
	for _, it := range o.outbox.items {
		if it.Status != bot.OutboxDead || slices.Contains(o.outbox.requeued, it.ID) {
			continue
		}
		r, ok := by[it.LastError]
		if !ok {
			r = &DeadReason{Reason: it.LastError, Platform: string(it.Platform)}
			by[it.LastError] = r
			order = append(order, it.LastError)
		}
		r.Count++
		r.Newest = max(r.Newest, it.ID)
	}
	out := make([]DeadReason, 0, len(order))
	for _, k := range order {
		out = append(out, *by[k])
	}
	slices.SortStableFunc(out, func(a, b DeadReason) int { return b.Count - a.Count })
	return out, nil
}

func (o memOverview) DeadIDs(_ context.Context, reason, platform string, limit int) ([]int64, error) {
	var ids []int64
	for _, it := range o.outbox.items {
		if it.Status == bot.OutboxDead && it.LastError == reason && string(it.Platform) == platform && len(ids) < limit && !slices.Contains(o.outbox.requeued, it.ID) {
			ids = append(ids, it.ID)
		}
	}
	return ids, nil
}

func (o memOverview) StuckPending(context.Context, time.Time) (int, error) { return 0, nil }

func (o memOverview) OptOutsSince(ctx context.Context, since time.Time) (int, error) {
	_, n, err := o.dnd.CountOptedOut(ctx, since)
	return n, err
}

// memDaily is a DailyCounter in memory.
type memDaily struct {
	mu sync.Mutex
	m  map[string]map[string]int
}

func (d *memDaily) Add(_ context.Context, day string, counts map[string]int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]map[string]int{}
	}
	if d.m[day] == nil {
		d.m[day] = map[string]int{}
	}
	for f, n := range counts {
		d.m[day][f] += n
	}
	return nil
}

func (d *memDaily) Day(_ context.Context, day string) (map[string]int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps(d.m[day]), nil
}

func maps(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// couponCommand answers 领券 with a reply and a proactive coupon push,
// which do-not-disturb's quiet hours hold back in the dry-run.
type couponCommand struct{}

func (couponCommand) HandleTurn(_ context.Context, t *bot.Turn) (bool, error) {
	if !strings.Contains(t.Text, "领券") {
		return false, nil
	}
	t.ReplyText("好的，券马上发给你")
	t.Add(bot.Push{Topic: "coupon", Action: bot.Reply{To: t.Event.ReplyTarget(), Text: "新人首杯立减券：CF-8K2M"}})
	t.Answer = bot.Answer{Stage: "command:coupon", Rule: "c1"}
	return true, nil
}
