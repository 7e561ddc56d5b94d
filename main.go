// Command siyu is a bot for brands' private-domain customers on WeChat
// Official Accounts, WeCom and Douyin. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/silenceper/wechat/v2/util"
	"github.com/sirupsen/logrus"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/metrics"
	"github.com/siyu-bot/siyu/scripts"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first SIGTERM or SIGINT starts the drain (serve); a second one
	// ends the process at once, for whoever will not wait. Handled here
	// rather than by restoring the default action after the first, which
	// would leave a moment where the second is swallowed.
	sigs := make(chan os.Signal, 2) // Notify drops what does not fit
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "siyu: second signal (%v): exiting without draining\n", sig)
		code := 1
		if s, ok := sig.(syscall.Signal); ok {
			code = 128 + int(s) // as a shell reports a process killed by s
		}
		os.Exit(code)
	}()
	if err := run(ctx, runEnv{args: os.Args[1:], getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}); err != nil {
		fmt.Fprintln(os.Stderr, "siyu:", err)
		os.Exit(1)
	}
}

// runEnv is everything run takes from the process, so tests can run siyu
// in-process.
type runEnv struct {
	args   []string
	getenv func(string) string
	stdin  io.Reader // siyu classify reads it
	stdout io.Writer
	stderr io.Writer
	// ready, when set, is told the server's address once it listens.
	ready func(addr string)
	// redisPrefix, when set, replaces redisstore.DefaultPrefix, so tests
	// on a shared Redis keep to keys of their own.
	redisPrefix string
	// drainWait, when set, replaces the wait of SIYU_SHUTDOWN_DELAY while
	// /readyz answers 503, so tests can look at a draining replica.
	drainWait func(d time.Duration)
}

const usage = `usage:
  siyu                         serve (configuration from the environment, see README.md)
  siyu check-scripts [dir]     validate reply scripts; exits 1 with file:line errors
  siyu simulate [flags] TEXT   post a signed, encrypted WeChat callback to a running siyu
                               and print the decrypted reply (siyu simulate -h for flags)
  siyu train                   train the intent model from knowledge/ and write it there
  siyu classify                read lines on stdin, write one JSON reading per line
  siyu coupons import|stats    load a campaign's codes from a CSV file; show a campaign's figures
`

func run(ctx context.Context, env runEnv) error {
	cmd := ""
	if len(env.args) > 0 {
		cmd = env.args[0]
	}
	switch cmd {
	case "", "serve":
		return serve(ctx, env)
	case "check-scripts":
		return checkScripts(env)
	case "simulate":
		return simulate(ctx, env)
	case "train":
		return cmdTrain(ctx, env)
	case "classify":
		return cmdClassify(ctx, env)
	case "coupons":
		return cmdCoupons(ctx, env)
	case "help", "-h", "--help":
		fmt.Fprint(env.stdout, usage)
		return nil
	}
	fmt.Fprint(env.stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// newLogger returns the process's logger: text for people, JSON
// (SIYU_LOG_FORMAT=json) for log pipelines, and every line logged with a
// request's context carries its request_id.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(handlers.LogRequestID(h))
}

// scriptsFS is the folder staff edit when it exists, else the example
// scripts built into the binary, so `siyu` runs from any directory.
func scriptsFS(dir string) (fsys fs.FS, source string) {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return os.DirFS(dir), dir
	}
	return scripts.FS, "built-in examples"
}

// shutdownGrace bounds the stop after the delay: callbacks in flight,
// the work they started, the outbox's sends under way. With the default
// 5 s delay it stays within Kubernetes' default 30 s grace period, after
// which SIGKILL comes anyway.
const shutdownGrace = 20 * time.Second

func serve(ctx context.Context, env runEnv) error {
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return err
	}
	logger := newLogger(env.stderr, cfg.LogLevel, cfg.LogFormat)
	// ctx ends at the first signal, but the replica goes on serving while
	// it drains: the work it needs for that (script reloads, pollers,
	// capability workers) runs on runCtx, which ends only once callbacks
	// are finished. A signal during startup still ends runCtx, so startup
	// is abandoned.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	abortStartup := context.AfterFunc(ctx, stopRun)
	defer abortStartup()
	if cfg.embedded() {
		logger.Info("siyu starting on embedded backends: SQLite file and in-process Redis (set MYSQL_DSN and REDIS_URL for production)", "sqlite", cfg.SQLitePath, "addr", cfg.Addr)
	} else {
		logger.Info("siyu starting on MySQL and Redis", "mysql", cfg.MySQLDSN != "", "redis", cfg.RedisURL != "", "addr", cfg.Addr)
	}
	if cfg.MySQLDSN == "" && cfg.RedisURL != "" || cfg.MySQLDSN != "" && cfg.RedisURL == "" {
		logger.Warn("only one of MYSQL_DSN and REDIS_URL is set; the other backend is embedded and not shared between replicas")
	}
	if cfg.WeChatDemo {
		logger.Warn("no WeChat Official Account configured (WECHAT_APPID, WECHAT_APPSECRET, WECHAT_TOKEN, WECHAT_AES_KEY): using public demo credentials; `siyu simulate` works, a real account will not")
	}
	if cfg.WeChatAllowPlain && cfg.WeChatAESKey != "" {
		logger.Warn("WECHAT_MODE=plain: WeChat callbacks in plain mode are accepted; their bodies are not authenticated, so set the account to safe mode when you can")
	}

	if env.getenv("GOGC") == "" {
		// siyu's live heap is a few megabytes while every callback
		// allocates; collecting at 5× live instead of 2× cut server CPU
		// per callback by about a tenth under load. GOGC overrides.
		debug.SetGCPercent(400)
	}

	// The SDK's process-wide knobs, set once here and nowhere else.
	// Its package logger defaults to logging customers' messages at Debug;
	// siyu logs through slog, so the SDK's logrus output is discarded.
	logrus.SetOutput(io.Discard)
	logrus.SetLevel(logrus.WarnLevel)
	// Every SDK API call goes through this client; the default has no
	// timeout, and a hung platform call would pin an outbox worker.
	util.DefaultHTTPClient = &http.Client{Timeout: 10 * time.Second}
	// WECHAT_API_BASE points the SDK at a fake or a staging gateway.
	util.SetURIModifier(rewriteBases(map[string]string{
		"https://api.weixin.qq.com":   cfg.WeChatAPIBase,
		"https://qyapi.weixin.qq.com": env.getenv("WECOM_API_BASE"),
	}))

	db, err := sqlstore.Open(runCtx, sqlstore.Config{MySQLDSN: cfg.MySQLDSN, SQLitePath: cfg.SQLitePath, Logger: logger})
	if err != nil {
		return err
	}
	defer db.Close()
	var redisOpts []redisstore.Option
	if env.redisPrefix != "" {
		redisOpts = append(redisOpts, redisstore.WithPrefix(env.redisPrefix))
	}
	rdb, err := redisstore.Open(runCtx, cfg.RedisURL, logger, redisOpts...)
	if err != nil {
		return err
	}
	defer rdb.Close()
	tokens := redisstore.NewTokenCache(rdb)

	sections, err := scriptSections()
	if err != nil {
		return err
	}
	fsys, source := scriptsFS(cfg.ScriptsDir)
	library, err := bot.NewLibrary(fsys, logger, sections...)
	if err != nil {
		return fmt.Errorf("reply scripts in %s: %w", source, err)
	}
	logger.Info("reply scripts loaded", "from", source, "rules", len(library.Scripts().Rules()))
	if source == cfg.ScriptsDir {
		go library.Watch(runCtx, 2*time.Second)
	}
	sqlOutbox := sqlstore.NewOutbox(db)
	obs := metrics.New(sqlOutbox)
	tokens.OnSet(obs.TokenRefreshKey)
	parts, err := buildParts(runCtx, capWiring{cfg: cfg, getenv: env.getenv, logger: logger, db: db, rdb: rdb, scripts: library, obs: obs})
	if err != nil {
		return err
	}

	outbox := bot.NewOutbox(sqlOutbox, nil, bot.OutboxConfig{Logger: logger, Gate: parts.gate, Renderers: parts.renderers,
		OnResult: func(p bot.Platform, result string) {
			obs.Sent(p, result)
			if result == "ambiguous" {
				obs.Ambiguous(p)
			}
		}})
	for p, s := range parts.senders {
		outbox.SetSender(p, s) // before the adapters', which win
	}
	engine := bot.NewEngine(bot.EngineConfig{
		Scripts: library, Logger: logger,
		Understand: parts.understand, Observe: parts.observe, Commands: parts.commandStages(), Meaning: parts.meaning,
		OnTurn: obs.ObserveTurn,
	})
	handler := bot.Chain(engine, append([]bot.Middleware{
		bot.Recover(logger),
		bot.Validate(),
		bot.Dedupe(redisstore.NewDeduper(rdb), bot.DedupeConfig{TTL: cfg.DedupeTTL, OnHit: func(ctx context.Context) {
			obs.DedupeHit()
			handlers.SetOutcome(ctx, metrics.OutcomeDeduplicated)
		}}, logger),
	}, parts.middleware...)...)

	e := handlers.NewEcho(logger, cfg.TrustedProxies...)
	// /healthz (in NewEcho) says the process answers; /readyz says it can
	// serve callbacks, for load balancers.
	readiness := handlers.NewReadiness(logger,
		handlers.Check{Name: "database", Pinger: db},
		handlers.Check{Name: "redis", Pinger: rdb})
	readiness.Register(e)
	// Prometheus scrapes every replica; the figures hold no customer data.
	e.GET("/metrics", echo.WrapHandler(obs.Handler()))
	g := e.Group("", obs.Callbacks())
	// An outer bound for every route; callback handlers read at most
	// 64 KiB of it (handlers/internal/body).
	g.Use(middleware.BodyLimit("1M"))
	var drains []func()
	w := wiring{cfg: cfg, getenv: env.getenv, logger: logger, db: db, rdb: rdb, tokens: tokens, handler: handler, outbox: outbox, group: g, library: library, drains: &drains, identity: parts.identity}
	for _, wire := range []func(context.Context, wiring) error{wireWeChat, wireWeCom, wireDouyin} {
		if err := wire(runCtx, w); err != nil {
			return err
		}
	}
	editDir := ""
	if source == cfg.ScriptsDir {
		editDir = cfg.ScriptsDir
	}
	if err := wireConsole(runCtx, consoleWiring{w: w, outbox: sqlOutbox, engine: engine, parts: parts, editDir: editDir}); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler: e,
		// Platforms send small bodies and expect an answer within 5 s;
		// slow clients beyond these bounds are not platforms.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	// The outbox stops before the rest of the background work, once
	// callbacks have finished queueing (stopBackground).
	outboxCtx, stopOutbox := context.WithCancel(runCtx)
	defer stopOutbox()
	outboxDone := make(chan struct{})
	go func() { defer close(outboxDone); outbox.Run(outboxCtx) }()
	var workers sync.WaitGroup
	for _, work := range parts.workers {
		workers.Go(func() { work(runCtx) })
	}
	stopBackground := func(deadline time.Time) {
		stopOutbox() // sends under way finish; claimed rows not started are released
		waitUntil(logger, deadline, "outbox", func() { <-outboxDone })
		stopRun()
		waitUntil(logger, deadline, "background workers", workers.Wait)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())
	if env.ready != nil {
		env.ready(ln.Addr().String())
	}
	abortStartup()
	select {
	case err := <-serveErr:
		stopBackground(time.Now().Add(shutdownGrace))
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	// Draining: load balancers see /readyz fail and stop routing here,
	// while callbacks they still send are served.
	readiness.SetDraining(true)
	logger.Info("draining: /readyz answers 503 until the listener closes", "delay", cfg.ShutdownDelay.String())
	if env.drainWait != nil {
		env.drainWait(cfg.ShutdownDelay)
	} else if cfg.ShutdownDelay > 0 {
		time.Sleep(cfg.ShutdownDelay)
	}
	logger.Info("shutting down: closing the listener, finishing callbacks in flight")
	deadline := time.Now().Add(shutdownGrace)
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err = srv.Shutdown(sctx)
	// Work callbacks started and that outlives them (WeCom's late
	// processing and welcomes): it may still queue to the outbox.
	for _, drain := range drains {
		waitUntil(logger, deadline, "callbacks' background work", drain)
	}
	stopBackground(deadline)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// waitUntil runs wait and returns when it does, or at deadline, logging
// what was left running: a shutdown must end before the orchestrator's
// SIGKILL, and what was not finished is retried by the platforms or the
// outbox of another replica.
func waitUntil(logger *slog.Logger, deadline time.Time, what string, wait func()) {
	done := make(chan struct{})
	go func() { defer close(done); wait() }()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		logger.Warn("shutdown: stopped waiting", "for", what)
	}
}

// rewriteBases maps URLs on platforms' real bases to configured ones
// (an empty configured base keeps the real one).
func rewriteBases(bases map[string]string) func(string) string {
	return func(uri string) string {
		for real, configured := range bases {
			configured = strings.TrimRight(configured, "/")
			if configured == "" || configured == real {
				continue
			}
			if rest, ok := strings.CutPrefix(uri, real); ok {
				return configured + rest
			}
		}
		return uri
	}
}

func checkScripts(env runEnv) error {
	dir := "scripts"
	if len(env.args) > 1 {
		dir = env.args[1]
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("check-scripts: %s is not a folder", dir)
	}
	sections, err := scriptSections()
	if err != nil {
		return err
	}
	s, err := bot.LoadScripts(os.DirFS(dir), sections...)
	if err != nil {
		errs := bot.ScriptErrors(err)
		for _, se := range errs {
			se.File = dir + "/" + se.File
			fmt.Fprintln(env.stderr, se.Error())
		}
		if len(errs) == 0 {
			fmt.Fprintln(env.stderr, err)
		}
		return fmt.Errorf("check-scripts: %d error(s) in %s", max(len(errs), 1), dir)
	}
	fmt.Fprintf(env.stdout, "%s: ok, %d rules, %d channels\n", dir, len(s.Rules()), len(s.Channels()))
	return nil
}
