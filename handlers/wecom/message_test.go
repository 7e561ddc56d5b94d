package wecom

import (
	"slices"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers/internal/wxcrypt"
)

func eventsEqual(a, b bot.Event) bool {
	return a.Platform == b.Platform && a.Account == b.Account && a.Kind == b.Kind && a.Sender == b.Sender &&
		slices.Equal(a.Members, b.Members) && a.Text == b.Text && a.Channel == b.Channel && a.MessageID == b.MessageID &&
		a.DedupeKey == b.DedupeKey && a.WelcomeCode == b.WelcomeCode && a.Observe == b.Observe &&
		a.Time.Equal(b.Time) && a.Conversation == b.Conversation
}

// TestToEventPublishedSamples maps WeCom's own sample callbacks: the
// payloads in shared/platforms and the plaintexts of the published crypto
// vectors, decrypted here with their keys.
func TestToEventPublishedSamples(t *testing.T) {
	vectors := weComVectors(t)
	decrypted := func(id string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			v, ok := vectors[id]
			if !ok {
				t.Fatalf("vector %s missing from testdata/vectors.json", id)
			}
			c, err := wxcrypt.New(v.Token, v.EncodingAESKey, v.ReceiveID)
			if err != nil {
				t.Fatal(err)
			}
			plain, _, err := c.Decrypt(v.Encrypt)
			if err != nil {
				t.Fatal(err)
			}
			return plain
		}
	}
	file := func(name string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return sharedFile(t, name) }
	}
	const corp = "wwcorp"
	tests := []struct {
		name  string
		input func(t *testing.T) []byte
		want  bot.Event
	}{
		{"wecom-add-external-contact.xml", file("wecom-add-external-contact.xml"), bot.Event{
			Account: corp, Kind: bot.KindContactAdded, Sender: "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA",
			Channel: "teststate", WelcomeCode: "WELCOMECODE", Time: time.Unix(1403610513, 0),
			DedupeKey: "contact:add_external_contact:zhangsan:woAJ2GCAAAXtWyujaWJHDDGi0mAAAA:1403610513",
		}},
		{"wecom-change-external-chat-add-member.xml", file("wecom-change-external-chat-add-member.xml"), bot.Event{
			Account: corp, Kind: bot.KindMemberJoined, Conversation: bot.Conversation{Group: "CHAT_ID"},
			Members: []bot.UserID{"Jack", "Rose"}, Time: time.Unix(1403610513, 0),
			DedupeKey: "chat:CHAT_ID:1403610513:update:add_member:" + membersHash([]string{"Jack", "Rose"}),
		}},
		{"wecom-sample-xml-decrypt", decrypted("wecom-sample-xml-decrypt"), bot.Event{
			Account: AppAccount(corp, "218"), Kind: bot.KindMessage, Sender: "mycreate", Text: "hello",
			MessageID: "4561255354251345929", DedupeKey: "msg:4561255354251345929", Time: time.Unix(1409659813, 0),
		}},
		{"wecom-sample-python-xml-decrypt", decrypted("wecom-sample-python-xml-decrypt"), bot.Event{
			Account: AppAccount(corp, "1000002"), Kind: bot.KindMessage, Sender: "ChenJiaShun", Text: "你好",
			MessageID: "1456453720", DedupeKey: "msg:1456453720", Time: time.Unix(1476422779, 0),
		}},
		{"wecom-sample-go-json-decrypt", decrypted("wecom-sample-go-json-decrypt"), bot.Event{
			Account: AppAccount(corp, "218"), Kind: bot.KindMessage, Sender: "mycreate", Text: "hello",
			MessageID: "4561255354251345929", DedupeKey: "msg:4561255354251345929", Time: time.Unix(1409659813, 0),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseInbound(tc.input(t))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := toEvent(corp, "999", m)
			if !ok {
				t.Fatal("toEvent reported the sample as not an event")
			}
			tc.want.Platform = bot.WeCom
			if !eventsEqual(got, tc.want) {
				t.Fatalf("toEvent = %+v, want %+v", got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("event does not validate: %v", err)
			}
		})
	}
}

// TestParseInboundMalformedSample: Tencent's Python JSON sample decrypts
// to text that is not JSON (a typo in the sample); it must be refused,
// not half-read.
func TestParseInboundMalformedSample(t *testing.T) {
	v, ok := weComVectors(t)["wecom-sample-python-json-decrypt"]
	if !ok {
		t.Fatal("vector missing from testdata/vectors.json")
	}
	c, err := wxcrypt.New(v.Token, v.EncodingAESKey, v.ReceiveID)
	if err != nil {
		t.Fatal(err)
	}
	plain, _, err := c.Decrypt(v.Encrypt)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := parseInbound(plain); err == nil {
		t.Fatalf("parseInbound = %+v, nil; want an error", m)
	}
}

func TestToEvent(t *testing.T) {
	ev := func(event, change string) inbound {
		return inbound{MsgType: "event", Event: event, ChangeType: change, CreateTime: 1700000000, UserID: "zhangsan", ExternalUserID: "wm1", ChatID: "wr1"}
	}
	withDetail := func(m inbound, detail string, members ...string) inbound {
		m.UpdateDetail, m.MemChangeList = detail, members
		return m
	}
	tests := []struct {
		name        string
		in          inbound
		wantOK      bool
		wantKind    bot.EventKind
		wantSender  bot.UserID
		wantGroup   bot.GroupID
		wantMembers []bot.UserID
	}{
		{"half contact (no verification) is an addition", ev(eventContact, "add_half_external_contact"), true, bot.KindContactAdded, "wm1", "", nil},
		{"contact deleted by the member", ev(eventContact, "del_external_contact"), true, bot.KindContactRemoved, "wm1", "", nil},
		{"member deleted by the contact", ev(eventContact, "del_follow_user"), true, bot.KindContactRemoved, "wm1", "", nil},
		{"contact edited is dropped", ev(eventContact, "edit_external_contact"), false, "", "", "", nil},
		{"members left", withDetail(ev(eventChat, "update"), "del_member", "wm1"), true, bot.KindMemberLeft, "", "wr1", []bot.UserID{"wm1"}},
		{"group renamed is recorded only", withDetail(ev(eventChat, "update"), "change_name"), false, "", "", "", nil},
		{"group created is recorded only", ev(eventChat, "create"), false, "", "", "", nil},
		{"group dismissed is recorded only", ev(eventChat, "dismiss"), false, "", "", "", nil},
		{"微信客服 notification is pulled, not an event", ev(eventKF, ""), false, "", "", "", nil},
		{"image from staff is dropped", inbound{MsgType: "image", FromUserName: "zhangsan"}, false, "", "", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := toEvent("ww1", "1", tc.in)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if got.Kind != tc.wantKind || got.Sender != tc.wantSender || got.Conversation.Group != tc.wantGroup || !slices.Equal(got.Members, tc.wantMembers) {
				t.Fatalf("event = %+v, want kind %s sender %q group %q members %v", got, tc.wantKind, tc.wantSender, tc.wantGroup, tc.wantMembers)
			}
			if got.DedupeKey == "" {
				t.Fatal("no dedupe key")
			}
		})
	}
	// Two changes of one group in the same second stay apart.
	a, _ := toEvent("ww1", "1", withDetail(ev(eventChat, "update"), "add_member", "wm1"))
	b, _ := toEvent("ww1", "1", withDetail(ev(eventChat, "update"), "add_member", "wm2"))
	if a.DedupeKey == b.DedupeKey {
		t.Fatalf("dedupe keys of different joins are equal: %q", a.DedupeKey)
	}
}

func TestMemberListJSON(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"list", `{"MemChangeList":["Jack","Rose"]}`, []string{"Jack", "Rose"}},
		{"object with a list", `{"MemChangeList":{"Item":["Jack","Rose"]}}`, []string{"Jack", "Rose"}},
		{"object with one item", `{"MemChangeList":{"Item":"Jack"}}`, []string{"Jack"}},
		{"null", `{"MemChangeList":null}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m inbound
			if err := decode([]byte(tc.body), &m); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal([]string(m.MemChangeList), tc.want) {
				t.Fatalf("members = %q, want %q", m.MemChangeList, tc.want)
			}
		})
	}
}

func TestParseAccount(t *testing.T) {
	tests := []struct {
		account                  bot.AccountID
		wantCorp, wantKind, want string
		wantOK                   bool
	}{
		{"ww1", "ww1", "", "", true},
		{KFAccount("ww1", "wkAB-_1"), "ww1", "kf", "wkAB-_1", true},
		{AppAccount("ww1", "1000002"), "ww1", "app", "1000002", true},
		{"ww1/other/x", "", "", "", false},
		{"ww1/kf/", "", "", "", false},
		{"", "", "", "", false},
	}
	for _, tc := range tests {
		t.Run(string(tc.account), func(t *testing.T) {
			corp, kind, id, ok := ParseAccount(tc.account)
			if corp != tc.wantCorp || kind != tc.wantKind || id != tc.want || ok != tc.wantOK {
				t.Fatalf("ParseAccount = %q %q %q %v, want %q %q %q %v", corp, kind, id, ok, tc.wantCorp, tc.wantKind, tc.want, tc.wantOK)
			}
		})
	}
}

func TestOutboxKeyFitsTheTable(t *testing.T) {
	long := bot.Event{DedupeKey: "contact:add_external_contact:" + string(make([]byte, 300))}
	if k := outboxKey(long); len(k) > maxOutboxKey {
		t.Fatalf("len(outboxKey) = %d, want <= %d", len(k), maxOutboxKey)
	}
	if k := outboxKey(bot.Event{}); k != "" {
		t.Fatalf("outboxKey(no dedupe key) = %q, want empty (a random key)", k)
	}
}
