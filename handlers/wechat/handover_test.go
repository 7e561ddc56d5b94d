package wechat

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/siyu-bot/siyu/bot"
)

// handoverEngine hands over on 人工 (to agent, when set), and forwards
// every other message, as bot/handover does in a held conversation.
func handoverEngine(agent string) bot.Handler {
	return bot.HandlerFunc(func(_ context.Context, ev bot.Event) ([]bot.Action, error) {
		to := ev.ReplyTarget()
		if ev.Text == "人工" {
			return []bot.Action{
				bot.StaffAlert{To: to, Title: "客户请求人工", Text: ev.Text},
				bot.Reply{To: to, Text: "已为你转接人工客服"},
				bot.Handover{To: to, Step: bot.HandoverStart, Reason: "keyword", Agent: agent},
			}, nil
		}
		return []bot.Action{bot.Handover{To: to, Step: bot.HandoverForward, Reason: "keyword", Agent: agent}}, nil
	})
}

// recordingSender remembers what the outbox sends.
type recordingSender struct {
	mu   sync.Mutex
	sent []bot.Action
}

func (s *recordingSender) Send(_ context.Context, a bot.Action) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, a)
	return nil
}

// TestCallbackHandsOver: a hand-over is answered with the
// transfer_customer_service passive reply (naming the scripts' KfAccount
// when there is one), the customer's "please wait" goes as a
// customer-service message, and each message of the held conversation is
// passed on the same way.
func TestCallbackHandsOver(t *testing.T) {
	tests := []struct {
		name, agent, text string
		wantQueued        []string
	}{
		{"hand-over to a named 客服", "kf2001@gh_test", "人工", []string{"staff_alert", "reply:已为你转接人工客服"}},
		{"hand-over, WeChat chooses", "", "人工", []string{"staff_alert", "reply:已为你转接人工客服"}},
		{"a message of the held conversation", "kf2001@gh_test", "还在吗", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackends(t)
			rec := &recordingSender{}
			r := newReplica(t, b, handoverEngine(tc.agent), Config{AllowPlain: true}, map[bot.Platform]bot.Sender{bot.WeChat: rec, bot.Staff: rec})
			for _, plain := range []bool{false, true} {
				s := r.sim(plain)
				got, err := s.Post(t.Context(), s.TextXML("o-ho-1", tc.text, NewMsgID()))
				if err != nil {
					t.Fatal(err)
				}
				if got.MsgType != "transfer_customer_service" || got.KfAccount != tc.agent || got.ToUser != "o-ho-1" {
					t.Fatalf("plain=%v: reply %q to %q with KfAccount %q, want transfer_customer_service to o-ho-1 with %q (raw %q)",
						plain, got.MsgType, got.ToUser, got.KfAccount, tc.agent, got.Raw)
				}
				if plain && strings.Contains(got.Raw, "<TransInfo>") != (tc.agent != "") {
					t.Errorf("TransInfo present in %s, want it only with a named 客服", got.Raw)
				}
			}
			for {
				n, err := r.outbox.RunOnce(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			var queued []string
			for _, a := range rec.sent {
				switch a := a.(type) {
				case bot.Reply:
					queued = append(queued, "reply:"+a.Text)
				case bot.StaffAlert:
					queued = append(queued, "staff_alert")
				default:
					queued = append(queued, "other")
				}
			}
			// Two callbacks (safe and plain mode), the same actions each.
			want := append(slices.Clone(tc.wantQueued), tc.wantQueued...)
			slices.Sort(queued)
			slices.Sort(want)
			if !slices.Equal(queued, want) {
				t.Errorf("sent through the outbox %q, want %q", queued, want)
			}
		})
	}
}

// TestSenderHandover: what the Official Account can do with a hand-over
// that missed its passive reply, and with staff's end of one.
func TestSenderHandover(t *testing.T) {
	to := bot.Target{Platform: bot.WeChat, Account: testAppID, User: "o-ho-2"}
	tests := []struct {
		name         string
		h            bot.Handover
		failures     []int64
		wantSessions []string
		wantInvalid  bool
		wantInErr    string
	}{
		{"a late hand-over to a named 客服 opens a session", bot.Handover{To: to, Step: bot.HandoverStart, Agent: "kf1@gh_test"}, nil, []string{"create kf1@gh_test o-ho-2"}, false, ""},
		{"another 客服 holds the follower already", bot.Handover{To: to, Step: bot.HandoverStart, Agent: "kf1@gh_test"}, []int64{65414}, nil, false, ""},
		{"the 客服 is offline", bot.Handover{To: to, Step: bot.HandoverStart, Agent: "kf1@gh_test"}, []int64{65415}, nil, true, "65415"},
		{"a late hand-over without a 客服 cannot be passed on", bot.Handover{To: to, Step: bot.HandoverStart}, nil, nil, true, "passive reply"},
		{"a late message of a held conversation is lost to 客服", bot.Handover{To: to, Step: bot.HandoverForward}, nil, nil, true, "did not get it"},
		{"staff end: the session with the named 客服 closes", bot.Handover{To: to, Step: bot.HandoverEnd, Agent: "kf1@gh_test"}, nil, []string{"close kf1@gh_test o-ho-2"}, false, ""},
		{"staff end: already closed", bot.Handover{To: to, Step: bot.HandoverEnd, Agent: "kf1@gh_test"}, []int64{65413}, nil, false, ""},
		{"staff end without a named 客服: nothing to do", bot.Handover{To: to, Step: bot.HandoverEnd}, nil, nil, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			api.sessionFailures = tc.failures
			err := newTestSender(t, newBackends(t)).Send(t.Context(), tc.h)
			if (err != nil) != (tc.wantInErr != "") || errors.Is(err, bot.ErrInvalid) != tc.wantInvalid || (err != nil && !strings.Contains(err.Error(), tc.wantInErr)) {
				t.Fatalf("Send = %v, want an error about %q (invalid: %v)", err, tc.wantInErr, tc.wantInvalid)
			}
			if !slices.Equal(api.sessions, tc.wantSessions) {
				t.Errorf("session calls = %q, want %q", api.sessions, tc.wantSessions)
			}
		})
	}
}
