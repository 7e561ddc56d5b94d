package admin

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/siyu-bot/siyu/bot"
)

// chooseAccount picks an account in the top bar's switcher, as staff do.
func chooseAccount(key string) chromedp.Action[chromedp.Void] {
	return evalJS(`(() => { const s = document.getElementById('account-switch'); s.value = ` + jsLiteral(key) + `; s.dispatchEvent(new Event('change')); })()`)
}

// TestAccountSwitcherInBrowser drives the account switcher in Chromium:
// an admin sees every brand's accounts grouped by brand, picks another
// brand's account and dry-runs as it (the engine gets its route and
// platform), the choice survives a reload, the inbox and the 账号 page
// follow it, and the admin limits a colleague to a brand. A member
// limited to a brand sees only its accounts, lands on a page they may
// read, is told in Chinese why the others are closed to them, sees and
// acknowledges their brand's risk alerts only (following the switcher),
// and dry-runs as their brand's WeCom account.
func TestAccountSwitcherInBrowser(t *testing.T) {
	site := newBrandSite(t)
	ctx := startChromium(t)
	exceptions := jsErrors(ctx)
	ok := true
	step := func(name string, f func(t *testing.T)) {
		if ok {
			ok = t.Run(name, f)
		}
	}

	step("an admin's switcher lists every account by brand", func(t *testing.T) {
		staffSignIn(t, ctx, site.url, "amy", "password-amy")
		browserSteps(t, ctx, "see the switcher", chromedp.WaitVisible(chromedp.ID("account-switch")))
		groups := browserValue(t, ctx, "read the groups", chromedp.Evaluate[string](
			`[...document.querySelectorAll('#account-switch optgroup')].map((g) => g.label + ':' + [...g.querySelectorAll('option')].map((o) => o.textContent).join(',')).join(' | ')`))
		if want := "默认账号（环境变量配置）:默认账号（微信公众号） | 品牌：other:oa-b（微信公众号） | 品牌：shancha:kf-a（企业微信）,oa-a（微信公众号）"; groups != want {
			t.Errorf("switcher = %q, want %q", groups, want)
		}
		if first := browserValue(t, ctx, "read the first option", chromedp.Evaluate[string](`document.querySelector('#account-switch option').textContent`)); first != "全部账号" {
			t.Errorf("first option %q, want 全部账号", first)
		}
	})

	step("pick another brand's account and dry-run as it", func(t *testing.T) {
		browserSteps(t, ctx, "choose oa-b and dry-run",
			openTab("scripts"),
			chooseAccount("wechat:oa-b"),
			chromedp.WaitVisible(chromedp.CSS(`#dryrun-account[data-account="wechat:oa-b"]`)),
			fillInput("dryrun-text", "内部价多少"),
			chromedp.Click(chromedp.ID("dryrun-submit")),
			chromedp.WaitVisible(chromedp.CSS(`#dryrun-answered-as[data-account="wechat:oa-b"]`)),
		)
		reply := browserValue(t, ctx, "read the reply", chromedp.Text(chromedp.ID("dryrun-actions")))
		as := browserValue(t, ctx, "read as whom", chromedp.Text(chromedp.ID("dryrun-answered-as")))
		if !strings.Contains(reply, "其他品牌的内部价") || as != "oa-b · 品牌 other · 微信公众号" {
			t.Errorf("dry-run answered %q as %q, want oa-b's brand's rule", reply, as)
		}
		if ev := site.runner.last(); ev.Route != (bot.Route{Brand: "other", Name: "oa-b"}) || ev.Platform != bot.WeChat {
			t.Errorf("the engine ran %q on %s, want other/oa-b on wechat", ev.Route, ev.Platform)
		}
		if disabled := browserValue(t, ctx, "is the platform fixed", chromedp.Evaluate[bool](`document.getElementById('dryrun-platform').disabled`)); !disabled {
			t.Error("the platform can be changed while an account is chosen")
		}
		saveScreenshot(t, ctx, "switcher-dryrun-desktop")
	})

	step("the choice is remembered by the browser, and the inbox follows it", func(t *testing.T) {
		browserSteps(t, ctx, "reload and open the inbox",
			chromedp.Navigate(site.url+"/admin/#inbox"),
			chromedp.WaitVisible(chromedp.ID("account-switch")),
			waitJS(`document.getElementById('account-switch').value === 'wechat:oa-b'`),
			chromedp.WaitVisible(chromedp.CSS(`.inbox-item[data-id="`+convB+`"]`)),
		)
		if ids := browserValue(t, ctx, "read the inbox", chromedp.Evaluate[string](`[...document.querySelectorAll('#inbox-list .inbox-item')].map((li) => li.dataset.id).join(' ')`)); ids != convB {
			t.Errorf("inbox = %q, want only oa-b's %s", ids, convB)
		}
		browserSteps(t, ctx, "every account again",
			chooseAccount("*"),
			waitJS(`document.querySelectorAll('#inbox-list .inbox-item').length === 3`),
		)
	})

	step("the 账号 page lists callback URLs to paste", func(t *testing.T) {
		browserSteps(t, ctx, "open 账号 and switch from it",
			openTab("accounts"),
			chromedp.WaitVisible(chromedp.CSS(`#accounts-body [data-callback="wecom:kf-a"]`)),
			chromedp.Click(chromedp.CSS(`button[data-choose="wechat:oa-a"]`)),
			waitJS(`document.getElementById('account-switch').value === 'wechat:oa-a'`),
			chromedp.WaitVisible(chromedp.CSS(`tr.current[data-account="wechat:oa-a"]`)),
		)
		url := browserValue(t, ctx, "read a callback URL", chromedp.Text(chromedp.CSS(`[data-callback="wecom:kf-a"]`)))
		if url != site.url+"/wecom/kf-a/callback" {
			t.Errorf("kf-a's callback URL = %q, want %s/wecom/kf-a/callback", url, site.url)
		}
		page := browserValue(t, ctx, "read the page", chromedp.Text(chromedp.ID("accounts-body")))
		for _, want := range []string{"品牌：shancha", "品牌：other", "Secret 未配置", "AppSecret 已配置", "服务器地址(URL)"} {
			if !strings.Contains(page, want) {
				t.Errorf("the 账号 page lacks %q:\n%s", want, page)
			}
		}
		saveScreenshot(t, ctx, "accounts-desktop")
	})

	step("an admin limits a colleague to a brand", func(t *testing.T) {
		browserSteps(t, ctx, "set otto's brands",
			openTab("team"),
			chromedp.WaitVisible(chromedp.CSS(`#staff-body tr[data-staff="otto"]`)),
			waitJS(`document.querySelector('[data-brands="sam"]').textContent === 'shancha'`),
			chromedp.Click(chromedp.CSS(`tr[data-staff="otto"] button[data-act="brands"]`)),
			waitJS(`document.getElementById('confirm').open`),
			chromedp.Click(chromedp.CSS(`#brand-picks input[data-brand="other"]`)),
			chromedp.Click(chromedp.ID("confirm-ok")),
			waitJS(`document.querySelector('[data-brands="otto"]').textContent === 'other'`),
		)
		if m, err := site.staff.staff.Staff(t.Context(), "otto"); err != nil || len(m.Brands) != 1 || m.Brands[0] != "other" {
			t.Errorf("otto = %+v, %v, want brand other", m, err)
		}
		saveScreenshot(t, ctx, "team-brands-desktop")
		browserSteps(t, ctx, "sign out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login")))
	})

	step("a limited operator sees their brand only", func(t *testing.T) {
		staffSignIn(t, ctx, site.url, "sam", "password-sam")
		browserSteps(t, ctx, "land on a page they may read",
			chromedp.WaitVisible(chromedp.ID("account-switch")),
			waitJS(`document.body.dataset.tab === 'inbox'`),
			chromedp.WaitVisible(chromedp.CSS(`.inbox-item[data-id="`+convA+`"]`)),
		)
		// The switcher remembered amy's oa-a; sam may see it too.
		options := browserValue(t, ctx, "read the switcher", chromedp.Evaluate[string](`[...document.querySelectorAll('#account-switch option')].map((o) => o.value).join(' ')`))
		if options != "* wecom:kf-a wechat:oa-a" {
			t.Errorf("sam's switcher = %q, want every account of shancha only", options)
		}
		if who := browserValue(t, ctx, "read who is signed in", chromedp.Text(chromedp.ID("whoami"))); who != "sam（运营 · shancha）" {
			t.Errorf("signed in as %q", who)
		}
		if locked := browserValue(t, ctx, "read the locked tabs", chromedp.Evaluate[string](`[...document.querySelectorAll('#nav a.locked')].map((a) => a.dataset.tab).join(' ')`)); locked != "home campaigns boards contacts outbox dnd team" {
			t.Errorf("locked tabs = %q", locked)
		}
		if stats := browserValue(t, ctx, "read the inbox counts", chromedp.Text(chromedp.ID("inbox-stats"))); !strings.Contains(stats, "不区分品牌") {
			t.Errorf("inbox counts = %q, want why they are not shown", stats)
		}
	})

	step("a limited operator's alerts are their brand's", func(t *testing.T) {
		// The switcher still has oa-a, chosen before.
		browserSteps(t, ctx, "open the alerts: oa-a's",
			openTab("alerts"),
			waitJS(`document.querySelectorAll('#alerts-body .alert').length === 1 && document.querySelector('#alerts-body .alert').dataset.id === '1'`),
		)
		browserSteps(t, ctx, "every account of theirs",
			chooseAccount("*"),
			waitJS(`document.querySelectorAll('#alerts-body .alert').length === 2`),
		)
		cards := browserValue(t, ctx, "read the cards", chromedp.Evaluate[string](
			`[...document.querySelectorAll('#alerts-body .alert')].map((li) => li.dataset.id + ':' + li.querySelector('[data-account]').dataset.account).sort().join(' ')`))
		if cards != "1:oa-a 4:kf-a" {
			t.Errorf("alert cards = %q, want shancha's events only, each naming its account", cards)
		}
		browserSteps(t, ctx, "choose kf-a: its alerts only",
			chooseAccount("wecom:kf-a"),
			waitJS(`document.querySelectorAll('#alerts-body .alert').length === 1 && document.querySelector('#alerts-body .alert').dataset.id === '4'`),
		)
		browserSteps(t, ctx, "acknowledge it",
			chromedp.Click(chromedp.CSS(`#alerts-body .alert[data-id="4"] button[data-act="ack"]`)),
			waitJS(`document.getElementById('confirm').open`),
			chromedp.Click(chromedp.ID("confirm-ok")),
			waitJS(`document.querySelectorAll('#alerts-body .alert').length === 0`),
		)
		if got := site.risk.events[3].Status; got != "acknowledged" {
			t.Errorf("kf-a's event is %q, want acknowledged", got)
		}
		saveScreenshot(t, ctx, "limited-alerts-desktop")
	})

	step("a page whose data names no brand says why it is closed", func(t *testing.T) {
		browserSteps(t, ctx, "open the outbox",
			openTab("outbox"),
			chromedp.WaitVisible(chromedp.CSS(`#tab-outbox .refusal`)),
		)
		text := browserValue(t, ctx, "read the refusal", chromedp.Text(chromedp.CSS(`#tab-outbox .refusal`)))
		if !strings.Contains(text, "无权查看") || !strings.Contains(text, "只能查看品牌「shancha」") {
			t.Errorf("refusal = %q", text)
		}
		if shown := browserValue(t, ctx, "is the queue hidden", chromedp.Evaluate[bool](`getComputedStyle(document.getElementById('outbox-body').closest('.card')).display !== 'none'`)); shown {
			t.Error("the outbox's card shows under the refusal")
		}
		saveScreenshot(t, ctx, "limited-refused-desktop")
	})

	step("a limited operator dry-runs as their brand's WeCom account", func(t *testing.T) {
		browserSteps(t, ctx, "choose every account: the dry-run asks for one",
			openTab("scripts"),
			chooseAccount("*"),
			waitJS(`document.getElementById('dryrun-as').textContent.includes('请先在顶部选择一个账号')`),
		)
		browserSteps(t, ctx, "choose kf-a and dry-run",
			chooseAccount("wecom:kf-a"),
			chromedp.WaitVisible(chromedp.CSS(`#dryrun-account[data-account="wecom:kf-a"]`)),
			fillInput("dryrun-text", "山茶花茶还有吗"),
			chromedp.Click(chromedp.ID("dryrun-submit")),
			chromedp.WaitVisible(chromedp.CSS(`#dryrun-answered-as[data-account="wecom:kf-a"]`)),
		)
		if ev := site.runner.last(); ev.Route != (bot.Route{Brand: "shancha", Name: "kf-a"}) || ev.Platform != bot.WeCom {
			t.Errorf("the engine ran %q on %s, want shancha/kf-a on wecom", ev.Route, ev.Platform)
		}
		files := browserValue(t, ctx, "read the files", chromedp.Evaluate[string](`[...document.querySelectorAll('#script-file option')].map((o) => o.value).join(' ')`))
		if strings.Contains(files, "brands/other") || !strings.Contains(files, "brands/shancha/a.yaml") {
			t.Errorf("files = %q, want shancha's and the shared ones", files)
		}
		saveScreenshot(t, ctx, "limited-dryrun-desktop")
	})

	step("on a phone", func(t *testing.T) {
		browserSteps(t, ctx, "a phone's screen",
			chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
			chromedp.WaitVisible(chromedp.ID("account-switch")),
		)
		saveScreenshot(t, ctx, "switcher-phone")
	})

	step("no script errors", func(t *testing.T) {
		if len(*exceptions) > 0 {
			t.Errorf("the page threw: %v", *exceptions)
		}
	})
}
