package wechat

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/handlers/internal/handlertest"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// TestEventDedupeKeysDiffer: events one person sends in one second that
// differ in anything WeChat tells apart get different dedupe keys, and a
// retry of the same event gets the same key.
func TestEventDedupeKeysDiffer(t *testing.T) {
	ev := func(event, key string) inbound {
		return inbound{FromUserName: "o1", CreateTime: 1700000000, MsgType: "event", Event: event, EventKey: key}
	}
	long := strings.Repeat("k", 128) // a menu key may be 128 bytes
	tests := []struct {
		name     string
		a, b     inbound
		wantSame bool
	}{
		{"two menu clicks", ev("CLICK", "MENU_A"), ev("CLICK", "MENU_B"), false},
		{"two channel scans", ev("SCAN", "store-01"), ev("SCAN", "store-02"), false},
		{"a follow and a channel follow", ev("subscribe", ""), ev("subscribe", "qrscene_store-01"), false},
		{"a follow and a scan", ev("subscribe", "qrscene_store-01"), ev("SCAN", "store-01"), false},
		{"long keys that differ at the end", ev("CLICK", long+"1"), ev("CLICK", long+"2"), false},
		{"a retry", ev("CLICK", "MENU_A"), ev("CLICK", "MENU_A"), true},
		{"a retry, event case differs", ev("CLICK", "MENU_A"), ev("click", "MENU_A"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, okA := toEvent("acct", tc.a)
			b, okB := toEvent("acct", tc.b)
			if !okA || !okB {
				t.Fatalf("toEvent ok = %v, %v, want both handled", okA, okB)
			}
			if same := a.DedupeKey == b.DedupeKey; same != tc.wantSame {
				t.Fatalf("keys %q and %q: same = %v, want %v", a.DedupeKey, b.DedupeKey, same, tc.wantSame)
			}
			for _, k := range []string{a.DedupeKey, b.DedupeKey} {
				// The key is also the outbox key; bot.Dedupe adds the
				// platform and the account in front of it.
				if n := len(k) + len("wechat:wx0123456789abcdef:"); n > sqlstore.MaxOutboxKeyLen {
					t.Errorf("key %q is %d characters with its prefix, want at most %d", k, n, sqlstore.MaxOutboxKeyLen)
				}
			}
		})
	}
}

// TestMenuClicksInOneSecond: two different menu clicks from one person in
// one second each get their own answer (before, the second got the first
// one's answer from the dedupe cache).
func TestMenuClicksInOneSecond(t *testing.T) {
	scripts := fstest.MapFS{"faq.yaml": {Data: []byte(`
rules:
  - name: hours
    match: {menu: [MENU_HOURS]}
    reply: "每天 9:00-21:00 营业"
  - name: contact
    match: {menu: [MENU_CONTACT]}
    reply: "客服电话 400-000-0000"
fallback: "没听懂"
`)}}
	r := newReplica(t, newBackends(t), handlertest.Engine(t, scripts), Config{}, nil)
	s := r.sim(false)
	now := time.Now().Unix()
	for _, tc := range []struct{ key, want string }{
		{"MENU_HOURS", "每天 9:00-21:00 营业"},
		{"MENU_CONTACT", "客服电话 400-000-0000"},
	} {
		got, err := s.Post(t.Context(), s.EventXML("o-clicker", "CLICK", tc.key, now))
		if err != nil {
			t.Fatal(err)
		}
		if got.Content != tc.want {
			t.Errorf("CLICK %s answered %q, want %q", tc.key, got.Content, tc.want)
		}
	}
}
