package bot_test

import (
	"reflect"
	"strconv"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

var engineScripts = fstest.MapFS{"s.yaml": {Data: []byte(`
welcome:
  follow: 欢迎关注
  contact: 你好，我是店长助理
  group: 欢迎新朋友入群
channels:
  - state: store-01
    name: 一号店
    welcome: 欢迎来到一号店
rules:
  - name: hours
    match: {contains: [营业时间]}
    reply: 每天 9:00-21:00
  - name: menu
    match: {menu: [MENU_CONTACT]}
    reply: 客服电话 400
fallback: 没听懂
`)}}

func newTestEngine(t *testing.T) *bot.Engine {
	t.Helper()
	lib, err := bot.NewLibrary(engineScripts, bottest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return bot.NewEngine(bot.EngineConfig{Scripts: lib, Pick: func(int) int { return 0 }, GroupWelcomeWindow: time.Minute})
}

func TestEngine(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 30, 0, time.UTC)
	user := bot.Target{Platform: bot.WeChat, Account: "acct", User: "u1"}
	group := bot.Conversation{Group: "g1"}
	tests := []struct {
		name string
		ev   bot.Event
		want []bot.Action
	}{
		{"keyword", bot.Event{Kind: bot.KindMessage, Text: "营业时间？"}, []bot.Action{bot.Reply{To: user, Text: "每天 9:00-21:00"}}},
		{"fallback 1:1", bot.Event{Kind: bot.KindMessage, Text: "啊？"}, []bot.Action{bot.Reply{To: user, Text: "没听懂"}}},
		{"a reply names the message it answers", bot.Event{Kind: bot.KindMessage, Text: "营业时间？", MessageID: "m1"},
			[]bot.Action{bot.Reply{To: user, Text: "每天 9:00-21:00", InReplyTo: "m1"}}},
		{"so does the fallback", bot.Event{Kind: bot.KindMessage, Text: "啊？", MessageID: "m2"},
			[]bot.Action{bot.Reply{To: user, Text: "没听懂", InReplyTo: "m2"}}},
		{"no fallback in a group", bot.Event{Kind: bot.KindMessage, Text: "啊？", Conversation: group}, nil},
		{"keyword in a group", bot.Event{Kind: bot.KindMessage, Text: "营业时间", Conversation: group},
			[]bot.Action{bot.Reply{To: bot.Target{Platform: bot.WeChat, Account: "acct", User: "u1", Conversation: group}, Text: "每天 9:00-21:00"}}},
		{"observed message is not answered", bot.Event{Kind: bot.KindMessage, Text: "营业时间", Observe: true}, nil},
		{"menu click", bot.Event{Kind: bot.KindMenuClick, Key: "MENU_CONTACT"}, []bot.Action{bot.Reply{To: user, Text: "客服电话 400"}}},
		{"menu click with a message id", bot.Event{Kind: bot.KindMenuClick, Key: "MENU_CONTACT", MessageID: "m3"},
			[]bot.Action{bot.Reply{To: user, Text: "客服电话 400", InReplyTo: "m3"}}},
		{"follow", bot.Event{Kind: bot.KindFollow}, []bot.Action{bot.Welcome{To: user, Text: "欢迎关注"}}},
		{"follow through a channel", bot.Event{Kind: bot.KindFollow, Channel: "store-01"}, []bot.Action{bot.Welcome{To: user, Text: "欢迎来到一号店", Channel: "store-01"}}},
		{"follow through an unknown scene", bot.Event{Kind: bot.KindFollow, Channel: "123"}, []bot.Action{bot.Welcome{To: user, Text: "欢迎关注", Channel: "123"}}},
		{"contact through a channel keeps its code", bot.Event{Kind: bot.KindContactAdded, Channel: "store-01", WelcomeCode: "WC"},
			[]bot.Action{bot.Welcome{To: user, Text: "欢迎来到一号店", Channel: "store-01", WelcomeCode: "WC"}}},
		{"contact without a channel", bot.Event{Kind: bot.KindContactAdded, WelcomeCode: "WC"}, []bot.Action{bot.Welcome{To: user, Text: "你好，我是店长助理", WelcomeCode: "WC"}}},
		{"unfollow", bot.Event{Kind: bot.KindUnfollow}, nil},
		{"members joined: one batched welcome per group and window", bot.Event{Kind: bot.KindMemberJoined, Conversation: group, Members: []bot.UserID{"a", "b"}},
			[]bot.Action{bot.Batched{
				Action: bot.Reply{To: bot.Target{Platform: bot.WeChat, Account: "acct", Conversation: group}, Text: "欢迎新朋友入群"},
				Key:    "welcome:wechat:acct:g1:" + strconv.FormatInt(time.Date(2026, 11, 23, 10, 1, 0, 0, time.UTC).Unix(), 10),
				SendAt: time.Date(2026, 11, 23, 10, 1, 0, 0, time.UTC),
			}}},
	}
	e := newTestEngine(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.ev
			ev.Platform, ev.Account, ev.Sender, ev.Time = bot.WeChat, "acct", "u1", at
			got, err := e.HandleEvent(t.Context(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("actions = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestActionsRoundTrip(t *testing.T) {
	to := bot.Target{Platform: bot.WeCom, Account: "corp", User: "wm1", Conversation: bot.Conversation{Group: "g"}}
	actions := []bot.Action{
		bot.Reply{To: to, Text: "你好"},
		bot.Reply{To: to, Text: "收到", InReplyTo: "@srv-1"},
		bot.News{To: to, Articles: []bot.Article{{Title: "t", URL: "https://example.com"}}},
		bot.Welcome{To: to, Text: "欢迎", Channel: "c", WelcomeCode: "wc"},
		bot.StaffAlert{To: to, Title: "风险", Text: "辱骂"},
		bot.Batched{Action: bot.Reply{To: to, Text: "群欢迎"}, Key: "k", SendAt: time.Unix(1700000000, 0).UTC()},
		bot.Push{Action: bot.Reply{To: to, Text: "券"}, Topic: "coupon"},
		bot.Render{To: to, Renderer: "checkin_digest", Key: "scope|day"},
		bot.Batched{Action: bot.Push{Action: bot.Render{To: to, Renderer: "checkin_digest", Key: "d"}, Topic: "checkin_digest"}, Key: "k2", SendAt: time.Unix(1700000060, 0).UTC()},
		bot.Handover{To: to, Step: bot.HandoverStart, Reason: "keyword", Agent: "kf1@gh_x"},
	}
	b, err := bot.MarshalActions(actions)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bot.UnmarshalActions(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, actions) {
		t.Fatalf("round trip = %#v, want %#v", got, actions)
	}
	if _, err := bot.UnmarshalActions([]byte(`[{"type":"teleport","data":{}}]`)); err == nil {
		t.Fatal("unknown action type decoded without error")
	}
}

// TestEngineLeavesWeComGroupWelcomesToWeCom: WeCom greets new customer-
// group members itself, from templates synced with welcome.group.
func TestEngineLeavesWeComGroupWelcomesToWeCom(t *testing.T) {
	e := newTestEngine(t)
	for _, p := range []bot.Platform{bot.WeCom, bot.Douyin} {
		got, err := e.HandleEvent(t.Context(), bot.Event{Platform: p, Account: "a", Kind: bot.KindMemberJoined,
			Conversation: bot.Conversation{Group: "g"}, Members: []bot.UserID{"m"}, Time: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if want := p != bot.WeCom; (len(got) == 1) != want {
			t.Errorf("%s: actions = %#v, want a welcome: %v", p, got, want)
		}
	}
}
