package wecom

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// TestLateFailureIsRetried (issue 18 item 2, WeCom): a callback answered
// once its ack budget ran out, whose processing then fails, is processed
// again until its actions reach the outbox: WeCom will not retry it.
func TestLateFailureIsRetried(t *testing.T) {
	b := newBackends(t)
	answered := make(chan struct{})
	var calls atomic.Int32
	engine := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		switch calls.Add(1) {
		case 1:
			<-answered // WeCom has its answer
			return nil, bot.ErrUnavailable
		case 2:
			return nil, bot.ErrUnavailable
		}
		return []bot.Action{bot.StaffAlert{To: ev.ReplyTarget(), Title: "入群", Text: "有新成员"}}, nil
	})
	r := newReplica(t, b, engine, replicaOpts{cfg: Config{AckBudget: time.Millisecond, RetryBackoff: time.Millisecond}})
	if code := r.post(t, chatXML(time.Now().Unix(), "wr-late", "update", "add_member", "wm-a")); code != http.StatusOK {
		t.Fatalf("status %d, want 200", code)
	}
	close(answered)
	r.wait()
	rows, err := sqlstore.NewOutbox(b.db).List(t.Context(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || calls.Load() != 3 {
		t.Fatalf("outbox holds %d rows after %d handlings, want the alert after 3", len(rows), calls.Load())
	}
}
