package main

import (
	"bytes"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers/admin"
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
	if err != nil || !strings.Contains(out.String(), "added 店长 (admin, every brand)") {
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

// TestParseStaffAdd: `siyu staff add`'s arguments, --brand included.
func TestParseStaffAdd(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantName   string
		wantRole   admin.Role
		wantBrands []string
		wantErr    string
	}{
		{"role only: every brand", []string{"店长", "--role", "admin"}, "店长", admin.RoleAdmin, nil, ""},
		{"one brand", []string{"kim", "--role", "operator", "--brand", "shancha"}, "kim", admin.RoleOperator, []string{"shancha"}, ""},
		{"brands first, sorted, spaces and repeats dropped", []string{"kim", "--brand", "shancha, other,shancha", "--role", "viewer"}, "kim", admin.RoleViewer, []string{"other", "shancha"}, ""},
		{"--flag=value", []string{"kim", "--role=operator", "--brand=yunshan"}, "kim", admin.RoleOperator, []string{"yunshan"}, ""},
		{"a brand in Chinese is not a folder's name", []string{"kim", "--role", "operator", "--brand", "山茶"}, "", "", nil, "品牌名"},
		{"--brand all is every brand", []string{"kim", "--role", "operator", "--brand", "all"}, "kim", admin.RoleOperator, nil, ""},
		{"no role", []string{"kim", "--brand", "shancha"}, "", "", nil, "--role is required"},
		{"a flag without its value", []string{"kim", "--role"}, "", "", nil, "needs a value"},
		{"an unknown role", []string{"kim", "--role", "boss"}, "", "", nil, "角色只能是"},
		{"all with another brand", []string{"kim", "--role", "operator", "--brand", "all,shancha"}, "", "", nil, "all stands alone"},
		{"a brand with a slash", []string{"kim", "--role", "operator", "--brand", "../x"}, "", "", nil, "品牌名"},
		{"an empty brand list", []string{"kim", "--role", "operator", "--brand", ","}, "", "", nil, "name the brands"},
		{"an unknown flag", []string{"kim", "--role", "operator", "--team", "x"}, "", "", nil, "unknown argument"},
		{"a flag twice", []string{"kim", "--role", "operator", "--role", "admin"}, "", "", nil, "given twice"},
		{"no name", []string{"--role", "admin"}, "", "", nil, "wrong arguments"},
		{"a bad name", []string{"a b", "--role", "admin"}, "", "", nil, "员工账号名"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, role, brands, err := parseStaffAdd(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseStaffAdd(%q) = %v, want an error with %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil || name != tc.wantName || role != tc.wantRole || !slices.Equal(brands, tc.wantBrands) || (brands == nil) != (tc.wantBrands == nil) {
				t.Fatalf("parseStaffAdd(%q) = %q, %q, %#v, %v; want %q, %q, %#v", tc.args, name, role, brands, err, tc.wantName, tc.wantRole, tc.wantBrands)
			}
		})
	}
}

// TestStaffBrandsCommand: `siyu staff add --brand` and `siyu staff
// brands` keep a member's brands in the database, list them, end the
// member's sessions, and `all` gives every brand back.
func TestStaffBrandsCommand(t *testing.T) {
	ctx := t.Context()
	st := stores{db: storetest.SQL(t), rdb: storetest.Redis(t)}
	sc, _, err := consoleStaff(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	run := func(stdin string, args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := staffCommand(ctx, sc.Staff, sc.Sessions, strings.NewReader(stdin), &out, args, time.Now); err != nil {
			t.Fatalf("staff %q: %v", args, err)
		}
		return out.String()
	}
	if got := run("a long password 1\n", "add", "kim", "--role", "operator", "--brand", "shancha,other"); !strings.Contains(got, "added kim (operator, brands other,shancha)") {
		t.Fatalf("staff add = %q", got)
	}
	m, err := sc.Staff.Staff(ctx, "kim")
	if err != nil || !slices.Equal(m.Brands, []string{"other", "shancha"}) {
		t.Fatalf("kim = %+v, %v, want brands other, shancha", m, err)
	}
	if got := run("", "list"); !strings.Contains(got, "BRANDS") || !strings.Contains(got, "other,shancha") {
		t.Fatalf("staff list = %q, want kim's brands", got)
	}
	exp := time.Now().Add(time.Hour)
	if err := sc.Sessions.PutSession(ctx, admin.Session{ID: "kim-session", Name: "kim", Role: admin.RoleOperator, Brands: m.Brands, CSRF: "c", Expires: exp}); err != nil {
		t.Fatal(err)
	}
	if got := run("", "brands", "kim", "shancha"); !strings.Contains(got, "kim now sees brands shancha") {
		t.Fatalf("staff brands = %q", got)
	}
	if _, err := sc.Sessions.Session(ctx, "kim-session"); err == nil {
		t.Error("kim's session outlived the change of brands")
	}
	if m, _ := sc.Staff.Staff(ctx, "kim"); !slices.Equal(m.Brands, []string{"shancha"}) {
		t.Fatalf("after staff brands, kim's brands = %#v", m.Brands)
	}
	run("", "brands", "kim", "all")
	if m, _ := sc.Staff.Staff(ctx, "kim"); m.Brands != nil {
		t.Fatalf("after staff brands all, kim's brands = %#v, want every brand", m.Brands)
	}
	var out bytes.Buffer
	if err := staffCommand(ctx, sc.Staff, sc.Sessions, nil, &out, []string{"brands", "kim", "bad/brand"}, time.Now); err == nil {
		t.Error("staff brands with a bad brand succeeded")
	}
}
