package wecom

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// TestLateCopyDue: a late message callback's stored copy comes due once
// the first processing's dedupe lease (6 s by default) would have run out
// had the replica died, not after ProcessTimeout + 30 s (90 s): Dedupe
// tells a finished, a still running and a dead processing apart. A group
// change (no dedupe claim guards it) keeps the long delay.
func TestLateCopyDue(t *testing.T) {
	const dedupeLease = 6 * time.Second // bot.DedupeConfig's default
	msg := func(now time.Time) string {
		return fmt.Sprintf(`<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>7300000000000000002</MsgId><AgentID>%s</AgentID></xml>`,
			testCorp, now.Unix(), testAgent)
	}
	tests := []struct {
		name     string
		body     func(now time.Time) string
		min, max time.Duration
	}{
		{"message", msg, dedupeLease, 15 * time.Second},
		{"group change", func(now time.Time) string {
			return chatXML(now.Unix(), "wr-due", "update", "add_member", "wm-a")
		}, 90 * time.Second, 90 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackends(t)
			release := make(chan struct{})
			clk := bottest.NewClock(time.Now().Truncate(time.Second))
			r := newReplica(t, b, bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
				<-release // still processing when the ack budget runs out
				return nil, nil
			}), replicaOpts{cfg: Config{AckBudget: time.Millisecond, Now: clk.Now}})
			t.Cleanup(func() { close(release) }) // before the replica's own cleanups
			if code := r.post(t, tc.body(clk.Now())); code != http.StatusOK {
				t.Fatalf("status %d, want 200", code)
			}
			all, err := sqlstore.NewOutbox(b.db).List(t.Context(), "", 10)
			if err != nil {
				t.Fatal(err)
			}
			var due []time.Duration
			for _, row := range all {
				if strings.HasPrefix(row.Key, "batch:wecom-late:") {
					due = append(due, row.NextAt.Sub(clk.Now()))
				}
			}
			if len(due) != 1 {
				t.Fatalf("stored late copies = %d, want 1", len(due))
			}
			if got := due[0]; got < tc.min || got > tc.max || (tc.min < tc.max && got == tc.min) {
				t.Errorf("stored copy due %v after the answer, want in (%v, %v]", got, tc.min, tc.max)
			}
		})
	}
}
