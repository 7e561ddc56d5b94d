package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/risk"
	"github.com/siyu-bot/siyu/handlers"
)

type fakeRisk struct{ events []RiskEvent }

// ListEvents filters as the real store does, brands and account
// included, so the module's brand checks are what is tested.
func (f *fakeRisk) ListEvents(_ context.Context, q RiskQuery) ([]RiskEvent, error) {
	if q.Status != "" && q.Status != "open" && q.Status != "acknowledged" && q.Status != "dismissed" {
		return nil, fmt.Errorf("fake: status %q: %w", q.Status, bot.ErrInvalid)
	}
	var out []RiskEvent
	for _, e := range f.events {
		switch {
		case q.Category != "" && e.Category != q.Category, q.Status != "" && e.Status != q.Status,
			len(q.Brands) > 0 && !slices.Contains(q.Brands, e.Brand),
			q.Account != nil && (string(q.Account.Platform) != e.Platform || q.Account.Name != e.Account),
			len(out) >= q.Limit:
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

func (f *fakeRisk) Event(_ context.Context, id int64) (RiskEvent, error) {
	for _, e := range f.events {
		if e.ID == id {
			return e, nil
		}
	}
	return RiskEvent{}, fmt.Errorf("fake: event %d: %w", id, bot.ErrNotFound)
}

func (f *fakeRisk) SetStatus(_ context.Context, id int64, status string) error {
	for i := range f.events {
		if f.events[i].ID == id {
			f.events[i].Status = status
			return nil
		}
	}
	return fmt.Errorf("fake: event %d: %w", id, bot.ErrNotFound)
}

// TestRiskModule checks the risk endpoints: list with filters, ack,
// dismiss, an unknown id and a bad filter.
func TestRiskModule(t *testing.T) {
	fr := &fakeRisk{events: []RiskEvent{
		{ID: 1, Category: "fraud", Severity: "high", Evidence: "兼职刷单", Status: "open", Sender: "wm***abcd"},
		{ID: 2, Category: "pii", Severity: "medium", Evidence: "138****8000", Status: "open"},
	}}
	logger := bottest.Logger(t)
	e := handlers.NewEcho(logger)
	New("t0ken", &fakeOutbox{}, nil, logger, NewRisk(fr)).Register(e.Group(""))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	tests := []struct {
		name, method, path string
		wantCode           int
		wantEvents         int // -1: not a list
	}{
		{name: "list all", method: http.MethodGet, path: "/admin/api/risk/events", wantCode: 200, wantEvents: 2},
		{name: "by category", method: http.MethodGet, path: "/admin/api/risk/events?category=pii", wantCode: 200, wantEvents: 1},
		{name: "ack", method: http.MethodPost, path: "/admin/api/risk/events/1/ack", wantCode: 200, wantEvents: -1},
		{name: "dismiss", method: http.MethodPost, path: "/admin/api/risk/events/2/dismiss", wantCode: 200, wantEvents: -1},
		{name: "dismissed kept", method: http.MethodGet, path: "/admin/api/risk/events?status=dismissed", wantCode: 200, wantEvents: 1},
		{name: "open none left", method: http.MethodGet, path: "/admin/api/risk/events?status=open", wantCode: 200, wantEvents: 0},
		{name: "unknown id", method: http.MethodPost, path: "/admin/api/risk/events/9/ack", wantCode: 404, wantEvents: -1},
		{name: "bad id", method: http.MethodPost, path: "/admin/api/risk/events/x/ack", wantCode: 400, wantEvents: -1},
		{name: "bad status", method: http.MethodGet, path: "/admin/api/risk/events?status=closed", wantCode: 400, wantEvents: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, tc.method, srv.URL+tc.path)
			if code != tc.wantCode {
				t.Fatalf("%s %s = %d %v, want %d", tc.method, tc.path, code, body, tc.wantCode)
			}
			if tc.wantEvents >= 0 {
				events, ok := body["events"].([]any)
				if !ok || len(events) != tc.wantEvents {
					t.Errorf("events = %v, want %d", body["events"], tc.wantEvents)
				}
			}
		})
	}
	if fr.events[0].Status != "acknowledged" || fr.events[1].Status != "dismissed" {
		t.Errorf("statuses = %s, %s, want acknowledged, dismissed", fr.events[0].Status, fr.events[1].Status)
	}
}

// TestRiskAlertingPerBrand: whether an event alerts staff is read from
// the scripts of its account's brand: a brand that switched a category
// off records its events for review, while the same category alerts on
// the environment's account and on other brands'.
func TestRiskAlertingPerBrand(t *testing.T) {
	lib, _ := scriptsLibrary(t, map[string]string{
		"risk.yaml":                "risk:\n  alert:\n    categories: {fraud: medium}\n",
		"brands/shancha/risk.yaml": "risk:\n  alert:\n    categories: {fraud: off}\n",
	}, risk.Section{})
	fr := &fakeRisk{events: []RiskEvent{
		{ID: 1, Category: "fraud", Severity: "high", Platform: "wechat", Brand: "shancha", Account: "oa-a", Status: "open"},
		{ID: 2, Category: "fraud", Severity: "high", Platform: "wechat", Brand: "other", Account: "oa-b", Status: "open"},
		{ID: 3, Category: "fraud", Severity: "high", Platform: "wechat", Status: "open"},
	}}
	srv := serve(t, lib, &fakeOutbox{}, NewRisk(fr))
	code, body := do(t, http.MethodGet, srv.URL+"/admin/api/risk/events")
	if code != http.StatusOK {
		t.Fatalf("list = %d %v", code, body)
	}
	got := map[float64]bool{}
	for _, e := range body["events"].([]any) {
		m := e.(map[string]any)
		got[m["id"].(float64)] = m["alerting"].(bool)
	}
	if want := map[float64]bool{1: false, 2: true, 3: true}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alerting = %v, want %v (shancha switched fraud off)", got, want)
	}
}
