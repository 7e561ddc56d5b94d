package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers"
)

// fakeDND is an in-memory DNDAdmin.
type fakeDND struct {
	out  map[bot.PersonID]time.Time
	held []DNDHeld
}

func (f *fakeDND) OptOut(_ context.Context, p bot.PersonID) (bool, time.Time, error) {
	since, ok := f.out[p]
	return ok, since, nil
}

func (f *fakeDND) SetOptOut(_ context.Context, p bot.PersonID, optedOut bool) error {
	if optedOut {
		f.out[p] = time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	} else {
		delete(f.out, p)
	}
	return nil
}

func (f *fakeDND) HeldBack(_ context.Context, limit int) ([]DNDHeld, error) {
	if limit > len(f.held) {
		limit = len(f.held)
	}
	return f.held[:limit], nil
}

func TestDNDModule(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	f := &fakeDND{out: map[bot.PersonID]time.Time{"union:un-1": t0}, held: []DNDHeld{
		{Person: "union:un-1", Topic: "coupon", Reason: "opted_out", Action: "reply", CreatedAt: t0},
		{Person: "group:douyin:dy:g", Topic: "digest", Reason: "quiet_hours", Action: "render", Until: t0.Add(8 * time.Hour), CreatedAt: t0},
	}}
	logger := bottest.Logger(t)
	e := handlers.NewEcho(logger)
	New("t0ken", &fakeOutbox{}, nil, logger, NewDND(f)).WithPeople(newMemPeople()).Register(e.Group(""))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	// Answers name people by their masked id; requests may name them by
	// that, by a board's tag, or by the PersonID, path-escaped.
	un1, o2, dyu := MaskPerson("union:un-1"), MaskPerson("wechat:gh:o-2"), MaskPerson("douyin:dy:u")
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		want                     string // JSON the answer must equal
	}{
		{"opted out person", http.MethodGet, "/persons/union:un-1", "", http.StatusOK, `{"person":"` + un1 + `","tag":"` + PersonTag("union:un-1") + `","opted_out":true,"since":"2026-11-26T04:00:00Z"}`},
		{"a path-escaped PersonID is the same person", http.MethodGet, "/persons/union%3Aun-1", "", http.StatusOK, `{"person":"` + un1 + `","tag":"` + PersonTag("union:un-1") + `","opted_out":true,"since":"2026-11-26T04:00:00Z"}`},
		{"unknown person", http.MethodGet, "/persons/wechat:gh:o-2", "", http.StatusOK, `{"person":"` + o2 + `","tag":"` + PersonTag("wechat:gh:o-2") + `","opted_out":false,"since":null}`},
		{"held lists people masked", http.MethodGet, "/held?limit=1", "", http.StatusOK, `{"held":[{"person":"` + un1 + `","tag":"` + PersonTag("union:un-1") + `","topic":"coupon","reason":"opted_out","action":"reply","until":null,"created_at":"2026-11-26T04:00:00Z"}]}`},
		{"the masked id shown finds the person", http.MethodGet, "/persons/" + url.PathEscape(un1), "", http.StatusOK, `{"person":"` + un1 + `","tag":"` + PersonTag("union:un-1") + `","opted_out":true,"since":"2026-11-26T04:00:00Z"}`},
		{"the board's tag finds the person", http.MethodGet, "/persons/" + url.PathEscape(PersonTag("union:un-1")), "", http.StatusOK, `{"person":"` + un1 + `","tag":"` + PersonTag("union:un-1") + `","opted_out":true,"since":"2026-11-26T04:00:00Z"}`},
		{"a tag no one has is not found", http.MethodGet, "/persons/" + url.PathEscape("用户0000"), "", http.StatusNotFound, ""},
		{"staff opt a person in", http.MethodPut, "/persons/union%3Aun-1", `{"opted_out":false}`, http.StatusOK, `{"person":"` + un1 + `","tag":"` + PersonTag("union:un-1") + `","opted_out":false,"since":null}`},
		{"staff opt a person out", http.MethodPut, "/persons/douyin:dy:u", `{"opted_out":true}`, http.StatusOK, `{"person":"` + dyu + `","tag":"` + PersonTag("douyin:dy:u") + `","opted_out":true,"since":"2026-11-26T04:00:00Z"}`},
		{"body without opted_out", http.MethodPut, "/persons/douyin:dy:u", `{}`, http.StatusBadRequest, ""},
		{"held, deferred with until", http.MethodGet, "/held", "", http.StatusOK, `{"held":[{"person":"` + un1 + `","tag":"` + PersonTag("union:un-1") + `","topic":"coupon","reason":"opted_out","action":"reply","until":null,"created_at":"2026-11-26T04:00:00Z"},{"person":"group:douyin:dy:g","topic":"digest","reason":"quiet_hours","action":"render","until":"2026-11-26T12:00:00Z","created_at":"2026-11-26T04:00:00Z"}]}`},
		{"held, bad limit", http.MethodGet, "/held?limit=0", "", http.StatusBadRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"/admin/api/dnd"+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer t0ken")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got any
			_ = json.NewDecoder(resp.Body).Decode(&got)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", resp.StatusCode, tc.wantStatus, got)
			}
			if tc.want == "" {
				return
			}
			var want any
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("body = %v, want %v", got, want)
			}
		})
	}
}
