package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers/wechat"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// sharedBackends returns the environment of replicas sharing one
// database and one Redis: the real servers when MYSQL_DSN and REDIS_URL
// are set (an isolated database), else one SQLite file and one
// miniredis.
func sharedBackends(t *testing.T) (map[string]string, sqlstore.Config) {
	t.Helper()
	env := map[string]string{"SIYU_SQLITE": filepath.Join(t.TempDir(), "shared.db")}
	sqlCfg := sqlstore.Config{SQLitePath: env["SIYU_SQLITE"]}
	if os.Getenv("MYSQL_DSN") != "" {
		sqlCfg = storetest.SQLConfig(t)
		env["MYSQL_DSN"] = sqlCfg.MySQLDSN
	}
	for k, v := range storetest.RedisEnv() { // a cluster or Sentinel too
		env[k] = v
	}
	if env["REDIS_URL"] == "" {
		env["REDIS_URL"] = "redis://" + miniredis.RunT(t).Addr()
	}
	return env, sqlCfg
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TestCouponsTwoReplicasEndToEnd: two siyu processes on one database and
// one Redis; people send 领券 to both at once, and WeChat retries each
// callback: exactly the stock is issued, each coupon to a different
// person, and staff see it in the admin API with ids masked.
func TestCouponsTwoReplicasEndToEnd(t *testing.T) {
	const stock, people = 15, 45
	campaign := "e2e-" + randomID() // its Redis keys are this test's alone
	dir := t.TempDir()
	scripts := fmt.Sprintf(`fallback: 嗯
campaigns:
  - id: %s
    name: 端到端券
    stock: %d
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: EE, length: 10}}
    replies: {out_of_stock: 来晚了，券已领完}
`, campaign, stock)
	if err := os.WriteFile(filepath.Join(dir, "campaigns.yaml"), []byte(scripts), 0o600); err != nil {
		t.Fatal(err)
	}
	env, sqlCfg := sharedBackends(t)
	env["SIYU_SCRIPTS"] = dir
	env["SIYU_ADMIN_TOKEN"] = "coupon-admin"
	if u := os.Getenv("REDIS_URL"); u != "" {
		// siyu runs with its default prefix here: remove the campaign's
		// counters from the shared Redis afterwards (keys of this test's
		// campaign only, never a flush).
		t.Cleanup(func() { deleteCouponKeys(t, u, campaign) })
	}
	wx := newFakeWeChat(t, 0)
	// A whole account (the demo one's values), since sending coupon
	// messages needs the AppSecret too.
	env["WECHAT_API_BASE"], env["WECHAT_APPSECRET"] = wx.srv.URL, "coupon-secret"
	env["WECHAT_APPID"], env["WECHAT_TOKEN"], env["WECHAT_AES_KEY"] = demoAppID, demoToken, demoAESKey
	bases := []string{}
	for range 2 {
		base, _ := startSiyu(t, env)
		bases = append(bases, base)
	}

	type post struct {
		base  string
		plain []byte
	}
	var posts []post
	for i := range people {
		sim := wechat.Simulator{OriginalID: demoOrigID}
		plain := sim.TextXML(fmt.Sprintf("o-e2e-%s-%02d", campaign, i), "领券", wechat.NewMsgID())
		// The callback reaches both replicas, and WeChat retries it.
		posts = append(posts, post{bases[0], plain}, post{bases[1], plain}, post{bases[i%2], plain})
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		soldOut  int
		answered = map[string]map[string]bool{} // openid → codes answered passively
	)
	jobs := make(chan post)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				sim := &wechat.Simulator{URL: p.base + "/wechat/callback", Token: demoToken, EncodingAESKey: demoAESKey, AppID: demoAppID,
					OriginalID: demoOrigID, Client: &http.Client{Timeout: 20 * time.Second}}
				r, err := sim.Post(context.Background(), p.plain)
				if err != nil {
					t.Errorf("callback: %v", err)
					continue
				}
				mu.Lock()
				if strings.Contains(r.Content, "券已领完") {
					soldOut++
				}
				if code, ok := strings.CutPrefix(r.Content, "领取成功！您的券码 "); ok {
					if answered[r.ToUser] == nil {
						answered[r.ToUser] = map[string]bool{}
					}
					answered[r.ToUser][strings.TrimSuffix(code, "，有效期至 ")] = true
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range posts {
		jobs <- p
	}
	close(jobs)
	wg.Wait()

	db, err := sqlstore.Open(context.Background(), sqlCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := sqlstore.NewCoupons(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := store.Claims(context.Background(), campaign, 1000)
	if err != nil {
		t.Fatal(err)
	}
	persons, codes := map[bot.PersonID]bool{}, map[string]bool{}
	for _, c := range claims {
		persons[c.Person], codes[c.Code] = true, true
	}
	if len(claims) != stock || len(persons) != stock || len(codes) != stock {
		t.Errorf("claims %d to %d people with %d codes, want %d of each", len(claims), len(persons), len(codes), stock)
	}
	if soldOut < people-stock {
		t.Errorf("sold-out replies = %d, want at least one for each of the %d people left without", soldOut, people-stock)
	}

	// Every coupon reaches its person once: in the answer to the
	// callback (inside the reply budget), or else through the outbox,
	// where the claim's message waits on standby until the answer turns
	// out not to carry it.
	want := 0
	for _, c := range claims {
		openid := strings.TrimPrefix(string(c.Person), "wechat:"+demoAppID+":")
		if codes := answered[openid]; len(codes) > 1 || len(codes) == 1 && !codes[c.Code] {
			t.Errorf("claim %s: answered with codes %v, want only its own", c.Code, codes)
		}
		if !answered[openid][c.Code] {
			want++
		}
	}
	sent := map[string]string{} // code → openid
	for range want {
		select {
		case m := <-wx.sent:
			if prev, dup := sent[m.text]; dup {
				t.Errorf("message %q sent twice (to %s and %s)", m.text, prev, m.to)
			}
			sent[m.text] = m.to
		case <-time.After(60 * time.Second):
			t.Fatalf("%d coupon messages sent, want %d (the coupons not answered with their code)", len(sent), want)
		}
	}
	for _, c := range claims {
		openid := strings.TrimPrefix(string(c.Person), "wechat:"+demoAppID+":")
		text := "领取成功！您的券码 " + c.Code + "，有效期至 "
		if to, ok := sent[text]; !answered[openid][c.Code] && (!ok || to != openid) {
			t.Errorf("claim %s: neither answered nor sent to its person (sent to %q)", c.Code, to)
		}
	}

	// Staff's view, from either replica.
	var got struct {
		Campaigns []struct {
			ID                       string
			Stock, Issued, Remaining int
			PerChannel               map[string]int `json:"per_channel"`
		}
	}
	body := adminGet(t, bases[1], "/admin/api/coupon/campaigns", &got)
	if len(got.Campaigns) != 1 || got.Campaigns[0].ID != campaign || got.Campaigns[0].Issued != stock || got.Campaigns[0].Remaining != 0 || got.Campaigns[0].PerChannel[""] != stock {
		t.Errorf("campaigns = %s, want %s with %d issued, none remaining", body, campaign, stock)
	}
	var list struct {
		Claims []struct{ Person, Code string }
	}
	body = adminGet(t, bases[0], "/admin/api/coupon/campaigns/"+campaign+"/claims?limit=100", &list)
	if len(list.Claims) != stock {
		t.Errorf("claims listed = %d, want %d", len(list.Claims), stock)
	}
	if strings.Contains(body, "o-e2e-") || strings.Contains(body, claims[0].Code) {
		t.Errorf("claims list shows a customer id or a whole code: %s", body)
	}
	adminGetStatus(t, bases[0], "/admin/api/coupon/campaigns/nope/claims", nil, http.StatusNotFound)
}

func adminGet(t *testing.T, base, path string, v any) string {
	t.Helper()
	return adminGetStatus(t, base, path, v, http.StatusOK)
}

func adminGetStatus(t *testing.T, base, path string, v any, want int) string {
	t.Helper()
	status, raw := adminRequest(t, http.MethodGet, base+path, "coupon-admin", "", "")
	if status != want {
		t.Fatalf("GET %s = %d %s, want %d", path, status, raw, want)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, raw)
		}
	}
	return string(raw)
}

type wxSent struct{ to, text string }

// fakeWeChat is the Official Account API's token and customer-service
// message endpoints; it refuses the first fail sends with a system error.
type fakeWeChat struct {
	srv  *httptest.Server
	sent chan wxSent
	mu   sync.Mutex
	fail int
	n    int
}

func newFakeWeChat(t *testing.T, fail int) *fakeWeChat {
	f := &fakeWeChat{sent: make(chan wxSent, 1000), fail: fail}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cgi-bin/stable_token", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "TOKEN", "expires_in": 7200})
	})
	mux.HandleFunc("POST /cgi-bin/message/custom/send", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			ToUser string `json:"touser"`
			Text   struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		f.mu.Lock()
		refuse := f.n < f.fail
		f.n++
		f.mu.Unlock()
		if refuse {
			_ = json.NewEncoder(w).Encode(map[string]any{"errcode": -1, "errmsg": "system error"})
			return
		}
		f.sent <- wxSent{to: m.ToUser, text: m.Text.Content}
		_ = json.NewEncoder(w).Encode(map[string]any{"errcode": 0, "errmsg": "ok"})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWeChat) refused() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return min(f.n, f.fail)
}

// TestCouponsImport: 100,000 codes with duplicates and bad lines are
// imported with a progress bar and line-numbered errors; a second run
// changes nothing; stats show the codes.
func TestCouponsImport(t *testing.T) {
	campaign := "imp-" + randomID()
	dir := t.TempDir()
	scripts := fmt.Sprintf("campaigns:\n  - id: %s\n    stock: 200000\n    trigger: {keywords: [导入券]}\n    codes: {import: true}\n", campaign)
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(scripts), 0o600); err != nil {
		t.Fatal(err)
	}
	env, _ := sharedBackends(t)
	env["SIYU_SCRIPTS"] = dir

	const codes = 100000
	var csv strings.Builder
	csv.WriteString("code,note\n")
	line := 1
	var wantErrs []string
	for i := range codes {
		fmt.Fprintf(&csv, "IMP%07d,batch-1\n", i)
		line++
		switch {
		case i%5000 == 4999: // a duplicate of the code two lines up
			fmt.Fprintf(&csv, "IMP%07d\n", i-1)
			line++
			wantErrs = append(wantErrs, fmt.Sprintf("codes.csv:%d: duplicate of line %d", line, line-2))
		case i%10000 == 7:
			csv.WriteString("bad code!\n")
			line++
			wantErrs = append(wantErrs, fmt.Sprintf(`codes.csv:%d: code "bad code!": want letters, digits, '-' or '_'`, line))
		}
	}
	file := filepath.Join(t.TempDir(), "codes.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run1 := func(args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(context.Background(), runEnv{args: append([]string{"coupons"}, args...), getenv: func(k string) string { return env[k] }, stdout: &out, stderr: &errOut})
		if err != nil {
			t.Fatalf("coupons %v: %v\n%s", args, err, errOut.String())
		}
		return out.String(), strings.ReplaceAll(errOut.String(), filepath.Dir(file)+"/", "")
	}
	start := time.Now()
	out, errOut := run1("import", campaign, file)
	t.Logf("imported %d codes in %v", codes, time.Since(start).Round(time.Millisecond))
	if want := fmt.Sprintf("%s: %d codes added, 0 already there, %d lines refused\n", campaign, codes, len(wantErrs)); out != want {
		t.Errorf("first import said %q, want %q", out, want)
	}
	for _, e := range wantErrs {
		if !strings.Contains(errOut, e+"\n") {
			t.Errorf("stderr lacks %q", e)
		}
	}
	if !strings.Contains(errOut, "导入 "+campaign) || !strings.Contains(errOut, "100%") {
		t.Errorf("stderr shows no finished progress bar: %.300q", errOut)
	}
	out, _ = run1("import", campaign, file)
	if want := fmt.Sprintf("%s: 0 codes added, %d already there, %d lines refused\n", campaign, codes, len(wantErrs)); out != want {
		t.Errorf("second import said %q, want %q", out, want)
	}
	out, _ = run1("stats", campaign)
	for _, want := range []string{"stock      100000\n", "codes      100000 imported\n", "issued     0\n", "remaining  100000\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats = %q, want it to contain %q", out, want)
		}
	}
}

// TestCheckScriptsCampaigns: `siyu check-scripts` reports campaign
// mistakes with file and line.
func TestCheckScriptsCampaigns(t *testing.T) {
	dir := t.TempDir()
	bad := `channels:
  - state: store-01
campaigns:
  - id: a
    stock: -1
    trigger: {keywords: [领券]}
    codes: {import: true}
  - id: b
    stock: 5
    start: "2026-12-01T00:00:00+08:00"
    end: "2026-11-01T00:00:00+08:00"
    trigger:
      follow: true
      channels: [store-02]
  - id: a
    stock: 1
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: X, length: 8}}
`
	if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), runEnv{args: []string{"check-scripts", dir}, getenv: func(string) string { return "" }, stdout: &out, stderr: &errOut})
	if err == nil {
		t.Fatal("check-scripts accepted bad campaigns")
	}
	got := strings.ReplaceAll(errOut.String(), dir+"/", "")
	for _, want := range []string{
		`c.yaml:5: campaign "a": stock -1 is below zero`,
		`c.yaml:8: campaign "b": no codes source (want codes: {generate: {prefix, length}} or codes: {import: true})`,
		`c.yaml:11: campaign "b": end 2026-11-01T00:00:00+08:00 is not after start 2026-12-01T00:00:00+08:00`,
		`c.yaml:14: campaign "b": trigger: unknown channel "store-02" (not in channels:)`,
		`c.yaml:15: campaign "a" already defined at c.yaml:4`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("check-scripts output lacks %q:\n%s", want, got)
		}
	}
}

func deleteCouponKeys(t *testing.T, url, campaign string) {
	ctx := context.Background()
	c, err := redisstore.Open(ctx, url, nil, storetest.RedisOptions()...)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer c.Close()
	r := c.Redis()
	p := redisstore.DefaultPrefix
	keys := []string{p + "coupon:{" + campaign + "}:state", p + "coupon:{" + campaign + "}:free", p + "coupon:{" + campaign + "}:persons", p + "lock:coupon:" + campaign}
	for _, k := range keys { // one by one: the lock is in another cluster slot
		if err := r.Del(ctx, k).Err(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

// TestSimulateCouponShowsCode (issue 28 cause D): on the demo account,
// which has no AppSecret and so sends no customer-service messages, a
// newcomer asking for a coupon (and confirming, as the intent alone is
// not sure) sees the code in the reply itself.
func TestSimulateCouponShowsCode(t *testing.T) {
	base, logs := startSiyu(t, nil)
	from := "o-coupon-" + randomID()
	if got := simulateCmd(t, base, nil, "--from", from, "有优惠券吗"); got != "想领取新人首杯立减券吗？回复「领券」领取～" {
		t.Fatalf("simulate 有优惠券吗 = %q, want the question that confirms it\n%s", got, logs)
	}
	got := simulateCmd(t, base, nil, "--from", from, "领券")
	if !strings.HasPrefix(got, "领取成功🎁 您的新人首杯立减券券码 SY") {
		t.Fatalf("simulate 领券 = %q, want the issued reply with its code\n%s", got, logs)
	}
}
