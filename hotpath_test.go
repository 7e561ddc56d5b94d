package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/util"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/identity"
	"github.com/siyu-bot/siyu/handlers/wechat"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// stmtLog records the SQL statements a DB sends, telling those sent on a
// callback's own goroutine (the reply path: the platform waits for them)
// from those sent by work running behind it.
type stmtLog struct {
	mu         sync.Mutex
	reply      []string
	background []string
}

func (l *stmtLog) record(_ context.Context, s sqlstore.Statement) {
	onReply := onCallbackGoroutine()
	l.mu.Lock()
	defer l.mu.Unlock()
	if onReply {
		l.reply = append(l.reply, s.SQL)
	} else {
		l.background = append(l.background, s.SQL)
	}
}

// take returns what was recorded since the last take.
func (l *stmtLog) take() (reply, background []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	reply, background = l.reply, l.background
	l.reply, l.background = nil, nil
	return reply, background
}

// onCallbackGoroutine reports whether the caller runs on the goroutine
// that serves an HTTP request: the adapters run the engine there (not on
// a new goroutine per callback), so everything a callback waits for
// synchronously shows on that stack, and nothing running behind it does.
func onCallbackGoroutine() bool {
	pc := make([]uintptr, 128)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, "labstack/echo/v4.(*Echo).ServeHTTP") {
			return true
		}
		if !more {
			return false
		}
	}
}

// redisLog records the Redis commands a client sends, one string per
// command ("set <key> …").
type redisLog struct {
	mu   sync.Mutex
	cmds []string
}

func (l *redisLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *redisLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.add(cmd)
		return next(ctx, cmd)
	}
}

func (l *redisLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			l.add(c)
		}
		return next(ctx, cmds)
	}
}

func (l *redisLog) add(cmd redis.Cmder) {
	args := make([]string, 0, len(cmd.Args()))
	for _, a := range cmd.Args() {
		args = append(args, fmt.Sprint(a))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds = append(l.cmds, strings.Join(args, " "))
}

// isDedupeResult reports whether cmd stores a dedupe result (Finish),
// the last command of a handled callback.
func isDedupeResult(cmd string) bool {
	return strings.HasPrefix(cmd, "set ") && strings.Contains(cmd, ":dedupe:") && !strings.Contains(cmd, " nx")
}

// takeResult waits until a dedupe result was written, then returns and
// forgets every command recorded so far.
func (l *redisLog) takeResult(t *testing.T) []string {
	t.Helper()
	return l.takeUntil(t, isDedupeResult)
}

// takeUntil waits until a command that cond accepts was sent, then
// returns and forgets every command recorded so far. The deadline only
// bounds a failing test.
func (l *redisLog) takeUntil(t *testing.T, cond func(cmd string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		if slices.ContainsFunc(l.cmds, cond) {
			out := l.cmds
			l.cmds = nil
			l.mu.Unlock()
			return out
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the awaited Redis command was not sent")
		}
		time.Sleep(time.Millisecond)
	}
}

// hotpathAPIs fakes the platform APIs a production configuration talks
// to: the Official Account's (tokens, user/info, customer-service
// messages), WeCom's and Douyin's.
type hotpathAPIs struct {
	wx, wc, dy *httptest.Server
	mu         sync.Mutex
	unions     map[string]string // openid → unionid user/info answers
	userInfo   []string          // openids asked about
}

func newHotpathAPIs(t testing.TB) *hotpathAPIs {
	f := &hotpathAPIs{unions: map[string]string{}}
	writeJSON := func(w http.ResponseWriter, v any) { _ = json.NewEncoder(w).Encode(v) }
	wx := http.NewServeMux()
	wx.HandleFunc("POST /cgi-bin/stable_token", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"access_token": "WX-TOKEN", "expires_in": 7200})
	})
	wx.HandleFunc("GET /cgi-bin/user/info", func(w http.ResponseWriter, r *http.Request) {
		openID := r.URL.Query().Get("openid")
		f.mu.Lock()
		f.userInfo = append(f.userInfo, openID)
		union := f.unions[openID]
		f.mu.Unlock()
		writeJSON(w, map[string]any{"subscribe": 1, "openid": openID, "unionid": union})
	})
	wx.HandleFunc("POST /cgi-bin/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
	})
	f.wx = httptest.NewServer(wx)
	wc := http.NewServeMux()
	wc.HandleFunc("GET /cgi-bin/gettoken", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"errcode": 0, "access_token": "WC-TOKEN", "expires_in": 7200})
	})
	wc.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
	})
	f.wc = httptest.NewServer(wc)
	f.dy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"err_no": 0, "data": map[string]any{"error_code": 0}})
	}))
	t.Cleanup(f.dy.Close)
	t.Cleanup(f.wc.Close)
	t.Cleanup(f.wx.Close)
	return f
}

func (f *hotpathAPIs) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.userInfo
	f.userInfo = nil
	return out
}

// hotpath is siyu built as serve builds it (every capability, the
// middleware stack, the outbox, and the Official Account, WeCom and
// Douyin adapters) on stores the test opened and watches, through
// build. Of the background work only identity's and the hand-over's
// indexes run (the reply path depends on them); the outbox's sender loop
// and the other workers do not.
type hotpath struct {
	base     string
	db       *sqlstore.DB
	rdb      *redisstore.Client
	apis     *hotpathAPIs
	stmts    *stmtLog
	redis    *redisLog
	identity *identity.Service
	// handler is the engine behind its middleware, as the adapters call
	// it.
	handler bot.Handler
}

const (
	hotpathCorp  = "ww-hotpath"
	hotpathWCTok = "hotpathtoken"
)

func newHotpath(t testing.TB) *hotpath {
	t.Helper()
	apis := newHotpathAPIs(t)
	env := map[string]string{
		"WECHAT_APPID": demoAppID, "WECHAT_TOKEN": demoToken, "WECHAT_AES_KEY": demoAESKey,
		"WECHAT_APPSECRET": "wx-secret", "WECHAT_API_BASE": apis.wx.URL,
		"WECOM_CORPID": hotpathCorp, "WECOM_TOKEN": hotpathWCTok, "WECOM_AES_KEY": demoAESKey,
		"WECOM_AGENTID": "1000002", "WECOM_SECRET": "app-secret", "WECOM_CONTACT_SECRET": "contact-secret",
		"WECOM_API_BASE":    apis.wc.URL,
		"DOUYIN_CLIENT_KEY": "dy-key", "DOUYIN_CLIENT_SECRET": "dy-secret", "DOUYIN_API_BASE": apis.dy.URL,
	}
	getenv := func(k string) string { return env[k] }
	// As serve does: the SDK's API calls go to the fakes. It is the
	// SDK's global; serve sets it again for the tests that run it.
	util.SetURIModifier(rewriteBases(map[string]string{
		"https://api.weixin.qq.com": apis.wx.URL, "https://qyapi.weixin.qq.com": apis.wc.URL,
	}))
	t.Cleanup(func() { util.SetURIModifier(func(uri string) string { return uri }) })
	cfg, err := loadConfig(getenv)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx := t.Context()
	db := storetest.SQL(t)
	h := &hotpath{apis: apis, db: db, stmts: &stmtLog{}, redis: &redisLog{}}
	if err := sqlstore.OnStatement(db, h.stmts.record); err != nil {
		t.Fatal(err)
	}
	rdb := storetest.Redis(t)
	rdb.Redis().AddHook(h.redis)
	h.rdb = rdb
	a, err := build(ctx, cfg, stores{db: db, rdb: rdb}, logger)
	if err != nil {
		t.Fatal(err)
	}
	h.identity = a.identity
	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); a.identity.Run(runCtx) }()
	handoverRan := make(chan struct{})
	go func() { defer close(handoverRan); a.handover.Run(runCtx) }()
	t.Cleanup(func() { stopRun(); <-ran; <-handoverRan })
	for deadline := time.Now().Add(20 * time.Second); !a.identity.Indexed() || !a.handover.Indexed(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) { // only a broken test gets here
			t.Fatal("identity's or the hand-over's index did not load")
		}
	}
	srv := httptest.NewUnstartedServer(a.echo)
	srv.Listener.Close()
	srv.Listener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		for _, d := range a.drains {
			d()
		}
		a.identity.Wait()
	})
	h.base = srv.URL
	h.handler = a.handler
	return h
}

// say posts a text message from openid to the Official Account and
// returns the passive reply's text ("" for "success").
func (h *hotpath) say(t *testing.T, openid, text string) string {
	t.Helper()
	sim := &wechat.Simulator{URL: h.base + "/wechat/callback", Token: demoToken, EncodingAESKey: demoAESKey, AppID: demoAppID,
		OriginalID: demoOrigID, Client: &http.Client{Timeout: 20 * time.Second}}
	r, err := sim.Post(context.Background(), sim.TextXML(openid, text, wechat.NewMsgID()))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusOK {
		t.Fatalf("%q from %s: status %d %s", text, openid, r.Status, r.Raw)
	}
	return r.Content
}

// settle waits for the work a callback left behind (identity's fetches,
// the dedupe result's deferred write) and forgets what it recorded.
func (h *hotpath) settle(t *testing.T) {
	t.Helper()
	h.identity.Wait()
	h.redis.takeResult(t)
	h.stmts.take()
	h.apis.asked()
}

// TestHotPathNoSQL: an ordinary message (a keyword, an intent, an FAQ,
// an unmatched line) from a linked, an unlinked or a never-seen sender is
// answered without one SQL statement on its reply path, and its only
// Redis commands are its dedupe claim and the result's write, which
// rides a later pipeline unwaited; a sender already known costs no
// statement behind the reply either. Configured as production runs: an
// AppSecret (so identity asks user/info), WeCom and Douyin.
func TestHotPathNoSQL(t *testing.T) {
	h := newHotpath(t)
	h.apis.unions["o-linked"] = "un-hotpath-1"
	// Known senders: each has written before, and what identity learnt
	// behind that message is stored.
	for _, u := range []string{"o-linked", "o-unlinked"} {
		h.say(t, u, "你好")
		h.settle(t)
	}
	messages := []struct {
		kind, text, want string
	}{
		{"keyword", "营业时间", "营业时间为每天 9:00-21:00"},
		{"intent", "这个多少钱", "价格可在小程序"},
		{"faq", "有燕麦奶吗", "燕麦奶"},
		{"unmatched", "今天天气不错啊", "小山"},
	}
	senders := []struct {
		name   string
		openid func(i int) string
		known  bool
	}{
		{"linked", func(int) string { return "o-linked" }, true},
		{"unlinked", func(int) string { return "o-unlinked" }, true},
		{"never seen", func(i int) string { return fmt.Sprintf("o-new-%d", i) }, false},
	}
	i := 0
	for _, s := range senders {
		for _, m := range messages {
			i++
			t.Run(s.name+"/"+m.kind, func(t *testing.T) {
				openid := s.openid(i)
				if got := h.say(t, openid, m.text); !strings.Contains(got, m.want) {
					t.Errorf("reply %q, want it to contain %q", got, m.want)
				}
				reply, background := h.stmts.take()
				if len(reply) > 0 {
					t.Errorf("%d SQL statements on the reply path, want none:\n%s", len(reply), strings.Join(reply, "\n"))
				}
				h.identity.Wait()
				cmds := h.redis.takeResult(t)
				// Learning a new sender's link behind the reply reads the
				// access token and announces the link to the replicas.
				var dedupe, learning, other []string
				for _, c := range cmds {
					switch {
					case strings.Contains(c, ":dedupe:"):
						dedupe = append(dedupe, c)
					case strings.Contains(c, "access_token") || strings.HasPrefix(c, "publish ") && strings.Contains(c, ":identity:links "):
						learning = append(learning, c)
					default:
						other = append(other, c)
					}
				}
				if len(dedupe) != 2 || len(other) > 0 || s.known && len(learning) > 0 {
					t.Errorf("Redis commands %q, want only the dedupe claim and its result", cmds)
				}
				_, later := h.stmts.take()
				background = append(background, later...)
				asked := h.apis.asked()
				switch {
				case s.known && (len(background) > 0 || len(asked) > 0):
					t.Errorf("a known sender cost %d statements behind the reply and %d user/info calls, want none:\n%s",
						len(background), len(asked), strings.Join(background, "\n"))
				case !s.known:
					t.Logf("learnt behind the reply: %d user/info call(s), statements:\n%s", len(asked), strings.Join(background, "\n"))
				}
			})
		}
	}
}

// TestHotPathLinkLearntElsewhere: a link another replica learnt reaches
// this one through Redis; the sender's next message here reads it from
// the store, once, before the engine (so the link counts for this
// message), and the messages after it cost nothing.
func TestHotPathLinkLearntElsewhere(t *testing.T) {
	h := newHotpath(t)
	h.say(t, "o-elsewhere", "你好") // this replica has met the sender: none
	h.settle(t)
	// Another replica learns the sender's link and announces it.
	other, err := sqlstore.NewIdentities(t.Context(), h.db)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Save(t.Context(), identity.Link{Platform: bot.WeChat, Account: demoAppID, User: "o-elsewhere", UnionID: "un-elsewhere", CheckedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	d := identity.DigestOf(bot.WeChat, demoAppID, "o-elsewhere")
	if err := redisstore.NewIdentityLinks(h.rdb).Announce(t.Context(), identity.Announcement{Digest: d, Linked: true, From: "another-replica"}); err != nil {
		t.Fatal(err)
	}
	// The announcement is heard asynchronously: until then the sender
	// is answered from the cache; the first message after it reads the
	// store once. The deadline only bounds a failing test.
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.say(t, "o-elsewhere", "营业时间")
		reply, _ := h.stmts.take()
		h.settle(t)
		if len(reply) > 1 {
			t.Fatalf("statements on the reply path = %d, want at most 1:\n%s", len(reply), strings.Join(reply, "\n"))
		}
		if len(reply) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the link another replica announced was never read")
		}
	}
	h.say(t, "o-elsewhere", "营业时间")
	if reply, _ := h.stmts.take(); len(reply) > 0 {
		t.Errorf("statements on the reply path after the link was read = %d, want none:\n%s", len(reply), strings.Join(reply, "\n"))
	}
}

// BenchmarkHotPath is an ordinary message through the engine behind its
// middleware, as the adapters call it (dedupe on the configured Redis,
// identity, every capability on the shipped scripts), without HTTP and
// the platform's crypto: from a sender the replica knows, by kind. It
// reports the SQL statements per message, which must be 0.
func BenchmarkHotPath(b *testing.B) {
	h := newHotpath(b)
	ctx := context.Background()
	var seq atomic.Int64
	event := func(text string) bot.Event {
		n := strconv.FormatInt(seq.Add(1), 10)
		return bot.Event{Platform: bot.WeChat, Account: demoAppID, Kind: bot.KindMessage, Sender: "o-bench", Text: text,
			MessageID: n, DedupeKey: "bench:" + n, Time: time.Now()}
	}
	if _, err := h.handler.HandleEvent(ctx, event("你好")); err != nil { // the sender is known from now on
		b.Fatal(err)
	}
	h.identity.Wait()
	for _, tc := range []struct{ kind, text string }{
		{"keyword", "营业时间"}, {"intent", "这个多少钱"}, {"faq", "有燕麦奶吗"}, {"unmatched", "今天天气不错啊"},
	} {
		b.Run(tc.kind, func(b *testing.B) {
			h.stmts.take()
			b.ReportAllocs()
			for b.Loop() {
				actions, err := h.handler.HandleEvent(ctx, event(tc.text))
				if err != nil || len(actions) != 1 {
					b.Fatalf("HandleEvent = %v, %v; want one reply", actions, err)
				}
			}
			reply, background := h.stmts.take()
			b.ReportMetric(float64(len(reply)+len(background))/float64(b.N), "statements/op")
		})
	}
}
