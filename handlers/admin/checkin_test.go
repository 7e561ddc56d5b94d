package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers"
)

// fakeCheckin is an in-memory CheckinAdmin.
type fakeCheckin struct{}

func (fakeCheckin) Board(_ context.Context, scope, period string) (CheckinBoard, error) {
	if period != "" && period != "today" && period != "week" && period != "all" {
		return CheckinBoard{}, fmt.Errorf("fake: period %q: %w", period, bot.ErrInvalid)
	}
	e := CheckinEntry{Rank: 1, Name: "小王", Person: "p1", Points: 35, Streak: 3}
	return CheckinBoard{Scope: scope, Period: period, ByPoints: []CheckinEntry{e}, ByStreak: []CheckinEntry{e}}, nil
}

func (fakeCheckin) History(_ context.Context, scope, person string) (CheckinHistory, error) {
	if person == "" {
		return CheckinHistory{}, fmt.Errorf("fake: %w", bot.ErrInvalid)
	}
	return CheckinHistory{Person: person, Total: 35, Streak: 3, Days: []CheckinDay{{Day: "2026-11-26", Points: 15, Streak: 3}}}, nil
}

func (fakeCheckin) Scopes(context.Context) ([]CheckinScope, error) {
	return []CheckinScope{{Scope: "douyin:a:g1", CheckinsToday: 2}}, nil
}

func (fakeCheckin) Unsent(_ context.Context, limit int) ([]CheckinUnsent, error) {
	return []CheckinUnsent{{Scope: "wecom:c:g", Day: "2026-11-26", Reason: "wecom customer groups accept no bot messages"}}, nil
}

func TestCheckinModule(t *testing.T) {
	lib, err := bot.NewLibrary(fstest.MapFS{"a.yaml": {Data: []byte("fallback: 嗯\n")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	logger := bottest.Logger(t)
	e := handlers.NewEcho(logger)
	New("t0ken", &fakeOutbox{}, lib, logger, NewCheckin(fakeCheckin{})).Register(e.Group(""))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	tests := []struct {
		name       string
		path       string
		wantStatus int
		check      func(t *testing.T, body map[string]any)
	}{
		{"boards", "/admin/api/checkin/boards?scope=douyin:a:g1&period=week", http.StatusOK, func(t *testing.T, body map[string]any) {
			if body["scope"] != "douyin:a:g1" || body["period"] != "week" {
				t.Fatalf("body = %v", body)
			}
			e := body["by_points"].([]any)[0].(map[string]any)
			for _, k := range []string{"rank", "name", "person", "points", "streak"} {
				if _, ok := e[k]; !ok {
					t.Errorf("entry %v lacks %q", e, k)
				}
			}
			if _, ok := body["by_streak"]; !ok {
				t.Error("no by_streak")
			}
		}},
		{"bad period", "/admin/api/checkin/boards?scope=s&period=year", http.StatusBadRequest, nil},
		{"history", "/admin/api/checkin/history?person=wechat:gh:p1&scope=s", http.StatusOK, func(t *testing.T, body map[string]any) {
			day := body["days"].([]any)[0].(map[string]any)
			if body["person"] != MaskPerson("wechat:gh:p1") || body["total"] != 35.0 || body["streak"] != 3.0 || day["day"] != "2026-11-26" || day["points"] != 15.0 {
				t.Fatalf("body = %v", body)
			}
		}},
		{"unsent digests", "/admin/api/checkin/unsent", http.StatusOK, func(t *testing.T, body map[string]any) {
			u := body["unsent"].([]any)[0].(map[string]any)
			if u["scope"] != "wecom:c:g" || u["reason"] == "" {
				t.Fatalf("body = %v", body)
			}
		}},
		{"history without a person", "/admin/api/checkin/history?scope=s", http.StatusBadRequest, nil},
		{"scopes", "/admin/api/checkin/scopes", http.StatusOK, func(t *testing.T, body map[string]any) {
			s := body["scopes"].([]any)[0].(map[string]any)
			if s["scope"] != "douyin:a:g1" || s["checkins_today"] != 2.0 {
				t.Fatalf("body = %v", body)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, http.MethodGet, srv.URL+tc.path)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", status, tc.wantStatus, body)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/admin/api/checkin/scopes", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token = %d, want 401", resp.StatusCode)
	}
}
