package douyin

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/handlers/internal/body"
	"github.com/siyu-bot/siyu/handlers/internal/handlertest"
)

// TestReplayWithNewMsgIDs: one signed body resent with new Msg-Id headers
// (which the signature does not cover) is handled, and answered, once.
func TestReplayWithNewMsgIDs(t *testing.T) {
	api := newFakeAPI(t)
	clk := newClock()
	var calls atomic.Int32
	r := newReplica(t, newBackends(t), handlertest.Counting(&calls, testEngine(t)), api, clk)
	signed := textMessage(t, "u-replay", "@srv-replay", "营业时间", clk.Now())
	for _, msgID := range []string{"msgid-a", "msgid-b", "msgid-c", ""} {
		r.mustPost(t, signed, msgID)
	}
	r.deliver(t)
	if n := calls.Load(); n != 1 {
		t.Errorf("engine ran %d times for one signed body, want 1", n)
	}
	if got := api.messages(); len(got) != 1 {
		t.Errorf("API received %d messages, want 1: %+v", len(got), got)
	}
}

// TestReplayWindow: a body whose own create_time is outside the replay
// window (an hour by default) is refused before the engine; events that
// carry no time (im_recall_msg) cannot be checked and are accepted.
func TestReplayWindow(t *testing.T) {
	api := newFakeAPI(t)
	clk := newClock()
	var calls atomic.Int32
	r := newReplica(t, newBackends(t), handlertest.Counting(&calls, testEngine(t)), api, clk)
	now := clk.Now()
	tests := []struct {
		name       string
		body       []byte
		wantStatus int
		wantCalls  int32
	}{
		{"now", textMessage(t, "u-w1", "@srv-w1", "营业时间", now), http.StatusOK, 1},
		{"50 minutes old", textMessage(t, "u-w2", "@srv-w2", "营业时间", now.Add(-50*time.Minute)), http.StatusOK, 1},
		{"two hours old", textMessage(t, "u-w3", "@srv-w3", "营业时间", now.Add(-2*time.Hour)), http.StatusUnauthorized, 0},
		{"two hours ahead", textMessage(t, "u-w4", "@srv-w4", "营业时间", now.Add(2*time.Hour)), http.StatusUnauthorized, 0},
		{"a day-old group message", groupMessage(t, "grp-w", "u-w5", "@srv-w5", "营业时间", now.Add(-24*time.Hour)), http.StatusUnauthorized, 0},
		{"a recall has no time", recall(t, "u-w6", "@srv-w6"), http.StatusOK, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := calls.Load()
			if got := r.post(t, tc.body, ""); got != tc.wantStatus {
				t.Fatalf("status = %d, want %d", got, tc.wantStatus)
			}
			if got := calls.Load() - before; got != tc.wantCalls {
				t.Fatalf("engine ran %d times, want %d", got, tc.wantCalls)
			}
		})
	}
}

// TestOversizeWebhook: a body over body.Limit gets 413 before its
// signature is even checked.
func TestOversizeWebhook(t *testing.T) {
	clk := newClock()
	r := newReplica(t, newBackends(t), testEngine(t), newFakeAPI(t), clk)
	big := append(textMessage(t, "u-big", "@srv-big", "营业时间", clk.Now()), bytes.Repeat([]byte(" "), body.Limit)...)
	if got := r.post(t, big, ""); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413", got)
	}
}
