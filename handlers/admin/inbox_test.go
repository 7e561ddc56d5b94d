package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/handover"
	"github.com/siyu-bot/siyu/handlers"
)

// fakeInbox is the hand-over as staff ask it, in memory: replies are
// recorded (or refused with replyErr), ends remove the conversation.
type fakeInbox struct {
	mu       sync.Mutex
	convs    []handover.Conversation
	msgs     map[string][]handover.Message
	ended    map[string]bool
	sent     []string // "id staff: text"
	replyErr error
	now      func() time.Time
}

func newFakeInbox(now time.Time) *fakeInbox {
	f := &fakeInbox{msgs: map[string][]handover.Message{}, ended: map[string]bool{}, now: func() time.Time { return now }}
	add := func(id string, p bot.Platform, user, reason string, since, waiting time.Duration, texts ...string) {
		c := handover.Conversation{Pause: handover.Pause{
			ID: id, Conv: handover.ConvOf(p, "acct", bot.UserID(user)), To: bot.Target{Platform: p, Account: "acct", User: bot.UserID(user)},
			Reason: reason, Since: now.Add(-since), LastCustomer: now.Add(-waiting),
		}}
		if waiting > 0 {
			c.Waiting = now.Add(-waiting)
		}
		if w := handover.ReplyWindow(p); w > 0 {
			c.WindowEnds = c.LastCustomer.Add(w)
		}
		f.convs = append(f.convs, c)
		for i, t := range texts {
			from := handover.Customer
			if i%2 == 1 {
				from = handover.Bot
			}
			f.msgs[id] = append(f.msgs[id], handover.Message{Session: id, Conv: c.Conv, From: from, Text: t, At: c.Since.Add(time.Duration(i) * time.Second)})
		}
	}
	add("a1b2c3d4e5f60718", bot.WeChat, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "keyword", 20*time.Minute, 12*time.Minute,
		"我的订单三天了还没发货，转人工", "已为你转接人工客服，请稍候～", "有人吗？")
	add("1122334455667788", bot.Douyin, "douyin-open-id-7788", "intent", 5*time.Minute, 3*time.Minute,
		"能找个真人聊聊吗", "好的，已通知人工客服")
	add("99aa88bb77cc66dd", bot.WeChat, "o6_bmjrPTlm6_closedwindow", "risk", 50*time.Hour, 49*time.Hour,
		"我要投诉你们")
	return f
}

func (f *fakeInbox) Inbox(context.Context) ([]handover.Conversation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []handover.Conversation
	for _, c := range f.convs {
		if !f.ended[c.ID] {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b handover.Conversation) int {
		if a.Waiting.IsZero() != b.Waiting.IsZero() {
			if a.Waiting.IsZero() {
				return 1
			}
			return -1
		}
		return a.Waiting.Compare(b.Waiting)
	})
	return out, nil
}

func (f *fakeInbox) find(id string) (int, error) {
	for i, c := range f.convs {
		if c.ID == id {
			return i, nil
		}
	}
	return 0, fmt.Errorf("fake: %s: %w", id, bot.ErrNotFound)
}

func (f *fakeInbox) Thread(_ context.Context, id string) (handover.Thread, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(id)
	if err != nil {
		return handover.Thread{}, err
	}
	c := f.convs[i]
	th := handover.Thread{Session: handover.Session{ID: id, Conv: c.Conv, To: c.To, Reason: c.Reason, StartedAt: c.Since},
		Held: !f.ended[id], Conversation: c, Messages: slices.Clone(f.msgs[id])}
	if f.ended[id] {
		th.Session.EndedAt, th.Session.EndReason = f.now(), handover.EndStaff
	}
	return th, nil
}

func (f *fakeInbox) Reply(_ context.Context, id, staff, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(id)
	if err != nil {
		return err
	}
	if f.ended[id] {
		return handover.ErrNotHeld
	}
	c := &f.convs[i]
	if !c.WindowEnds.IsZero() && !f.now().Before(c.WindowEnds) {
		return fmt.Errorf("%w: fake", handover.ErrWindowClosed)
	}
	if f.replyErr != nil {
		return f.replyErr
	}
	f.sent = append(f.sent, id+" "+staff+": "+text)
	f.msgs[id] = append(f.msgs[id], handover.Message{Session: id, Conv: c.Conv, From: handover.Staff, Author: staff, Text: text, At: f.now()})
	c.Waiting, c.LastStaff = time.Time{}, f.now()
	return nil
}

func (f *fakeInbox) Assign(_ context.Context, id, staff string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(id)
	if err != nil {
		return err
	}
	f.convs[i].Assignee = strings.TrimSpace(staff)
	return nil
}

func (f *fakeInbox) End(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.find(id); err != nil {
		return err
	}
	if f.ended[id] {
		return handover.ErrNotHeld
	}
	f.ended[id] = true
	return nil
}

func (f *fakeInbox) Stats(_ context.Context, days int, loc *time.Location) ([]handover.DayCount, error) {
	out := make([]handover.DayCount, days)
	for i := range out {
		out[i] = handover.DayCount{Day: f.now().In(loc).AddDate(0, 0, i-days+1).Format(time.DateOnly), ByReason: map[string]int{}}
	}
	out[days-1].ByReason = map[string]int{"keyword": 3, "intent": 1}
	out[days-1].Replied, out[days-1].WaitSum = 2, 5*time.Minute
	return out, nil
}

func newInboxServer(t *testing.T, f *fakeInbox) string {
	t.Helper()
	logger := bottest.Logger(t)
	e := handlers.NewEcho(logger)
	m := NewInbox(f)
	m.now = f.now
	lib, _ := scriptsLibrary(t, map[string]string{"faq.yaml": testFAQ})
	New("t0ken", &fakeOutbox{}, lib, logger, m).Register(e.Group(""))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestInboxModule(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	f := newFakeInbox(now)
	base := newInboxServer(t, f)

	code, body := do(t, http.MethodGet, base+"/admin/api/inbox/conversations")
	if code != http.StatusOK {
		t.Fatalf("list = %d %v", code, body)
	}
	convs := body["conversations"].([]any)
	var order []string
	for _, c := range convs {
		m := c.(map[string]any)
		order = append(order, fmt.Sprintf("%s %s %v %v", m["id"], m["customer"], m["waiting_seconds"], m["window_open"]))
	}
	want := []string{"99aa88bb77cc66dd o6_b…ndow 176400 false", "a1b2c3d4e5f60718 o6_b…fL2M 720 true", "1122334455667788 douy…7788 180 true"}
	if !slices.Equal(order, want) {
		t.Errorf("conversations = %q, want %q (waiting longest first, ids masked, windows)", order, want)
	}

	tests := []struct {
		name, method, path string
		body               any
		wantCode           int
		wantInMessage      string
	}{
		{"reply", http.MethodPost, "/admin/api/inbox/conversations/a1b2c3d4e5f60718/reply", map[string]string{"text": "您好，我来帮您查", "staff": "小王"}, 200, ""},
		{"empty reply", http.MethodPost, "/admin/api/inbox/conversations/a1b2c3d4e5f60718/reply", map[string]string{"text": "  "}, 400, "不能为空"},
		{"reply after the window", http.MethodPost, "/admin/api/inbox/conversations/99aa88bb77cc66dd/reply", map[string]string{"text": "hi"}, 409, "回复窗口已关闭"},
		{"assign", http.MethodPost, "/admin/api/inbox/conversations/1122334455667788/assign", map[string]string{"staff": "小李"}, 200, ""},
		{"end", http.MethodPost, "/admin/api/inbox/conversations/1122334455667788/end", nil, 200, ""},
		{"end again", http.MethodPost, "/admin/api/inbox/conversations/1122334455667788/end", nil, 409, "已结束"},
		{"reply to an ended one", http.MethodPost, "/admin/api/inbox/conversations/1122334455667788/reply", map[string]string{"text": "hi"}, 409, "已结束"},
		{"unknown", http.MethodGet, "/admin/api/inbox/conversations/nope", nil, 404, "没有这个会话"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := sendAdmin(t, tc.method, base+tc.path, "t0ken", "", tc.body)
			if code != tc.wantCode {
				t.Fatalf("%s = %d %v, want %d", tc.path, code, body, tc.wantCode)
			}
			if tc.wantInMessage != "" {
				msg, _ := body["error"].(map[string]any)["message"].(string)
				if !strings.Contains(msg, tc.wantInMessage) {
					t.Errorf("message %q, want it to say %q", msg, tc.wantInMessage)
				}
			}
		})
	}
	if !slices.Equal(f.sent, []string{"a1b2c3d4e5f60718 小王: 您好，我来帮您查"}) {
		t.Errorf("sent %q, want the one reply", f.sent)
	}

	code, body = do(t, http.MethodGet, base+"/admin/api/inbox/conversations/a1b2c3d4e5f60718")
	if code != http.StatusOK || body["held"] != true {
		t.Fatalf("thread = %d %v", code, body)
	}
	var lines []string
	for _, m := range body["messages"].([]any) {
		mm := m.(map[string]any)
		lines = append(lines, fmt.Sprint(mm["from"], "/", mm["author"], "/", mm["text"]))
	}
	if want := []string{"customer/<nil>/我的订单三天了还没发货，转人工", "bot/<nil>/已为你转接人工客服，请稍候～", "customer/<nil>/有人吗？", "staff/小王/您好，我来帮您查"}; !slices.Equal(lines, want) {
		t.Errorf("messages = %q, want %q", lines, want)
	}
	if s := body["session"].(map[string]any); strings.Contains(fmt.Sprint(s), "o6_bmjrPTlm6_2sgVt7hMZOPfL2M") {
		t.Errorf("the session shows the customer's whole id: %v", s)
	}

	code, body = do(t, http.MethodGet, base+"/admin/api/inbox/stats?days=3&tz_offset=480")
	if code != http.StatusOK {
		t.Fatalf("stats = %d %v", code, body)
	}
	days := body["days"].([]any)
	last := days[2].(map[string]any)
	if len(days) != 3 || last["total"] != 4.0 || last["avg_wait_seconds"] != 150.0 || days[0].(map[string]any)["avg_wait_seconds"] != nil {
		t.Errorf("stats = %v, want 3 days, the last with 4 hand-overs and a 150 s average wait", days)
	}
	for _, q := range []string{"days=0", "days=91", "tz_offset=abc"} {
		if code, _ := do(t, http.MethodGet, base+"/admin/api/inbox/stats?"+q); code != http.StatusBadRequest {
			t.Errorf("stats?%s = %d, want 400", q, code)
		}
	}

	if code, _ := sendAdmin(t, http.MethodGet, base+"/admin/api/inbox/conversations", "", "", nil); code != http.StatusUnauthorized {
		t.Errorf("without the token = %d, want 401", code)
	}
}

func TestInboxReplyErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantText string
	}{
		{"微信客服 held by a servicer", fmt.Errorf("%w: wecom.Send: errcode=95018: %w", handover.ErrRefused, bot.ErrInvalid), 409, "企业微信客户端回复"},
		{"a WeCom external contact", fmt.Errorf("%w: wecom.Send: apps cannot message an external contact 1:1: %w", handover.ErrRefused, bot.ErrInvalid), 409, "企业微信里回复"},
		{"WeChat's window closed", fmt.Errorf("%w: wechat.Send: errcode=45015: %w", handover.ErrRefused, bot.ErrInvalid), 409, "回复窗口已关闭"},
		{"another refusal", fmt.Errorf("%w: douyin.Send: douyin error 28001038: content: %w", handover.ErrRefused, bot.ErrInvalid), 409, "平台拒绝了这条消息"},
		{"the platform is down", fmt.Errorf("handover.Reply: %w", bot.ErrUnavailable), 503, "稍后重试"},
		{"no AppSecret", handover.ErrNoSender, 409, "未配置发送凭证"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeInbox(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
			f.replyErr = tc.err
			base := newInboxServer(t, f)
			code, body := sendAdmin(t, http.MethodPost, base+"/admin/api/inbox/conversations/a1b2c3d4e5f60718/reply", "t0ken", "", map[string]string{"text": "hi"})
			msg, _ := body["error"].(map[string]any)["message"].(string)
			if code != tc.wantCode || !strings.Contains(msg, tc.wantText) {
				t.Fatalf("reply = %d %q, want %d saying %q", code, msg, tc.wantCode, tc.wantText)
			}
		})
	}
}
