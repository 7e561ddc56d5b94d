package wecom

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

const testKF = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q"

func kfMsg(id string, origin int, msgType, user, text string, sent int64) map[string]any {
	m := map[string]any{
		"msgid": id, "open_kfid": testKF, "external_userid": user, "send_time": sent,
		"origin": origin, "msgtype": msgType,
	}
	switch msgType {
	case "text":
		m["text"] = map[string]any{"content": text}
	case "event":
		m["event"] = map[string]any{"event_type": "enter_session", "open_kfid": testKF, "external_userid": user}
	case "image":
		m["image"] = map[string]any{"media_id": "MEDIA"}
	}
	return m
}

// TestKFPulledOnceAcrossReplicas: two replicas get a kf_msg_or_event at
// once; one pulls at a time (the fake fails any overlap), every page is
// read from the shared cursor, each customer text reaches the engine once
// and its answer goes out once with kf/send_msg.
func TestKFPulledOnceAcrossReplicas(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	rec := newRecorder(t)
	r1 := newReplica(t, b, rec, replicaOpts{})
	r2 := newReplica(t, b, rec, replicaOpts{})
	now := time.Now().Unix()
	api.setKFPages(map[string]kfPage{
		"": {Next: "c1", HasMore: 1, Msgs: []map[string]any{
			kfMsg("m1", KFOriginCustomer, "text", "wm-kf-a", "请问营业时间", now-5),
			kfMsg("e1", KFOriginEvent, "event", "wm-kf-a", "", now-5),
			kfMsg("s1", KFOriginServicer, "text", "wm-kf-a", "人工回复", now-4),
		}},
		// has_more with an empty page: WeCom says only has_more counts.
		"c1": {Next: "c2", HasMore: 1},
		"c2": {Next: "c3", HasMore: 0, Msgs: []map[string]any{
			kfMsg("m2", KFOriginCustomer, "text", "wm-kf-b", "你好", now-3),
			kfMsg("m3", KFOriginCustomer, "image", "wm-kf-b", "", now-2),
		}},
		"c3": {Next: "c3", HasMore: 0},
	})

	var wg sync.WaitGroup
	for i, r := range []*replica{r1, r2, r1, r2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := r.post(t, kfXML(now, "TOKEN-"+string(rune('A'+i)), testKF)); got != http.StatusOK {
				t.Errorf("kf callback status = %d, want 200", got)
			}
		}()
	}
	wg.Wait()
	r1.wait()
	r2.wait()

	var texts []string
	for _, ev := range rec.events() {
		if ev.Account != KFAccount(testCorp, testKF) || (ev.Kind != bot.KindMessage && ev.Kind != bot.KindStaffMessage) {
			t.Fatalf("engine got %+v, want 微信客服 messages", ev)
		}
		texts = append(texts, string(ev.Kind)+":"+string(ev.Sender)+":"+ev.Text)
	}
	slices.Sort(texts)
	if want := []string{"message:wm-kf-a:请问营业时间", "message:wm-kf-b:你好", "staff_message:wm-kf-a:人工回复"}; !slices.Equal(texts, want) {
		t.Fatalf("engine got %q, want each customer text and the servicer's once: %q", texts, want)
	}
	cursor, err := b.store.Cursor(t.Context(), testCorp, "kf:"+testKF)
	if err != nil || cursor != "c3" {
		t.Fatalf("stored cursor = %q, %v; want c3", cursor, err)
	}
	for _, s := range api.gotKFSyncs() {
		if s.OpenKfID != testKF || !strings.HasPrefix(s.Token, "TOKEN-") || s.Limit != 1000 {
			t.Fatalf("sync_msg request = %+v, want the account, a callback token and limit 1000", s)
		}
	}

	r1.drain(t)
	r2.drain(t)
	got := api.gotKFSent()
	slices.SortFunc(got, func(a, b kfSend) int { return strings.Compare(a.ToUser, b.ToUser) })
	want := []kfSend{
		{ToUser: "wm-kf-a", OpenKfID: testKF, MsgType: "text", Text: "我们每天 9:00-21:00 营业"},
		{ToUser: "wm-kf-b", OpenKfID: testKF, MsgType: "text", Text: "抱歉没听懂，回复「人工」联系客服"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("kf/send_msg got %+v, want %+v", got, want)
	}

	// A later notification pulls from the stored cursor: nothing new.
	before := len(api.gotKFSyncs())
	r2.post(t, kfXML(now, "TOKEN-Z", testKF))
	r2.wait()
	syncs := api.gotKFSyncs()[before:]
	if len(syncs) != 1 || syncs[0].Cursor != "c3" {
		t.Fatalf("later pull = %+v, want one sync_msg from c3", syncs)
	}
	if n := len(rec.events()); n != 3 {
		t.Fatalf("engine ran %d times after the later pull, want 3", n)
	}
}

// TestKFSenderLimits enforces WeCom's 微信客服 limits before sending: 5
// replies per customer message, within 48 h of it. Replies outside them
// are dead-lettered with the reason, not sent.
func TestKFSenderLimits(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	clk := bottest.NewClock(time.Now())
	tokens := newTestTokens(b)
	sender := NewSender(NewClient(testCorp, testSecret, testAgent, tokens), b.store, SenderConfig{Now: clk.Now})
	ob := bot.NewOutbox(sqlstore.NewOutbox(b.db), map[bot.Platform]bot.Sender{bot.WeCom: sender}, bot.OutboxConfig{Now: clk.Now})
	to := bot.Target{Platform: bot.WeCom, Account: KFAccount(testCorp, testKF), User: "wm-limits"}
	reply := func(text string) bot.Action { return bot.Reply{To: to, Text: text} }

	if err := sender.Send(t.Context(), reply("未开口")); !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("reply before the customer wrote: %v, want ErrInvalid", err)
	}
	if err := b.store.TouchKFSession(t.Context(), testCorp, testKF, "wm-limits", clk.Now()); err != nil {
		t.Fatal(err)
	}
	var six []bot.Action
	for _, s := range []string{"一", "二", "三", "四", "五", "六"} {
		six = append(six, reply(s))
	}
	if err := ob.Enqueue(t.Context(), "limits", six); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(api.gotKFSent()); n != 5 {
		t.Fatalf("sent %d replies to one customer message, want 5", n)
	}
	dead, err := sqlstore.NewOutbox(b.db).List(t.Context(), bot.OutboxDead, 10)
	if err != nil || len(dead) != 1 || !strings.Contains(dead[0].LastError, "5 replies") {
		t.Fatalf("dead rows = %+v, %v; want the sixth reply with its reason", dead, err)
	}

	// The customer writes again: five more, but not after 48 hours.
	clk.Add(time.Hour)
	if err := b.store.TouchKFSession(t.Context(), testCorp, testKF, "wm-limits", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(t.Context(), reply("再来")); err != nil {
		t.Fatalf("reply after a new message: %v", err)
	}
	clk.Add(48*time.Hour + time.Minute)
	if err := sender.Send(t.Context(), reply("太晚")); !errors.Is(err, bot.ErrInvalid) || !strings.Contains(err.Error(), "older than 48h") {
		t.Fatalf("reply after 48 h: %v, want ErrInvalid about the window", err)
	}
	if n := len(api.gotKFSent()); n != 6 {
		t.Fatalf("sent %d replies in all, want 6", n)
	}
}

func TestKFEvent(t *testing.T) {
	text := KFMessage{MsgID: "m1", OpenKfID: testKF, ExternalUserID: "wm1", SendTime: 1700000000, Origin: KFOriginCustomer, MsgType: "text"}
	text.Text.Content = "你好"
	with := func(f func(*KFMessage)) KFMessage { m := text; f(&m); return m }
	// An event carries the account and the customer inside it only.
	ended := KFMessage{MsgID: "e1", SendTime: 1700000000, Origin: KFOriginEvent, MsgType: "event",
		Event: KFEvent{EventType: "session_status_change", OpenKfID: testKF, ExternalUserID: "wm1", ChangeType: KFChangeEnded}}
	tests := []struct {
		name     string
		in       KFMessage
		wantKind bot.EventKind // "": not an event for the engine
		wantText string
	}{
		{"customer text", text, bot.KindMessage, "你好"},
		{"a servicer's text in the WeCom client", with(func(m *KFMessage) { m.Origin = KFOriginServicer }), bot.KindStaffMessage, "你好"},
		{"the session ended", ended, bot.KindSessionClosed, ""},
		{"a servicer took it from the pool", func() KFMessage { m := ended; m.Event.ChangeType = 1; return m }(), "", ""},
		{"another system event", with(func(m *KFMessage) { m.Origin, m.MsgType = KFOriginEvent, "event"; m.Event.EventType = "enter_session" }), "", ""},
		{"customer image", with(func(m *KFMessage) { m.MsgType = "image" }), "", ""},
		{"no msgid", with(func(m *KFMessage) { m.MsgID = "" }), "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := kfEvent(testCorp, tc.in)
			if ok != (tc.wantKind != "") {
				t.Fatalf("ok = %v, want %v", ok, tc.wantKind != "")
			}
			want := bot.Event{
				Platform: bot.WeCom, Account: KFAccount(testCorp, testKF), Kind: tc.wantKind, Sender: "wm1", Text: tc.wantText,
				MessageID: tc.in.MsgID, DedupeKey: "kf:" + tc.in.MsgID, Time: time.Unix(1700000000, 0),
			}
			if ok && !eventsEqual(got, want) {
				t.Fatalf("kfEvent = %+v, want %+v", got, want)
			}
		})
	}
}

// TestKFHandover: a hand-over moves the 微信客服 session to the scripts'
// servicer (人工接待), or to the pool for WeCom to assign; staff's end ends
// it; a message of a held session needs no call (WeCom passes it on).
func TestKFHandover(t *testing.T) {
	to := bot.Target{Platform: bot.WeCom, Account: KFAccount(testCorp, testKF), User: "wm-ho"}
	tests := []struct {
		name string
		h    bot.Handover
		want []kfTrans
	}{
		{"to a named servicer", bot.Handover{To: to, Step: bot.HandoverStart, Reason: "keyword", Agent: "zhangsan"},
			[]kfTrans{{OpenKfID: testKF, ExternalUserID: "wm-ho", ServiceState: KFStateHuman, ServicerUserID: "zhangsan"}}},
		{"to the pool", bot.Handover{To: to, Step: bot.HandoverStart, Reason: "intent"},
			[]kfTrans{{OpenKfID: testKF, ExternalUserID: "wm-ho", ServiceState: KFStatePool}}},
		{"staff end it", bot.Handover{To: to, Step: bot.HandoverEnd, Agent: "zhangsan"},
			[]kfTrans{{OpenKfID: testKF, ExternalUserID: "wm-ho", ServiceState: KFStateEnded}}},
		{"a message of the held session", bot.Handover{To: to, Step: bot.HandoverForward, Agent: "zhangsan"}, nil},
		{"an external contact: staff answer from siyu", bot.Handover{To: bot.Target{Platform: bot.WeCom, Account: testCorp, User: "wm-c"}, Step: bot.HandoverStart}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			b := newBackends(t)
			sender := NewSender(NewClient(testCorp, testSecret, testAgent, newTestTokens(b)), b.store, SenderConfig{})
			if err := sender.Send(t.Context(), tc.h); err != nil {
				t.Fatal(err)
			}
			api.mu.Lock()
			got := slices.Clone(api.kfTrans)
			api.mu.Unlock()
			if !slices.Equal(got, tc.want) {
				t.Errorf("service_state/trans calls = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestKF95018: WeCom refuses a reply with 95018 once a person holds the
// session. The reply is dead-lettered with that reason and not retried,
// and the hand-over is told, so the bot pauses there.
func TestKF95018(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	clk := bottest.NewClock(time.Now())
	var held []bot.Target
	sender := NewSender(NewClient(testCorp, testSecret, testAgent, newTestTokens(b)), b.store, SenderConfig{
		Now:         clk.Now,
		PersonHolds: func(_ context.Context, to bot.Target) { held = append(held, to) },
	})
	ob := bot.NewOutbox(sqlstore.NewOutbox(b.db), map[bot.Platform]bot.Sender{bot.WeCom: sender}, bot.OutboxConfig{Now: clk.Now, Backoff: time.Millisecond})
	to := bot.Target{Platform: bot.WeCom, Account: KFAccount(testCorp, testKF), User: "wm-95018"}
	if err := b.store.TouchKFSession(t.Context(), testCorp, testKF, "wm-95018", clk.Now()); err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	api.kfSendFailures = []int64{codeKFSessionHeld}
	api.mu.Unlock()
	if err := ob.Enqueue(t.Context(), "held", []bot.Action{bot.Reply{To: to, Text: "机器人的回答"}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := ob.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Minute)
	}
	api.mu.Lock()
	calls, sent := api.kfSendCalls, len(api.kfSent)
	api.mu.Unlock()
	if calls != 1 || sent != 0 {
		t.Fatalf("kf/send_msg called %d times (%d delivered), want once, not retried", calls, sent)
	}
	dead, err := sqlstore.NewOutbox(b.db).List(t.Context(), bot.OutboxDead, 10)
	if err != nil || len(dead) != 1 || !strings.Contains(dead[0].LastError, "95018") || !strings.Contains(dead[0].LastError, "a person holds") {
		t.Fatalf("dead rows = %+v, %v; want the reply recorded with 95018 as the reason", dead, err)
	}
	if len(held) != 1 || held[0] != to {
		t.Fatalf("hand-over told of %+v, want the customer once", held)
	}
	// The reply allowance was given back: a later reply may still go.
	if err := sender.Send(t.Context(), bot.Reply{To: to, Text: "之后"}); err != nil {
		t.Fatalf("a later reply: %v", err)
	}
}
