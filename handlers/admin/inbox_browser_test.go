package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/siyu-bot/siyu/bot/handover"
)

// TestInboxInBrowser drives the inbox in a real Chromium at a laptop's and
// a phone's width: the waiting conversations oldest first, a reply sent,
// a closed reply window said plainly, assignment, and the end of a
// hand-over.
func TestInboxInBrowser(t *testing.T) {
	for _, size := range []struct {
		name  string
		phone bool
	}{{"desktop", false}, {"phone", true}} {
		t.Run(size.name, func(t *testing.T) {
			f := newFakeInbox(time.Now()) // the page counts the reply window down from the browser's clock
			// A customer's text that looks like markup stays text.
			f.msgs["a1b2c3d4e5f60718"] = append(f.msgs["a1b2c3d4e5f60718"], handover.Message{From: handover.Customer, Text: `<img src=x onerror="document.title='pwned'">`, At: time.Now()})
			base := newInboxServer(t, f)
			ctx := startChromium(t)
			shot := func(name string) { saveScreenshot(t, ctx, "inbox-"+size.name+"-"+name) }
			if size.phone {
				browserSteps(t, ctx, "a phone's screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
			}
			consoleSignIn(t, ctx, base, "t0ken")
			browserSteps(t, ctx, "open the inbox",
				chromedp.Navigate(base+"/admin/#inbox"),
				chromedp.WaitVisible(chromedp.CSS(`.inbox-item[data-id="1122334455667788"]`)),
				waitJS(`document.getElementById('inbox-today') && document.getElementById('inbox-today').textContent.includes('今日转人工 4')`),
			)
			order := browserValue(t, ctx, "read the list", chromedp.Evaluate[string](`[...document.querySelectorAll('#inbox-list .inbox-item')].map(li => li.dataset.id).join(' ')`))
			if want := "99aa88bb77cc66dd a1b2c3d4e5f60718 1122334455667788"; order != want {
				t.Errorf("list order %q, want %q (waiting longest first)", order, want)
			}
			if wait := browserValue(t, ctx, "read a wait", chromedp.Text(chromedp.CSS(`.inbox-item[data-id="a1b2c3d4e5f60718"] .wait.long`))); wait != "等待 12 分钟" {
				t.Errorf("wait shown %q, want 等待 12 分钟, marked long", wait)
			}
			if size.phone {
				if shown := browserValue(t, ctx, "is the conversation pane shown", chromedp.Evaluate[bool](`getComputedStyle(document.getElementById('inbox-thread')).display !== 'none'`)); shown {
					t.Error("on a phone the conversation pane shows before one is chosen")
				}
			}
			shot("01-list")

			browserSteps(t, ctx, "open the conversation and reply",
				chromedp.Click(chromedp.CSS(`.inbox-item[data-id="a1b2c3d4e5f60718"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#inbox-messages .msg.customer`)),
				fillInput("inbox-staff-name", "小王"),
				chromedp.SendKeys(chromedp.ID("inbox-reply-text"), "您好，我是客服小王，马上帮您查订单"),
				chromedp.Click(chromedp.ID("inbox-reply-send")),
				waitJS(`[...document.querySelectorAll('#inbox-messages .msg.staff')].some(m => m.textContent.includes('马上帮您查订单'))`),
				waitJS(`document.querySelector('.inbox-item[data-id="a1b2c3d4e5f60718"] .wait.done') !== null`),
			)
			if len(f.sent) != 1 || f.sent[0] != "a1b2c3d4e5f60718 小王: 您好，我是客服小王，马上帮您查订单" {
				t.Errorf("sent %q, want the reply signed 小王", f.sent)
			}
			if imgs := browserValue(t, ctx, "look for markup", chromedp.Evaluate[int](`document.querySelectorAll('#inbox-messages img').length`)); imgs != 0 {
				t.Error("a customer's text was rendered as HTML")
			}
			if text := browserValue(t, ctx, "read the messages", chromedp.Text(chromedp.ID("inbox-messages"))); !strings.Contains(text, "三天了还没发货") || !strings.Contains(text, "<img src=x") {
				t.Errorf("messages %q, want the customer's words as written", text)
			}
			if left := browserValue(t, ctx, "read the window", chromedp.Text(chromedp.ID("inbox-window"))); !strings.Contains(left, "回复窗口还剩 1 天 23 小时") {
				t.Errorf("window notice %q, want 1 day 23 hours left (of 48, 12 minutes gone)", left)
			}
			if wide := browserValue(t, ctx, "measure the page", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); wide {
				t.Error("the page is wider than the screen")
			}
			shot("02-replied")

			if size.phone {
				browserSteps(t, ctx, "back to the list",
					chromedp.Click(chromedp.ID("inbox-back")),
					chromedp.WaitVisible(chromedp.CSS(`.inbox-item[data-id="99aa88bb77cc66dd"]`)),
				)
			}
			browserSteps(t, ctx, "a conversation whose window closed",
				chromedp.Click(chromedp.CSS(`.inbox-item[data-id="99aa88bb77cc66dd"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#inbox-thread[data-id="99aa88bb77cc66dd"] #inbox-window [data-state="closed"]`)),
			)
			if disabled := browserValue(t, ctx, "read the send button", chromedp.Evaluate[bool](`document.getElementById('inbox-reply-send').disabled`)); !disabled {
				t.Error("the send button is enabled after the window closed")
			}
			if notice := browserValue(t, ctx, "read the notice", chromedp.Text(chromedp.ID("inbox-window"))); !strings.Contains(notice, "回复窗口已关闭") {
				t.Errorf("notice %q, want it to say the window closed", notice)
			}
			shot("03-window-closed")

			if size.phone {
				browserSteps(t, ctx, "back to the list", chromedp.Click(chromedp.ID("inbox-back")), chromedp.WaitVisible(chromedp.CSS(`.inbox-item[data-id="1122334455667788"]`)))
			}
			browserSteps(t, ctx, "assign, then end the hand-over",
				chromedp.Click(chromedp.CSS(`.inbox-item[data-id="1122334455667788"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#inbox-thread[data-id="1122334455667788"] #inbox-assign-name`)),
				fillInput("inbox-assign-name", "小李"),
				chromedp.Click(chromedp.ID("inbox-assign")),
				waitJS(`document.querySelector('.inbox-item[data-id="1122334455667788"]').textContent.includes('负责人 小李')`),
				chromedp.Click(chromedp.ID("inbox-end")),
				waitJS(`document.getElementById('inbox-end').textContent.includes('确认结束')`),
			)
			if f.ended["1122334455667788"] {
				t.Fatal("one click ended the hand-over; it should ask first")
			}
			browserSteps(t, ctx, "confirm the end",
				chromedp.Click(chromedp.ID("inbox-end")),
				chromedp.WaitVisible(chromedp.ID("inbox-ended")),
				waitJS(`document.querySelector('.inbox-item[data-id="1122334455667788"]') === null`),
			)
			if !f.ended["1122334455667788"] {
				t.Error("the hand-over was not ended")
			}
			if note := browserValue(t, ctx, "read the note", chromedp.Text(chromedp.ID("inbox-ended"))); !strings.Contains(note, "机器人已恢复回答") {
				t.Errorf("note %q, want it to say the bot answers again", note)
			}
			if title := browserValue(t, ctx, "read the title", chromedp.Title()); title == "pwned" {
				t.Error("a customer's markup ran")
			}
			shot("04-ended")
		})
	}
}
