//go:build chaos

// The load and chaos test, TestChaos. It runs siyu replicas (two, or
// -replicas) on one MariaDB database and one Redis of its own (or, with
// -redis cluster, a Redis Cluster of three masters each with a replica)
// behind a round-robin proxy, drives WeChat, WeCom and Douyin callbacks
// through it at once (to the environment's account of each platform, or
// with -accounts N to N accounts of an accounts file, each callback
// signed with its account's credentials and each send checked to carry
// its account's token), the way the platforms deliver them (5 s
// timeout, retries, duplicate deliveries), and meanwhile restarts Redis,
// drops the database's connections, kills a replica with SIGKILL and
// restarts it (once while Redis is paused and callbacks wait for it),
// and makes the fake platform APIs fail and time out; on a cluster,
// instead of the faults that stop the one Redis, it SIGKILLs a master.
// Then it checks every callback: exactly one side effect (a passive
// reply or one send, through the callback's own account), none lost,
// none wrong, nothing stuck in the outbox, and prints throughput,
// latency and recovery times.
//
// Everything stays on loopback and every loop is bounded:
//
//	go test -tags chaos -run TestChaos -timeout 40m -v .
//	CHAOS_ARGS='-duration 60s -budget 10ms' go test -tags chaos -run TestChaos -timeout 40m -v .   # WeChat replies not ready in 10 ms through the outbox
//	CHAOS_ARGS='-faults redis-restart,redis-pause' go test -tags chaos -run TestChaos -timeout 40m -v .
//	CHAOS_ARGS='-lose 0.1 -budgets 1ns,4s -faults none' go test -tags chaos -run TestChaos -timeout 40m -v .   # lost answers; one replica answers through the outbox only
//	CHAOS_ARGS='-replicas 3 -accounts 20 -redis cluster -faults redis-master-kill' go test -tags chaos -run TestChaos -timeout 40m -v .   # a cluster master SIGKILLed, its replica promoted
//
// With -lose, that share of answers is lost on its way back to the
// platform, which then gets no answer and retries after its 5 s timeout,
// as WeChat does.
//
// CHAOS_ARGS holds the flags (see chaosRun). It needs redis-server on
// PATH and a MariaDB/MySQL server (-mysql, the CI one by default); it
// creates and drops a database of its own and never touches the shared
// Redis. The build tag keeps it out of `go test ./...`.
package main_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
)

// Credentials of the simulated accounts; they exist only in this run.
const (
	wxToken    = "chaos-token"
	wxAESKey   = "Y2hhb3NjaGFvc2NoYW9zY2hhb3NjaGFvc2NoYW9zY2g"
	wxAppID    = "wxchaos000000000"
	wxOrigID   = "gh_chaos0000"
	wcCorpID   = "wwchaos000000000"
	wcToken    = "chaos-wecom-token"
	wcAESKey   = "d2Vjb21jaGFvc3dlY29tY2hhb3N3ZWNvbWNoYW9zMTI"
	wcAgentID  = "1000002"
	dyKey      = "chaos-client-key"
	dySecret   = "chaos-client-secret"
	dyAccount  = "chaos-account-open-id"
	numAnswers = 50 // distinct keyword → answer rules, so a wrong answer shows
)

// TestChaos runs the load and chaos test with the flags in CHAOS_ARGS
// and fails on any lost, duplicated or wrong callback.
func TestChaos(t *testing.T) {
	ctx, stop := signal.NotifyContext(t.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := chaosRun(ctx, strings.Fields(os.Getenv("CHAOS_ARGS"))); err != nil {
		t.Fatal("chaos:", err)
	}
}

type options struct {
	duration time.Duration
	rate     int
	siyu     string
	mysql    string
	dupShare float64
	keep     bool
	budget   string
	budgets  []string // per replica, overriding budget
	lose     float64
	faults   map[string]bool
	replicas int
	accounts int      // 0: the environment's three accounts; else an accounts file of this many
	redis    string   // "single" or "cluster"
	skipped  []string // faults asked for that the Redis topology cannot take
}

func chaosRun(ctx context.Context, args []string) error {
	var o options
	var lostAnswers atomic.Int64
	fl := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fl.DurationVar(&o.duration, "duration", 60*time.Second, "how long to send load (faults are spread over it)")
	fl.IntVar(&o.rate, "rate", 60, "callbacks per second, all platforms together")
	fl.StringVar(&o.siyu, "siyu", "", "a built siyu binary (default: go build . into a temporary folder)")
	fl.StringVar(&o.mysql, "mysql", "root@tcp(127.0.0.1:3306)/", "MariaDB/MySQL server DSN (a database of the run's own is created there)")
	fl.Float64Var(&o.dupShare, "dup", 0.05, "share of callbacks the platform also delivers a second time at once")
	fl.BoolVar(&o.keep, "keep", false, "keep the temporary folder and the database for inspection")
	fl.StringVar(&o.budget, "budget", "", "SIYU_REPLY_BUDGET of the replicas (e.g. 10ms: every WeChat reply not ready within 10 ms goes through the outbox)")
	budgets := fl.String("budgets", "", "SIYU_REPLY_BUDGET of each replica, comma-separated (e.g. 1ns,4s: replica 0 answers WeChat through the outbox only, replica 1 passively)")
	fl.Float64Var(&o.lose, "lose", 0, "share of answers lost on their way back to the platform, which retries after its 5 s timeout")
	faultList := fl.String("faults", "default", "comma-separated faults to inject ("+strings.Join(faultKeys, ", ")+"), default (the first eight on one Redis; on a cluster redis-master-kill and the five that need no single Redis) or none; redis-pause-term and replica-kills take a run of their own")
	fl.IntVar(&o.replicas, "replicas", 2, "siyu replicas behind the proxy (2 to 8)")
	fl.IntVar(&o.accounts, "accounts", 0, "serve this many accounts from an accounts file (SIYU_ACCOUNTS), three tenths each WeCom and Douyin, the rest WeChat, over four brands; 0: the environment's one account per platform")
	fl.StringVar(&o.redis, "redis", "single", "single (one redis-server) or cluster (a Redis Cluster of three masters, each with one replica)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if o.replicas < 2 || o.replicas > 8 {
		return errors.New("-replicas must be in [2, 8] (the faults kill replicas 0 and 1)")
	}
	if o.accounts != 0 && (o.accounts < 3 || o.accounts > 200) {
		return errors.New("-accounts must be 0 or in [3, 200]")
	}
	if o.redis != "single" && o.redis != "cluster" {
		return fmt.Errorf("-redis %q: want single or cluster", o.redis)
	}
	if *budgets != "" {
		o.budgets = strings.Split(*budgets, ",")
		if len(o.budgets) != o.replicas {
			return fmt.Errorf("-budgets: want one budget per replica (%d)", o.replicas)
		}
		for _, b := range o.budgets {
			if _, err := time.ParseDuration(b); err != nil {
				return fmt.Errorf("-budgets: %w", err)
			}
		}
	}
	if o.lose < 0 || o.lose >= 1 {
		return errors.New("-lose must be in [0, 1)")
	}
	o.faults = map[string]bool{}
	if *faultList == "default" {
		*faultList = strings.Join(faultKeys[:defaultFaults], ",")
		if o.redis == "cluster" {
			*faultList += ",redis-master-kill"
		}
	}
	for k := range strings.SplitSeq(*faultList, ",") {
		if k = strings.TrimSpace(k); k == "" || k == "none" {
			continue
		}
		if !slices.Contains(faultKeys, k) {
			return fmt.Errorf("-faults: unknown fault %q (known: %s)", k, strings.Join(faultKeys, ", "))
		}
		// A fault that stops, pauses or restarts the one Redis has no
		// single Redis to act on in a cluster, and killing a cluster
		// master needs a cluster: each is skipped, and the report says so.
		cluster := o.redis == "cluster"
		if (cluster && slices.Contains(singleRedisFaults, k)) || (!cluster && k == "redis-master-kill") {
			o.skipped = append(o.skipped, k)
			continue
		}
		o.faults[k] = true
	}
	if o.duration <= 0 || o.duration > 30*time.Minute || o.rate <= 0 || o.rate > 2000 {
		return errors.New("-duration must be in (0, 30m] and -rate in (0, 2000]")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	dir, err := os.MkdirTemp("", "siyu-chaos-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	if o.siyu == "" {
		o.siyu = filepath.Join(dir, "siyu")
		logger.Info("building siyu")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", o.siyu, ".").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	if err := writeScripts(filepath.Join(dir, "scripts")); err != nil {
		return err
	}

	db, dsn, dropDB, err := createDatabase(ctx, o.mysql)
	if err != nil {
		return err
	}
	defer db.Close()
	if !o.keep {
		defer dropDB()
	}

	env := []string{
		"MYSQL_DSN=" + dsn,
		"SIYU_SCRIPTS=" + filepath.Join(dir, "scripts"),
		"SIYU_LOG_LEVEL=warn",
	}
	var redis *redisProc
	var cluster *redisCluster
	if o.redis == "cluster" {
		logger.Info("starting a Redis Cluster of 3 masters and 3 replicas")
		if cluster, err = startCluster(ctx, dir); err != nil {
			return err
		}
		defer cluster.stop()
		env = append(env, "REDIS_CLUSTER=1", "REDIS_URL="+cluster.url())
	} else {
		if redis, err = startRedis(ctx, dir); err != nil {
			return err
		}
		defer redis.stop()
		env = append(env, "REDIS_URL=redis://"+redis.addr+"/0")
	}

	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	apiURL := "http://" + apiLn.Addr().String()
	env = append(env, "WECHAT_API_BASE="+apiURL, "WECOM_API_BASE="+apiURL)
	var accts []*chaosAccount
	if o.accounts == 0 {
		var accEnv []string
		accts, accEnv = envAccounts(apiURL)
		env = append(env, accEnv...)
	} else {
		accts = fileAccounts(o.accounts)
		path, err := writeAccountsFile(dir, accts, apiURL)
		if err != nil {
			return err
		}
		env = append(env, "SIYU_ACCOUNTS="+path)
	}
	api := newFakeAPI(accts)
	apiSrv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
	go apiSrv.Serve(apiLn)
	defer apiSrv.Close()

	if o.budget != "" {
		env = append(env, "SIYU_REPLY_BUDGET="+o.budget)
	}
	replicas := make([]*replica, o.replicas)
	for i := range replicas {
		renv := env
		if o.budgets != nil {
			renv = append(slices.Clone(env), "SIYU_REPLY_BUDGET="+o.budgets[i])
		}
		r, err := startReplica(ctx, o.siyu, renv, dir, i)
		if err != nil {
			return err
		}
		defer r.stop()
		replicas[i] = r
	}
	proxy, proxyURL, err := startProxy(replicas, o.lose, &lostAnswers)
	if err != nil {
		return err
	}
	defer proxy.Close()
	logger.Info("replicas up", "proxy", proxyURL)

	load := newLoad(proxyURL, o, accts)
	var faults []fault
	for _, f := range schedule(o.duration, redis, cluster, db, replicas, api) {
		if o.faults[f.key] {
			faults = append(faults, f)
		}
	}
	slices.SortStableFunc(faults, func(a, b fault) int { return cmp.Compare(a.at, b.at) })
	if len(faults) == 1 {
		faults[0].at = o.duration / 10 // a run of its own: early, so the rest shows the recovery
	}
	start := time.Now()
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); load.run(ctx, start) }()
	var faultLog []faultRecord
	for _, f := range faults {
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(start.Add(f.at))):
			logger.Info("injecting", "fault", f.name)
			rec := faultRecord{name: f.name, at: time.Since(start), lasts: f.lasts, settle: f.settle}
			if err := f.do(ctx); err != nil {
				rec.err = err
				logger.Warn("fault injection failed", "fault", f.name, "err", err)
			}
			if f.measured != nil {
				rec.lasts, rec.note = f.measured()
			}
			rec.done = time.Since(start)
			faultLog = append(faultLog, rec)
		}
	}
	<-loadDone
	for i := range faultLog {
		if rec := &faultLog[i]; rec.settle != nil && rec.err == nil {
			note, err := rec.settle(ctx)
			rec.note += note
			rec.err = err
		}
	}
	logger.Info("load done; waiting for the outboxes to drain")
	drained := drain(ctx, db, api, 3*time.Minute)
	counters := scrape(replicas, logger)
	return report(os.Stdout, load, api, db, faultLog, counters, drained, o, start, lostAnswers.Load())
}

// writeScripts writes numAnswers keyword rules: "kwNN" is answered with
// "ansNN", so every reply can be checked against its message.
func writeScripts(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range numAnswers {
		fmt.Fprintf(&b, "  - name: r%02d\n    match: {contains: [kw%02d]}\n    reply: ans%02d\n", i, i, i)
	}
	b.WriteString("fallback: 没听懂\n")
	return os.WriteFile(filepath.Join(dir, "chaos.yaml"), []byte(b.String()), 0o644)
}

// createDatabase makes a database of the run's own on the server.
func createDatabase(ctx context.Context, serverDSN string) (*sql.DB, string, func(), error) {
	cfg, err := mysqldrv.ParseDSN(serverDSN)
	if err != nil {
		return nil, "", nil, fmt.Errorf("-mysql: %w", err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, "", nil, err
	}
	name := "siyu_chaos_" + randHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		admin.Close()
		return nil, "", nil, fmt.Errorf("create database: %w", err)
	}
	cfg.DBName = name
	cfg.ParseTime = true
	dsn := cfg.FormatDSN()
	drop := func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		admin.Close()
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		drop()
		return nil, "", nil, err
	}
	return db, dsn, drop, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// redisProc is a redis-server of the run's own, so restarting it harms
// nobody else.
type redisProc struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	addr string
	dir  string
	args []string // more options (a cluster node's)
}

func startRedis(ctx context.Context, dir string) (*redisProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisProc{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir}
	return r, r.start()
}

func (r *redisProc) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	host, port, _ := net.SplitHostPort(r.addr)
	cmd := exec.Command("redis-server", append([]string{"--bind", host, "--port", port, "--save", "", "--appendonly", "no", "--dir", r.dir}, r.args...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	r.cmd = cmd
	return waitTCP(r.addr, 10*time.Second)
}

func (r *redisProc) signal(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return errors.New("redis-server is not running")
	}
	return r.cmd.Process.Signal(sig)
}

func (r *redisProc) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// replica is one siyu process.
type replica struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process ends
	bin    string
	env    []string
	addr   string
	log    string
	up     atomic.Bool
}

func startReplica(ctx context.Context, bin string, env []string, dir string, i int) (*replica, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &replica{bin: bin, addr: "127.0.0.1:" + strconv.Itoa(port), log: filepath.Join(dir, fmt.Sprintf("replica-%d.log", i))}
	r.env = append(append(os.Environ(), env...), "SIYU_ADDR="+r.addr)
	return r, r.start()
}

func (r *replica) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	logf, err := os.OpenFile(r.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.bin)
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start siyu: %w", err)
	}
	r.cmd = cmd
	exited := make(chan struct{})
	r.exited = exited
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	if err := waitHTTP("http://"+r.addr+"/healthz", 60*time.Second); err != nil {
		return fmt.Errorf("replica %s: %w (log: %s)", r.addr, err, r.log)
	}
	r.up.Store(true)
	return nil
}

func (r *replica) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.up.Store(false)
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// term sends SIGTERM, as an orchestrator does, and returns a channel
// closed once the process has drained and exited. The balancer stops
// sending it callbacks at once.
func (r *replica) term() (<-chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.up.Store(false)
	if r.cmd == nil || r.cmd.Process == nil {
		return nil, errors.New("replica is not running")
	}
	return r.exited, r.cmd.Process.Signal(syscall.SIGTERM)
}

// waitExit waits for a killed replica's process to be gone.
func (r *replica) waitExit(ctx context.Context) {
	r.mu.Lock()
	exited := r.exited
	r.mu.Unlock()
	select {
	case <-exited:
	case <-ctx.Done():
	}
}

func (r *replica) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _, _ = r.cmd.Process.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = r.cmd.Process.Kill()
		}
	}
}

// startProxy is the load balancer: round robin, skipping a replica that
// refuses connections, as a health-checked balancer would. It loses the
// share lose of the answers on their way back: the replica answered, the
// platform gets nothing and hangs up at its timeout (counted in lost).
func startProxy(replicas []*replica, lose float64, lost *atomic.Int64) (*http.Server, string, error) {
	var next atomic.Uint64
	transport := &http.Transport{MaxIdleConnsPerHost: 64, ResponseHeaderTimeout: 30 * time.Second}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		for range len(replicas) {
			rep := replicas[next.Add(1)%uint64(len(replicas))]
			if !rep.up.Load() {
				continue
			}
			u, _ := url.Parse("http://" + rep.addr)
			out := r.Clone(r.Context())
			out.URL.Scheme, out.URL.Host, out.Host = u.Scheme, u.Host, u.Host
			out.RequestURI = ""
			out.Body = io.NopCloser(strings.NewReader(string(body)))
			out.ContentLength = int64(len(body))
			resp, err := transport.RoundTrip(out)
			if err != nil {
				var op *net.OpError
				if errors.As(err, &op) && op.Op == "dial" {
					continue // not up: try the other one
				}
				http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			if lose > 0 && mrand.Float64() < lose {
				_, _ = io.Copy(io.Discard, resp.Body) // the replica answered in full
				lost.Add(1)
				<-r.Context().Done()
				return
			}
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body)
			return
		}
		http.Error(w, "no replica up", http.StatusBadGateway)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String(), nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitTCP(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come up in %s", addr, d)
}

func waitHTTP(u string, d time.Duration) error {
	deadline := time.Now().Add(d)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if resp, err := client.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not healthy within %s", u, d)
}

// fakeAPI plays the platforms' send APIs and records every message they
// accept, by recipient. It hands each account an access token of its
// own, for that account's own credentials only, and files each send
// under the account whose token it carried, so the judge sees a reply
// that went out through the wrong account. Its mode makes it fail or
// time out for a while.
type fakeAPI struct {
	accts *accountIndex
	mu    sync.Mutex
	sends map[string][]delivery // recipient → messages accepted
	mode  atomic.Int32          // apiOK, apiFail, apiHang, apiDeliverHang
	calls atomic.Int64
	// ambiguous counts sends delivered while the platform hung up on
	// the sender: no platform offers an idempotency key for them, so a
	// retry may deliver twice (issue 18 item 8: counted, not avoidable).
	ambiguous atomic.Int64
	// refused counts token requests with credentials of no account and
	// sends with a token of no account or of another account than the
	// body names (a WeCom agentid, a Douyin open_id): siyu's mistakes.
	refused    atomic.Int64
	refusedWhy sync.Map // reason → struct{}, for the report
}

// delivery is one message the fake platform accepted.
type delivery struct {
	text    string
	account string // the account whose access token the send carried
	at      time.Time
	// ambiguous: delivered, but the sender was told a timeout, so its
	// retry delivering it again is expected.
	ambiguous bool
}

const (
	apiOK int32 = iota
	apiFail
	apiHang
	apiDeliverHang // delivers, then does not answer: the sender cannot know
)

func newFakeAPI(accts []*chaosAccount) *fakeAPI {
	return &fakeAPI{accts: newAccountIndex(accts), sends: map[string][]delivery{}}
}

// refuse counts a request no account's credentials explain.
func (f *fakeAPI) refuse(why string) {
	f.refused.Add(1)
	f.refusedWhy.Store(why, struct{}{})
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	switch r.URL.Path {
	case "/cgi-bin/stable_token", "/cgi-bin/token": // WeChat: POST JSON, or GET with the query
		var c struct {
			AppID  string `json:"appid"`
			Secret string `json:"secret"`
		}
		if r.Method == http.MethodPost {
			_ = json.Unmarshal(body, &c)
		} else {
			c.AppID, c.Secret = q.Get("appid"), q.Get("secret")
		}
		a := f.accts.byAppID[c.AppID]
		if a == nil || a.secret != c.Secret {
			f.refuse("WeChat token asked for appid " + c.AppID + " with another secret than its own")
			writeJSON(w, map[string]any{"errcode": 40125, "errmsg": "invalid appsecret"})
			return
		}
		writeJSON(w, map[string]any{"access_token": a.accessToken(), "expires_in": 7200})
		return
	case "/cgi-bin/gettoken": // WeCom
		a := f.accts.byCorp[q.Get("corpid")+"\x00"+q.Get("corpsecret")]
		if a == nil {
			f.refuse("WeCom token asked for corp " + q.Get("corpid") + " with a secret of none of its apps")
			writeJSON(w, map[string]any{"errcode": 40001, "errmsg": "invalid credential"})
			return
		}
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "access_token": a.accessToken(), "expires_in": 7200})
		return
	case "/oauth/client_token/":
		var c struct {
			Key    string `json:"client_key"`
			Secret string `json:"client_secret"`
		}
		_ = json.Unmarshal(body, &c)
		a := f.accts.byClient[c.Key]
		if a == nil || a.clientSecret != c.Secret {
			f.refuse("Douyin token asked for client_key " + c.Key + " with another secret than its own")
			writeJSON(w, map[string]any{"data": map[string]any{"error_code": 10003, "description": "invalid client"}, "message": "error"})
			return
		}
		writeJSON(w, map[string]any{"data": map[string]any{"access_token": a.accessToken(), "expires_in": 7200, "error_code": 0}, "message": "success"})
		return
	}
	switch f.mode.Load() {
	case apiFail:
		http.Error(w, "chaos: platform failure", http.StatusInternalServerError)
		return
	case apiHang:
		// A platform that neither answers nor delivers: the sender's
		// timeout must give up and the outbox must try again later.
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
		http.Error(w, "chaos: platform timeout", http.StatusGatewayTimeout)
		return
	}
	var to, text string
	var from *chaosAccount
	switch r.URL.Path {
	case "/cgi-bin/message/custom/send": // WeChat customer service
		var m struct {
			ToUser string `json:"touser"`
			Text   struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if from = f.accts.byToken[q.Get("access_token")]; from == nil || from.platform != "wechat" {
			f.refuse("WeChat send with a token of no Official Account")
			writeJSON(w, map[string]any{"errcode": 40001, "errmsg": "invalid credential"})
			return
		}
		to, text = "wx:"+m.ToUser, m.Text.Content
		defer answer(w, f, map[string]any{"errcode": 0, "errmsg": "ok"})
	case "/cgi-bin/message/send": // WeCom app message
		var m struct {
			ToUser  string `json:"touser"`
			MsgType string `json:"msgtype"`
			AgentID int    `json:"agentid"`
			Text    struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.MsgType != "text" {
			writeJSON(w, map[string]any{"errcode": 40058, "errmsg": "invalid parameter"})
			return
		}
		if from = f.accts.byToken[q.Get("access_token")]; from == nil || from.platform != "wecom" {
			f.refuse("WeCom send with a token of no app")
			writeJSON(w, map[string]any{"errcode": 40001, "errmsg": "invalid credential"})
			return
		}
		if strconv.Itoa(m.AgentID) != from.agentID {
			f.refuse("WeCom send for agent " + strconv.Itoa(m.AgentID) + " with the token of agent " + from.agentID)
			writeJSON(w, map[string]any{"errcode": 301002, "errmsg": "not allow operate another agent with this accesstoken"})
			return
		}
		to, text = "wc:"+m.ToUser, m.Text.Content
		defer answer(w, f, map[string]any{"errcode": 0, "errmsg": "ok", "invaliduser": ""})
	case "/im/send/msg/":
		var m struct {
			ToUserID string `json:"to_user_id"`
			Content  struct {
				Text struct {
					Text string `json:"text"`
				} `json:"text"`
			} `json:"content"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if from = f.accts.byToken[r.Header.Get("access-token")]; from == nil || from.platform != "douyin" {
			f.refuse("Douyin send with a token of no application")
			writeJSON(w, map[string]any{"data": map[string]any{"error_code": 2190008, "description": "access_token invalid"}})
			return
		}
		if q.Get("open_id") != from.openID {
			f.refuse("Douyin send as account " + q.Get("open_id") + " with the token of " + from.label())
			writeJSON(w, map[string]any{"data": map[string]any{"error_code": 2190015, "description": "open_id does not match the token"}})
			return
		}
		to, text = "dy:"+m.ToUserID, m.Content.Text.Text
		defer answer(w, f, map[string]any{"data": map[string]any{"error_code": 0, "msg_id": "srv-" + randHex(4)}, "extra": map[string]any{"error_code": 0}})
	default:
		http.NotFound(w, r)
		return
	}
	hang := f.mode.Load() == apiDeliverHang
	f.mu.Lock()
	f.sends[to] = append(f.sends[to], delivery{text: text, account: from.name, at: time.Now(), ambiguous: hang})
	f.mu.Unlock()
	if hang {
		f.ambiguous.Add(1)
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	}
}

func (f *fakeAPI) sent(to string) []delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sends[to])
}

func (f *fakeAPI) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.sends {
		n += len(s)
	}
	return n
}

// answer writes a send's success, unless the platform is hanging up on
// the sender after delivering.
func answer(w http.ResponseWriter, f *fakeAPI, v any) {
	if f.mode.Load() == apiDeliverHang {
		http.Error(w, "chaos: platform timeout after delivery", http.StatusGatewayTimeout)
		return
	}
	writeJSON(w, v)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// fault is one injection at a time into the run.
type fault struct {
	key  string // for -faults
	name string
	at   time.Duration
	// lasts is how long the fault itself lasts from its injection (a
	// replica's restart is not counted: it comes up when it can).
	lasts time.Duration
	do    func(ctx context.Context) error
	// measured, when set, is how long the fault turned out to last and
	// what happened, read after do (a failover takes what it takes).
	measured func() (time.Duration, string)
	// settle, when set, waits for what the fault left running behind
	// the next ones (a killed server's restart), after the load.
	settle func(ctx context.Context) (note string, err error)
}

type faultRecord struct {
	name     string
	at, done time.Duration
	lasts    time.Duration
	note     string
	err      error
	settle   func(ctx context.Context) (string, error)
}

// faultKeys are the faults -faults can pick, in the order they happen.
// The first defaultFaults fit one run together; the others take longer
// and run on their own (a single fault is injected at a tenth of the run).
var faultKeys = []string{"redis-restart", "redis-pause", "db-kill", "replica-kill", "redis-pause-kill", "api-fail", "api-hang", "api-deliver-hang",
	"redis-pause-term", "replica-kills", "redis-master-kill"}

const defaultFaults = 8

// singleRedisFaults stop, pause or restart the one redis-server: a
// cluster run skips them (its own Redis fault is redis-master-kill).
var singleRedisFaults = []string{"redis-restart", "redis-pause", "redis-pause-kill", "redis-pause-term"}

// schedule spreads the faults over the run so that none overlaps the
// next, and in a 60 s run the outbox's retries after one platform fault
// (2 s, then 4 s) come before the next: each one's recovery can be told
// apart.
//
// redis is the single Redis and cluster the cluster: one of them is nil,
// and the faults of the other are not picked (chaosRun skips them).
func schedule(d time.Duration, redis *redisProc, cluster *redisCluster, db *sql.DB, replicas []*replica, api *fakeAPI) []fault {
	pause := func(ctx context.Context, d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	mk := func(key, name string, at, lasts time.Duration, do func(ctx context.Context) error) fault {
		return fault{key: key, name: name, at: at, lasts: lasts, do: do}
	}
	var kill masterKill
	masterKillFault := mk("redis-master-kill", "SIGKILL a Redis Cluster master, its replica promoted; the killed server restarted 20 s later (as a replica)", d*13/100, 0, func(ctx context.Context) error {
		return kill.run(ctx, cluster)
	})
	masterKillFault.measured, masterKillFault.settle = kill.result, kill.settle
	return []fault{
		masterKillFault,
		mk("redis-restart", "restart Redis (down 3 s)", d*5/100, 3*time.Second, func(ctx context.Context) error {
			redis.stop()
			pause(ctx, 3*time.Second)
			return redis.start()
		}),
		mk("redis-pause", "pause Redis 8 s (SIGSTOP)", d*13/100, 8*time.Second, func(ctx context.Context) error {
			if err := redis.signal(syscall.SIGSTOP); err != nil {
				return err
			}
			pause(ctx, 8*time.Second)
			return redis.signal(syscall.SIGCONT)
		}),
		mk("db-kill", "drop MariaDB connections", d*29/100, 0, func(ctx context.Context) error {
			return killConnections(ctx, db)
		}),
		mk("replica-kill", "SIGKILL replica 0, restart after 2 s", d*34/100, 2*time.Second, func(ctx context.Context) error {
			replicas[0].kill()
			pause(ctx, 2*time.Second)
			return replicas[0].start()
		}),
		mk("redis-pause-kill", "pause Redis 8 s, SIGKILL replica 1 5 s into it, restart it after", d*43/100, 8*time.Second, func(ctx context.Context) error {
			// The replica dies holding callbacks it answered once their
			// budget ran out and could not process without Redis: the
			// platforms will not retry them (issue 18 item 2).
			if err := redis.signal(syscall.SIGSTOP); err != nil {
				return err
			}
			pause(ctx, 5*time.Second)
			replicas[1].kill()
			pause(ctx, 3*time.Second)
			if err := redis.signal(syscall.SIGCONT); err != nil {
				return err
			}
			return replicas[1].start()
		}),
		mk("api-fail", "platform APIs fail (HTTP 500) for 5 s", d*58/100, 5*time.Second, func(ctx context.Context) error {
			api.mode.Store(apiFail)
			pause(ctx, 5*time.Second)
			api.mode.Store(apiOK)
			return nil
		}),
		mk("api-hang", "platform APIs time out for 5 s", d*71/100, 5*time.Second, func(ctx context.Context) error {
			api.mode.Store(apiHang)
			pause(ctx, 5*time.Second)
			api.mode.Store(apiOK)
			return nil
		}),
		mk("api-deliver-hang", "platform APIs deliver, then hang, for 3 s", d*87/100, 3*time.Second, func(ctx context.Context) error {
			api.mode.Store(apiDeliverHang)
			pause(ctx, 3*time.Second)
			api.mode.Store(apiOK)
			return nil
		}),
		// The last two run on their own (-faults redis-pause-term or
		// replica-kills): they take longer than a 60 s run leaves them.
		mk("redis-pause-term", "pause Redis 12 s, SIGTERM replica 1 4 s into it, restart it once it has exited", d*93/100, 12*time.Second, func(ctx context.Context) error {
			// Callbacks wait on Redis while the replica drains: those it
			// answered early must be finished by it or by the other
			// replica (issue 28).
			if err := redis.signal(syscall.SIGSTOP); err != nil {
				return err
			}
			pause(ctx, 4*time.Second)
			exited, err := replicas[1].term()
			if err != nil {
				_ = redis.signal(syscall.SIGCONT)
				return err
			}
			pause(ctx, 8*time.Second)
			if err := redis.signal(syscall.SIGCONT); err != nil {
				return err
			}
			select {
			case <-exited:
			case <-ctx.Done():
				return ctx.Err()
			}
			return replicas[1].start()
		}),
		mk("replica-kills", "SIGKILL the replicas in turn, 6 times, each restarted 1 s after", d*95/100, 0, func(ctx context.Context) error {
			// Sends in flight die with their replica: each row found
			// marked as being sent is resent as an ambiguous resend.
			for i := range 6 {
				r := replicas[i%len(replicas)]
				r.kill()
				r.waitExit(ctx)
				pause(ctx, time.Second)
				if err := r.start(); err != nil {
					return err
				}
				pause(ctx, time.Second)
			}
			return nil
		}),
	}
}

// scrape reads the siyu counters the report shows from every replica's
// /metrics, summed over the replicas by series. A replica killed during
// the run counts only from its restart.
func scrape(replicas []*replica, logger *slog.Logger) map[string]float64 {
	want := []string{"siyu_callbacks_total", "siyu_sends_total", "siyu_sends_ambiguous_total", "siyu_dedupe_hits_total"}
	out := map[string]float64{}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, r := range replicas {
		resp, err := client.Get("http://" + r.addr + "/metrics")
		if err != nil {
			logger.Warn("metrics not scraped", "replica", r.addr, "err", err)
			continue
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			logger.Warn("metrics not scraped", "replica", r.addr, "status", resp.StatusCode, "body", string(raw[:min(len(raw), 200)]))
			continue
		}
		for line := range strings.SplitSeq(string(raw), "\n") {
			if line == "" || line[0] == '#' {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			if i < 0 {
				continue
			}
			series := line[:i]
			name, _, _ := strings.Cut(series, "{")
			if !slices.Contains(want, name) {
				continue
			}
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				out[series] += v
			}
		}
	}
	return out
}

// killConnections kills every server connection to the run's database
// except this one, as a failover or a network blip would.
func killConnections(ctx context.Context, db *sql.DB) error {
	var name string
	if err := db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&name); err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()", name)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err == nil {
			ids = append(ids, id)
		}
	}
	rows.Close()
	for _, id := range ids {
		_, _ = db.ExecContext(ctx, "KILL "+strconv.FormatInt(id, 10))
	}
	return nil
}

// drain waits until nothing is pending in the outbox and the fake API has
// been quiet for a while, or until limit.
func drain(ctx context.Context, db *sql.DB, api *fakeAPI, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	last, quietSince := api.total(), time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Second)
		var pending int
		_ = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'").Scan(&pending)
		if n := api.total(); n != last {
			last, quietSince = n, time.Now()
		}
		if pending == 0 && time.Since(quietSince) > 5*time.Second {
			return true
		}
	}
	return false
}
