package admin

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/wechat"
)

// The browser tests drive the console in a real headless Chromium
// (Debian's chromium package; .ci/run installs it). They skip only when
// no Chromium can be found. Each step's screenshot is written to
// testdata/screenshots/ (ignored by git), for a person to look at.

// browserTimeout bounds a whole browser test, Chromium's start included.
const browserTimeout = 90 * time.Second

// stepTimeout bounds one step, so a page that never shows what a step
// waits for fails that step, not the whole test at its deadline.
const stepTimeout = 20 * time.Second

// findChromium returns a Chromium to drive: $SIYU_CHROMIUM, else the
// first of the usual names on PATH.
func findChromium() string {
	if p := os.Getenv("SIYU_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startChromium starts a headless Chromium with a fresh profile and returns a
// tab's context, cancelled when the test ends.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	exe := findChromium()
	if exe == "" {
		t.Skip("no Chromium found (install Debian's chromium package, or set SIYU_CHROMIUM): browser tests skipped")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start Chromium %s: %v", exe, err)
	}
	return tab
}

// saveScreenshot saves the page as testdata/screenshots/<name>.png.
func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(p)
	t.Logf("screenshot: %s", abs)
}

// browserSteps runs browser steps, failing the test with what was being done.
func browserSteps(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		saveScreenshot(t, ctx, "failed-"+strings.ReplaceAll(t.Name(), "/", "-"))
		t.Fatalf("%s: %v", what, err)
	}
}

// browserValue runs one browser action that returns a value.
func browserValue[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		saveScreenshot(t, ctx, "failed-"+strings.ReplaceAll(t.Name(), "/", "-"))
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitJS waits for a JavaScript condition to hold.
func waitJS(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))(ctx, t)
		return err
	})
}

// callbackOutbox takes what the WeChat handler sends later (none here:
// the engine answers within the reply budget).
type callbackOutbox struct {
	mu  sync.Mutex
	got []bot.Action
}

func (r *callbackOutbox) Enqueue(_ context.Context, _ string, actions []bot.Action) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, actions...)
	return nil
}

// consoleSite is siyu's admin API, console and WeChat callback over one
// scripts folder, as main wires them, with stub capability modules.
type consoleSite struct {
	url    string
	dir    string
	risk   *stubRiskModule
	outbox *fakeOutbox
	sim    *wechat.Simulator
}

// newConsoleSite builds the site; withModules adds every capability's
// stub module, a 领券 command and a do-not-disturb explainer, else only
// the core API is there.
func newConsoleSite(t *testing.T, withModules bool) *consoleSite {
	t.Helper()
	lib, dir := scriptsLibrary(t, map[string]string{"faq.yaml": testFAQ, "welcome.yaml": testWelcome +
		"channels:\n  - state: shop-1\n    name: 一号店\n  - state: fair\n    name: 秋季展会\n"})
	logger := bottest.Logger(t)
	cfg := bot.EngineConfig{Scripts: lib, Pick: func(int) int { return 0 }}
	var modules []Module
	var explainer HoldExplainer
	risk := newStubRisk()
	if withModules {
		cfg.Commands = []bot.Stage{couponCommand{}}
		modules = []Module{risk, stubCouponModule{}, stubCheckinModule{}, &stubDNDModule{optedOut: map[string]bool{}}}
		explainer = quietHoursExplainer{}
	}
	engine := bot.NewEngine(cfg)
	e := handlers.NewEcho(logger)
	g := e.Group("")
	const token, aesKey, appID = "wx-token", "c2l5dWRlbW9rZXlzaXl1ZGVtb2tleXNpeXVkZW1va2U", "wxconsoletest0001"
	wh, err := wechat.New(wechat.Config{AppID: appID, Token: token, EncodingAESKey: aesKey}, engine, &callbackOutbox{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	wh.Register(g)
	today := time.Now().Format(time.DateOnly)
	yesterday := time.Now().AddDate(0, 0, -1).Format(time.DateOnly)
	contacts := &stubContacts{rows: []ContactDay{
		{Day: yesterday, State: "shop-1", ChannelName: "一号店", Outcome: "sent", Count: 4},
		{Day: today, State: "shop-1", ChannelName: "一号店", Outcome: "sent", Count: 6},
		{Day: today, State: "shop-1", ChannelName: "一号店", Outcome: "failed", Count: 1},
		{Day: yesterday, State: "fair", ChannelName: "秋季展会", Outcome: "sent", Count: 2},
	}}
	ob := &fakeOutbox{items: []bot.OutboxItem{
		{ID: 1, Platform: bot.WeChat, Status: bot.OutboxDead, Attempts: 8, LastError: "errcode=45015 回复时间超过限制", CreatedAt: time.Now().Add(-time.Hour), NextAt: time.Now()},
	}}
	New("t0ken", ob, lib, logger, modules...).WithDryRun(engine, explainer).WithScriptsDir(dir).WithContacts(contacts).Register(g)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &consoleSite{
		url: srv.URL, dir: dir, risk: risk, outbox: ob,
		sim: &wechat.Simulator{URL: srv.URL + "/wechat/callback", Token: token, EncodingAESKey: aesKey, AppID: appID, OriginalID: "gh_consoletest"},
	}
}

// setDraft replaces the editor's text as typing would (an input event),
// which starts the debounced validation.
func setDraft(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => { const ta = document.getElementById('script-text'); ta.value = `+jsLiteral(text)+`; ta.dispatchEvent(new Event('input')); return true; })()`)(ctx, t)
		return err
	})
}

// fillInput sets an input's value (SetValue cannot empty a field).
func fillInput(id, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => { document.getElementById('`+id+`').value = `+jsLiteral(text)+`; return true; })()`)(ctx, t)
		return err
	})
}

func jsLiteral(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`", "$", `\$`)
	return "`" + r.Replace(s) + "`"
}

func consoleSignIn(t *testing.T, ctx context.Context, url, token string) {
	t.Helper()
	browserSteps(t, ctx, "open the console and sign in",
		chromedp.Navigate(url+"/admin/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		fillInput("token", ""),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.ID("login-submit")),
	)
}

// scriptsLoaded waits until the editor shows faq.yaml.
var scriptsLoaded = waitJS(`document.getElementById('script-text').value.includes('name: hours')`)

func TestConsoleInBrowser(t *testing.T) {
	site := newConsoleSite(t, true)
	ctx := startChromium(t)
	// The steps share one page: once one fails, the rest are skipped.
	ok := true
	step := func(name string, f func(t *testing.T)) {
		if ok {
			ok = t.Run(name, f)
		}
	}

	step("a wrong token is refused", func(t *testing.T) {
		consoleSignIn(t, ctx, site.url, "guess")
		browserSteps(t, ctx, "see the refusal", waitJS(`document.getElementById('login-error').textContent.includes('令牌不正确')`))
		saveScreenshot(t, ctx, "01-sign-in-refused")
	})

	step("sign in", func(t *testing.T) {
		consoleSignIn(t, ctx, site.url, "t0ken")
		browserSteps(t, ctx, "see the script editor", chromedp.WaitVisible(chromedp.ID("tab-scripts")), scriptsLoaded)
		if href := browserValue(t, ctx, "read the URL", chromedp.Location()); strings.Contains(href, "t0ken") {
			t.Errorf("the token is in the URL %s", href)
		}
		if stored := browserValue(t, ctx, "read the session", chromedp.Evaluate[string](`sessionStorage.getItem('siyu.admin.token')`)); stored != "t0ken" {
			t.Errorf("sessionStorage holds %q, want the token", stored)
		}
		saveScreenshot(t, ctx, "02-scripts")
	})

	step("dry-run shows the rule that fires", func(t *testing.T) {
		browserSteps(t, ctx, "dry-run a message",
			chromedp.SendKeys(chromedp.ID("dryrun-text"), "请问营业时间是几点"),
			chromedp.Click(chromedp.ID("dryrun-submit")),
			chromedp.WaitVisible(chromedp.CSS(`#dryrun-answer[data-rule="hours"]`)),
		)
		stage := browserValue(t, ctx, "read the stage", chromedp.Text(chromedp.ID("dryrun-stage")))
		rule := browserValue(t, ctx, "read the rule", chromedp.Text(chromedp.ID("dryrun-rule")))
		reply := browserValue(t, ctx, "read the reply", chromedp.Text(chromedp.ID("dryrun-actions")))
		if stage != "关键词规则" || rule != "hours" || !strings.Contains(reply, "每天 9:00-21:00") {
			t.Errorf("dry-run shows stage %q rule %q reply %q, want 关键词规则, hours, 每天 9:00-21:00", stage, rule, reply)
		}
		saveScreenshot(t, ctx, "03-dry-run")
	})

	step("a broken draft shows its error and cannot be saved", func(t *testing.T) {
		browserSteps(t, ctx, "type a broken draft",
			setDraft(testFAQ+"    colour: red\n"),
			chromedp.WaitVisible(chromedp.CSS(`#script-errors li[data-file="faq.yaml"][data-line="5"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#script-gutter .bad`)),
		)
		if disabled := browserValue(t, ctx, "read the save button", chromedp.Evaluate[bool](`document.getElementById('script-save').disabled`)); !disabled {
			t.Error("the save button is enabled for a broken draft")
		}
		if b, _ := os.ReadFile(filepath.Join(site.dir, "faq.yaml")); string(b) != testFAQ {
			t.Errorf("faq.yaml changed to %q while the draft was broken", b)
		}
		saveScreenshot(t, ctx, "04-validation-error")
	})

	step("save a new rule and the bot answers it", func(t *testing.T) {
		draft := testFAQ + "  - name: wifi\n    match: {contains: [wifi]}\n    reply: 店内 Wi-Fi 密码是 coffee123\n"
		browserSteps(t, ctx, "fix the draft and save it",
			setDraft(draft),
			chromedp.WaitVisible(chromedp.CSS(`#script-status[data-state="ok"]`)),
			chromedp.WaitEnabled(chromedp.ID("script-save")),
			chromedp.Click(chromedp.ID("script-save")),
			waitJS(`document.getElementById('script-status').textContent.includes('已保存')`),
		)
		if b, _ := os.ReadFile(filepath.Join(site.dir, "faq.yaml")); string(b) != draft {
			t.Fatalf("faq.yaml = %q, want the saved draft", b)
		}
		saveScreenshot(t, ctx, "05-saved")

		// WeChat's side: a signed, encrypted callback gets the new answer.
		got, err := site.sim.Post(t.Context(), site.sim.TextXML("o-customer-1", "wifi 密码多少", wechat.NewMsgID()))
		if err != nil {
			t.Fatal(err)
		}
		if got.Content != "店内 Wi-Fi 密码是 coffee123" {
			t.Fatalf("the bot answered %q (status %d), want the saved rule's reply", got.Content, got.Status)
		}

		browserSteps(t, ctx, "dry-run the new rule",
			fillInput("dryrun-text", "wifi"),
			chromedp.Click(chromedp.ID("dryrun-submit")),
			chromedp.WaitVisible(chromedp.CSS(`#dryrun-answer[data-rule="wifi"]`)),
		)
	})

	step("acknowledge an alert", func(t *testing.T) {
		browserSteps(t, ctx, "open the alerts",
			chromedp.Click(chromedp.CSS(`#nav a[data-tab="alerts"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.alert[data-id="17"]`)),
		)
		if evidence := browserValue(t, ctx, "read the evidence", chromedp.Text(chromedp.CSS(`.alert[data-id="17"] .evidence`))); evidence != "加我微信 1**********8 返现" {
			t.Errorf("evidence = %q, want the masked text", evidence)
		}
		saveScreenshot(t, ctx, "06-alerts")
		browserSteps(t, ctx, "acknowledge it",
			chromedp.Click(chromedp.CSS(`.alert[data-id="17"] button[data-act="ack"]`)),
			chromedp.WaitNotPresent(chromedp.CSS(`.alert[data-id="17"]`)),
		)
		if s := site.risk.events[0]["status"]; s != "acknowledged" {
			t.Errorf("event status = %v, want acknowledged", s)
		}
		saveScreenshot(t, ctx, "07-alert-acknowledged")
	})

	step("contacts per channel are charted", func(t *testing.T) {
		browserSteps(t, ctx, "open the contacts chart",
			chromedp.Click(chromedp.CSS(`#nav a[data-tab="contacts"]`)),
			chromedp.WaitVisible(chromedp.ID("contacts-chart")),
		)
		if lines := browserValue(t, ctx, "count the lines", chromedp.Evaluate[int](`document.querySelectorAll('#contacts-chart polyline').length`)); lines != 2 {
			t.Errorf("the chart draws %d lines, want one per channel with contacts (2)", lines)
		}
		saveScreenshot(t, ctx, "08-contacts")
	})

	step("dry-run shows what do-not-disturb holds back", func(t *testing.T) {
		browserSteps(t, ctx, "dry-run 领券",
			chromedp.Click(chromedp.CSS(`#nav a[data-tab="scripts"]`)),
			fillInput("dryrun-text", "我要领券"),
			chromedp.Click(chromedp.ID("dryrun-submit")),
			chromedp.WaitVisible(chromedp.CSS(`#dryrun-answer[data-stage="command:coupon"]`)),
		)
		sent := browserValue(t, ctx, "read what is sent", chromedp.Text(chromedp.ID("dryrun-actions")))
		held := browserValue(t, ctx, "read what is held", chromedp.Text(chromedp.ID("dryrun-held")))
		if !strings.Contains(sent, "好的，券马上发给你") || strings.Contains(sent, "CF-8K2M") {
			t.Errorf("would send %q, want the reply and not the held push", sent)
		}
		if !strings.Contains(held, "CF-8K2M") || !strings.Contains(held, "免打扰时段") {
			t.Errorf("held back %q, want the coupon push with its reason", held)
		}
		saveScreenshot(t, ctx, "09-dry-run-held-back")
	})

	step("campaigns with stock bars and claims", func(t *testing.T) {
		browserSteps(t, ctx, "open the campaigns",
			chromedp.Click(chromedp.CSS(`#nav a[data-tab="campaigns"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.campaign[data-id="c1"] .stock > span`)),
		)
		if w := browserValue(t, ctx, "read the stock bar", chromedp.Evaluate[string](`document.querySelector('.campaign[data-id="c1"] .stock > span').style.width`)); w != "75%" {
			t.Errorf("c1's bar is %q wide, want 75%% (150 of 200 issued)", w)
		}
		if low := browserValue(t, ctx, "read c2's bar", chromedp.Evaluate[bool](`document.querySelector('.campaign[data-id="c2"] .stock').classList.contains('low')`)); !low {
			t.Error("c2 with 4 of 100 left is not marked low")
		}
		browserSteps(t, ctx, "open c1's claims",
			chromedp.Click(chromedp.CSS(`.campaign[data-id="c1"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`#claims-body table`)),
		)
		if claims := browserValue(t, ctx, "read the claims", chromedp.Text(chromedp.ID("claims-body"))); !strings.Contains(claims, "CF-****-7K") {
			t.Errorf("claims show %q, want the masked code", claims)
		}
		saveScreenshot(t, ctx, "10-campaigns")
	})

	step("check-in boards", func(t *testing.T) {
		browserSteps(t, ctx, "open the boards",
			chromedp.Click(chromedp.CSS(`#nav a[data-tab="boards"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#boards-body table`)),
			fillInput("history-person", "wx:o6…2M"),
			chromedp.Click(chromedp.CSS(`#history-form button`)),
			chromedp.WaitVisible(chromedp.CSS(`#history-body table`)),
		)
		if board := browserValue(t, ctx, "read the board", chromedp.Text(chromedp.ID("boards-body"))); !strings.Contains(board, "小山") || !strings.Contains(board, "120") {
			t.Errorf("board shows %q, want 小山 with 120 points", board)
		}
		saveScreenshot(t, ctx, "11-boards")
	})

	step("requeue a dead message", func(t *testing.T) {
		browserSteps(t, ctx, "open the outbox and requeue",
			chromedp.Click(chromedp.CSS(`#nav a[data-tab="outbox"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#outbox-body table button`)),
		)
		saveScreenshot(t, ctx, "12-outbox")
		browserSteps(t, ctx, "requeue",
			chromedp.Click(chromedp.CSS(`#outbox-body table button`)),
			waitJS(`document.getElementById('flash').textContent.includes('已重新排队')`),
		)
		if len(site.outbox.requeued) != 1 || site.outbox.requeued[0] != 1 {
			t.Errorf("requeued %v, want [1]", site.outbox.requeued)
		}
	})

	step("do-not-disturb", func(t *testing.T) {
		browserSteps(t, ctx, "open do-not-disturb, look a person up and opt them out",
			chromedp.Click(chromedp.CSS(`#nav a[data-tab="dnd"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#dnd-held-body table`)),
			fillInput("dnd-person", "wx:o6…2M"),
			chromedp.Click(chromedp.CSS(`#dnd-form button`)),
			waitJS(`document.getElementById('dnd-person-body').textContent.includes('接收主动消息')`),
			chromedp.Click(chromedp.CSS(`#dnd-person-body button`)),
			waitJS(`document.getElementById('dnd-person-body').textContent.includes('已退订')`),
		)
		saveScreenshot(t, ctx, "13-dnd")
	})

	step("on a phone", func(t *testing.T) {
		browserSteps(t, ctx, "view the scripts on a phone-sized screen",
			chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
			chromedp.Click(chromedp.CSS(`#nav a[data-tab="scripts"]`)),
			chromedp.WaitVisible(chromedp.ID("tab-scripts")),
		)
		// Nothing but the tab bar (which scrolls by design) is wider than
		// the screen.
		if wide := browserValue(t, ctx, "measure the page", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); wide {
			t.Error("the page is wider than a phone's screen")
		}
		saveScreenshot(t, ctx, "14-phone-scripts")
		browserSteps(t, ctx, "the chart on a phone",
			chromedp.Click(chromedp.CSS(`#nav a[data-tab="contacts"]`)),
			chromedp.WaitVisible(chromedp.ID("contacts-chart")),
		)
		if wide := browserValue(t, ctx, "measure the chart", chromedp.Evaluate[bool](`document.getElementById('contacts-chart').getBoundingClientRect().right > window.innerWidth`)); wide {
			t.Error("the chart is wider than a phone's screen")
		}
		saveScreenshot(t, ctx, "15-phone-contacts")
	})

	step("signing out forgets the token", func(t *testing.T) {
		browserSteps(t, ctx, "sign out",
			chromedp.Click(chromedp.ID("logout")),
			chromedp.WaitVisible(chromedp.ID("login")),
		)
		if stored := browserValue(t, ctx, "read the session", chromedp.Evaluate[string](`sessionStorage.getItem('siyu.admin.token') || ''`)); stored != "" {
			t.Errorf("sessionStorage still holds %q", stored)
		}
	})
}

func TestConsoleNewFileInBrowser(t *testing.T) {
	site := newConsoleSite(t, false)
	ctx := startChromium(t)
	// The new-file button asks for a name with prompt(); answer it.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true, PromptText: "promo.yaml"})
		}
	}()
	consoleSignIn(t, ctx, site.url, "t0ken")
	browserSteps(t, ctx, "create promo.yaml with a rule and save it",
		chromedp.WaitVisible(chromedp.ID("tab-scripts")),
		scriptsLoaded,
		chromedp.Click(chromedp.ID("script-new")),
		waitJS(`document.getElementById('script-file').value === 'promo.yaml'`),
		setDraft("rules:\n  - name: promo\n    match: {contains: [周三]}\n    reply: 周三会员日第二杯半价\n"),
		chromedp.WaitVisible(chromedp.CSS(`#script-status[data-state="ok"]`)),
		chromedp.WaitEnabled(chromedp.ID("script-save")),
		chromedp.Click(chromedp.ID("script-save")),
		waitJS(`document.getElementById('script-status').textContent.includes('已保存')`),
	)
	if b, err := os.ReadFile(filepath.Join(site.dir, "promo.yaml")); err != nil || !strings.Contains(string(b), "周三会员日第二杯半价") {
		t.Fatalf("promo.yaml = %q (%v), want the new rule", b, err)
	}
	got, err := site.sim.Post(t.Context(), site.sim.TextXML("o-customer-2", "周三有活动吗", wechat.NewMsgID()))
	if err != nil {
		t.Fatal(err)
	}
	if got.Content != "周三会员日第二杯半价" {
		t.Fatalf("the bot answered %q, want the new file's rule", got.Content)
	}
	saveScreenshot(t, ctx, "17-new-file-saved")

	// This site has no capability modules: their sections say so.
	for _, tab := range []string{"alerts", "campaigns", "boards", "dnd"} {
		browserSteps(t, ctx, "open "+tab,
			chromedp.Click(chromedp.CSS(`#nav a[data-tab="`+tab+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#tab-`+tab+` [data-absent]`)),
		)
		if text := browserValue(t, ctx, "read "+tab, chromedp.Text(chromedp.CSS(`#tab-`+tab+` [data-absent]`))); !strings.Contains(text, "未启用") {
			t.Errorf("%s shows %q, want 未启用", tab, text)
		}
	}
	saveScreenshot(t, ctx, "18-absent-module")
}
