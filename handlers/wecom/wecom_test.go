package wecom

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4/middleware"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/internal/body"
	"github.com/siyu-bot/siyu/handlers/internal/wxcrypt"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// vectorHandler serves the callback URL with a published vector's
// account, its clock at the vector's timestamp.
func vectorHandler(t *testing.T, v vector, engine bot.Handler) *httptest.Server {
	t.Helper()
	b := newBackends(t)
	ts, err := strconv.ParseInt(v.Timestamp, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	ob := bot.NewOutbox(sqlstore.NewOutbox(b.db), nil, bot.OutboxConfig{})
	h, err := New(Config{
		CorpID: v.ReceiveID, AgentID: "1", Token: v.Token, EncodingAESKey: v.EncodingAESKey,
		Now: func() time.Time { return time.Unix(ts, 0).Add(3 * time.Second) },
	}, Deps{Handler: engine, Outbox: ob, Contacts: b.store, Groups: b.store, Scripts: testLibrary(t), Logger: bottest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := handlers.NewEcho(bottest.Logger(t))
	g := e.Group("")
	g.Use(middleware.BodyLimit("1M"))
	h.Register(g)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Wait)
	return srv
}

// TestURLVerification answers WeCom's URL check with the published
// samples: msg_signature over the encrypted echostr, answer its plaintext.
func TestURLVerification(t *testing.T) {
	vectors := weComVectors(t)
	tests := []struct {
		name, vector string
		mutate       func(q url.Values)
		wantStatus   int
		wantBody     string
	}{
		{"wecom-sample-url-verify", "wecom-sample-url-verify", nil, http.StatusOK, "1616140317555161061"},
		{"wecom-sample-python-url-verify", "wecom-sample-python-url-verify", nil, http.StatusOK, "1288432023552776189"},
		{"bad signature", "wecom-sample-url-verify", func(q url.Values) { q.Set("msg_signature", strings.Repeat("0", 40)) }, http.StatusUnauthorized, ""},
		{"echostr swapped", "wecom-sample-url-verify", func(q url.Values) { q.Set("echostr", "AAAA"+q.Get("echostr")[4:]) }, http.StatusUnauthorized, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := vectors[tc.vector]
			if !ok {
				t.Fatalf("vector %s missing from testdata/vectors.json", tc.vector)
			}
			srv := vectorHandler(t, v, newRecorder(t))
			q := url.Values{"msg_signature": {v.MsgSignature}, "timestamp": {v.Timestamp}, "nonce": {v.Nonce}, "echostr": {v.Echostr}}
			if tc.mutate != nil {
				tc.mutate(q)
			}
			resp, err := http.Get(srv.URL + "/wecom/callback?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || (tc.wantBody != "" && string(body) != tc.wantBody) {
				t.Fatalf("GET = %d %q, want %d %q", resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
			// The echo is the caller's own text: a browser must not sniff it as HTML.
			if got := resp.Header.Get("X-Content-Type-Options"); tc.wantStatus == http.StatusOK && got != "nosniff" {
				t.Fatalf("X-Content-Type-Options = %q on the echo, want nosniff", got)
			}
		})
	}
}

// TestCallbackPublishedVectors posts the published encrypted bodies as
// they are, XML and JSON, through the handler.
func TestCallbackPublishedVectors(t *testing.T) {
	vectors := weComVectors(t)
	tests := []struct {
		vector     string
		wantStatus int
		wantText   string
	}{
		{"wecom-sample-xml-decrypt", http.StatusOK, "hello"},
		{"wecom-sample-python-xml-decrypt", http.StatusOK, "你好"},
		{"wecom-sample-go-json-decrypt", http.StatusOK, "hello"},
		// Decrypts to text that is not JSON (a typo in Tencent's sample).
		{"wecom-sample-python-json-decrypt", http.StatusBadRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.vector, func(t *testing.T) {
			v, ok := vectors[tc.vector]
			if !ok {
				t.Fatalf("vector %s missing from testdata/vectors.json", tc.vector)
			}
			rec := newRecorder(t)
			srv := vectorHandler(t, v, rec)
			q := url.Values{"msg_signature": {v.MsgSignature}, "timestamp": {v.Timestamp}, "nonce": {v.Nonce}}
			if got := postRaw(t, srv.URL, q, v.PostBody); got != tc.wantStatus {
				t.Fatalf("status = %d, want %d", got, tc.wantStatus)
			}
			evs := rec.events()
			if tc.wantText == "" {
				if len(evs) != 0 {
					t.Fatalf("engine got %d events, want none", len(evs))
				}
				return
			}
			if len(evs) != 1 || evs[0].Kind != bot.KindMessage || evs[0].Text != tc.wantText {
				t.Fatalf("engine got %+v, want one message %q", evs, tc.wantText)
			}
		})
	}
}

// TestCallbackRejects: nothing of a refused callback reaches the engine
// or the database.
func TestCallbackRejects(t *testing.T) {
	b := newBackends(t)
	rec := newRecorder(t)
	r := newReplica(t, b, rec, replicaOpts{})
	plain := contactXML(time.Now().Unix(), "zhangsan", "wm-reject", "store-shanghai-01", "CODE-REJECT")
	resign := func(q url.Values, body string) {
		enc := body
		if _, rest, ok := strings.Cut(body, "<Encrypt><![CDATA["); ok {
			enc, _, _ = strings.Cut(rest, "]]>")
		} else if _, rest, ok := strings.Cut(body, `"encrypt":"`); ok {
			enc, _, _ = strings.Cut(rest, `"`)
		}
		q.Set("msg_signature", signFor(q.Get("timestamp"), q.Get("nonce"), enc))
	}
	tests := []struct {
		name   string
		mutate func(q url.Values, body string) string
		want   int
	}{
		{"bad msg_signature", func(q url.Values, b string) string { q.Set("msg_signature", strings.Repeat("0", 40)); return b }, http.StatusUnauthorized},
		{"no msg_signature", func(q url.Values, b string) string { q.Del("msg_signature"); return b }, http.StatusUnauthorized},
		{"ciphertext swapped under the signature", func(q url.Values, b string) string {
			return strings.Replace(b, "<Encrypt><![CDATA[", "<Encrypt><![CDATA[AAAA", 1)
		}, http.StatusUnauthorized},
		{"stale timestamp, correctly signed", func(q url.Values, b string) string {
			q.Set("timestamp", "1409659813") // a 2014 sample timestamp
			resign(q, b)
			return b
		}, http.StatusUnauthorized},
		{"malformed XML", func(q url.Values, b string) string { return "<xml><Encrypt>" }, http.StatusBadRequest},
		{"no Encrypt", func(q url.Values, b string) string { return "<xml><ToUserName>x</ToUserName></xml>" }, http.StatusBadRequest},
		{"oversize body", func(q url.Values, b string) string { return b + strings.Repeat(" ", body.Limit) }, http.StatusRequestEntityTooLarge},
		{"signed ciphertext that is not AES", func(q url.Values, b string) string {
			b = "<xml><Encrypt><![CDATA[bm90IGNpcGhlcnRleHQ=]]></Encrypt></xml>"
			resign(q, b)
			return b
		}, http.StatusBadRequest},
		{"signed JSON ciphertext that is not base64", func(q url.Values, b string) string {
			b = `{"encrypt":"%%%"}`
			resign(q, b)
			return b
		}, http.StatusBadRequest},
	}
	long := strings.Repeat("w", bot.MaxIDLen+1)
	for _, tc := range []struct{ name, plain string }{
		{"external userid over bot.MaxIDLen", contactXML(time.Now().Unix(), "zhangsan", long, "store-shanghai-01", "CODE-LONG")},
		{"staff userid over bot.MaxIDLen", contactXML(time.Now().Unix(), long, "wm-reject", "store-shanghai-01", "CODE-LONG")},
		{"chat id over bot.MaxIDLen", chatXML(time.Now().Unix(), long, "update", "add_member", "wm-reject")},
		{"member over bot.MaxIDLen", chatXML(time.Now().Unix(), "wr-reject", "update", "add_member", long)},
		{"open_kfid over bot.MaxIDLen", kfXML(time.Now().Unix(), "tok", long)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.post(t, tc.plain); got != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", got)
			}
		})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, body := seal(t, plain)
			body = tc.mutate(q, body)
			if got := postRaw(t, r.srv.URL, q, body); got != tc.want {
				t.Fatalf("status = %d, want %d", got, tc.want)
			}
		})
	}
	r.wait()
	if n := len(rec.events()); n != 0 {
		t.Fatalf("%d refused callbacks reached the engine, want 0", n)
	}
	if got, err := b.store.Contacts(t.Context(), testCorp, "wm-reject", "", 10); err != nil || len(got) != 0 {
		t.Fatalf("contacts recorded from refused callbacks: %+v, %v", got, err)
	}
}

func signFor(timestamp, nonce, encrypted string) string {
	return wxcrypt.Sign(testToken, timestamp, nonce, encrypted)
}

// TestWelcomeExactlyOnce: a new contact from a known channel gets that
// channel's welcome with its code, within the window, once, although
// WeCom retries the callback three times and two replicas receive it.
func TestWelcomeExactlyOnce(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	rec := newRecorder(t)
	r1 := newReplica(t, b, rec, replicaOpts{})
	r2 := newReplica(t, b, rec, replicaOpts{})
	created := time.Now().Unix()
	plain := contactXML(created, "zhangsan", "wm-once", "store-shanghai-01", "WELCOME-ONCE")

	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		r := r1
		if i%2 == 1 {
			r = r2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = r.post(t, plain)
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("copy %d answered %d, want 200", i, s)
		}
	}
	r1.wait()
	r2.wait()

	got := api.gotWelcomes()
	if len(got) != 1 {
		t.Fatalf("send_welcome_msg called %d times, want 1: %+v", len(got), got)
	}
	if got[0].Code != "WELCOME-ONCE" || got[0].Text != "欢迎来到上海门店！回复「签到」每天领积分" {
		t.Fatalf("welcome = %q %q, want code WELCOME-ONCE with the channel's welcome", got[0].Code, got[0].Text)
	}
	if d := got[0].At.Sub(time.Unix(created, 0)); d > 20*time.Second {
		t.Fatalf("welcome sent %v after the event, want within 20 s", d)
	}
	if n := len(rec.events()); n != 1 {
		t.Fatalf("engine ran %d times, want 1", n)
	}
	contacts, err := b.store.Contacts(t.Context(), testCorp, "wm-once", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(contacts) != 1 {
		t.Fatalf("contact records = %d, want 1", len(contacts))
	}
	c := contacts[0]
	if c.Outcome != OutcomeSent || c.UserID != "zhangsan" || c.State != "store-shanghai-01" || c.ChannelName != "上海门店" ||
		!slices.Equal(c.Tags, []string{"门店", "上海"}) || c.WelcomeAt.IsZero() || !c.AddedAt.Equal(time.Unix(created, 0)) {
		t.Fatalf("contact = %+v, want sent, by zhangsan, through 上海门店 with its tags", c)
	}
	if marks := api.gotMarks(); len(marks) != 1 || c.TagsOutcome != TagsApplied {
		t.Fatalf("mark_tag calls = %+v, tags outcome %q; want one, applied", marks, c.TagsOutcome)
	}
}

// TestWelcomeOutcomes records what became of each welcome.
func TestWelcomeOutcomes(t *testing.T) {
	tests := []struct {
		name         string
		state, code  string
		failures     []int64
		window       time.Duration
		wantOutcome  string
		wantAttempts int // -1: at least one
		wantText     string
		wantError    string
	}{
		{"sent", "store-shanghai-01", "C-SENT", nil, 0, OutcomeSent, 1, "欢迎来到上海门店！回复「签到」每天领积分", ""},
		{"unknown channel gets the default welcome", "no-such-channel", "C-DEFAULT", nil, 0, OutcomeSent, 1, "你好，我是店长助理", ""},
		{"no state gets the default welcome", "", "C-NOSTATE", nil, 0, OutcomeSent, 1, "你好，我是店长助理", ""},
		{"41051 already delivered: no retry", "store-shanghai-01", "C-41051", []int64{41051}, 0, OutcomeAlreadySent, 1, "", "41051"},
		{"41096 another app sending, then success", "store-shanghai-01", "C-41096", []int64{41096}, 0, OutcomeSent, 2, "", ""},
		{"41096 until the window closes", "store-shanghai-01", "C-BUSY", slices.Repeat([]int64{41096}, 1000), 2 * time.Second, OutcomeBusyGaveUp, -1, "", "41096"},
		{"refused for good", "store-shanghai-01", "C-BAD", []int64{40058}, 0, OutcomeFailed, 1, "", "40058"},
		{"WeCom busy, then success", "store-shanghai-01", "C-MINUS1", []int64{-1}, 0, OutcomeSent, 2, "", ""},
		{"no code: the admin console has its own welcome", "store-shanghai-01", "", nil, 0, OutcomeNoCode, 0, "", ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			api.failWelcomes(tc.failures...)
			b := newBackends(t)
			r := newReplica(t, b, newRecorder(t), replicaOpts{cfg: Config{WelcomeWindow: tc.window}})
			external := "wm-outcome-" + strconv.Itoa(i)
			start := time.Now()
			if got := r.post(t, contactXML(start.Unix(), "lisi", external, tc.state, tc.code)); got != http.StatusOK {
				t.Fatalf("status = %d, want 200", got)
			}
			r.wait()
			calls := api.gotWelcomes()
			if tc.wantAttempts >= 0 && len(calls) != tc.wantAttempts || tc.wantAttempts < 0 && len(calls) == 0 {
				t.Fatalf("send_welcome_msg called %d times, want %d", len(calls), tc.wantAttempts)
			}
			for _, c := range calls {
				if c.Code != tc.code {
					t.Fatalf("welcome code = %q, want %q", c.Code, tc.code)
				}
				if tc.wantText != "" && c.Text != tc.wantText {
					t.Fatalf("welcome text = %q, want %q", c.Text, tc.wantText)
				}
			}
			if tc.window > 0 && time.Since(start) > tc.window+time.Second {
				t.Fatalf("gave up after %v, want within the %v window", time.Since(start), tc.window)
			}
			contacts, err := b.store.Contacts(t.Context(), testCorp, external, "", 10)
			if err != nil || len(contacts) != 1 {
				t.Fatalf("contacts = %+v, %v; want one", contacts, err)
			}
			if c := contacts[0]; c.Outcome != tc.wantOutcome || !strings.Contains(c.Error, tc.wantError) || c.WelcomeAt.IsZero() {
				t.Fatalf("contact outcome = %q error %q, want %q with an error containing %q", c.Outcome, c.Error, tc.wantOutcome, tc.wantError)
			}
		})
	}
}

// TestWelcomeNoText: with no welcome in the scripts at all, the contact
// is recorded and nothing is sent.
func TestWelcomeNoText(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	silent := bot.HandlerFunc(func(_ context.Context, ev bot.Event) ([]bot.Action, error) { return nil, nil })
	r := newReplica(t, b, silent, replicaOpts{})
	if got := r.post(t, contactXML(time.Now().Unix(), "lisi", "wm-notext", "store-shanghai-01", "C-NOTEXT")); got != http.StatusOK {
		t.Fatalf("status = %d, want 200", got)
	}
	r.wait()
	if n := len(api.gotWelcomes()); n != 0 {
		t.Fatalf("send_welcome_msg called %d times, want 0", n)
	}
	contacts, _ := b.store.Contacts(t.Context(), testCorp, "wm-notext", "", 10)
	if len(contacts) != 1 || contacts[0].Outcome != OutcomeNoText || contacts[0].ChannelName != "上海门店" {
		t.Fatalf("contacts = %+v, want one no_text through 上海门店", contacts)
	}
}

// TestWelcomeRetriedAfterFailure: when the engine fails (a dependency is
// down), the callback answers 503 and WeCom's retry gets the welcome out.
func TestWelcomeRetriedAfterFailure(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	rec := newRecorder(t)
	var fail sync.Once
	flaky := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		var err error
		fail.Do(func() { err = bot.ErrUnavailable })
		if err != nil {
			return nil, err
		}
		return rec.HandleEvent(ctx, ev)
	})
	r := newReplica(t, b, flaky, replicaOpts{})
	plain := contactXML(time.Now().Unix(), "lisi", "wm-retry", "store-shanghai-01", "C-RETRY")
	if got := r.post(t, plain); got != http.StatusServiceUnavailable {
		t.Fatalf("first copy status = %d, want 503", got)
	}
	if got := r.post(t, plain); got != http.StatusOK {
		t.Fatalf("retry status = %d, want 200", got)
	}
	r.wait()
	if got := api.gotWelcomes(); len(got) != 1 || got[0].Code != "C-RETRY" {
		t.Fatalf("welcomes = %+v, want one with C-RETRY", got)
	}
}

// TestGroupChanges: customer-group events are recorded, and a join of
// two reaches the engine as one MemberJoined with both. The engine's
// group welcome cannot be posted by an app: the sender refuses it and the
// outbox keeps the reason.
func TestGroupChanges(t *testing.T) {
	newFakeAPI(t)
	b := newBackends(t)
	rec := newRecorder(t)
	r := newReplica(t, b, rec, replicaOpts{})
	now := time.Now().Unix()
	steps := []struct {
		name        string
		plain       string
		wantStatus  string
		wantMembers map[string]bool
		wantEvent   *bot.Event
	}{
		{"created", chatXML(now-3, "wr-g1", "create", ""), sqlstore.WeComGroupActive, map[string]bool{}, nil},
		{"two join by QR code", chatXML(now-2, "wr-g1", "update", "add_member", "wm-jack", "wm-rose"), sqlstore.WeComGroupActive,
			map[string]bool{"wm-jack": true, "wm-rose": true},
			&bot.Event{Kind: bot.KindMemberJoined, Conversation: bot.Conversation{Group: "wr-g1"}, Members: []bot.UserID{"wm-jack", "wm-rose"}}},
		{"one leaves", chatXML(now-1, "wr-g1", "update", "del_member", "wm-jack"), sqlstore.WeComGroupActive,
			map[string]bool{"wm-jack": false, "wm-rose": true},
			&bot.Event{Kind: bot.KindMemberLeft, Conversation: bot.Conversation{Group: "wr-g1"}, Members: []bot.UserID{"wm-jack"}}},
		{"dismissed", chatXML(now, "wr-g1", "dismiss", ""), sqlstore.WeComGroupDismissed,
			map[string]bool{"wm-jack": false, "wm-rose": true}, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := len(rec.events())
			for range 2 { // and WeCom's retry
				if got := r.post(t, st.plain); got != http.StatusOK {
					t.Fatalf("status = %d, want 200", got)
				}
			}
			g, err := b.store.Group(t.Context(), testCorp, "wr-g1")
			if err != nil {
				t.Fatal(err)
			}
			members := map[string]bool{}
			for _, m := range g.Members {
				members[m.MemberID] = m.InGroup
			}
			if g.Status != st.wantStatus || len(members) != len(st.wantMembers) {
				t.Fatalf("group = %s %v, want %s %v", g.Status, members, st.wantStatus, st.wantMembers)
			}
			for id, in := range st.wantMembers {
				if members[id] != in {
					t.Fatalf("member %s in group = %v, want %v", id, members[id], in)
				}
			}
			evs := rec.events()[before:]
			if st.wantEvent == nil {
				if len(evs) != 0 {
					t.Fatalf("engine got %+v, want nothing", evs)
				}
				return
			}
			if len(evs) != 1 || evs[0].Kind != st.wantEvent.Kind || evs[0].Conversation != st.wantEvent.Conversation || !slices.Equal(evs[0].Members, st.wantEvent.Members) {
				t.Fatalf("engine got %+v, want one %s of %v", evs, st.wantEvent.Kind, st.wantEvent.Members)
			}
		})
	}
	r.drain(t)
	// WeCom sends group welcomes itself from templates: nothing is queued.
	rows, err := sqlstore.NewOutbox(b.db).List(t.Context(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 0 {
		t.Fatalf("outbox rows = %+v, want none: a bot cannot post into WeCom customer groups", rows)
	}
}
