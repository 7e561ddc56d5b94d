package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/bot/nlp"
	"github.com/siyu-bot/siyu/bot/risk"
)

// TestActOnlyWhenSure runs the built app, with the shipped model and
// scripts, through the real cases of issue 24: readings of the intent
// alone ask one question instead of acting; command words and answers
// act; a flagged message earns nothing; and staff's reviews and
// corrections export as knowledge/ lines.
func TestActOnlyWhenSure(t *testing.T) {
	const token = "sure-test-token-0123456789"
	a, srv := buildTest(t, map[string]string{"SIYU_ADMIN_TOKEN": token})
	ctx := t.Context()
	n := 0
	send := func(user, text string) []bot.Action {
		t.Helper()
		n++
		ev := bot.Event{Platform: bot.WeChat, Account: "gh_sure", Kind: bot.KindMessage, Sender: bot.UserID(user), Text: text,
			MessageID: fmt.Sprint(n), DedupeKey: fmt.Sprintf("sure-%d", n), Time: time.Now()}
		actions, err := a.handler.HandleEvent(ctx, ev)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		return actions
	}
	optedOut := func(user string) bool {
		t.Helper()
		var v struct {
			OptedOut bool `json:"opted_out"`
		}
		p := url.PathEscape(string(bot.PersonOf(bot.WeChat, "gh_sure", bot.UserID(user), "")))
		adminJSON(t, http.MethodGet, srv.URL+"/admin/api/dnd/persons/"+p, token, "", http.StatusOK, &v)
		return v.OptedOut
	}
	steps := []struct {
		name, user, text string
		want             string // the first reply's text starts with it
		anyReply         bool   // any reply but a question or a confirmation
		alert            bool   // a StaffAlert among the actions
		optedOut         bool
	}{
		{name: "那我不要了 about an item never unsubscribes", user: "u1", text: "那我不要了", anyReply: true},
		{name: "a wish for no more messages, read from the intent, asks", user: "u1", text: "以后别给我发消息了", want: dnd.DefaultConfirmReply},
		{name: "T, the answer and a command word, opts out", user: "u1", text: "T", want: dnd.DefaultUnsubscribedReply, optedOut: true},
		{name: "a check-in read from the intent asks", user: "u2", text: "帮我签个到", want: "要签到吗？回复「签到」打卡～"},
		{name: "签到 checks in", user: "u2", text: "签到", want: "签到成功"},
		{name: "ordinary haggling is a price question: no coupon claimed, nothing asked", user: "u3", text: "两件一起买能便宜点吗？包邮不", anyReply: true},
		{name: "a coupon read from the intent asks, claims nothing", user: "u3", text: "有没有优惠券可以用", want: "想领取新人首杯立减券吗？回复「领券」领取～"},
		{name: "wanting a person asks first", user: "u4", text: "别让机器人回了，找个活人跟我说", want: nlp.DefaultSettings().ConfirmReply},
		{name: "人工, the answer, hands over", user: "u4", text: "人工", want: "好的，已通知人工客服", alert: true},
		// A person holds u4's conversation now (bot/handover): the bot
		// answers nothing, the message is passed on, staff are told once.
		{name: "人工 again, with a person holding the conversation: no bot answer, staff told once", user: "u4", text: "人工", want: ""},
		{name: "a scam earns a neutral answer, no marketing", user: "u5", text: "兼职刷单日结，轻松月入过万", want: risk.DefaultFlaggedReply},
		{name: "a flagged 领券 claims nothing", user: "u5", text: "领券 加我微信 更便宜", want: risk.DefaultFlaggedReply},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			actions := send(st.user, st.text)
			var reply string
			alert := false
			for _, act := range actions {
				switch x := bot.Unwrap(act).(type) {
				case bot.Reply:
					if reply == "" {
						reply = x.Text
					}
				case bot.StaffAlert:
					alert = true
				}
			}
			switch {
			case st.anyReply:
				for _, not := range []string{dnd.DefaultConfirmReply, dnd.DefaultUnsubscribedReply, "想领取", "好的，已通知人工客服"} {
					if strings.HasPrefix(reply, not) {
						t.Errorf("reply = %q: a question or an action, where the message asked for neither", reply)
					}
				}
			case !strings.HasPrefix(reply, st.want) || st.want == "" && reply != "":
				t.Errorf("reply = %q, want it to start with %q", reply, st.want)
			}
			if alert != st.alert {
				t.Errorf("staff alerted = %v, want %v", alert, st.alert)
			}
			if got := optedOut(st.user); got != st.optedOut {
				t.Errorf("opted out = %v, want %v", got, st.optedOut)
			}
		})
	}
	var campaigns struct {
		Campaigns []struct {
			ID     string `json:"id"`
			Issued int    `json:"issued"`
		} `json:"campaigns"`
	}
	adminJSON(t, http.MethodGet, srv.URL+"/admin/api/coupon/campaigns", token, "", http.StatusOK, &campaigns)
	for _, c := range campaigns.Campaigns {
		if c.Issued != 0 {
			t.Errorf("campaign %s issued %d coupons, want none", c.ID, c.Issued)
		}
	}

	// Staff dismiss the scam's events as false alarms (for the test's
	// sake) and correct a dry-run: both export as brand lines.
	var events struct {
		Events []struct {
			ID int64 `json:"id"`
		} `json:"events"`
	}
	adminJSON(t, http.MethodGet, srv.URL+"/admin/api/risk/events", token, "", http.StatusOK, &events)
	if len(events.Events) == 0 {
		t.Fatal("no risk events recorded")
	}
	adminJSON(t, http.MethodPost, fmt.Sprintf("%s/admin/api/risk/events/%d/ack", srv.URL, events.Events[0].ID), token, "", http.StatusOK, nil)
	adminJSON(t, http.MethodPost, srv.URL+"/admin/api/feedback/corrections", token,
		`{"text":"那我不要了，电话13800138000","intent":"after_sales","was":"unsubscribe"}`, http.StatusOK, nil)
	for _, tc := range []struct{ dataset, path, want string }{
		{"intents", "intents/sources/brand/after_sales.txt", "那我不要了，电话138****8000"},
		{"risk", "", ""},
	} {
		status, raw := adminRequest(t, http.MethodGet, srv.URL+"/admin/api/feedback/export?dataset="+tc.dataset, token, "", "")
		if status != http.StatusOK {
			t.Fatalf("export %s = %d %s", tc.dataset, status, raw)
		}
		zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if len(zr.File) == 0 || tc.path != "" && !hasFile(zr, tc.path) {
			t.Errorf("export %s: no files", tc.dataset)
		}
		for _, f := range zr.File {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			if strings.Contains(string(b), "13800138000") {
				t.Errorf("%s holds a raw phone number", f.Name)
			}
			if tc.path != "" && f.Name == tc.path && !strings.Contains(string(b), "\n"+tc.want+"\n") {
				t.Errorf("%s = %q, want the line %q", f.Name, b, tc.want)
			}
		}
	}
	var caps struct {
		Modules []string `json:"modules"`
	}
	adminJSON(t, http.MethodGet, srv.URL+"/admin/api/capabilities", token, "", http.StatusOK, &caps)
	if !strings.Contains(strings.Join(caps.Modules, ","), "feedback") {
		t.Errorf("modules = %v, want feedback among them", caps.Modules)
	}
}

func hasFile(zr *zip.Reader, name string) bool {
	for _, f := range zr.File {
		if f.Name == name {
			return true
		}
	}
	return false
}
