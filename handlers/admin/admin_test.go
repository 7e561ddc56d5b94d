package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers"
)

// fakeOutbox is an in-memory OutboxAdmin.
type fakeOutbox struct {
	items    []bot.OutboxItem
	requeued []int64
}

func (f *fakeOutbox) List(_ context.Context, status bot.OutboxStatus, limit int) ([]bot.OutboxItem, error) {
	var out []bot.OutboxItem
	for _, it := range f.items {
		if it.Status == status && len(out) < limit {
			out = append(out, it)
		}
	}
	return out, nil
}

func (f *fakeOutbox) Requeue(_ context.Context, id int64, _ time.Time) error {
	for _, it := range f.items {
		if it.ID == id && it.Status == bot.OutboxDead {
			f.requeued = append(f.requeued, id)
			return nil
		}
	}
	return fmt.Errorf("fake.Requeue %d: %w", id, bot.ErrNotFound)
}

func (f *fakeOutbox) Counts(context.Context) (map[bot.OutboxStatus]int, error) {
	c := map[bot.OutboxStatus]int{}
	for _, it := range f.items {
		c[it.Status]++
	}
	return c, nil
}

func serve(t *testing.T, lib *bot.Library, ob *fakeOutbox) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	e := handlers.NewEcho(logger)
	New("t0ken", ob, lib, logger).Register(e.Group(""))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer t0ken")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestOutboxEndpoints(t *testing.T) {
	ob := &fakeOutbox{items: []bot.OutboxItem{
		{ID: 1, Platform: bot.WeChat, Status: bot.OutboxDead, LastError: "errcode=45015", Payload: []byte(`{"text":"顾客的私人消息"}`)},
		{ID: 2, Platform: bot.WeChat, Status: bot.OutboxPending},
	}}
	lib, err := bot.NewLibrary(fstest.MapFS{"a.yaml": {Data: []byte("fallback: 嗯\n")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, lib, ob)
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		check      func(t *testing.T, body map[string]any)
	}{
		{"dead rows by default, without payloads", http.MethodGet, "/admin/outbox", http.StatusOK, func(t *testing.T, body map[string]any) {
			items := body["items"].([]any)
			if len(items) != 1 || items[0].(map[string]any)["last_error"] != "errcode=45015" {
				t.Fatalf("items = %v, want the dead row with its error", items)
			}
			if b, _ := json.Marshal(body); strings.Contains(string(b), "顾客") {
				t.Fatal("the listing shows what a customer was sent")
			}
			if c := body["counts"].(map[string]any); c["dead"] != 1.0 || c["pending"] != 1.0 {
				t.Fatalf("counts = %v", c)
			}
		}},
		{"requeue a dead row", http.MethodPost, "/admin/outbox/1/requeue", http.StatusOK, nil},
		{"requeue an unknown row", http.MethodPost, "/admin/outbox/9/requeue", http.StatusNotFound, nil},
		{"requeue a bad id", http.MethodPost, "/admin/outbox/x/requeue", http.StatusBadRequest, nil},
		{"reload good scripts", http.MethodPost, "/admin/scripts/reload", http.StatusOK, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, tc.method, srv.URL+tc.path)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", status, tc.wantStatus, body)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
	if len(ob.requeued) != 1 || ob.requeued[0] != 1 {
		t.Fatalf("requeued = %v, want [1]", ob.requeued)
	}
}

func TestReloadReportsFileAndLine(t *testing.T) {
	fsys := fstest.MapFS{"a.yaml": {Data: []byte("fallback: 嗯\n")}}
	lib, err := bot.NewLibrary(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, lib, &fakeOutbox{})
	fsys["a.yaml"] = &fstest.MapFile{Data: []byte("fallback: 嗯\ncolour: red\n")}
	status, body := do(t, http.MethodPost, srv.URL+"/admin/scripts/reload")
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, want 422", status)
	}
	errs := body["errors"].([]any)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].(string), "a.yaml:2:") {
		t.Fatalf("errors = %v, want one at a.yaml:2", errs)
	}
	if got := lib.Scripts().FallbackReply(func(int) int { return 0 }); got != "嗯" {
		t.Fatalf("after a rejected reload the fallback is %q, want the old 嗯", got)
	}
}

func TestPprof(t *testing.T) {
	tests := []struct {
		name   string
		prefix string // the group Register mounts on
		path   string
		token  bool
		code   int
		want   string
	}{
		{"index", "", "/admin/debug/pprof/", true, http.StatusOK, "goroutine"},
		{"a profile", "", "/admin/debug/pprof/goroutine?debug=1", true, http.StatusOK, "goroutine profile"},
		{"under another prefix", "/ops", "/ops/admin/debug/pprof/goroutine?debug=1", true, http.StatusOK, "goroutine profile"},
		{"unknown profile", "", "/admin/debug/pprof/nosuch", true, http.StatusNotFound, "Unknown profile"},
		{"no token", "", "/admin/debug/pprof/goroutine?debug=1", false, http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger := slog.New(slog.DiscardHandler)
			e := handlers.NewEcho(logger)
			New("t0ken", &fakeOutbox{}, nil, logger).Register(e.Group(tt.prefix))
			srv := httptest.NewServer(e)
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
			if tt.token {
				req.Header.Set("Authorization", "Bearer t0ken")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.want) {
				t.Errorf("GET %s = %d %.80q, want %d containing %q", tt.path, resp.StatusCode, body, tt.code, tt.want)
			}
		})
	}
}
