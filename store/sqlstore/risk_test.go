package sqlstore_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/risk"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func mustRisk(tb testing.TB) *sqlstore.Risk {
	tb.Helper()
	s, err := sqlstore.NewRisk(tb.Context(), storetest.SQL(tb))
	if err != nil {
		tb.Fatalf("NewRisk: %v", err)
	}
	return s
}

var riskT0 = time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)

func riskEvent(key, person string, c risk.Category, at time.Time) risk.Event {
	return risk.Event{
		Key: key, Category: c, Severity: risk.Medium, Source: risk.SourceLexicon, Evidence: "加 我 v 信",
		TextMasked: "加 我 v 信 138****8000", Platform: bot.WeCom, Account: "ww1", Conversation: "wrGroup1",
		Sender: bot.UserID(person), Person: bot.PersonID("wecom:ww1:" + person), Scope: "wecom:ww1:g:wrGroup1",
		Count: 1, CreatedAt: at,
	}
}

// TestRiskRecordIdempotent checks that a retried message records its
// event once, and that events without a key are all kept.
func TestRiskRecordIdempotent(t *testing.T) {
	s := mustRisk(t)
	ctx := t.Context()
	id1, created, err := s.Record(ctx, riskEvent("msg1#poaching", "u1", risk.Poaching, riskT0))
	if err != nil || !created {
		t.Fatalf("Record first = %v, %v, want created", created, err)
	}
	id2, created, err := s.Record(ctx, riskEvent("msg1#poaching", "u1", risk.Poaching, riskT0))
	if err != nil || created || id2 != id1 {
		t.Fatalf("Record retry = %d, %v, %v, want %d, false", id2, created, err, id1)
	}
	for range 2 {
		if _, created, err := s.Record(ctx, riskEvent("", "u1", risk.Poaching, riskT0)); err != nil || !created {
			t.Fatalf("Record without key = %v, %v, want created", created, err)
		}
	}
	got, err := s.ListRisk(ctx, sqlstore.RiskFilter{})
	if err != nil || len(got) != 3 {
		t.Fatalf("ListRisk = %d events, %v, want 3", len(got), err)
	}
	if got[0].Status != risk.StatusOpen || got[0].Evidence != "加 我 v 信" {
		t.Errorf("ListRisk[0] = %+v, want open with its evidence", got[0])
	}
}

// TestRiskRepeatsAndSummary checks the counts escalation and alerts read.
func TestRiskRepeatsAndSummary(t *testing.T) {
	s := mustRisk(t)
	ctx := t.Context()
	for i, ev := range []risk.Event{
		riskEvent("a", "u1", risk.AdSpam, riskT0),
		riskEvent("b", "u1", risk.AdSpam, riskT0.Add(time.Minute)),
		riskEvent("c", "u2", risk.AdSpam, riskT0.Add(2*time.Minute)),
		riskEvent("d", "u1", risk.Abuse, riskT0.Add(2*time.Minute)),
		riskEvent("e", "u1", risk.AdSpam, riskT0.Add(-48*time.Hour)),
	} {
		if i == 2 {
			ev.Severity = risk.High
		}
		if _, _, err := s.Record(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Repeats(ctx, "wecom:ww1:g:wrGroup1", "wecom:ww1:u1", risk.AdSpam, riskT0.Add(-24*time.Hour))
	if err != nil || n != 2 {
		t.Errorf("Repeats(u1, ad_spam) = %d, %v, want 2", n, err)
	}
	sum, err := s.Summary(ctx, "wecom:ww1:g:wrGroup1", risk.AdSpam, riskT0, riskT0.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Count != 3 || sum.Senders != 2 || sum.Max != risk.High || sum.Last.Sender != "u2" {
		t.Errorf("Summary = %d events, %d senders, max %v, last %q; want 3, 2, high, u2", sum.Count, sum.Senders, sum.Max, sum.Last.Sender)
	}
	empty, err := s.Summary(ctx, "elsewhere", risk.AdSpam, riskT0, riskT0.Add(5*time.Minute))
	if err != nil || empty.Count != 0 {
		t.Errorf("Summary(elsewhere) = %+v, %v, want none", empty, err)
	}
}

// TestRiskReminderOnce checks that concurrent claims remind a person once
// per scope.
func TestRiskReminderOnce(t *testing.T) {
	s := mustRisk(t)
	ctx := t.Context()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		firsts int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, err := s.ClaimReminder(ctx, "wecom:ww1:u1", "scope1", riskT0)
			if err != nil {
				t.Error(err)
			}
			if first {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firsts != 1 {
		t.Errorf("first claims = %d, want 1", firsts)
	}
	if first, err := s.ClaimReminder(ctx, "wecom:ww1:u1", "scope2", riskT0); err != nil || !first {
		t.Errorf("ClaimReminder(other scope) = %v, %v, want true", first, err)
	}
}

// TestRiskStatus checks acknowledge, dismiss (kept, filterable as a
// labelled false positive) and an unknown id.
func TestRiskStatus(t *testing.T) {
	s := mustRisk(t)
	ctx := t.Context()
	id, _, err := s.Record(ctx, riskEvent("k1", "u1", risk.Fraud, riskT0))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Record(ctx, riskEvent("k2", "u1", risk.Abuse, riskT0)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRiskStatus(ctx, id, risk.StatusDismissed); err != nil {
		t.Fatalf("SetRiskStatus: %v", err)
	}
	got, err := s.ListRisk(ctx, sqlstore.RiskFilter{Status: risk.StatusDismissed})
	if err != nil || len(got) != 1 || got[0].ID != id || got[0].Category != risk.Fraud {
		t.Errorf("ListRisk(dismissed) = %+v, %v, want the fraud event", got, err)
	}
	got, err = s.ListRisk(ctx, sqlstore.RiskFilter{Category: risk.Abuse, Status: risk.StatusOpen})
	if err != nil || len(got) != 1 {
		t.Errorf("ListRisk(abuse, open) = %d, %v, want 1", len(got), err)
	}
	if err := s.SetRiskStatus(ctx, 999999, risk.StatusAcknowledged); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("SetRiskStatus(unknown) = %v, want ErrNotFound", err)
	}
}

// TestRiskRoutes: an event keeps its configured account's route, and
// staff list by brands and by account; the environment's account's
// events have the zero route and are listed only when no brand limits
// the list.
func TestRiskRoutes(t *testing.T) {
	s := mustRisk(t)
	ctx := t.Context()
	routes := map[string]bot.Route{
		"env": {}, "a1": {Brand: "shancha", Name: "wecom-a"}, "a2": {Brand: "shancha", Name: "oa-a"}, "b": {Brand: "other", Name: "wecom-b"},
	}
	ids := map[int64]string{}
	for _, k := range []string{"env", "a1", "a2", "b"} {
		e := riskEvent("k-"+k, "u-"+k, risk.Fraud, riskT0)
		e.Route = routes[k]
		if k == "a2" {
			e.Platform = bot.WeChat
		}
		id, _, err := s.Record(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = k
		got, err := s.RiskEvent(ctx, id)
		if err != nil || got.Route != routes[k] {
			t.Fatalf("RiskEvent(%s) route = %q, %v, want %q", k, got.Route, err, routes[k])
		}
	}
	tests := []struct {
		name string
		f    sqlstore.RiskFilter
		want []string // newest first
	}{
		{"no limit: every event", sqlstore.RiskFilter{}, []string{"b", "a2", "a1", "env"}},
		{"one brand", sqlstore.RiskFilter{Brands: []string{"shancha"}}, []string{"a2", "a1"}},
		{"two brands: never the environment's", sqlstore.RiskFilter{Brands: []string{"other", "shancha"}}, []string{"b", "a2", "a1"}},
		{"a brand with none", sqlstore.RiskFilter{Brands: []string{"nobody"}}, nil},
		{"one account", sqlstore.RiskFilter{Account: &risk.AccountKey{Platform: bot.WeCom, Name: "wecom-a"}}, []string{"a1"}},
		{"the account on another platform", sqlstore.RiskFilter{Account: &risk.AccountKey{Platform: bot.WeChat, Name: "wecom-a"}}, nil},
		{"the environment's account", sqlstore.RiskFilter{Account: &risk.AccountKey{Platform: bot.WeCom}}, []string{"env"}},
		{"a brand and its account", sqlstore.RiskFilter{Brands: []string{"shancha"}, Account: &risk.AccountKey{Platform: bot.WeChat, Name: "oa-a"}}, []string{"a2"}},
		{"a brand and another's account", sqlstore.RiskFilter{Brands: []string{"shancha"}, Account: &risk.AccountKey{Platform: bot.WeCom, Name: "wecom-b"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListRisk(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, e := range got {
				keys = append(keys, ids[e.ID])
				if e.Route != routes[ids[e.ID]] {
					t.Errorf("event %s listed with route %q", ids[e.ID], e.Route)
				}
			}
			if !slices.Equal(keys, tc.want) {
				t.Errorf("ListRisk = %q, want %q", keys, tc.want)
			}
		})
	}
}

// TestRiskRoutesMigrate: a risk_events table made before routes were
// kept gets the columns; its rows read as the environment's account's,
// and new rows keep their route.
func TestRiskRoutesMigrate(t *testing.T) {
	db := storetest.SQL(t)
	ctx := t.Context()
	g := db.Gorm().WithContext(ctx)
	if err := g.AutoMigrate(&riskRowBeforeRoutes{}); err != nil {
		t.Fatal(err)
	}
	old := riskRowBeforeRoutes{EventKey: strings.Repeat("a", 64), ClaimToken: strings.Repeat("b", 32), ScopeHash: strings.Repeat("c", 64),
		Category: "fraud", CreatedAt: riskT0, Severity: 2, Source: "lexicon", Evidence: "刷单", Platform: "wecom", Account: "ww1",
		Scope: "wecom:ww1:u:u1", Count: 1, Status: "open", UpdatedAt: riskT0}
	if err := g.Create(&old).Error; err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.NewRisk(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.RiskEvent(ctx, old.ID)
	if err != nil || !got.Route.IsZero() || got.Evidence != "刷单" {
		t.Fatalf("the row recorded before routes = %+v, %v, want the environment's account's", got, err)
	}
	e := riskEvent("new", "u2", risk.Fraud, riskT0)
	e.Route = bot.Route{Brand: "shancha", Name: "wecom-a"}
	if _, _, err := s.Record(ctx, e); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListRisk(ctx, sqlstore.RiskFilter{Brands: []string{"shancha"}})
	if err != nil || len(list) != 1 || list[0].Route != e.Route {
		t.Fatalf("after the migration, shancha's events = %+v, %v", list, err)
	}
}

// riskRowBeforeRoutes is risk_events as the release before routes made
// it.
type riskRowBeforeRoutes struct {
	ID         int64     `gorm:"primaryKey;autoIncrement"`
	EventKey   string    `gorm:"type:char(64);not null;uniqueIndex:ux_risk_events_key"`
	ClaimToken string    `gorm:"type:char(32);not null"`
	ScopeHash  string    `gorm:"type:char(64);not null;index:ix_risk_events_scope,priority:1"`
	Category   string    `gorm:"type:varchar(16);not null;index:ix_risk_events_scope,priority:2;index:ix_risk_events_status,priority:2"`
	CreatedAt  time.Time `gorm:"precision:6;not null;index:ix_risk_events_scope,priority:3"`
	Severity   int       `gorm:"not null"`
	Source     string    `gorm:"type:varchar(16);not null"`
	Evidence   string    `gorm:"type:varchar(255);not null;default:''"`
	TextMasked string    `gorm:"type:varchar(1000);not null;default:''"`
	Platform   string    `gorm:"type:varchar(16);not null"`
	Account    string    `gorm:"type:varchar(64);not null;default:''"`
	Conv       string    `gorm:"column:conversation;type:varchar(128);not null;default:''"`
	Sender     string    `gorm:"type:varchar(128);not null;default:''"`
	Person     string    `gorm:"type:varchar(191);not null;default:''"`
	Scope      string    `gorm:"type:varchar(400);not null"`
	Count      int       `gorm:"not null"`
	Status     string    `gorm:"type:varchar(16);not null;index:ix_risk_events_status,priority:1"`
	UpdatedAt  time.Time `gorm:"precision:6;not null"`
}

func (riskRowBeforeRoutes) TableName() string { return "risk_events" }
