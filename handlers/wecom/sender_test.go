package wecom

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// TestStaffAlert: a StaffAlert enqueued anywhere reaches the configured
// staff as an app message through the outbox's Staff route.
func TestStaffAlert(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	r := newReplica(t, b, newRecorder(t), replicaOpts{alertTo: []string{"zhangsan", "lisi"}})
	alert := bot.StaffAlert{
		To:    bot.Target{Platform: bot.WeCom, Account: testCorp, Conversation: bot.Conversation{Group: "wr-g1"}},
		Title: "群内风险提示", Text: "客户群「上海门店1群」出现疑似广告，请及时处理。",
	}
	if err := r.outbox.Enqueue(t.Context(), "alert-1", []bot.Action{alert}); err != nil {
		t.Fatal(err)
	}
	r.drain(t)
	got := api.gotAppSent()
	want := appSend{ToUser: "zhangsan|lisi", AgentID: 1000002, MsgType: "text", Text: "【群内风险提示】\n客户群「上海门店1群」出现疑似广告，请及时处理。"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("message/send got %+v, want %+v", got, want)
	}
}

// TestSenderRefuses what WeCom does not allow, with ErrInvalid and a
// reason, without calling WeCom.
func TestSenderRefuses(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	s := NewSender(NewClient(testCorp, testSecret, testAgent, newTestTokens(b)), b.store, SenderConfig{})
	group := bot.Target{Platform: bot.WeCom, Account: testCorp, Conversation: bot.Conversation{Group: "wr-1"}}
	contact := bot.Target{Platform: bot.WeCom, Account: testCorp, User: "wm-1"}
	kf := bot.Target{Platform: bot.WeCom, Account: KFAccount(testCorp, testKF), User: "wm-1"}
	tests := []struct {
		name   string
		action bot.Action
		reason string
	}{
		{"reply into a customer group", bot.Reply{To: group, Text: "欢迎"}, "cannot post into customer groups"},
		{"1:1 reply to an external contact", bot.Reply{To: contact, Text: "你好"}, "outside 微信客服"},
		{"queued welcome", bot.Welcome{To: contact, Text: "欢迎", WelcomeCode: "C"}, "one-shot code"},
		{"news to a 微信客服 customer", bot.News{To: kf, Articles: []bot.Article{{Title: "t", URL: "https://example.com"}}}, "text only"},
		{"unknown account form", bot.Reply{To: bot.Target{Platform: bot.WeCom, Account: "ww1/x/y", User: "u"}, Text: "?"}, "no WeCom conversation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Send(t.Context(), tc.action)
			if !errors.Is(err, bot.ErrInvalid) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("Send = %v, want ErrInvalid saying %q", err, tc.reason)
			}
		})
	}
	if n := len(api.gotAppSent()) + len(api.gotKFSent()); n != 0 {
		t.Fatalf("WeCom got %d messages, want none", n)
	}
}

// TestAppReplyAndTokenRevoked: a staff member's message to the app is
// answered as an app message; when WeCom has revoked the cached token
// (40014), the token is dropped and the call tried once more.
func TestAppReplyAndTokenRevoked(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	s := NewSender(NewClient(testCorp, testSecret, testAgent, newTestTokens(b)), b.store, SenderConfig{})
	to := bot.Target{Platform: bot.WeCom, Account: AppAccount(testCorp, testAgent), User: "zhangsan"}
	for i, text := range []string{"第一条", "第二条"} {
		if i == 1 {
			api.revoke(testSecret)
		}
		if err := s.Send(t.Context(), bot.Reply{To: to, Text: text}); err != nil {
			t.Fatalf("Send #%d: %v", i+1, err)
		}
	}
	got := api.gotAppSent()
	if len(got) != 2 || got[1] != (appSend{ToUser: "zhangsan", AgentID: 1000002, MsgType: "text", Text: "第二条"}) {
		t.Fatalf("message/send got %+v, want both replies to zhangsan", got)
	}
	api.mu.Lock()
	calls := api.tokenCalls
	api.mu.Unlock()
	if calls != 2 {
		t.Fatalf("gettoken called %d times, want 2 (once more after the revocation)", calls)
	}
}

// TestClientErrorsHideSecrets: errors quote neither the secret nor the
// access token, although the SDK's HTTP errors print whole URLs.
func TestClientErrorsHideSecrets(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	c := NewClient(testCorp, testSecret, testAgent, newTestTokens(b))
	if _, err := c.SendAppText(t.Context(), 1, "u", "warm up the token"); err != nil {
		t.Fatal(err)
	}
	api.Close() // WeCom unreachable: the transport error prints the URL
	_, err := c.SendAppText(t.Context(), 1, "u", "x")
	if !errors.Is(err, bot.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	for _, secret := range []string{testSecret, "TOKEN-APP-1"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q quotes %q", err, secret)
		}
	}
	util.SetURIModifier(func(uri string) string { return strings.Replace(uri, "https://qyapi.weixin.qq.com", api.URL, 1) })
	c2 := NewClient(testCorp, "another-secret", "x", newTestTokens(b))
	if _, err := c2.SendAppText(t.Context(), 1, "u", "x"); err == nil || strings.Contains(err.Error(), "another-secret") {
		t.Fatalf("token error %v quotes the secret (or is nil)", err)
	}
}

// TestOutboxDeadLettersKFOutsideWindow: a 微信客服 reply queued after the
// window is dead-lettered at once with the reason, never sent.
func TestOutboxDeadLettersKFOutsideWindow(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	clk := bottest.NewClock(time.Now())
	s := NewSender(NewClient(testCorp, testSecret, testAgent, newTestTokens(b)), b.store, SenderConfig{Now: clk.Now})
	ob := bot.NewOutbox(sqlstore.NewOutbox(b.db), map[bot.Platform]bot.Sender{bot.WeCom: s}, bot.OutboxConfig{Now: clk.Now})
	if err := b.store.TouchKFSession(t.Context(), testCorp, testKF, "wm-late", clk.Now().Add(-49*time.Hour)); err != nil {
		t.Fatal(err)
	}
	to := bot.Target{Platform: bot.WeCom, Account: KFAccount(testCorp, testKF), User: "wm-late"}
	if err := ob.Enqueue(t.Context(), "late", []bot.Action{bot.Reply{To: to, Text: "迟到的回复"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	dead, err := sqlstore.NewOutbox(b.db).List(t.Context(), bot.OutboxDead, 10)
	if err != nil || len(dead) != 1 || dead[0].Attempts != 1 || !strings.Contains(dead[0].LastError, "older than 48h") {
		t.Fatalf("dead rows = %+v, %v; want the reply dead after one attempt, with the window as reason", dead, err)
	}
	if n := len(api.gotKFSent()); n != 0 {
		t.Fatalf("kf/send_msg got %d messages, want none", n)
	}
}
