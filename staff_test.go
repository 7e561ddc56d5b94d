package main

import (
	"bytes"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestStaffAccountsAcrossReplicas: the first admin is made with `siyu
// staff add`; with no SIYU_ADMIN_TOKEN the console is then on; a session
// signed in on one replica is good on another (both read the database
// and Redis), and ends on both when the admin's role changes.
func TestStaffAccountsAcrossReplicas(t *testing.T) {
	ctx := t.Context()
	st := stores{db: storetest.SQL(t), rdb: storetest.Redis(t)}
	sc, _, err := consoleStaff(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = staffCommand(ctx, sc.Staff, sc.Sessions, strings.NewReader("a long password 1\n"), &out, []string{"add", "店长", "--role", "admin"}, time.Now)
	if err != nil || !strings.Contains(out.String(), "added 店长 (admin)") {
		t.Fatalf("staff add = %q, %v", out.String(), err)
	}
	if err := staffCommand(ctx, sc.Staff, sc.Sessions, strings.NewReader("short\n"), &out, []string{"add", "kim", "--role", "viewer"}, time.Now); err == nil {
		t.Error("staff add with a short password succeeded")
	}

	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	replica := func() *httptest.Server {
		a, err := build(ctx, cfg, st, bottest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.echo)
		t.Cleanup(srv.Close)
		return srv
	}
	r1, r2 := replica(), replica()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.Post(r1.URL+"/admin/api/session", "application/json", strings.NewReader(`{"name":"店长","password":"a long password 1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in on replica 1 = %d, want 200", resp.StatusCode)
	}
	// The cookie belongs to r1's host; carry it to r2 by hand, as a load
	// balancer in front of both would.
	cookies := jar.Cookies(mustURL(t, r1.URL+"/admin/"))
	whoAmI := func(base string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/admin/api/session", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := whoAmI(r2.URL); got != http.StatusOK {
		t.Fatalf("replica 2 with replica 1's session = %d, want 200", got)
	}
	if err := staffCommand(ctx, sc.Staff, sc.Sessions, nil, &out, []string{"role", "店长", "operator"}, time.Now); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{r1.URL, r2.URL} {
		if got := whoAmI(base); got != http.StatusUnauthorized {
			t.Errorf("after the role change = %d, want 401 (sessions ended)", got)
		}
	}
	out.Reset()
	if err := staffCommand(ctx, sc.Staff, sc.Sessions, nil, &out, []string{"list"}, time.Now); err != nil || !strings.Contains(out.String(), "店长") || !strings.Contains(out.String(), "operator") {
		t.Errorf("staff list = %q, %v", out.String(), err)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
