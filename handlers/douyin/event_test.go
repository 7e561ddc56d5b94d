package douyin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/window"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/internal/handlertest"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// sharedSample reads a published payload kept in testdata.
func sharedSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("published sample: %v", err) // never skip: see testdata/README.md
	}
	return b
}

// withContent re-encodes a webhook with its content as an object (asString
// false) or as a JSON-encoded string (true), the two forms Douyin uses.
func withContent(t *testing.T, body []byte, asString bool) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	c := m["content"]
	if s, ok := c.(string); ok {
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			t.Fatal(err)
		}
	}
	if asString {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c = string(b)
	}
	m["content"] = c
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testNow is the clock of mapping tests.
func testNow() time.Time { return time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC) }

func mapBody(t *testing.T, body []byte) (inbound, bool, error) {
	t.Helper()
	env, c, err := parseWebhook(body)
	if err != nil {
		return inbound{}, false, err
	}
	return toEvent(env, c, mapOptions{clientKey: testClientKey, now: testNow()})
}

// TestPublishedSamples maps every Douyin sample in the shared material,
// each with its content as an object and as a JSON string.
func TestPublishedSamples(t *testing.T) {
	const (
		receiveConv = "@c29bfc000+MNggFhRkwGuX1ntuc0QfA0VnmRejrzWUBwDdDYrU9MpJSYEVV6/2hKU0il5iay8J99+0t5j3zrbA=="
		recallMsgID = "3292f6c3e9fba93e0255fdf12558b0224ca64cbf8d489070857c99***"
	)
	tests := []struct {
		file     string
		want     bot.Event
		wantConv string
		effect   effect
		answer   bool
	}{
		{
			file: "douyin-im-receive-msg.reconstructed.json",
			want: bot.Event{Kind: bot.KindMessage, Account: "aaa-7ae0-4399-914a-5eb1df5861ba", Sender: "ac6479a5-d7a6-4018-84be-c29bfc00000",
				Text: "TEXT_CONTENT", MessageID: "SERVER_MESSAGE_ID", DedupeKey: "im_receive_msg:SERVER_MESSAGE_ID", Time: time.UnixMilli(1700000000000)},
			wantConv: receiveConv, effect: effectMessage, answer: true,
		},
		{
			file: "douyin-im-enter-direct-msg.reconstructed.json",
			want: bot.Event{Kind: bot.KindSessionOpened, Account: "aaa-81ec-424c-b738-8693eeaf53ea", Sender: "aaa-8a0b-4c0f-b04f-feba0e909113",
				MessageID: "SERVER_MESSAGE_ID", DedupeKey: "im_enter_direct_msg:SERVER_MESSAGE_ID", Time: time.UnixMilli(1700000000000)},
			wantConv: "CONVERSATION_SHORT_ID", effect: effectEnter, answer: true,
		},
		{
			// The recall's own top-level msg_id.
			file: "douyin-im-recall-msg.json",
			want: bot.Event{Kind: bot.KindRecall, Account: "971d8bed-40b6-417e-a88a-***", Sender: "236ed9d9-2cb3-4d2f-a834-***",
				MessageID: "@9VwNxuKKBZ03MXG7M8ooWM791mzu***", DedupeKey: "mid:" + recallMsgID, Time: testNow()},
			effect: effectRecall, answer: true,
		},
	}
	for _, tc := range tests {
		for _, asString := range []bool{false, true} {
			name := tc.file + "/content-object"
			if asString {
				name = tc.file + "/content-string"
			}
			t.Run(name, func(t *testing.T) {
				got, ok, err := mapBody(t, withContent(t, sharedSample(t, tc.file), asString))
				if err != nil || !ok {
					t.Fatalf("toEvent = ok %v, err %v; want a handled event", ok, err)
				}
				tc.want.Platform = bot.Douyin
				if !eventsEqual(got.ev, tc.want) {
					t.Fatalf("event = %+v\nwant    %+v", got.ev, tc.want)
				}
				if got.conversation != tc.wantConv || got.effect != tc.effect || got.answer != tc.answer {
					t.Fatalf("conversation %q effect %d answer %v, want %q %d %v", got.conversation, got.effect, got.answer, tc.wantConv, tc.effect, tc.answer)
				}
				if err := got.ev.Validate(); err != nil {
					t.Fatalf("Validate: %v", err)
				}
			})
		}
	}
}

func eventsEqual(a, b bot.Event) bool {
	return a.Platform == b.Platform && a.Account == b.Account && a.Kind == b.Kind && a.Sender == b.Sender &&
		a.Text == b.Text && a.MessageID == b.MessageID && a.DedupeKey == b.DedupeKey &&
		a.Time.Equal(b.Time) && a.Conversation == b.Conversation && slices.Equal(a.Members, b.Members)
}

// TestToEvent covers what the samples do not: other message types, the
// reconstructed group events, own sends and malformed payloads.
func TestToEvent(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantOK     bool
		wantErr    bool
		wantKind   bot.EventKind
		wantText   string
		wantGroup  bot.GroupID
		wantMember []bot.UserID
		wantAnswer bool
		wantTime   time.Time
	}{
		{name: "image opens the window but is not answered",
			body:   `{"event":"im_receive_msg","from_user_id":"u1","to_user_id":"acct","content":{"conversation_short_id":"c1","server_message_id":"m1","message_type":"image","create_time":1700000000000}}`,
			wantOK: true, wantKind: bot.KindMessage, wantAnswer: false, wantTime: time.UnixMilli(1700000000000)},
		{name: "text as an object",
			body:   `{"event":"im_receive_msg","from_user_id":"u1","to_user_id":"acct","content":{"server_message_id":"m1","message_type":"text","text":{"text":"营业时间"}}}`,
			wantOK: true, wantKind: bot.KindMessage, wantText: "营业时间", wantAnswer: true, wantTime: testNow()},
		{name: "create_time in seconds",
			body:   `{"event":"im_receive_msg","from_user_id":"u1","to_user_id":"acct","content":"{\"server_message_id\":\"m1\",\"message_type\":\"text\",\"text\":\"hi\",\"create_time\":\"1700000000\"}"}`,
			wantOK: true, wantKind: bot.KindMessage, wantText: "hi", wantAnswer: true, wantTime: time.Unix(1700000000, 0)},
		{name: "own send is ignored",
			body:   `{"event":"im_send_msg","from_user_id":"acct","to_user_id":"u1","content":{"server_message_id":"m2","message_type":"text","text":"reply"}}`,
			wantOK: false},
		{name: "authorization notice is ignored",
			body:   `{"event":"authorize","from_user_id":"u1","content":{"scopes":["im.direct_message"]}}`,
			wantOK: false},
		{name: "join application is ignored",
			body:   `{"event":"enter_group_audit_change","from_user_id":"u1","to_user_id":"acct","content":{"group_id":"g1"}}`,
			wantOK: false},
		{name: "group message (reconstructed)",
			body:   `{"event":"im_group_receive_msg","from_user_id":"u1","to_user_id":"acct","content":"{\"conversation_short_id\":\"g-conv\",\"server_message_id\":\"gm1\",\"conversation_type\":2,\"owner_id\":\"acct\",\"message_type\":\"text\",\"text\":\"营业时间\"}"}`,
			wantOK: true, wantKind: bot.KindMessage, wantText: "营业时间", wantGroup: "g-conv", wantAnswer: true, wantTime: testNow()},
		{name: "group message with group_id wins over the conversation id",
			body:   `{"event":"im_group_receive_msg","from_user_id":"u1","to_user_id":"acct","content":{"group_id":7301,"conversation_short_id":"g-conv","server_message_id":"gm1","text":"hi"}}`,
			wantOK: true, wantKind: bot.KindMessage, wantText: "hi", wantGroup: "7301", wantAnswer: true, wantTime: testNow()},
		{name: "group message siyu sent is ignored",
			body:   `{"event":"im_group_receive_msg","from_user_id":"u1","to_user_id":"acct","content":{"group_id":"g1","server_message_id":"gm2","text":"hi","source":"` + testClientKey + `"}}`,
			wantOK: false},
		{name: "group message from the account itself is ignored",
			body:   `{"event":"im_group_receive_msg","from_user_id":"acct","to_user_id":"acct","content":{"group_id":"g1","server_message_id":"gm3","text":"hi"}}`,
			wantOK: false},
		{name: "group image is ignored",
			body:   `{"event":"im_group_receive_msg","from_user_id":"u1","to_user_id":"acct","content":{"group_id":"g1","server_message_id":"gm4","message_type":"image"}}`,
			wantOK: false},
		{name: "group join (reconstructed, SDK field names)",
			body:   `{"event":"group_fans_event","from_user_id":"u9","to_user_id":"acct","content":"{\"im_group_id\":\"g1\",\"open_id\":\"owner\",\"group_type\":\"1\",\"create_time\":1700000000000}"}`,
			wantOK: true, wantKind: bot.KindMemberJoined, wantGroup: "g1", wantMember: []bot.UserID{"u9"}, wantAnswer: true, wantTime: time.UnixMilli(1700000000000)},
		{name: "group join listing users",
			body:   `{"event":"group_fans_event","from_user_id":"u1","content":{"group_id":"g1","owner_id":"acct","create_time":1700000000000,"user_infos":[{"open_id":"u1"},{"open_id":"u2"},{"open_id":"acct"}]}}`,
			wantOK: true, wantKind: bot.KindMemberJoined, wantGroup: "g1", wantMember: []bot.UserID{"u1", "u2"}, wantAnswer: true, wantTime: time.UnixMilli(1700000000000)},
		{name: "group join without a group", body: `{"event":"group_fans_event","from_user_id":"u1","content":{}}`, wantErr: true},
		{name: "group join without members", body: `{"event":"group_fans_event","content":{"group_id":"g1"}}`, wantErr: true},
		{name: "message without a server id", body: `{"event":"im_receive_msg","from_user_id":"u1","content":{"text":"hi"}}`, wantErr: true},
		{name: "message without a sender", body: `{"event":"im_receive_msg","content":{"server_message_id":"m1","text":"hi"}}`, wantErr: true},
		{name: "recall without a server id", body: `{"event":"im_recall_msg","from_user_id":"u1","content":"{}"}`, wantErr: true},
		{name: "content is a number", body: `{"event":"im_receive_msg","from_user_id":"u1","content":42}`, wantErr: true},
		{name: "content string is not an object", body: `{"event":"im_receive_msg","from_user_id":"u1","content":"[1,2]"}`, wantErr: true},
		{name: "content string is not JSON", body: `{"event":"im_receive_msg","from_user_id":"u1","content":"{oops"}`, wantErr: true},
		{name: "no event", body: `{"content":{}}`, wantErr: true},
		{name: "not JSON", body: `<xml/>`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := mapBody(t, []byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			ev := got.ev
			if ev.Kind != tc.wantKind || ev.Text != tc.wantText || ev.Conversation.Group != tc.wantGroup ||
				!slices.Equal(ev.Members, tc.wantMember) || got.answer != tc.wantAnswer || !ev.Time.Equal(tc.wantTime) {
				t.Fatalf("got %+v answer %v, want kind %s text %q group %q members %v answer %v time %v",
					ev, got.answer, tc.wantKind, tc.wantText, tc.wantGroup, tc.wantMember, tc.wantAnswer, tc.wantTime)
			}
			if ev.DedupeKey == "" {
				t.Fatal("no dedupe key")
			}
			if err := ev.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// TestVerifyWebhookSample posts the published verify_webhook body, signed
// with the project's own secret, and compares the answer with the
// published response.
func TestVerifyWebhookSample(t *testing.T) {
	body := sharedSample(t, "douyin-verify-webhook.json")
	want := sharedSample(t, "douyin-verify-webhook-response.json")
	var calls atomic.Int32
	h, err := New(Config{ClientKey: testClientKey, ClientSecret: testSecret}, handlertest.Counting(&calls, testEngine(t)), &flakyOutbox{},
		redisstore.NewDouyinState(storetest.Redis(t), window.DefaultLimits()), bottest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	e := handlers.NewEcho(bottest.Logger(t))
	h.Register(e.Group(""))
	tests := []struct {
		name       string
		body       []byte
		sign       bool
		wantStatus int
		wantBody   []byte
	}{
		{"published sample", body, true, http.StatusOK, want},
		{"content as a JSON string", withContent(t, body, true), true, http.StatusOK, want},
		{"unsigned", body, false, http.StatusUnauthorized, nil},
		{"no challenge", []byte(`{"event":"verify_webhook","content":{}}`), true, http.StatusBadRequest, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, WebhookPath, strings.NewReader(string(tc.body)))
			if tc.sign {
				req.Header.Set(SignatureHeader, Sign(testSecret, tc.body))
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantBody != nil && !jsonEqual(t, rec.Body.Bytes(), tc.wantBody) {
				t.Fatalf("body = %s, want %s", rec.Body, tc.wantBody)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); tc.wantStatus == http.StatusOK && got != "nosniff" {
				t.Fatalf("X-Content-Type-Options = %q on the echoed challenge, want nosniff", got)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("URL verification reached the engine %d times, want 0", n)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}
