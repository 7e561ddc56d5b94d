package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
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

// serve mounts an admin API with lib and ob (and modules) on a test
// server; token t0ken.
func serve(t *testing.T, lib *bot.Library, ob *fakeOutbox, modules ...Module) *httptest.Server {
	t.Helper()
	logger := bottest.Logger(t)
	e := handlers.NewEcho(logger)
	var scripts ScriptsAdmin
	if lib != nil {
		scripts = lib
	}
	New("t0ken", ob, scripts, logger, modules...).Register(e.Group(""))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request with the right token and decodes a JSON answer.
func do(t *testing.T, method, url string) (int, map[string]any) {
	t.Helper()
	return sendAdmin(t, method, url, "t0ken", "", nil)
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// sendAdmin sends body (JSON-encoded unless it is a string) with bearer token
// (none when empty) and decodes a JSON answer.
func sendAdmin(t *testing.T, method, url, token, contentType string, body any, headers ...string) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
		if contentType == "" {
			contentType = "application/json"
		}
	}
	req, _ := http.NewRequest(method, url, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// wantErrorShape checks the API's one error shape and returns its code.
func wantErrorShape(t *testing.T, body map[string]any) (code, message string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("body %v is not {\"error\":{…}}", body)
	}
	code, _ = e["code"].(string)
	message, _ = e["message"].(string)
	if code == "" || message == "" {
		t.Fatalf("error %v lacks a code or a message", e)
	}
	return code, message
}

// stubRiskModule is a risk module with the contracted paths, over a few events.
type stubRiskModule struct {
	events []map[string]any
}

func (*stubRiskModule) Name() string { return "risk" }

func (f *stubRiskModule) Register(g *echo.Group) {
	g.GET("/events", func(c echo.Context) error {
		status := c.QueryParam("status")
		if status == "" {
			status = "open"
		}
		if status != "open" && status != "acknowledged" && status != "dismissed" {
			return fmt.Errorf("stubRiskModule: status %q: %w", status, bot.ErrInvalid)
		}
		out := []map[string]any{}
		for _, e := range f.events {
			if e["status"] == status {
				out = append(out, e)
			}
		}
		return c.JSON(http.StatusOK, map[string]any{"events": out})
	})
	decide := func(to string) echo.HandlerFunc {
		return func(c echo.Context) error {
			for _, e := range f.events {
				if fmt.Sprint(e["id"]) == c.Param("id") {
					e["status"] = to
					return c.JSON(http.StatusOK, e)
				}
			}
			return fmt.Errorf("stubRiskModule: event %s: %w", c.Param("id"), bot.ErrNotFound)
		}
	}
	g.POST("/events/:id/ack", decide("acknowledged"))
	g.POST("/events/:id/dismiss", decide("dismissed"))
	g.POST("/events/bulk", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"stub": true})
	})
	g.GET("/boom", func(echo.Context) error {
		return errors.New("dial tcp 10.0.0.7:3306: connection refused")
	})
}

func newStubRisk() *stubRiskModule {
	return &stubRiskModule{events: []map[string]any{
		{"id": int64(17), "category": "poaching", "severity": "high", "evidence": "加微信、返现", "platform": "wecom",
			"conversation": "wr…9f", "sender": "wm…2a", "text_masked": "加我微信 1**********8 返现", "count": 3, "status": "open", "created_at": "2026-11-26T08:00:00Z"},
	}}
}

// scriptsLibrary loads scripts from a fresh folder with the given files.
func scriptsLibrary(t *testing.T, files map[string]string, sections ...bot.Section) (*bot.Library, string) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lib, err := bot.NewLibrary(os.DirFS(dir), nil, sections...)
	if err != nil {
		t.Fatal(err)
	}
	return lib, dir
}

const testFAQ = "rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    reply: 每天 9:00-21:00\n"
const testWelcome = "fallback: 没听懂\n"

// adminRoutes is each API route with a body that passes its checks.
var adminRoutes = []struct{ method, path, body string }{
	{http.MethodGet, "/admin/api/capabilities", ""},
	{http.MethodGet, "/admin/api/outbox", ""},
	{http.MethodPost, "/admin/api/outbox/1/requeue", ""},
	{http.MethodGet, "/admin/api/scripts", ""},
	{http.MethodGet, "/admin/api/scripts/faq.yaml", ""},
	{http.MethodPost, "/admin/api/scripts/validate", `{"files":{"faq.yaml":"fallback: x\n"}}`},
	{http.MethodPut, "/admin/api/scripts/faq.yaml", testFAQ},
	{http.MethodPost, "/admin/api/scripts/reload", ""},
	{http.MethodPost, "/admin/api/dry-run", `{"text":"营业时间"}`},
	{http.MethodGet, "/admin/api/contacts", ""},
	{http.MethodGet, "/admin/api/risk/events", ""},
	{http.MethodPost, "/admin/api/risk/events/17/ack", ""},
	{http.MethodPut, "/admin/api/dnd/persons/wechat:gh:o-1", `{"opted_out":true}`},
	{http.MethodGet, "/admin/api/dnd/persons/wechat:gh:o-1", ""},
	{http.MethodGet, "/admin/api/session", ""},
	{http.MethodDelete, "/admin/api/session", ""},
	{http.MethodGet, "/admin/api/staff", ""},
	{http.MethodPost, "/admin/api/staff", `{"name":"newbie","role":"viewer","password":"a long password"}`},
	{http.MethodPut, "/admin/api/staff/vic", `{"role":"operator"}`},
	{http.MethodDelete, "/admin/api/staff/otto", ""},
	{http.MethodGet, "/admin/api/audit", ""},
	{http.MethodGet, "/admin/api/people?q=" + url.QueryEscape("用户8aa5"), ""},
	{http.MethodGet, "/admin/api/overview", ""},
	{http.MethodGet, "/admin/api/rules", ""},
	{http.MethodPost, "/admin/api/rules/preview", `{"file":"faq.yaml","rule":{"name":"n","kind":"contains","patterns":["x"],"replies":["y"]}}`},
	{http.MethodGet, "/admin/api/history?file=faq.yaml", ""},
	{http.MethodGet, "/admin/api/history/version?file=faq.yaml&version=faq.yaml.20261126T000000.000000000Z", ""},
	{http.MethodPost, "/admin/api/history/restore", `{"file":"faq.yaml","version":"faq.yaml.20261126T000000.000000000Z"}`},
	{http.MethodPost, "/admin/api/risk/events/bulk", `{"ids":[17],"action":"ack"}`},
	{http.MethodPost, "/admin/api/outbox/requeue", `{"ids":[1]}`},
	{http.MethodGet, "/admin/api/dnd/opted-out", ""},
	{http.MethodGet, "/admin/api/accounts", ""},
	{http.MethodGet, "/admin/api/nosuch", ""},
	{http.MethodGet, "/admin/debug/pprof/", ""},
}

// fullAdmin is an admin API with every optional part wired.
func fullAdmin(t *testing.T) (srv *httptest.Server, lib *bot.Library, dir string, ob *fakeOutbox) {
	t.Helper()
	site := newFullAdmin(t, 1000)
	return site.srv, site.lib, site.dir, site.ob
}

// adminSite is an admin API with every optional part wired, staff
// accounts included (newStaffFixture's).
type adminSite struct {
	srv   *httptest.Server
	lib   *bot.Library
	dir   string
	ob    *fakeOutbox
	staff *staffFixture
}

// newFullAdmin builds it; maxAddrFailures is the sign-in limit per
// address (tests that try many wrong tokens raise it).
func newFullAdmin(t *testing.T, maxAddrFailures int) *adminSite {
	t.Helper()
	lib, dir := scriptsLibrary(t, map[string]string{"faq.yaml": testFAQ, "welcome.yaml": testWelcome})
	ob := &fakeOutbox{items: []bot.OutboxItem{{ID: 1, Platform: bot.WeChat, Status: bot.OutboxDead}}}
	logger := bottest.Logger(t)
	e := handlers.NewEcho(logger)
	engine := bot.NewEngine(bot.EngineConfig{Scripts: lib, Pick: func(int) int { return 0 }})
	staff := newStaffFixture(t)
	cfg := staff.config()
	cfg.MaxFailuresPerAddr, cfg.MaxFailuresPerName = maxAddrFailures, maxAddrFailures
	New("t0ken", ob, lib, logger, newStubRisk(), NewDND(&fakeDND{out: map[bot.PersonID]time.Time{}})).
		WithDryRun(engine, nil).
		WithScriptsDir(dir).
		WithContacts(&stubContacts{}).
		WithStaff(cfg).
		WithPeople(newMemPeople()).
		Register(e.Group(""))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &adminSite{srv: srv, lib: lib, dir: dir, ob: ob, staff: staff}
}

func TestEveryRouteNeedsTheToken(t *testing.T) {
	srv, _, dir, _ := fullAdmin(t)
	before, _ := os.ReadFile(filepath.Join(dir, "faq.yaml"))
	for _, r := range adminRoutes {
		for _, tok := range []struct{ name, token string }{{"no token", ""}, {"wrong token", "t0ken-guess"}, {"prefix of the token", "t0k"}} {
			t.Run(r.method+" "+r.path+" "+tok.name, func(t *testing.T) {
				var body any
				if r.body != "" {
					body = r.body
				}
				status, out := sendAdmin(t, r.method, srv.URL+r.path, tok.token, "application/json", body)
				if status != http.StatusUnauthorized {
					t.Fatalf("status = %d, want 401", status)
				}
				if strings.HasPrefix(r.path, "/admin/api/") {
					if code, _ := wantErrorShape(t, out); code != "unauthorized" {
						t.Fatalf("code = %q, want unauthorized", code)
					}
				}
			})
		}
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "faq.yaml")); !bytes.Equal(before, after) {
		t.Fatal("a request without the token changed a script")
	}
}

func TestErrorsHaveOneShape(t *testing.T) {
	srv, _, _, _ := fullAdmin(t)
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantCode           string
		wantNot            string // must not appear in the message
	}{
		{"unknown API path", http.MethodGet, "/admin/api/nosuch", http.StatusNotFound, "not_found", ""},
		{"a module's bot.ErrNotFound", http.MethodPost, "/admin/api/risk/events/zz/ack", http.StatusNotFound, "not_found", ""},
		{"a module's bot.ErrInvalid", http.MethodGet, "/admin/api/risk/events?status=weird", http.StatusBadRequest, "invalid", ""},
		{"a module's internal failure hides its details", http.MethodGet, "/admin/api/risk/boom", http.StatusInternalServerError, "internal", "10.0.0.7"},
		{"an absent module", http.MethodGet, "/admin/api/coupon/campaigns", http.StatusNotFound, "not_found", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, tc.method, srv.URL+tc.path)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", status, tc.wantStatus, body)
			}
			code, msg := wantErrorShape(t, body)
			if code != tc.wantCode {
				t.Errorf("code = %q, want %q", code, tc.wantCode)
			}
			if tc.wantNot != "" && strings.Contains(msg, tc.wantNot) {
				t.Errorf("message %q shows %q", msg, tc.wantNot)
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	tests := []struct {
		name        string
		full        bool
		wantPresent map[string]bool
		wantFeature map[string]bool
	}{
		{"bare API: modules absent, not errors", false,
			map[string]bool{"risk": false, "coupon": false, "checkin": false, "dnd": false},
			map[string]bool{"dry_run": false, "scripts_save": false, "contacts": false}},
		{"risk and dnd wired with every feature", true,
			map[string]bool{"risk": true, "coupon": false, "checkin": false, "dnd": true},
			map[string]bool{"dry_run": true, "scripts_save": true, "contacts": true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var srv *httptest.Server
			if tc.full {
				srv, _, _, _ = fullAdmin(t)
			} else {
				srv = serve(t, nil, &fakeOutbox{})
			}
			status, body := do(t, http.MethodGet, srv.URL+"/admin/api/capabilities")
			if status != http.StatusOK {
				t.Fatalf("status = %d", status)
			}
			caps := body["capabilities"].(map[string]any)
			for k, want := range tc.wantPresent {
				if caps[k] != want {
					t.Errorf("capabilities[%s] = %v, want %v", k, caps[k], want)
				}
			}
			feats := body["features"].(map[string]any)
			for k, want := range tc.wantFeature {
				if feats[k] != want {
					t.Errorf("features[%s] = %v, want %v", k, feats[k], want)
				}
			}
		})
	}
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
		{"dead rows by default, without payloads", http.MethodGet, "/admin/api/outbox", http.StatusOK, func(t *testing.T, body map[string]any) {
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
		{"pending rows", http.MethodGet, "/admin/api/outbox?status=pending", http.StatusOK, func(t *testing.T, body map[string]any) {
			if items := body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != 2.0 {
				t.Fatalf("items = %v, want row 2", items)
			}
		}},
		{"a bad status", http.MethodGet, "/admin/api/outbox?status=lost", http.StatusBadRequest, nil},
		{"a bad limit", http.MethodGet, "/admin/api/outbox?limit=-1", http.StatusBadRequest, nil},
		{"requeue a dead row", http.MethodPost, "/admin/api/outbox/1/requeue", http.StatusOK, nil},
		{"requeue an unknown row", http.MethodPost, "/admin/api/outbox/9/requeue", http.StatusNotFound, nil},
		{"requeue a bad id", http.MethodPost, "/admin/api/outbox/x/requeue", http.StatusBadRequest, nil},
		{"reload good scripts", http.MethodPost, "/admin/api/scripts/reload", http.StatusOK, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, tc.method, srv.URL+tc.path)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", status, tc.wantStatus, body)
			}
			if status >= 400 {
				wantErrorShape(t, body)
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

func TestOldPathsRedirect(t *testing.T) {
	tests := []struct {
		name, prefix, method, path, want string
	}{
		{"outbox", "", http.MethodGet, "/admin/outbox?status=dead", "/admin/api/outbox?status=dead"},
		{"requeue", "", http.MethodPost, "/admin/outbox/7/requeue", "/admin/api/outbox/7/requeue"},
		{"reload", "", http.MethodPost, "/admin/scripts/reload", "/admin/api/scripts/reload"},
		{"under a prefix", "/ops", http.MethodGet, "/ops/admin/outbox", "/ops/admin/api/outbox"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger := bottest.Logger(t)
			e := handlers.NewEcho(logger)
			New("t0ken", &fakeOutbox{}, nil, logger).Register(e.Group(tc.prefix))
			srv := httptest.NewServer(e)
			defer srv.Close()
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != tc.want {
				t.Fatalf("%s %s = %d → %q, want 308 → %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.want)
			}
		})
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
	status, body := do(t, http.MethodPost, srv.URL+"/admin/api/scripts/reload")
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, want 422", status)
	}
	if code, _ := wantErrorShape(t, body); code != "invalid_scripts" {
		t.Errorf("code = %q, want invalid_scripts", code)
	}
	details := body["error"].(map[string]any)["details"].([]any)
	if d := details[0].(map[string]any); len(details) != 1 || d["file"] != "a.yaml" || d["line"] != 2.0 {
		t.Fatalf("details = %v, want one at a.yaml:2", details)
	}
	if got := lib.Scripts().FallbackReply(func(int) int { return 0 }); got != "嗯" {
		t.Fatalf("after a rejected reload the fallback is %q, want the old 嗯", got)
	}
}

func TestScriptsListAndRead(t *testing.T) {
	srv, _, dir, _ := fullAdmin(t)
	// A saved version in .history and an editor's dot-file are not scripts.
	if err := os.MkdirAll(filepath.Join(dir, ".history"), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, ".history", "faq.yaml.1"), []byte("x"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, ".faq.yaml.swp"), []byte("x"), 0o644)

	status, body := do(t, http.MethodGet, srv.URL+"/admin/api/scripts")
	if status != http.StatusOK {
		t.Fatalf("list = %d", status)
	}
	var names []string
	for _, f := range body["files"].([]any) {
		names = append(names, f.(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "faq.yaml,welcome.yaml" || body["editable"] != true {
		t.Fatalf("files = %v editable = %v, want faq.yaml,welcome.yaml and editable", names, body["editable"])
	}

	tests := []struct {
		name, path string
		wantStatus int
		wantText   string
	}{
		{"one file", "faq.yaml", http.StatusOK, testFAQ},
		{"a missing file", "nosuch.yaml", http.StatusNotFound, ""},
		{"not a script", "notes.txt", http.StatusBadRequest, ""},
		{"a hidden file", ".history/faq.yaml.1", http.StatusBadRequest, ""},
		{"outside the folder", "..%2Fsecret.yaml", http.StatusBadRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, http.MethodGet, srv.URL+"/admin/api/scripts/"+tc.path)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", status, tc.wantStatus, body)
			}
			if tc.wantText != "" && body["text"] != tc.wantText {
				t.Fatalf("text = %q, want %q", body["text"], tc.wantText)
			}
		})
	}
}

// greetSection is a capability's section ("greet: text") for checking
// that drafts are validated with the library's sections.
type greetSection struct{}

func (greetSection) Key() string { return "greet" }
func (greetSection) Parse(p *bot.SectionParser, n *yaml.Node) any {
	s, _ := p.Text(n, "greet")
	return s
}
func (greetSection) Merge(_ *bot.SectionMerger, _ *bot.Scripts, parts []bot.SectionPart) any {
	return len(parts)
}

// manyDrafts returns n valid drafts.
func manyDrafts(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("d%d.yaml", i)] = "rules: []\n"
	}
	return m
}

func TestValidate(t *testing.T) {
	lib, _ := scriptsLibrary(t, map[string]string{"faq.yaml": testFAQ, "welcome.yaml": testWelcome}, greetSection{})
	srv := serve(t, lib, &fakeOutbox{})
	tests := []struct {
		name       string
		body       any
		wantStatus int
		wantOK     bool
		wantErrs   []string // file:line of each error
	}{
		{"a good draft", map[string]any{"files": map[string]string{"faq.yaml": testFAQ + "  - name: more\n    match: {exact: [hi]}\n    reply: hello\n"}}, http.StatusOK, true, nil},
		{"a new file", map[string]any{"files": map[string]string{"new.yaml": "rules:\n  - name: x\n    match: {exact: [x]}\n    reply: y\n"}}, http.StatusOK, true, nil},
		{"a capability's section", map[string]any{"files": map[string]string{"greet.yaml": "greet: 你好\n"}}, http.StatusOK, true, nil},
		{"an unknown key", map[string]any{"files": map[string]string{"faq.yaml": "rules: []\ncolour: red\n"}}, http.StatusOK, false, []string{"faq.yaml:2"}},
		{"a bad regex", map[string]any{"files": map[string]string{"faq.yaml": "rules:\n  - name: x\n    match: {regex: \"([\"}\n    reply: y\n"}}, http.StatusOK, false, []string{"faq.yaml:3"}},
		// more.yaml sorts first, so the file in force is the one redefining it.
		{"a clash with another file in force", map[string]any{"files": map[string]string{"more.yaml": "fallback: 另一个\n"}}, http.StatusOK, false, []string{"welcome.yaml:1"}},
		{"not JSON", "{files", http.StatusBadRequest, false, nil},
		{"no files", map[string]any{"files": map[string]string{}}, http.StatusBadRequest, false, nil},
		{"a bad name", map[string]any{"files": map[string]string{"../x.yaml": "fallback: x\n"}}, http.StatusBadRequest, false, nil},
		{"a dot-file", map[string]any{"files": map[string]string{".x.yaml": "fallback: x\n"}}, http.StatusBadRequest, false, nil},
		{"too many files", map[string]any{"files": manyDrafts(maxDraftFiles + 1)}, http.StatusBadRequest, false, nil},
		{"too large", map[string]any{"files": map[string]string{"big.yaml": strings.Repeat("#", maxValidateBytes)}}, http.StatusRequestEntityTooLarge, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := sendAdmin(t, http.MethodPost, srv.URL+"/admin/api/scripts/validate", "t0ken", "application/json", tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", status, tc.wantStatus, body)
			}
			if status != http.StatusOK {
				wantErrorShape(t, body)
				return
			}
			if body["ok"] != tc.wantOK {
				t.Fatalf("ok = %v, want %v (%v)", body["ok"], tc.wantOK, body)
			}
			var got []string
			for _, e := range body["errors"].([]any) {
				m := e.(map[string]any)
				got = append(got, fmt.Sprintf("%s:%v", m["file"], m["line"]))
				if m["message"] == "" {
					t.Errorf("error %v has no message", m)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.wantErrs, ",") {
				t.Fatalf("errors at %v, want %v", got, tc.wantErrs)
			}
		})
	}
}

func TestSave(t *testing.T) {
	newRule := testFAQ + "  - name: wifi\n    match: {contains: [wifi]}\n    reply: 密码是 coffee123\n"
	tests := []struct {
		name       string
		path       string
		body       string
		headers    []string
		wantStatus int
		wantFile   string // faq.yaml afterwards
		wantReply  string // what 我要wifi gets afterwards
	}{
		{"a good edit is written and in force", "faq.yaml", newRule, nil, http.StatusOK, newRule, "密码是 coffee123"},
		{"a bad draft is never written", "faq.yaml", testFAQ + "    colour: red\n", nil, http.StatusUnprocessableEntity, testFAQ, ""},
		{"a stale edit is refused", "faq.yaml", newRule, []string{"If-Match", `"0000"`}, http.StatusConflict, testFAQ, ""},
		{"a bad name", "faq.txt", newRule, nil, http.StatusBadRequest, testFAQ, ""},
		{"a new file with a Chinese name", "%E6%AC%A2%E8%BF%8E%E8%AF%AD.yaml", "rules:\n  - name: wifi\n    match: {contains: [wifi]}\n    reply: 问店员\n", nil, http.StatusOK, testFAQ, "问店员"},
		{"too large", "faq.yaml", "fallback: " + strings.Repeat("长", maxScriptBytes) + "\n", nil, http.StatusRequestEntityTooLarge, testFAQ, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, lib, dir, _ := fullAdmin(t)
			status, body := sendAdmin(t, http.MethodPut, srv.URL+"/admin/api/scripts/"+tc.path, "t0ken", "text/plain", tc.body, tc.headers...)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", status, tc.wantStatus, body)
			}
			got, _ := os.ReadFile(filepath.Join(dir, "faq.yaml"))
			if string(got) != tc.wantFile {
				t.Fatalf("faq.yaml = %q, want %q", got, tc.wantFile)
			}
			gotReply := ""
			if r, ok := lib.Scripts().Match(bot.WeChat, "我要wifi"); ok {
				gotReply = r.Reply(func(int) int { return 0 })
			}
			if gotReply != tc.wantReply {
				t.Fatalf("我要wifi is answered %q, want %q", gotReply, tc.wantReply)
			}
			if status != http.StatusOK {
				wantErrorShape(t, body)
				return
			}
			// The previous version is kept, hidden from the loader, and
			// no temporary file is left behind.
			if tc.path == "faq.yaml" {
				prev, err := os.ReadFile(filepath.Join(dir, body["previous"].(string)))
				if err != nil || string(prev) != testFAQ {
					t.Fatalf("previous version %v = %q (%v), want the old file", body["previous"], prev, err)
				}
			} else if body["previous"] != "" {
				t.Fatalf("a new file has a previous version %v", body["previous"])
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".siyu-save") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		})
	}

	t.Run("the bad draft's errors are in the answer", func(t *testing.T) {
		srv, _, _, _ := fullAdmin(t)
		_, body := sendAdmin(t, http.MethodPut, srv.URL+"/admin/api/scripts/faq.yaml", "t0ken", "text/plain", testFAQ+"    colour: red\n")
		d := body["error"].(map[string]any)["details"].([]any)[0].(map[string]any)
		if d["file"] != "faq.yaml" || d["line"] != 5.0 {
			t.Fatalf("details[0] = %v, want faq.yaml:5", d)
		}
	})

	t.Run("a new file", func(t *testing.T) {
		srv, lib, dir, _ := fullAdmin(t)
		status, body := sendAdmin(t, http.MethodPut, srv.URL+"/admin/api/scripts/new.yaml", "t0ken", "text/plain", "rules:\n  - name: n\n    match: {exact: [新]}\n    reply: 新的\n")
		if status != http.StatusOK || body["previous"] != "" {
			t.Fatalf("status = %d previous = %v, want 200 and none", status, body["previous"])
		}
		if _, err := os.Stat(filepath.Join(dir, "new.yaml")); err != nil {
			t.Fatal(err)
		}
		if _, ok := lib.Scripts().Match(bot.WeChat, "新"); !ok {
			t.Fatal("the new file's rule is not in force")
		}
	})

	t.Run("history keeps the last versions", func(t *testing.T) {
		srv, _, dir, _ := fullAdmin(t)
		const n = keepHistory + 3
		for i := range n {
			text := fmt.Sprintf("rules:\n  - name: v\n    match: {exact: [v]}\n    reply: v%d\n", i)
			if status, body := sendAdmin(t, http.MethodPut, srv.URL+"/admin/api/scripts/v.yaml", "t0ken", "text/plain", text); status != http.StatusOK {
				t.Fatalf("save %d = %d %v", i, status, body)
			}
		}
		entries, _ := os.ReadDir(filepath.Join(dir, historyDir))
		kept := 0
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "v.yaml.") {
				kept++
			}
		}
		if kept != keepHistory {
			t.Fatalf("%d saves kept %d versions, want %d", n, kept, keepHistory)
		}
	})

	t.Run("embedded scripts cannot be saved", func(t *testing.T) {
		lib, err := bot.NewLibrary(fstest.MapFS{"a.yaml": {Data: []byte("fallback: 嗯\n")}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := serve(t, lib, &fakeOutbox{})
		status, body := sendAdmin(t, http.MethodPut, srv.URL+"/admin/api/scripts/a.yaml", "t0ken", "text/plain", "fallback: 哦\n")
		if status != http.StatusConflict {
			t.Fatalf("status = %d, want 409", status)
		}
		if _, msg := wantErrorShape(t, body); !strings.Contains(msg, "SIYU_SCRIPTS") {
			t.Fatalf("message %q does not say how to make scripts editable", msg)
		}
	})
}

// couponPushStage adds a proactive push to every message, for held_back.
type couponPushStage struct{}

func (couponPushStage) HandleTurn(_ context.Context, t *bot.Turn) (bool, error) {
	t.Add(bot.Push{Topic: "coupon", Action: bot.Reply{To: t.Event.ReplyTarget(), Text: "送你一张券"}})
	return false, nil
}

// quietHoursExplainer holds every coupon push until 08:00, as
// do-not-disturb in quiet hours.
type quietHoursExplainer struct{}

func (quietHoursExplainer) ExplainHolds(_ context.Context, actions []bot.Action, now time.Time) ([]Hold, error) {
	var out []Hold
	for i, a := range actions {
		if p, ok := a.(bot.Push); ok && p.Topic == "coupon" {
			out = append(out, Hold{Index: i, Reason: "免打扰时段", Until: now.Add(8 * time.Hour)})
		}
	}
	return out, nil
}

func TestDryRun(t *testing.T) {
	lib, _ := scriptsLibrary(t, map[string]string{"faq.yaml": testFAQ, "welcome.yaml": testWelcome})
	logger := bottest.Logger(t)
	e := handlers.NewEcho(logger)
	engine := bot.NewEngine(bot.EngineConfig{Scripts: lib, Observe: []bot.Stage{couponPushStage{}}, Pick: func(int) int { return 0 }})
	held := quietHoursExplainer{}
	New("t0ken", &fakeOutbox{}, lib, logger).WithDryRun(engine, held).Register(e.Group(""))
	srv := httptest.NewServer(e)
	defer srv.Close()

	tests := []struct {
		name        string
		body        any
		wantStatus  int
		wantStage   string
		wantRule    string
		wantActions []string
	}{
		{"a keyword rule", map[string]any{"text": "你们营业时间？", "platform": "wechat"}, http.StatusOK, "rule", "hours", []string{"每天 9:00-21:00"}},
		{"the fallback in a 1:1 chat", map[string]any{"text": "随便说说", "platform": "douyin"}, http.StatusOK, "fallback", "", []string{"没听懂"}},
		{"no fallback in a group", map[string]any{"text": "随便说说", "platform": "wecom", "group": true}, http.StatusOK, "", "", nil},
		{"a group by id", map[string]any{"text": "随便说说", "group": "g1"}, http.StatusOK, "", "", nil},
		{"not JSON", "{", http.StatusBadRequest, "", "", nil},
		{"no text", map[string]any{"text": "  "}, http.StatusBadRequest, "", "", nil},
		{"an unknown platform", map[string]any{"text": "hi", "platform": "qq"}, http.StatusBadRequest, "", "", nil},
		{"group neither bool nor id", map[string]any{"text": "hi", "group": 3}, http.StatusBadRequest, "", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := sendAdmin(t, http.MethodPost, srv.URL+"/admin/api/dry-run", "t0ken", "application/json", tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", status, tc.wantStatus, body)
			}
			if status != http.StatusOK {
				wantErrorShape(t, body)
				return
			}
			if body["stage"] != tc.wantStage || body["rule"] != tc.wantRule {
				t.Errorf("stage, rule = %v, %v; want %q, %q", body["stage"], body["rule"], tc.wantStage, tc.wantRule)
			}
			var texts []string
			for _, a := range body["actions"].([]any) {
				texts = append(texts, a.(map[string]any)["text"].(string))
			}
			if strings.Join(texts, "|") != strings.Join(tc.wantActions, "|") {
				t.Errorf("actions = %q, want %q", texts, tc.wantActions)
			}
			hb := body["held_back"].([]any)
			if len(hb) != 1 || hb[0].(map[string]any)["reason"] != "免打扰时段" || hb[0].(map[string]any)["text"] != "送你一张券" || hb[0].(map[string]any)["until"] == nil {
				t.Errorf("held_back = %v, want the coupon push held in quiet hours", hb)
			}
		})
	}

	t.Run("without a runner", func(t *testing.T) {
		srv := serve(t, lib, &fakeOutbox{})
		status, body := sendAdmin(t, http.MethodPost, srv.URL+"/admin/api/dry-run", "t0ken", "", map[string]any{"text": "hi"})
		if status != http.StatusNotFound {
			t.Fatalf("status = %d, want 404", status)
		}
		wantErrorShape(t, body)
	})
}

// stubContacts answers NewContactsByDay from rows. The console's pages
// ask it concurrently (the home page and the contacts tab).
type stubContacts struct {
	rows      []ContactDay
	mu        sync.Mutex
	gotSince  time.Time
	gotOffset int
}

func (f *stubContacts) NewContactsByDay(_ context.Context, since time.Time, loc *time.Location) ([]ContactDay, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gotSince = since
	_, f.gotOffset = since.In(loc).Zone()
	return f.rows, nil
}

func TestContacts(t *testing.T) {
	lib, _ := scriptsLibrary(t, map[string]string{"welcome.yaml": "fallback: x\nchannels:\n  - state: shop-1\n    name: 一号店\n  - state: quiet\n    name: 没人来的渠道\n"})
	fc := &stubContacts{rows: []ContactDay{
		{Day: "2026-11-24", State: "shop-1", ChannelName: "一号店", Outcome: "sent", Count: 3},
		{Day: "2026-11-26", State: "shop-1", ChannelName: "一号店", Outcome: "failed", Count: 1},
		{Day: "2026-11-26", State: "fair", ChannelName: "展会", Outcome: "sent", Count: 2},
	}}
	logger := bottest.Logger(t)
	e := handlers.NewEcho(logger)
	now := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai
	New("t0ken", &fakeOutbox{}, lib, logger).WithContacts(fc).WithClock(func() time.Time { return now }).Register(e.Group(""))
	srv := httptest.NewServer(e)
	defer srv.Close()

	status, body := do(t, http.MethodGet, srv.URL+"/admin/api/contacts?days=3&tz_offset=480")
	if status != http.StatusOK {
		t.Fatalf("status = %d (%v)", status, body)
	}
	if days := fmt.Sprint(body["days"]); days != "[2026-11-24 2026-11-25 2026-11-26]" {
		t.Errorf("days = %s", days)
	}
	if want := time.Date(2026, 11, 24, 0, 0, 0, 0, time.FixedZone("", 8*3600)); !fc.gotSince.Equal(want) || fc.gotOffset != 8*3600 {
		t.Errorf("asked since %v (offset %d), want Shanghai midnight %v", fc.gotSince, fc.gotOffset, want)
	}
	got := map[string]string{}
	for _, c := range body["channels"].([]any) {
		m := c.(map[string]any)
		got[m["state"].(string)] = fmt.Sprintf("%s total=%v per_day=%v outcomes=%v", m["name"], m["total"], m["per_day"], m["outcomes"])
	}
	want := map[string]string{
		"shop-1": "一号店 total=4 per_day=[3 0 1] outcomes=map[failed:1 sent:3]",
		"fair":   "展会 total=2 per_day=[0 0 2] outcomes=map[sent:2]",
		"quiet":  "没人来的渠道 total=0 per_day=[0 0 0] outcomes=map[]",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("channel %s = %q, want %q", k, got[k], w)
		}
	}

	for _, bad := range []string{"days=0", "days=91", "days=x", "tz_offset=9999", "tz_offset=east"} {
		t.Run(bad, func(t *testing.T) {
			status, body := do(t, http.MethodGet, srv.URL+"/admin/api/contacts?"+bad)
			if status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", status)
			}
			wantErrorShape(t, body)
		})
	}
	t.Run("without WeCom", func(t *testing.T) {
		srv := serve(t, lib, &fakeOutbox{})
		status, body := do(t, http.MethodGet, srv.URL+"/admin/api/contacts")
		if status != http.StatusNotFound {
			t.Fatalf("status = %d, want 404", status)
		}
		wantErrorShape(t, body)
	})
}

func TestConsolePage(t *testing.T) {
	srv := serve(t, nil, &fakeOutbox{})
	tests := []struct {
		name, path string
		wantStatus int
		wantType   string
		wantBody   string
	}{
		{"the page loads without a token", "/admin/", http.StatusOK, "text/html", "私域助手"},
		{"its script", "/admin/ui/app.js", http.StatusOK, "text/javascript", "sessionStorage"},
		{"its style", "/admin/ui/app.css", http.StatusOK, "text/css", "@media"},
		{"a missing asset", "/admin/ui/nosuch.js", http.StatusNotFound, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.wantType) || !strings.Contains(string(b), tc.wantBody) {
				t.Fatalf("%s: %s %.60q, want %s containing %q", tc.path, resp.Header.Get("Content-Type"), b, tc.wantType, tc.wantBody)
			}
			if tc.wantStatus == http.StatusOK && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("CSP = %q, want scripts from siyu only", resp.Header.Get("Content-Security-Policy"))
			}
		})
	}
	t.Run("no CDN", func(t *testing.T) {
		for _, f := range []string{"console/index.html", "console/app.js", "console/app.css"} {
			b, _ := consoleFiles.ReadFile(f)
			if strings.Contains(string(b), "https://") || strings.Contains(string(b), "//cdn") {
				t.Errorf("%s refers to the internet", f)
			}
		}
	})
	t.Run("/admin goes to /admin/", func(t *testing.T) {
		resp, err := noRedirects.Get(srv.URL + "/admin")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/admin/" {
			t.Fatalf("/admin = %d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
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
			logger := bottest.Logger(t)
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
