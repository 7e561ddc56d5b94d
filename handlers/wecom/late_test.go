package wecom

import (
	"context"
	"fmt"
	"net/http"
	"strings"
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
	all, err := sqlstore.NewOutbox(b.db).List(t.Context(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var rows []bot.OutboxItem
	for _, r := range all {
		if !strings.HasPrefix(r.Key, "batch:wecom-late:") { // the stored copy, for a replica's death
			rows = append(rows, r)
		}
	}
	if len(rows) != 1 || calls.Load() != 3 {
		t.Fatalf("outbox holds %d rows after %d handlings, want the alert after 3", len(rows), calls.Load())
	}
}

// TestLateCallbackSurvivesReplicaDeath (issue 18 item 2, WeCom; the gap
// cmd/chaos's WeCom load pointed at): replica A answers a staff message
// once its ack budget runs out and never finishes processing it (it dies;
// here its processing never succeeds within its ProcessTimeout). WeCom
// will not retry, but the callback stored before that answer is
// processed by replica B's outbox, and the reply goes out once.
func TestLateCallbackSurvivesReplicaDeath(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	stuck := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		<-ctx.Done() // never done in time
		return nil, fmt.Errorf("stuck: %w", bot.ErrUnavailable)
	})
	a := newReplica(t, b, stuck, replicaOpts{cfg: Config{AckBudget: time.Millisecond, ProcessTimeout: 50 * time.Millisecond, RetryBackoff: time.Millisecond}})
	var calls atomic.Int32
	replicaB := newReplica(t, b, bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		calls.Add(1)
		return []bot.Action{bot.Reply{To: ev.ReplyTarget(), Text: "收到"}}, nil
	}), replicaOpts{})
	msg := fmt.Sprintf(`<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>7300000000000000001</MsgId><AgentID>%s</AgentID></xml>`,
		testCorp, time.Now().Unix(), testAgent)
	if code := a.post(t, msg); code != http.StatusOK {
		t.Fatalf("status %d, want 200", code)
	}
	a.wait() // A gave up: its in-process retries ran out
	replicaB.drain(t)
	got := api.gotAppSent()
	if len(got) != 1 || got[0].ToUser != "zhangsan" || got[0].Text != "收到" {
		t.Fatalf("app messages sent = %+v, want the reply to zhangsan once", got)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("replica B processed the callback %d times, want 1", n)
	}
	replicaB.drain(t) // nothing more comes due
	if got := api.gotAppSent(); len(got) != 1 {
		t.Fatalf("app messages sent = %+v after a second drain, want 1", got)
	}
}
