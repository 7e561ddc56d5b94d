package coupontest_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// brandScripts: the base scripts' campaign "new", shancha's own campaign
// "new" (its file replaces the base's), and yunshan, whose folder holds
// another file, reading the base campaign as its own copy.
var brandScripts = fstest.MapFS{
	"campaigns.yaml": {Data: []byte(`campaigns:
  - id: new
    stock: 2
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: BASE, length: 8}}
    replies: {issued: "基础券 {{code}}", out_of_stock: 基础券领完了, limit_reached: 基础券领过了}
`)},
	"brands/shancha/campaigns.yaml": {Data: []byte(`campaigns:
  - id: new
    stock: 2
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: SC, length: 8}}
    replies: {issued: "山茶券 {{code}}", out_of_stock: 山茶券领完了, limit_reached: 山茶券领过了}
`)},
	"brands/shancha/oa-main/welcome.yaml": {Data: []byte("welcome:\n  follow: 欢迎关注山茶公众号\n")},
	"brands/yunshan/welcome.yaml":         {Data: []byte("welcome:\n  follow: 欢迎关注云山\n")},
}

// TestCampaignStockPerBrand: two brands' campaigns of one id never share
// stock or per-person limits, on the real stores; an account's claims
// count against its brand's campaign; the base scripts keep their keys.
func TestCampaignStockPerBrand(t *testing.T) {
	ctx := context.Background()
	lib, err := bot.NewLibrary(brandScripts, nil, coupon.Section{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, storetest.SQLConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	store, err := sqlstore.NewCoupons(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	rdb := storetest.Redis(t)
	svc := coupon.New(coupon.Config{Store: store, Reports: store, Counter: redisstore.NewCouponCounter(rdb), Scripts: lib, Now: func() time.Time { return testNow }})
	engine := bot.NewEngine(bot.EngineConfig{Scripts: lib, Commands: []bot.Stage{svc}, Now: func() time.Time { return testNow }, Pick: func(int) int { return 0 }})

	var (
		shanchaOA    = bot.Route{Brand: "shancha", Name: "oa-main"}
		shanchaWeCom = bot.Route{Brand: "shancha", Name: "wecom-sh"}
		yunshanOA    = bot.Route{Brand: "yunshan", Name: "oa"}
	)
	claim := func(route bot.Route, p bot.Platform, account bot.AccountID, user, unionID, id string) string {
		t.Helper()
		ev := bot.Event{Platform: p, Account: account, Route: route, Kind: bot.KindMessage, Sender: bot.UserID(user), UnionID: unionID,
			Text: "领券", MessageID: id, DedupeKey: id, Time: testNow}
		turn, err := engine.Run(ctx, ev, false)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if len(turn.Actions) != 1 {
			t.Fatalf("actions = %+v, want one", turn.Actions)
		}
		if got := turn.Actions[0].Dest().Route; got != route {
			t.Errorf("the reply goes out through %q, want %q", got, route)
		}
		text, _ := bot.TextOf(bot.Unwrap(turn.Actions[0]))
		return text
	}
	// One Open Platform behind both brands' accounts (the same unionid
	// for the same person): still two campaigns.
	steps := []struct {
		name    string
		route   bot.Route
		p       bot.Platform
		account bot.AccountID
		user    string
		union   string
		want    string
	}{
		{"shancha's OA: the first", shanchaOA, bot.WeChat, "gh_shancha", "o-1", "U1", "山茶券 SC"},
		{"shancha's WeCom: the same person, linked, has had the brand's coupon", shanchaWeCom, bot.WeCom, "ww_shancha", "wm-1", "U1", "山茶券领过了"},
		{"shancha's WeCom: the second", shanchaWeCom, bot.WeCom, "ww_shancha", "wm-2", "U2", "山茶券 SC"},
		{"shancha's stock is spent", shanchaOA, bot.WeChat, "gh_shancha", "o-3", "U3", "山茶券领完了"},
		{"yunshan: the same person claims yunshan's copy", yunshanOA, bot.WeChat, "gh_yunshan", "y-1", "U1", "基础券 BASE"},
		{"yunshan: the second", yunshanOA, bot.WeChat, "gh_yunshan", "y-2", "U2", "基础券 BASE"},
		{"yunshan's stock is spent", yunshanOA, bot.WeChat, "gh_yunshan", "y-3", "U3", "基础券领完了"},
		{"the environment's account: the base campaign, untouched", bot.Route{}, bot.WeChat, "gh_env", "e-1", "U1", "基础券 BASE"},
	}
	for i, st := range steps {
		got := claim(st.route, st.p, st.account, st.user, st.union, "m"+string(rune('a'+i)))
		if !strings.HasPrefix(got, st.want) {
			t.Errorf("%s: %q, want it to start with %q", st.name, got, st.want)
		}
	}

	// The stores hold each brand's claims under its own key, the base
	// campaign's under its id as before brands had scripts.
	stats, err := store.Stats(ctx, []string{"new", "shancha:new", "yunshan:new"})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{"new": 1, "shancha:new": 2, "yunshan:new": 2} {
		if got := stats[key].Issued; got != want {
			t.Errorf("claims of %s = %d, want %d", key, got, want)
		}
	}
	// Staff's figures per route read the same keys.
	for route, want := range map[bot.Route]int{{}: 1, shanchaWeCom: 2, yunshanOA: 2} {
		figs, err := svc.FiguresFor(ctx, route)
		if err != nil || len(figs) != 1 || figs[0].Issued != want || figs[0].Remaining != 2-want {
			t.Errorf("FiguresFor(%q) = %+v, %v; want %d issued", route, figs, err, want)
		}
	}
	claims, err := svc.ClaimsFor(ctx, shanchaOA, "new", 10)
	if err != nil || len(claims) != 2 {
		t.Fatalf("ClaimsFor(shancha) = %d, %v; want 2", len(claims), err)
	}
	for _, cl := range claims {
		if cl.Campaign != "shancha:new" || !strings.HasPrefix(cl.Code, "SC") {
			t.Errorf("shancha's claim %s of %s, code %s", cl.ID, cl.Campaign, cl.Code)
		}
	}
	// `siyu coupons` finds a brand's campaign by its key.
	scopes := lib.Scopes()
	if c, ok := coupon.Find(scopes, "yunshan:new"); !ok || c.Key() != "yunshan:new" || c.Brand() != "yunshan" {
		t.Errorf("Find(yunshan:new) = %+v, %v", c, ok)
	}
	if c, ok := coupon.Find(scopes, "new"); !ok || c.Key() != "new" {
		t.Errorf("Find(new) = %+v, %v", c, ok)
	}
	if _, ok := coupon.Find(scopes, "other:new"); ok {
		t.Error("Find(other:new) found a campaign of a brand without scripts")
	}
}

// TestCampaignKeyTooLong: a brand's name counts against the id's length
// in the stores' columns.
func TestCampaignKeyTooLong(t *testing.T) {
	id := strings.Repeat("x", coupon.MaxIDLen-len("shancha"))
	fsys := fstest.MapFS{
		"brands/shancha/c.yaml": {Data: []byte("campaigns:\n  - id: " + id + "\n    stock: 1\n    trigger: {keywords: [领券]}\n    codes: {import: true}\n")},
	}
	_, err := bot.LoadScripts(fsys, coupon.Section{})
	errs := bot.ScriptErrors(err)
	if len(errs) != 1 || errs[0].File != "brands/shancha/c.yaml" || errs[0].Line != 2 || !strings.Contains(errs[0].Msg, "longer than 64") {
		t.Fatalf("LoadScripts = %v, want one error at brands/shancha/c.yaml:2 about the length", err)
	}
	fsys["brands/shancha/c.yaml"].Data = []byte(strings.Replace(string(fsys["brands/shancha/c.yaml"].Data), id, id[1:], 1))
	if _, err := bot.LoadScripts(fsys, coupon.Section{}); err != nil {
		t.Fatalf("an id one shorter: %v", err)
	}
}
