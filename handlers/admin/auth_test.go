package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers"
)

// staffClient is a browser-like client signed in as one staff member: a
// cookie jar and the CSRF token.
type staffClient struct {
	c    *http.Client
	csrf string
	base string
}

// signInAs signs name in with password and returns the client; it fails
// the test unless the sign-in answers wantStatus (200 to get a client).
func signInAs(t *testing.T, base, name, password string, wantStatus int) *staffClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	sc := &staffClient{c: &http.Client{Jar: jar, CheckRedirect: noRedirects.CheckRedirect}, base: base}
	status, body, resp := sc.send(t, http.MethodPost, "/admin/api/session", fmt.Sprintf(`{"name":%q,"password":%q}`, name, password))
	if status != wantStatus {
		t.Fatalf("sign in %s = %d %v, want %d", name, status, body, wantStatus)
	}
	if status == http.StatusOK {
		sc.csrf, _ = body["csrf"].(string)
		var ck *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == sessionCookie {
				ck = c
			}
		}
		if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/admin/" {
			t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Strict, Path=/admin/", ck)
		}
		if sc.csrf == "" || strings.Contains(ck.Value, sc.csrf) {
			t.Fatalf("csrf = %q, want a token of its own", sc.csrf)
		}
	}
	return sc
}

// send sends body (JSON) with the session's cookie and, for changes, its
// CSRF token.
func (sc *staffClient) send(t *testing.T, method, path, body string) (int, map[string]any, *http.Response) {
	t.Helper()
	return sc.sendCSRF(t, method, path, body, sc.csrf)
}

func (sc *staffClient) sendCSRF(t *testing.T, method, path, body, csrf string) (int, map[string]any, *http.Response) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, sc.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set(csrfHeader, csrf)
	}
	resp, err := sc.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, resp
}

// TestRolesOnEveryRoute: a viewer reads and dry-runs but changes
// nothing (403), an operator changes everything but staff accounts, an
// admin does all; the bearer token acts as an admin.
func TestRolesOnEveryRoute(t *testing.T) {
	for _, r := range adminRoutes {
		if r.path == "/admin/api/nosuch" {
			continue
		}
		need := requiredRole(r.method, strings.SplitN(r.path, "?", 2)[0])
		if strings.HasPrefix(r.path, "/admin/debug/") {
			need = RoleAdmin
		}
		// One site per route; the admin goes last, as its change may
		// remove another's account.
		site := newFullAdmin(t, 1000)
		for _, who := range []struct {
			name string
			role Role
		}{{"vic", RoleViewer}, {"otto", RoleOperator}, {"amy", RoleAdmin}} {
			t.Run(r.method+" "+r.path+" as "+string(who.role), func(t *testing.T) {
				sc := signInAs(t, site.srv.URL, who.name, "password-"+who.name, http.StatusOK)
				status, body, _ := sc.send(t, r.method, r.path, r.body)
				allowed := who.role.rank() >= need.rank()
				if !allowed {
					if status != http.StatusForbidden {
						t.Fatalf("status = %d %v, want 403", status, body)
					}
					if !strings.HasPrefix(r.path, "/admin/api/") {
						return
					}
					if code, _ := wantErrorShape(t, body); code != "forbidden" {
						t.Fatalf("code = %q, want forbidden", code)
					}
					return
				}
				if status == http.StatusForbidden || status == http.StatusUnauthorized || status >= 500 {
					t.Fatalf("status = %d %v, want the route to answer a %s", status, body, who.role)
				}
			})
		}
	}
}

func TestRequiredRole(t *testing.T) {
	tests := []struct {
		method, route string
		want          Role
	}{
		{http.MethodGet, "/admin/api/scripts", RoleViewer},
		{http.MethodPost, "/admin/api/dry-run", RoleViewer},
		{http.MethodPost, "/admin/api/scripts/validate", RoleViewer},
		{http.MethodPut, "/admin/api/scripts/*", RoleOperator},
		{http.MethodPost, "/admin/api/risk/events/:id/ack", RoleOperator},
		{http.MethodPut, "/admin/api/dnd/persons/:person", RoleOperator},
		{http.MethodGet, "/admin/api/staff", RoleAdmin},
		{http.MethodPost, "/admin/api/staff", RoleAdmin},
		{http.MethodDelete, "/admin/api/session", RoleViewer},
		{http.MethodPost, "/prefix/admin/api/outbox/:id/requeue", RoleOperator},
		// Conversations are customers' own words: viewers do not read them.
		{http.MethodGet, "/admin/api/inbox/conversations", RoleOperator},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.route, func(t *testing.T) {
			if got := requiredRole(tc.method, tc.route); got != tc.want {
				t.Errorf("requiredRole = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSignIn(t *testing.T) {
	site := newFullAdmin(t, 1000)
	base := site.srv.URL

	t.Run("a wrong password and an unknown name read alike", func(t *testing.T) {
		c1 := signInAs(t, base, "amy", "not-her-password", http.StatusUnauthorized)
		_, b1, _ := c1.send(t, http.MethodPost, "/admin/api/session", `{"name":"amy","password":"not-her-password"}`)
		_, b2, _ := c1.send(t, http.MethodPost, "/admin/api/session", `{"name":"nobody","password":"whatever-it-is"}`)
		if fmt.Sprint(b1) != fmt.Sprint(b2) {
			t.Errorf("wrong password says %v, unknown name %v: they must not differ", b1, b2)
		}
	})
	t.Run("a bad body is a 400", func(t *testing.T) {
		sc := &staffClient{c: http.DefaultClient, base: base}
		for _, body := range []string{`{`, `{"name":"amy"}`, `{"name":"","password":"x"}`} {
			if status, _, _ := sc.send(t, http.MethodPost, "/admin/api/session", body); status != http.StatusBadRequest {
				t.Errorf("sign in with %s = %d, want 400", body, status)
			}
		}
	})
	t.Run("who am I, then sign out ends the session", func(t *testing.T) {
		sc := signInAs(t, base, "otto", "password-otto", http.StatusOK)
		status, body, _ := sc.send(t, http.MethodGet, "/admin/api/session", "")
		if status != http.StatusOK || body["name"] != "otto" || body["role"] != "operator" || body["csrf"] != sc.csrf {
			t.Fatalf("GET session = %d %v, want otto the operator with the csrf token", status, body)
		}
		if status, _, _ := sc.send(t, http.MethodDelete, "/admin/api/session", ""); status != http.StatusNoContent {
			t.Fatalf("sign out = %d, want 204", status)
		}
		if status, _, _ := sc.send(t, http.MethodGet, "/admin/api/session", ""); status != http.StatusUnauthorized {
			t.Fatalf("after sign out = %d, want 401", status)
		}
	})
	t.Run("a change without the CSRF token is refused", func(t *testing.T) {
		sc := signInAs(t, base, "otto", "password-otto", http.StatusOK)
		for _, csrf := range []string{"", "forged"} {
			status, body, _ := sc.sendCSRF(t, http.MethodPost, "/admin/api/outbox/1/requeue", "", csrf)
			if status != http.StatusForbidden {
				t.Fatalf("requeue with csrf %q = %d %v, want 403", csrf, status, body)
			}
		}
		if len(site.ob.requeued) != 0 {
			t.Fatalf("requeued %v without the CSRF token", site.ob.requeued)
		}
		if status, _, _ := sc.send(t, http.MethodPost, "/admin/api/outbox/1/requeue", ""); status != http.StatusOK {
			t.Fatalf("requeue with the token = %d, want 200", status)
		}
	})
	t.Run("a role change ends the member's sessions", func(t *testing.T) {
		vic := signInAs(t, base, "vic", "password-vic", http.StatusOK)
		amy := signInAs(t, base, "amy", "password-amy", http.StatusOK)
		if status, body, _ := amy.send(t, http.MethodPut, "/admin/api/staff/vic", `{"role":"operator"}`); status != http.StatusOK {
			t.Fatalf("promote vic = %d %v", status, body)
		}
		if status, _, _ := vic.send(t, http.MethodGet, "/admin/api/session", ""); status != http.StatusUnauthorized {
			t.Fatalf("vic's old session = %d, want 401", status)
		}
		vic = signInAs(t, base, "vic", "password-vic", http.StatusOK)
		if _, body, _ := vic.send(t, http.MethodGet, "/admin/api/session", ""); body["role"] != "operator" {
			t.Fatalf("vic signed in again = %v, want operator", body)
		}
	})
	t.Run("an admin cannot demote or remove themselves", func(t *testing.T) {
		amy := signInAs(t, base, "amy", "password-amy", http.StatusOK)
		if status, _, _ := amy.send(t, http.MethodPut, "/admin/api/staff/amy", `{"role":"viewer"}`); status != http.StatusConflict {
			t.Errorf("self-demotion = %d, want 409", status)
		}
		if status, _, _ := amy.send(t, http.MethodDelete, "/admin/api/staff/amy", ""); status != http.StatusConflict {
			t.Errorf("self-removal = %d, want 409", status)
		}
	})
	t.Run("staff accounts: add, weak password, duplicate, list hides hashes", func(t *testing.T) {
		amy := signInAs(t, base, "amy", "password-amy", http.StatusOK)
		tests := []struct {
			name, body string
			want       int
		}{
			{"add", `{"name":"新员工","role":"viewer","password":"一个足够长的密码123"}`, http.StatusCreated},
			{"duplicate", `{"name":"新员工","role":"viewer","password":"一个足够长的密码123"}`, http.StatusConflict},
			{"short password", `{"name":"kim","role":"viewer","password":"short"}`, http.StatusBadRequest},
			{"unknown role", `{"name":"kim","role":"boss","password":"long enough password"}`, http.StatusBadRequest},
			{"bad name", `{"name":"a b","role":"viewer","password":"long enough password"}`, http.StatusBadRequest},
		}
		for _, tc := range tests {
			if status, body, _ := amy.send(t, http.MethodPost, "/admin/api/staff", tc.body); status != tc.want {
				t.Errorf("%s = %d %v, want %d", tc.name, status, body, tc.want)
			}
		}
		_, body, _ := amy.send(t, http.MethodGet, "/admin/api/staff", "")
		raw, _ := json.Marshal(body)
		if !strings.Contains(string(raw), "新员工") || strings.Contains(string(raw), "argon2") {
			t.Errorf("staff list = %s, want the new member and no hashes", raw)
		}
		signInAs(t, base, "新员工", "一个足够长的密码123", http.StatusOK)
	})
}

// TestSignInIsLimited: after MaxFailuresPerName failures a name is
// refused even with its password, and an address that failed too often
// is refused whatever it tries, bearer tokens included.
func TestSignInIsLimited(t *testing.T) {
	logger := bottest.Logger(t)
	e := handlers.NewEcho(logger)
	f := newStaffFixture(t)
	cfg := f.config()
	cfg.MaxFailuresPerName, cfg.MaxFailuresPerAddr = 3, 6
	New("t0ken", &fakeOutbox{}, nil, logger).WithStaff(cfg).Register(e.Group(""))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	for range 3 {
		signInAs(t, srv.URL, "amy", "guess-guess-guess", http.StatusUnauthorized)
	}
	sc := signInAs(t, srv.URL, "amy", "password-amy", http.StatusTooManyRequests)
	_, body, _ := sc.send(t, http.MethodPost, "/admin/api/session", `{"name":"amy","password":"password-amy"}`)
	if code, _ := wantErrorShape(t, body); code != "too_many_requests" {
		t.Errorf("code = %q, want too_many_requests", code)
	}
	// Another name from the same address still may, until the address
	// reaches its own limit (3 failures so far, 3 to go).
	signInAs(t, srv.URL, "otto", "password-otto", http.StatusOK)
	for range 3 {
		if status, _ := sendAdmin(t, http.MethodGet, srv.URL+"/admin/api/capabilities", "guess", "", nil); status != http.StatusUnauthorized {
			t.Fatalf("wrong token = %d, want 401", status)
		}
	}
	if status, _ := sendAdmin(t, http.MethodGet, srv.URL+"/admin/api/capabilities", "t0ken", "", nil); status != http.StatusTooManyRequests {
		t.Errorf("the right token from a blocked address = %d, want 429", status)
	}
	signInAs(t, srv.URL, "vic", "password-vic", http.StatusTooManyRequests)
}

// TestTokenKeptAsDigest: the handler keeps the token's digest, not the
// token: comparing digests takes as long for a guess of any length, and
// the token is nowhere in the handler's memory to leak.
func TestTokenKeptAsDigest(t *testing.T) {
	const token = "a-long-admin-token-0123456789"
	h := New(token, &fakeOutbox{}, nil, nil)
	if dump := fmt.Sprintf("%+v", h); strings.Contains(dump, token) {
		t.Errorf("the handler holds the token in the clear: %s", dump)
	}
	if sum := tokenDigest(token); !bytes.Equal(sum[:], h.tokenSum[:]) {
		t.Error("the handler's digest is not the token's")
	}
}

// TestAuditLog: every change is recorded with who made it; reads and
// dry-runs are not; admins list it.
func TestAuditLog(t *testing.T) {
	site := newFullAdmin(t, 1000)
	otto := signInAs(t, site.srv.URL, "otto", "password-otto", http.StatusOK)
	steps := []struct{ method, path, body string }{
		{http.MethodGet, "/admin/api/scripts", ""},
		{http.MethodPost, "/admin/api/dry-run", `{"text":"营业时间"}`},
		{http.MethodPut, "/admin/api/scripts/faq.yaml", testFAQ + "\n"},
		{http.MethodPost, "/admin/api/risk/events/17/ack", ""},
		{http.MethodPost, "/admin/api/outbox/1/requeue", ""},
		{http.MethodPut, "/admin/api/dnd/persons/wechat:gh:o-1", `{"opted_out":true}`},
	}
	for _, s := range steps {
		if status, body, _ := otto.send(t, s.method, s.path, s.body); status != http.StatusOK {
			t.Fatalf("%s %s = %d %v", s.method, s.path, status, body)
		}
	}
	if status, _ := sendAdmin(t, http.MethodPost, site.srv.URL+"/admin/api/scripts/reload", "t0ken", "", nil); status != http.StatusOK {
		t.Fatalf("reload with the token = %d", status)
	}
	var got []string
	for _, e := range site.staff.audit.entries() {
		got = append(got, e.Actor+" "+e.Action+" "+e.Target)
	}
	want := []string{
		"otto session.sign_in otto",
		"otto script.save faq.yaml",
		"otto risk.ack 17",
		"otto outbox.requeue 1",
		"otto dnd.set " + MaskPerson("wechat:gh:o-1"),
		"token script.reload ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	amy := signInAs(t, site.srv.URL, "amy", "password-amy", http.StatusOK)
	status, body, _ := amy.send(t, http.MethodGet, "/admin/api/audit?limit=2", "")
	entries, _ := body["entries"].([]any)
	if status != http.StatusOK || len(entries) != 2 || entries[0].(map[string]any)["action"] != "session.sign_in" {
		t.Errorf("GET audit = %d %v, want the 2 newest, newest first", status, body)
	}
	if status, _, _ := amy.send(t, http.MethodGet, "/admin/api/audit?limit=0", ""); status != http.StatusBadRequest {
		t.Errorf("GET audit?limit=0 = %d, want 400", status)
	}
}
