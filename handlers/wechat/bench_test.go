package wechat

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/internal/wxcrypt"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// benchScripts are the yardstick bot's rules (shared/bench/peer): 200
// contains-rules 问题000…问题199 and a welcome.
func benchScripts() fstest.MapFS {
	var b strings.Builder
	b.WriteString("welcome:\n  follow: \"欢迎关注！回复“签到”每日打卡，回复问题编号获取答案。\"\nrules:\n")
	for i := range 200 {
		fmt.Fprintf(&b, "  - name: q%03d\n    match: {contains: [\"问题%03d\"]}\n    reply: \"【问题%03d】的答案：请查看帮助中心第%d节。\"\n", i, i, i, i%17+1)
	}
	return fstest.MapFS{"bench.yaml": {Data: []byte(b.String())}}
}

// memDeduper is an in-process bot.Deduper, to measure the handler apart
// from the network hop to Redis.
type memDeduper struct{ m sync.Map }

func (d *memDeduper) Claim(_ context.Context, key, _ string, _ time.Duration) (bool, []byte, error) {
	v, loaded := d.m.LoadOrStore(key, []byte(nil))
	if !loaded {
		return true, nil, nil
	}
	return false, v.([]byte), nil
}
func (d *memDeduper) Renew(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}
func (d *memDeduper) Finish(_ context.Context, key string, r []byte, _ time.Duration) error {
	d.m.Store(key, r)
	return nil
}
func (d *memDeduper) Release(_ context.Context, key, _ string) error { d.m.Delete(key); return nil }
func (d *memDeduper) Swap(_ context.Context, key string, old, r []byte, _ time.Duration) ([]byte, bool, error) {
	// Not atomic: the benchmarks never swap concurrently.
	v, ok := d.m.Load(key)
	if !ok {
		return nil, false, nil
	}
	if cur := v.([]byte); string(cur) != string(old) {
		return cur, false, nil
	}
	d.m.Store(key, r)
	return nil, true, nil
}

type nopEnqueuer struct{}

func (nopEnqueuer) Enqueue(context.Context, string, []bot.Action) error { return nil }

// benchRequests builds n safe-mode text callbacks with distinct MsgIds
// from first+1 on, as WeChat sends them.
func benchRequests(b *testing.B, first, n int) (queries []string, bodies [][]byte) {
	sim := &Simulator{Token: testToken, EncodingAESKey: testAESKey, AppID: testAppID, OriginalID: testOrigID}
	for i := first; i < first+n; i++ {
		req, err := sim.Request(context.Background(), sim.TextXML(fmt.Sprintf("o-bench-%d", i%500), fmt.Sprintf("请问问题%03d怎么办", i%200), int64(i+1)))
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(req.Body)
		queries = append(queries, req.URL.RawQuery)
		bodies = append(bodies, body)
	}
	return queries, bodies
}

// BenchmarkWeChatCallback is one safe-mode text callback through the whole
// HTTP handler (Echo routing, signature, decryption, parsing, dedupe, the
// engine with 200 rules, the encrypted passive reply).
func BenchmarkWeChatCallback(b *testing.B) {
	logger := bottest.Discard()
	lib, err := bot.NewLibrary(benchScripts(), logger)
	if err != nil {
		b.Fatal(err)
	}
	engine := bot.NewEngine(bot.EngineConfig{Scripts: lib, Logger: logger})
	dedupers := []struct {
		name string
		d    func(b *testing.B) bot.Deduper
	}{
		{"dedupe=memory", func(*testing.B) bot.Deduper { return &memDeduper{} }},
		{"dedupe=redis", func(b *testing.B) bot.Deduper { return redisstore.NewDeduper(storetest.Redis(b)) }},
	}
	for _, dd := range dedupers {
		b.Run(dd.name, func(b *testing.B) {
			d := dd.d(b)
			h := bot.Chain(engine, bot.Recover(logger), bot.Validate(), bot.Dedupe(d, bot.DedupeConfig{}, logger))
			wh, err := New(Config{Token: testToken, EncodingAESKey: testAESKey, AppID: testAppID}, h, nopEnqueuer{}, logger)
			if err != nil {
				b.Fatal(err)
			}
			e := handlers.NewEcho(logger)
			wh.Register(e.Group(""))
			// Requests are built with the clock stopped, a chunk at a time,
			// each with its own MsgId; reading them off the wire is
			// net/http's work, not the handler's, and a chunk keeps the
			// heap the size a server's is instead of b.N requests.
			const chunk = 1024
			var (
				reqs []*http.Request
				w    benchWriter
			)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%chunk == 0 {
					b.StopTimer()
					reqs = benchChunk(b, i, chunk, reqs)
					if md, ok := d.(*memDeduper); ok {
						md.m.Clear() // Redis would hold these, not the process
					}
					runtime.GC() // collect the building's garbage off the clock

					b.StartTimer()
				}
				w.reset()
				e.ServeHTTP(&w, reqs[i%chunk])
				if w.code != http.StatusOK || !bytes.Contains(w.body.Bytes(), []byte("<Encrypt>")) {
					b.Fatalf("answer %d %q", w.code, w.body.String())
				}
			}
		})
	}
}

// benchChunk fills reqs with n callbacks numbered from first on.
func benchChunk(b *testing.B, first, n int, reqs []*http.Request) []*http.Request {
	queries, bodies := benchRequests(b, first, n)
	reqs = reqs[:0]
	for i := range n {
		reqs = append(reqs, httptest.NewRequest(http.MethodPost, "/wechat/callback?"+queries[i], bytes.NewReader(bodies[i])))
	}
	return reqs
}

// benchWriter is a ResponseWriter reused from one callback to the next, so
// the benchmark counts the handler's allocations, not a recorder's.
type benchWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *benchWriter) reset() {
	if w.header == nil {
		w.header = make(http.Header)
	}
	clear(w.header)
	w.code = 0
	w.body.Reset()
}

func (w *benchWriter) Header() http.Header { return w.header }
func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(p)
}

// BenchmarkWeChatFloor is the bare work the platform forces on every
// callback: verify msg_signature, decrypt, parse envelope and message,
// build the reply, encrypt, sign. parser=encoding-xml parses with the
// standard library (the yardstick's headline floor); parser=siyu with the
// code the handler uses.
func BenchmarkWeChatFloor(b *testing.B) {
	type envelope struct {
		Encrypt string `xml:"Encrypt"`
	}
	parsers := []struct {
		name    string
		open    func(c *wxcrypt.Crypto, q map[string]string, body []byte) ([]byte, error)
		message func([]byte) (inbound, error)
	}{
		{"parser=encoding-xml",
			func(c *wxcrypt.Crypto, q map[string]string, body []byte) ([]byte, error) {
				var e envelope
				if err := xml.Unmarshal(body, &e); err != nil {
					return nil, err
				}
				if err := c.VerifyMsg(q["msg_signature"], q["timestamp"], q["nonce"], e.Encrypt); err != nil {
					return nil, err
				}
				plain, _, err := c.Decrypt(e.Encrypt)
				return plain, err
			},
			func(body []byte) (inbound, error) { var m inbound; return m, xml.Unmarshal(body, &m) }},
		{"parser=siyu",
			func(c *wxcrypt.Crypto, q map[string]string, body []byte) ([]byte, error) {
				return c.Open(q["msg_signature"], q["timestamp"], q["nonce"], body)
			},
			parseInbound},
	}
	for _, p := range parsers {
		b.Run(p.name, func(b *testing.B) { benchFloor(b, p.open, p.message) })
	}
}

func benchFloor(b *testing.B, open func(*wxcrypt.Crypto, map[string]string, []byte) ([]byte, error), parseInbound func([]byte) (inbound, error)) {
	c, err := newCryptoForBench()
	if err != nil {
		b.Fatal(err)
	}
	queries, bodies := benchRequests(b, 0, 1)
	q, _ := parseQuery(queries[0])
	body := bodies[0]
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		plain, err := open(c, q, body)
		if err != nil {
			b.Fatal(err)
		}
		m, err := parseInbound(plain)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		reply := textReply(m.FromUserName, m.ToUserName, "【问题001】的答案：请查看帮助中心第2节。", now)
		ts := strconv.FormatInt(now.Unix(), 10)
		enc, sig, err := c.Seal(reply, ts, "nonce")
		if err != nil {
			b.Fatal(err)
		}
		_ = encryptedReply(enc, sig, ts, "nonce")
	}
}
