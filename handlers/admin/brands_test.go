package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/handover"
	"github.com/siyu-bot/siyu/handlers"
)

// fakeAccounts is the configuration's accounts.
type fakeAccounts []AccountInfo

func (f fakeAccounts) Accounts(context.Context) []AccountInfo { return slices.Clone(f) }

// brandAccounts: the environment's Official Account, two accounts of
// brand shancha and one of brand other.
var brandAccounts = fakeAccounts{
	{Name: "oa-b", Platform: bot.WeChat, Brand: "other", CallbackPath: "/wechat/oa-b/callback", SecretSet: true},
	{Name: "oa-a", Platform: bot.WeChat, Brand: "shancha", CallbackPath: "/wechat/oa-a/callback", SecretSet: true},
	{Name: "kf-a", Platform: bot.WeCom, Brand: "shancha", CallbackPath: "/wecom/kf-a/callback"},
	{Platform: bot.WeChat, CallbackPath: "/wechat/callback", SecretSet: true},
}

// recordingRunner is the engine, remembering the events it dry-ran.
type recordingRunner struct {
	engine *bot.Engine
	mu     sync.Mutex
	events []bot.Event
}

func (r *recordingRunner) Run(ctx context.Context, ev bot.Event, dryRun bool) (*bot.Turn, error) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	return r.engine.Run(ctx, ev, dryRun)
}

func (r *recordingRunner) RunWith(ctx context.Context, ev bot.Event, s *bot.Scripts, dryRun bool) (*bot.Turn, error) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	return r.engine.RunWith(ctx, ev, s, dryRun)
}

func (r *recordingRunner) last() bot.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		return bot.Event{}
	}
	return r.events[len(r.events)-1]
}

// Hand-overs of each brand's accounts and of the environment's.
const (
	convA       = "aaaa000000000001" // shancha's oa-a
	convB       = "bbbb000000000002" // other's oa-b
	convDefault = "dddd000000000003" // the environment's account
)

func brandInbox(now time.Time) *fakeInbox {
	f := &fakeInbox{msgs: map[string][]handover.Message{}, ended: map[string]bool{}, now: func() time.Time { return now }}
	for _, c := range []struct {
		id    string
		route bot.Route
		user  string
	}{
		{convA, bot.Route{Brand: "shancha", Name: "oa-a"}, "o-customer-of-a"},
		{convB, bot.Route{Brand: "other", Name: "oa-b"}, "o-customer-of-b"},
		{convDefault, bot.Route{}, "o-customer-of-default"},
	} {
		to := bot.Target{Platform: bot.WeChat, Account: bot.AccountID("wx-" + c.route.Name), User: bot.UserID(c.user), Route: c.route}
		f.convs = append(f.convs, handover.Conversation{Pause: handover.Pause{
			ID: c.id, Conv: handover.ConvOf(to.Platform, to.Account, to.User), To: to, Reason: "keyword",
			Since: now.Add(-10 * time.Minute), Waiting: now.Add(-5 * time.Minute), LastCustomer: now.Add(-5 * time.Minute),
		}})
		f.msgs[c.id] = []handover.Message{{Session: c.id, From: handover.Customer, Text: "找人工", At: now.Add(-5 * time.Minute)}}
	}
	return f
}

// brandSite is the admin API with accounts of two brands, their
// scripts, an inbox with a hand-over of each, and staff: amy (admin,
// every brand), sam (operator of shancha only) and bea (admin of
// shancha only).
type brandSite struct {
	url    string
	dir    string
	runner *recordingRunner
	inbox  *fakeInbox
	risk   *fakeRisk
	staff  *staffFixture
}

// brandRisk: risk events of each brand's accounts and of the
// environment's.
func brandRisk(now time.Time) *fakeRisk {
	return &fakeRisk{events: []RiskEvent{
		{ID: 1, Category: "fraud", Severity: "high", Platform: "wechat", Brand: "shancha", Account: "oa-a", Evidence: "刷单", TextMasked: "兼职刷单 A", Status: "open", CreatedAt: now},
		{ID: 2, Category: "fraud", Severity: "high", Platform: "wechat", Brand: "other", Account: "oa-b", Evidence: "刷单", TextMasked: "兼职刷单 B", Status: "open", CreatedAt: now},
		{ID: 3, Category: "abuse", Severity: "high", Platform: "wechat", Evidence: "骂人", TextMasked: "默认账号的顾客", Status: "open", CreatedAt: now},
		{ID: 4, Category: "poaching", Severity: "high", Platform: "wecom", Brand: "shancha", Account: "kf-a", Evidence: "瑞幸", TextMasked: "去瑞幸", Status: "open", CreatedAt: now},
	}}
}

func newBrandSite(t *testing.T) *brandSite {
	t.Helper()
	lib, dir := scriptsLibrary(t, map[string]string{
		"faq.yaml": testFAQ, "welcome.yaml": testWelcome,
		"brands/shancha/a.yaml":      "rules:\n  - name: a-tea\n    match: {contains: [山茶花茶]}\n    reply: 山茶花茶有货\n",
		"brands/shancha/oa-a/x.yaml": "rules:\n  - name: a-oa\n    match: {contains: [公众号专享]}\n    reply: 专享价\n",
		"brands/other/b.yaml":        "rules:\n  - name: b-secret\n    match: {contains: [内部价]}\n    reply: 其他品牌的内部价\n",
	})
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	site := &brandSite{dir: dir, inbox: brandInbox(now), risk: brandRisk(now), staff: newStaffFixture(t),
		runner: &recordingRunner{engine: bot.NewEngine(bot.EngineConfig{Scripts: lib, Pick: func(int) int { return 0 }})}}
	for _, m := range []struct {
		name string
		role Role
	}{{"sam", RoleOperator}, {"bea", RoleAdmin}} {
		if err := site.staff.staff.AddStaff(t.Context(), StaffMember{Name: m.name, Role: m.role, Brands: []string{"shancha"},
			PasswordHash: fixtureHash(t, "password-"+m.name), CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	logger := bottest.Logger(t)
	e := handlers.NewEcho(logger)
	inbox := NewInbox(site.inbox)
	inbox.now = site.inbox.now
	New("t0ken", &fakeOutbox{}, lib, logger, NewRisk(site.risk), inbox, NewDND(&fakeDND{out: map[bot.PersonID]time.Time{}})).
		WithDryRun(site.runner, nil).WithScriptsDir(dir).WithContacts(&stubContacts{}).
		WithStaff(site.staff.config()).WithPeople(newMemPeople()).WithAccounts(brandAccounts).
		WithOverview(memOverview{risk: &fakeRisk{}, outbox: &fakeOutbox{}, dnd: newMemDND()}, &memDaily{}).
		Register(e.Group(""))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	site.url = srv.URL
	return site
}

// TestBrandAware: the routes a brand-limited member may use are those
// that keep to their brands; the rest, modules' included, are refused.
func TestBrandAware(t *testing.T) {
	tests := []struct {
		route string
		want  bool
	}{
		{"/admin/api/session", true},
		{"/admin/api/accounts", true},
		{"/admin/api/scripts", true},
		{"/admin/api/scripts/*", true},
		{"/admin/api/scripts/validate", true},
		{"/admin/api/scripts/reload", false},
		{"/admin/api/rules/preview", true},
		{"/admin/api/history/restore", true},
		{"/admin/api/dry-run", true},
		{"/admin/api/inbox/conversations", true},
		{"/admin/api/inbox/conversations/:id/reply", true},
		{"/admin/api/inbox/stats", false},
		{"/admin/api/staff", false},
		{"/admin/api/staff/:name", false},
		{"/admin/api/overview", false},
		{"/admin/api/audit", false},
		{"/admin/api/people", false},
		{"/admin/api/outbox", false},
		{"/admin/api/contacts", false},
		{"/admin/api/risk/events", true},
		{"/admin/api/risk/events/bulk", true},
		{"/admin/api/risk/events/:id/ack", true},
		{"/admin/api/risk/events/:id/dismiss", true},
		{"/admin/api/risk/events/:id/reopen", true},
		{"/admin/api/risk/export", false},
		{"/admin/api/coupon/campaigns", false},
		{"/admin/api/dnd/opted-out", false},
		{"/admin/api/feedback/lines", false},
		{"/admin/api/newmodule/things", false},
		{"/admin/debug/pprof/*", false},
		{"/siyu/admin/api/dry-run", true},
	}
	for _, tc := range tests {
		if got := brandAware(tc.route); got != tc.want {
			t.Errorf("brandAware(%s) = %v, want %v", tc.route, got, tc.want)
		}
	}
}

// TestBrandLimitedStaff: what an unlimited admin, a brand-limited
// operator and the bearer token see and may do, across accounts, the
// dry-run, the inbox, scripts and the pages whose data names no brand.
func TestBrandLimitedStaff(t *testing.T) {
	site := newBrandSite(t)
	amy := signInAs(t, site.url, "amy", "password-amy", http.StatusOK)
	sam := signInAs(t, site.url, "sam", "password-sam", http.StatusOK)
	bea := signInAs(t, site.url, "bea", "password-bea", http.StatusOK)
	type caller struct {
		name string
		send func(method, path, body string) (int, map[string]any)
	}
	staffCaller := func(name string, sc *staffClient) caller {
		return caller{name, func(method, path, body string) (int, map[string]any) {
			status, out, _ := sc.send(t, method, path, body)
			return status, out
		}}
	}
	token := caller{"token", func(method, path, body string) (int, map[string]any) {
		var b any
		if body != "" {
			b = body
		}
		return sendAdmin(t, method, site.url+path, "t0ken", "application/json", b)
	}}
	callers := map[string]caller{"amy": staffCaller("amy", amy), "sam": staffCaller("sam", sam), "bea": staffCaller("bea", bea), "token": token}

	accountKeys := func(body map[string]any) []string {
		var keys []string
		for _, a := range body["accounts"].([]any) {
			keys = append(keys, a.(map[string]any)["key"].(string))
		}
		return keys
	}
	conversationIDs := func(body map[string]any) []string {
		var ids []string
		for _, c := range body["conversations"].([]any) {
			ids = append(ids, c.(map[string]any)["id"].(string))
		}
		slices.Sort(ids)
		return ids
	}
	dryRunAs := func(want bot.Route, platform bot.Platform, reply string) func(*testing.T, map[string]any) {
		return func(t *testing.T, body map[string]any) {
			ev := site.runner.last()
			if ev.Route != want || ev.Platform != platform {
				t.Errorf("the engine ran an event of %q on %s, want %q on %s", ev.Route, ev.Platform, want, platform)
			}
			if body["account"] != want.Name || body["brand"] != want.Brand || body["platform"] != string(platform) {
				t.Errorf("the answer names %v/%v on %v, want %q on %s", body["brand"], body["account"], body["platform"], want, platform)
			}
			if actions, _ := body["actions"].([]any); reply != "" && (len(actions) != 1 || actions[0].(map[string]any)["text"] != reply) {
				t.Errorf("actions = %v, want the reply %q", body["actions"], reply)
			}
		}
	}
	eventIDs := func(want ...float64) func(*testing.T, map[string]any) {
		return func(t *testing.T, body map[string]any) {
			var ids []float64
			for _, e := range body["events"].([]any) {
				ids = append(ids, e.(map[string]any)["id"].(float64))
			}
			slices.Sort(ids)
			if !slices.Equal(ids, want) {
				t.Errorf("events = %v, want %v", ids, want)
			}
		}
	}
	refusedAsOtherBrand := func(t *testing.T, body map[string]any) {
		if _, msg := wantErrorShape(t, body); !strings.Contains(msg, "属于其他品牌") {
			t.Errorf("message = %q, want it to say the event is another brand's", msg)
		}
		if strings.Contains(fmt.Sprint(body), "兼职刷单") {
			t.Error("the refusal carries the event's text")
		}
	}
	refusedAsBrandBlind := func(t *testing.T, body map[string]any) {
		if _, msg := wantErrorShape(t, body); !strings.Contains(msg, "只能查看品牌「shancha」") || !strings.Contains(msg, "不区分品牌") {
			t.Errorf("message = %q, want it to say the page names no brand and which brands they see", msg)
		}
	}

	tests := []struct {
		name, who, method, path, body string
		want                          int
		check                         func(*testing.T, map[string]any)
	}{
		{"an unlimited admin lists every account", "amy", "GET", "/admin/api/accounts", "", 200, func(t *testing.T, b map[string]any) {
			if got, want := accountKeys(b), []string{"wechat:", "wechat:oa-b", "wecom:kf-a", "wechat:oa-a"}; !slices.Equal(got, want) {
				t.Errorf("accounts = %q, want %q (the environment's first, then by brand and name)", got, want)
			}
			acct := b["accounts"].([]any)[1].(map[string]any)
			if acct["callback_url"] != site.url+"/wechat/oa-b/callback" || acct["brand"] != "other" || acct["secret_set"] != true {
				t.Errorf("oa-b = %v, want its callback URL on this host, its brand and its secret", acct)
			}
			if !slices.Equal(toStrings(b["brands"]), []string{"other", "shancha"}) || b["all_brands"] != true {
				t.Errorf("brands = %v, all = %v", b["brands"], b["all_brands"])
			}
		}},
		{"a limited operator lists their brand's accounts only", "sam", "GET", "/admin/api/accounts", "", 200, func(t *testing.T, b map[string]any) {
			if got, want := accountKeys(b), []string{"wecom:kf-a", "wechat:oa-a"}; !slices.Equal(got, want) {
				t.Errorf("accounts = %q, want only shancha's %q", got, want)
			}
			if !slices.Equal(toStrings(b["brands"]), []string{"shancha"}) || b["all_brands"] != false || !slices.Equal(toStrings(b["my_brands"]), []string{"shancha"}) {
				t.Errorf("brands = %v, all = %v, mine = %v", b["brands"], b["all_brands"], b["my_brands"])
			}
		}},
		{"who am I says the brands", "sam", "GET", "/admin/api/session", "", 200, func(t *testing.T, b map[string]any) {
			if !slices.Equal(toStrings(b["brands"]), []string{"shancha"}) {
				t.Errorf("session = %v, want brands [shancha]", b)
			}
		}},

		{"an admin dry-runs as another brand's account", "amy", "POST", "/admin/api/dry-run", `{"text":"内部价","account":"oa-b"}`, 200,
			dryRunAs(bot.Route{Brand: "other", Name: "oa-b"}, bot.WeChat, "其他品牌的内部价")},
		{"a limited operator dry-runs as their brand's WeCom account", "sam", "POST", "/admin/api/dry-run", `{"text":"山茶花茶","account":"kf-a"}`, 200,
			dryRunAs(bot.Route{Brand: "shancha", Name: "kf-a"}, bot.WeCom, "山茶花茶有货")},
		{"a limited operator asking for B's account is refused", "sam", "POST", "/admin/api/dry-run", `{"text":"内部价","account":"oa-b"}`, 403, func(t *testing.T, b map[string]any) {
			if _, msg := wantErrorShape(t, b); !strings.Contains(msg, "属于其他品牌") {
				t.Errorf("message = %q", msg)
			}
		}},
		{"a limited operator cannot dry-run as the environment's account", "sam", "POST", "/admin/api/dry-run", `{"text":"营业时间"}`, 403, nil},
		{"an admin dry-runs as the environment's account", "amy", "POST", "/admin/api/dry-run", `{"text":"营业时间","platform":"wecom"}`, 200,
			dryRunAs(bot.Route{}, bot.WeCom, "每天 9:00-21:00")},
		{"an account on another platform is not found", "amy", "POST", "/admin/api/dry-run", `{"text":"x","account":"kf-a","platform":"wechat"}`, 400, nil},
		{"an unknown account", "amy", "POST", "/admin/api/dry-run", `{"text":"x","account":"nope"}`, 400, nil},
		{"a limited operator dry-runs their brand's draft as its account", "sam", "POST", "/admin/api/dry-run",
			`{"text":"山茶花茶","account":"oa-a","files":{"brands/shancha/a.yaml":"rules:\n  - name: a-tea\n    match: {contains: [山茶花茶]}\n    reply: 草稿：明天到货\n"}}`, 200,
			dryRunAs(bot.Route{Brand: "shancha", Name: "oa-a"}, bot.WeChat, "草稿：明天到货")},
		{"a limited operator's draft of another brand's file is refused", "sam", "POST", "/admin/api/dry-run",
			`{"text":"x","account":"oa-a","files":{"brands/other/b.yaml":"fallback: x\n"}}`, 403, nil},

		{"an admin's inbox holds every brand's hand-overs", "amy", "GET", "/admin/api/inbox/conversations", "", 200, func(t *testing.T, b map[string]any) {
			if got := conversationIDs(b); !slices.Equal(got, []string{convA, convB, convDefault}) {
				t.Errorf("conversations = %q, want all three", got)
			}
		}},
		{"a limited operator's inbox holds their brand's only", "sam", "GET", "/admin/api/inbox/conversations", "", 200, func(t *testing.T, b map[string]any) {
			if got := conversationIDs(b); !slices.Equal(got, []string{convA}) {
				t.Errorf("conversations = %q, want only shancha's %s", got, convA)
			}
			if c := b["conversations"].([]any)[0].(map[string]any); c["brand"] != "shancha" || c["account"] != "oa-a" {
				t.Errorf("conversation = %v, want its brand and account named", c)
			}
		}},
		{"the inbox of one account", "amy", "GET", "/admin/api/inbox/conversations?account=wechat:oa-b", "", 200, func(t *testing.T, b map[string]any) {
			if got := conversationIDs(b); !slices.Equal(got, []string{convB}) {
				t.Errorf("conversations = %q, want oa-b's", got)
			}
		}},
		{"the inbox of the environment's account", "amy", "GET", "/admin/api/inbox/conversations?account=wechat:", "", 200, func(t *testing.T, b map[string]any) {
			if got := conversationIDs(b); !slices.Equal(got, []string{convDefault}) {
				t.Errorf("conversations = %q, want the environment account's", got)
			}
		}},
		{"a limited operator asking for B's account's inbox gets nothing", "sam", "GET", "/admin/api/inbox/conversations?account=wechat:oa-b", "", 200, func(t *testing.T, b map[string]any) {
			if got := conversationIDs(b); len(got) != 0 {
				t.Errorf("conversations = %q, want none", got)
			}
		}},
		{"the inbox of one brand", "amy", "GET", "/admin/api/inbox/conversations?brand=shancha", "", 200, func(t *testing.T, b map[string]any) {
			if got := conversationIDs(b); !slices.Equal(got, []string{convA}) {
				t.Errorf("conversations = %q, want shancha's", got)
			}
		}},
		{"a limited operator reads their brand's conversation", "sam", "GET", "/admin/api/inbox/conversations/" + convA, "", 200, nil},
		{"a limited operator cannot read B's conversation", "sam", "GET", "/admin/api/inbox/conversations/" + convB, "", 403, func(t *testing.T, b map[string]any) {
			if _, msg := wantErrorShape(t, b); !strings.Contains(msg, "其他品牌") {
				t.Errorf("message = %q", msg)
			}
			if strings.Contains(fmt.Sprint(b), "找人工") {
				t.Error("the refusal carries the conversation's text")
			}
		}},
		{"nor the environment account's", "sam", "GET", "/admin/api/inbox/conversations/" + convDefault, "", 403, nil},
		{"nor reply in B's", "sam", "POST", "/admin/api/inbox/conversations/" + convB + "/reply", `{"text":"你好","staff":"sam"}`, 403, nil},
		{"nor assign B's", "sam", "POST", "/admin/api/inbox/conversations/" + convB + "/assign", `{"staff":"sam"}`, 403, nil},
		{"nor end B's", "sam", "POST", "/admin/api/inbox/conversations/" + convB + "/end", "", 403, nil},
		{"a limited operator replies in their brand's", "sam", "POST", "/admin/api/inbox/conversations/" + convA + "/reply", `{"text":"马上来","staff":"sam"}`, 200, nil},
		{"an admin reads B's conversation", "amy", "GET", "/admin/api/inbox/conversations/" + convB, "", 200, nil},
		{"the inbox's counts name no brand", "sam", "GET", "/admin/api/inbox/stats", "", 403, refusedAsBrandBlind},
		{"an admin reads the inbox's counts", "amy", "GET", "/admin/api/inbox/stats", "", 200, nil},

		{"an admin's risk events are every brand's", "amy", "GET", "/admin/api/risk/events", "", 200, eventIDs(1, 2, 3, 4)},
		{"a limited operator's risk events are their brand's", "sam", "GET", "/admin/api/risk/events", "", 200, func(t *testing.T, b map[string]any) {
			eventIDs(1, 4)(t, b)
			if e := b["events"].([]any)[0].(map[string]any); e["brand"] != "shancha" || e["account"] != "oa-a" {
				t.Errorf("event = %v, want its brand and account named", e)
			}
		}},
		{"a limited operator's open ones of one category", "sam", "GET", "/admin/api/risk/events?status=open&category=poaching", "", 200, eventIDs(4)},
		{"a limited operator asking for B's brand gets nothing", "sam", "GET", "/admin/api/risk/events?brand=other", "", 200, eventIDs()},
		{"nor for B's account", "sam", "GET", "/admin/api/risk/events?account=wechat:oa-b", "", 200, eventIDs()},
		{"nor for the environment's account", "sam", "GET", "/admin/api/risk/events?account=wechat:", "", 200, eventIDs()},
		{"a limited operator asks for one of their accounts", "sam", "GET", "/admin/api/risk/events?account=wecom:kf-a", "", 200, eventIDs(4)},
		{"an admin asks for one brand", "amy", "GET", "/admin/api/risk/events?brand=other", "", 200, eventIDs(2)},
		{"an admin asks for the environment's account", "amy", "GET", "/admin/api/risk/events?account=wechat:", "", 200, eventIDs(3)},
		{"a bad account", "amy", "GET", "/admin/api/risk/events?account=oa-b", "", 400, nil},
		{"a limited operator acknowledges their brand's event", "sam", "POST", "/admin/api/risk/events/1/ack", "", 200, nil},
		{"a limited operator cannot dismiss B's", "sam", "POST", "/admin/api/risk/events/2/dismiss", "", 403, refusedAsOtherBrand},
		{"nor acknowledge the environment account's", "sam", "POST", "/admin/api/risk/events/3/ack", "", 403, refusedAsOtherBrand},
		{"nor reopen B's", "sam", "POST", "/admin/api/risk/events/2/reopen", "", 403, refusedAsOtherBrand},
		{"nor move B's among their own", "sam", "POST", "/admin/api/risk/events/bulk", `{"ids":[4,2],"action":"dismiss"}`, 403, refusedAsOtherBrand},
		{"a limited admin cannot either", "bea", "POST", "/admin/api/risk/events/2/ack", "", 403, refusedAsOtherBrand},
		{"an unknown event is not found", "sam", "POST", "/admin/api/risk/events/99/ack", "", 404, nil},
		{"a limited operator moves their brand's in bulk", "sam", "POST", "/admin/api/risk/events/bulk", `{"ids":[4],"action":"dismiss"}`, 200, nil},
		{"an admin dismisses B's", "amy", "POST", "/admin/api/risk/events/2/dismiss", "", 200, nil},
		{"the token acknowledges the environment account's", "token", "POST", "/admin/api/risk/events/3/ack", "", 200, nil},
		{"the home page names no brand", "sam", "GET", "/admin/api/overview", "", 403, refusedAsBrandBlind},
		{"the outbox names no brand", "sam", "GET", "/admin/api/outbox", "", 403, refusedAsBrandBlind},
		{"opt-outs name no brand", "sam", "GET", "/admin/api/dnd/opted-out", "", 403, refusedAsBrandBlind},
		{"the people directory names no brand", "sam", "GET", "/admin/api/people?q=x", "", 403, refusedAsBrandBlind},
		{"the audit log names no brand", "sam", "GET", "/admin/api/audit", "", 403, refusedAsBrandBlind},
		{"contacts name no brand", "sam", "GET", "/admin/api/contacts", "", 403, refusedAsBrandBlind},
		{"a reload answers with every brand's mistakes", "sam", "POST", "/admin/api/scripts/reload", "", 403, nil},
		{"the token reads the home page", "token", "GET", "/admin/api/overview", "", 200, nil},
		{"a brand-limited admin does not manage staff", "bea", "GET", "/admin/api/staff", "", 403, func(t *testing.T, b map[string]any) {
			if _, msg := wantErrorShape(t, b); !strings.Contains(msg, "只有可管理全部品牌的管理员") {
				t.Errorf("message = %q", msg)
			}
		}},
		{"a brand-limited admin does not read the profiler", "bea", "GET", "/admin/debug/pprof/", "", 403, nil},
		{"an unlimited admin manages staff", "amy", "GET", "/admin/api/staff", "", 200, nil},

		{"a limited operator lists shared files and their brand's", "sam", "GET", "/admin/api/scripts", "", 200, func(t *testing.T, b map[string]any) {
			var names []string
			for _, f := range b["files"].([]any) {
				names = append(names, f.(map[string]any)["name"].(string))
			}
			if want := []string{"brands/shancha/a.yaml", "brands/shancha/oa-a/x.yaml", "faq.yaml", "welcome.yaml"}; !slices.Equal(names, want) {
				t.Errorf("files = %q, want %q (not brands/other)", names, want)
			}
			if !slices.Equal(toStrings(b["writable_prefixes"]), []string{"brands/shancha/"}) {
				t.Errorf("writable_prefixes = %v", b["writable_prefixes"])
			}
		}},
		{"a limited operator's rules leave B's out", "sam", "GET", "/admin/api/rules", "", 200, func(t *testing.T, b map[string]any) {
			var names []string
			for _, r := range b["rules"].([]any) {
				names = append(names, r.(map[string]any)["name"].(string))
			}
			slices.Sort(names)
			if want := []string{"a-oa", "a-tea", "hours"}; !slices.Equal(names, want) {
				t.Errorf("rules = %q, want %q", names, want)
			}
		}},
		{"an admin's rules are every brand's", "amy", "GET", "/admin/api/rules", "", 200, func(t *testing.T, b map[string]any) {
			if n := len(b["rules"].([]any)); n != 4 {
				t.Errorf("%d rules, want 4", n)
			}
		}},
		{"a limited operator cannot read B's script", "sam", "GET", "/admin/api/scripts/brands/other/b.yaml", "", 403, nil},
		{"nor its history", "sam", "GET", "/admin/api/history?file=brands/other/b.yaml", "", 403, nil},
		{"nor validate a draft of it", "sam", "POST", "/admin/api/scripts/validate", `{"files":{"brands/other/b.yaml":"fallback: x\n"}}`, 403, nil},
		{"nor preview a rule in it", "sam", "POST", "/admin/api/rules/preview", `{"file":"brands/other/b.yaml","rule":{"name":"n","kind":"contains","patterns":["x"],"replies":["y"]}}`, 403, nil},
		{"nor restore a version of it", "sam", "POST", "/admin/api/history/restore", `{"file":"brands/other/b.yaml","version":"x"}`, 403, nil},
		{"a limited operator reads a shared script", "sam", "GET", "/admin/api/scripts/faq.yaml", "", 200, nil},
		{"a limited operator validates their brand's draft", "sam", "POST", "/admin/api/scripts/validate", `{"files":{"brands/shancha/a.yaml":"fallback: x\n"}}`, 200, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := callers[tc.who].send(tc.method, tc.path, tc.body)
			if status != tc.want {
				t.Fatalf("%s %s as %s = %d %v, want %d", tc.method, tc.path, tc.who, status, body, tc.want)
			}
			if status >= 400 && strings.HasPrefix(tc.path, "/admin/api/") {
				wantErrorShape(t, body)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
	if want := []string{convA + " sam: 马上来"}; !slices.Equal(site.inbox.sent, want) {
		t.Errorf("replies sent = %q, want only the one in shancha's conversation", site.inbox.sent)
	}
	if site.inbox.ended[convB] || site.inbox.convs[1].Assignee != "" {
		t.Error("a refused end or assign changed B's conversation")
	}
	var statuses []string
	for _, e := range site.risk.events {
		statuses = append(statuses, e.Status)
	}
	// Refused moves moved nothing: 2 was dismissed by amy only, and the
	// refused bulk left 4 for the allowed one.
	if want := []string{"acknowledged", "dismissed", "acknowledged", "dismissed"}; !slices.Equal(statuses, want) {
		t.Errorf("risk statuses = %q, want %q", statuses, want)
	}
}

// TestBrandLimitedOnEveryRoute: a brand-limited admin (whom no role
// stops) is refused, as brand-blind, every route but those that keep to
// their brands, named here independently of brandAware.
func TestBrandLimitedOnEveryRoute(t *testing.T) {
	keepsToBrands := []string{"/admin/api/capabilities", "/admin/api/session", "/admin/api/accounts", "/admin/api/scripts/faq.yaml", "/admin/api/scripts?",
		"/admin/api/scripts/validate", "/admin/api/dry-run", "/admin/api/rules", "/admin/api/history", "/admin/api/risk/events"}
	for _, r := range adminRoutes {
		if r.path == "/admin/api/nosuch" {
			continue
		}
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			site := newFullAdmin(t, 1000)
			now := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
			if err := site.staff.staff.AddStaff(t.Context(), StaffMember{Name: "bea", Role: RoleAdmin, Brands: []string{"shancha"},
				PasswordHash: fixtureHash(t, "password-bea"), CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			bea := signInAs(t, site.srv.URL, "bea", "password-bea", http.StatusOK)
			status, body, _ := bea.send(t, r.method, r.path, r.body)
			msg := fmt.Sprint(body)
			brandBlind := status == http.StatusForbidden && (strings.Contains(msg, "不区分品牌") || strings.Contains(msg, "只有可管理全部品牌") || !strings.HasPrefix(r.path, "/admin/api/"))
			keeps := slices.ContainsFunc(keepsToBrands, func(p string) bool { return strings.HasPrefix(r.path+"?", p) })
			if brandBlind == keeps {
				t.Fatalf("= %d %v; refused as brand-blind: %v, want %v", status, body, brandBlind, !keeps)
			}
		})
	}
}

// TestBrandLimitedSaves: a limited operator saves under their brand's
// folder only; an unlimited one anywhere.
func TestBrandLimitedSaves(t *testing.T) {
	site := newBrandSite(t)
	sam := signInAs(t, site.url, "sam", "password-sam", http.StatusOK)
	otto := signInAs(t, site.url, "otto", "password-otto", http.StatusOK)
	const rule = "rules:\n  - name: saved-%d\n    match: {contains: [保存%d]}\n    reply: 好\n"
	tests := []struct {
		name string
		who  *staffClient
		file string
		want int
	}{
		{"their brand's file", sam, "brands/shancha/a.yaml", http.StatusOK},
		{"a new file in their brand's account folder", sam, "brands/shancha/oa-a/new.yaml", http.StatusOK},
		{"another brand's file", sam, "brands/other/b.yaml", http.StatusForbidden},
		{"a new file in another brand's folder", sam, "brands/other/new.yaml", http.StatusForbidden},
		{"a shared file", sam, "faq.yaml", http.StatusForbidden},
		{"a new shared file", sam, "new.yaml", http.StatusForbidden},
		{"a file directly in brands/", sam, "brands/x.yaml", http.StatusForbidden},
		{"an unlimited operator saves another brand's file", otto, "brands/other/b.yaml", http.StatusOK},
		{"and a shared one", otto, "faq.yaml", http.StatusOK},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(filepath.Join(site.dir, tc.file))
			req, _ := http.NewRequest(http.MethodPut, site.url+"/admin/api/scripts/"+tc.file, strings.NewReader(fmt.Sprintf(rule, i, i)))
			req.Header.Set(csrfHeader, tc.who.csrf)
			resp, err := tc.who.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("save %s = %d, want %d", tc.file, resp.StatusCode, tc.want)
			}
			after, _ := os.ReadFile(filepath.Join(site.dir, tc.file))
			if changed := string(before) != string(after); changed != (tc.want == http.StatusOK) {
				t.Fatalf("file changed = %v after a %d", changed, resp.StatusCode)
			}
		})
	}
}

// TestStaffBrandsAPI: an admin limits a member to brands in the console;
// the member's sessions end and their next one carries the brands; an
// admin cannot limit themselves, and a bad brand is a 400.
func TestStaffBrandsAPI(t *testing.T) {
	site := newBrandSite(t)
	amy := signInAs(t, site.url, "amy", "password-amy", http.StatusOK)
	otto := signInAs(t, site.url, "otto", "password-otto", http.StatusOK)
	if status, body, _ := otto.send(t, "GET", "/admin/api/overview", ""); status != http.StatusOK {
		t.Fatalf("otto before = %d %v", status, body)
	}
	status, body, _ := amy.send(t, "PUT", "/admin/api/staff/otto", `{"brands":["shancha"," other","shancha"]}`)
	if status != http.StatusOK || !slices.Equal(toStrings(body["brands"]), []string{"other", "shancha"}) {
		t.Fatalf("limit otto = %d %v, want brands other, shancha", status, body)
	}
	if status, _, _ := otto.send(t, "GET", "/admin/api/session", ""); status != http.StatusUnauthorized {
		t.Fatalf("otto's old session = %d, want 401 (ended by the change)", status)
	}
	otto = signInAs(t, site.url, "otto", "password-otto", http.StatusOK)
	if status, _, _ := otto.send(t, "GET", "/admin/api/overview", ""); status != http.StatusForbidden {
		t.Fatalf("limited otto on the home page = %d, want 403", status)
	}
	if status, body, _ := otto.send(t, "GET", "/admin/api/accounts", ""); status != http.StatusOK || len(body["accounts"].([]any)) != 3 {
		t.Fatalf("limited otto's accounts = %d %v, want both brands' three", status, body)
	}
	status, body, _ = amy.send(t, "GET", "/admin/api/staff", "")
	if status != http.StatusOK {
		t.Fatal(status, body)
	}
	for _, m := range body["staff"].([]any) {
		m := m.(map[string]any)
		want := map[string][]string{"otto": {"other", "shancha"}, "sam": {"shancha"}, "bea": {"shancha"}}[m["name"].(string)]
		if got := toStrings(m["brands"]); !slices.Equal(got, want) || m["brands"] == nil {
			t.Errorf("%s's brands = %v, want %q", m["name"], m["brands"], want)
		}
	}
	if status, body, _ := amy.send(t, "PUT", "/admin/api/staff/otto", `{"brands":[]}`); status != http.StatusOK || len(toStrings(body["brands"])) != 0 {
		t.Fatalf("every brand again = %d %v", status, body)
	}
	if status, _, _ := amy.send(t, "PUT", "/admin/api/staff/amy", `{"brands":["shancha"]}`); status != http.StatusConflict {
		t.Errorf("amy limiting herself = %d, want 409", status)
	}
	if status, _, _ := amy.send(t, "PUT", "/admin/api/staff/otto", `{"brands":["../x"]}`); status != http.StatusBadRequest {
		t.Errorf("a bad brand = %d, want 400", status)
	}
	status, body, _ = amy.send(t, "POST", "/admin/api/staff", `{"name":"lin","role":"viewer","password":"a long password","brands":["other"]}`)
	if status != http.StatusCreated || !slices.Equal(toStrings(body["brands"]), []string{"other"}) {
		t.Fatalf("add lin = %d %v", status, body)
	}
	lin := signInAs(t, site.url, "lin", "a long password", http.StatusOK)
	if status, body, _ := lin.send(t, "GET", "/admin/api/accounts", ""); status != http.StatusOK || len(body["accounts"].([]any)) != 1 {
		t.Fatalf("lin's accounts = %d %v, want other's one", status, body)
	}
	var audited bool
	for _, e := range site.staff.audit.entries() {
		if e.Action == "staff.update" && e.Target == "otto" && strings.Contains(e.Detail, "品牌 other、shancha") {
			audited = true
		}
	}
	if !audited {
		t.Errorf("the audit log does not say otto's brands: %+v", site.staff.audit.entries())
	}
}

// TestNormalizeBrands: brands are trimmed, sorted, without repeats, and
// follow the scripts folder's rule for route names.
func TestNormalizeBrands(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string
		wantErr bool
	}{
		{nil, nil, false},
		{[]string{" ", ""}, nil, false},
		{[]string{"b", "a", "b"}, []string{"a", "b"}, false},
		{[]string{"shancha", "Tea-co_2"}, []string{"Tea-co_2", "shancha"}, false},
		{[]string{"山茶"}, nil, true},
		{[]string{"a/b"}, nil, true},
		{[]string{".hidden"}, nil, true},
		{[]string{"-x"}, nil, true},
		{[]string{"a.b"}, nil, true},
		{[]string{"a,b"}, nil, true},
		{[]string{strings.Repeat("x", 32)}, []string{strings.Repeat("x", 32)}, false},
		{[]string{strings.Repeat("x", 33)}, nil, true},
	}
	for _, tc := range tests {
		got, err := NormalizeBrands(tc.in)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("NormalizeBrands(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// scopedLibrary is a library with scripts per scope, as the brands'
// loader gives them: the base's, then each brand's, which repeat the
// base's rules.
type scopedLibrary struct {
	*bot.Library
	scopes []*bot.Scripts
}

func (l scopedLibrary) Scopes() []*bot.Scripts { return l.scopes }

// TestRulesOfEveryScope: the rules list shows each scope's rules once,
// and a limited member's leaves other brands' out.
func TestRulesOfEveryScope(t *testing.T) {
	files := map[string]string{
		"faq.yaml":                "rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    reply: 九点\n",
		"brands/shancha/tea.yaml": "rules:\n  - name: tea\n    match: {contains: [茶]}\n    reply: 有\n",
		"brands/other/b.yaml":     "rules:\n  - name: b-secret\n    match: {contains: [内部价]}\n    reply: 秘密\n",
	}
	lib, _ := scriptsLibrary(t, files)
	var scoped ScriptsAdmin = lib
	if _, ok := scoped.(scopedScripts); !ok {
		// A library without scopes: each scope as the brands' loader
		// makes it, the base's files with the brand's over them.
		load := func(names ...string) *bot.Scripts {
			fsys := fstest.MapFS{}
			for _, name := range names {
				fsys[name] = &fstest.MapFile{Data: []byte(files[name])}
			}
			s, err := bot.LoadScripts(fsys)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		scoped = scopedLibrary{Library: lib, scopes: []*bot.Scripts{
			load("faq.yaml"), load("faq.yaml", "brands/other/b.yaml"), load("faq.yaml", "brands/shancha/tea.yaml"),
		}}
	}
	staff := newStaffFixture(t)
	now := time.Now()
	if err := staff.staff.AddStaff(t.Context(), StaffMember{Name: "sam", Role: RoleOperator, Brands: []string{"shancha"}, PasswordHash: fixtureHash(t, "password-sam"), CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	logger := bottest.Logger(t)
	e := handlers.NewEcho(logger)
	New("t0ken", &fakeOutbox{}, scoped, logger).WithStaff(staff.config()).Register(e.Group(""))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	names := func(body map[string]any) []string {
		var out []string
		for _, r := range body["rules"].([]any) {
			out = append(out, r.(map[string]any)["name"].(string))
		}
		return out
	}
	if status, body := do(t, http.MethodGet, srv.URL+"/admin/api/rules"); status != http.StatusOK || !slices.Equal(names(body), []string{"hours", "b-secret", "tea"}) {
		t.Fatalf("rules = %d %v, want each scope's rules once", status, body)
	}
	sam := signInAs(t, srv.URL, "sam", "password-sam", http.StatusOK)
	if status, body, _ := sam.send(t, http.MethodGet, "/admin/api/rules", ""); status != http.StatusOK || !slices.Equal(names(body), []string{"hours", "tea"}) {
		t.Fatalf("sam's rules = %d %v, want the base's and shancha's", status, body)
	}
}
