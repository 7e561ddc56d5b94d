package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/silenceper/wechat/v2/util"
	"github.com/sirupsen/logrus"

	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// shutdownGrace bounds the stop after the delay: callbacks in flight,
// the work they started, the outbox's sends under way. With the default
// 5 s delay it stays within Kubernetes' default 30 s grace period, after
// which SIGKILL comes anyway.
const shutdownGrace = 20 * time.Second

// serve runs siyu until ctx ends, in four steps: open the stores, build,
// listen, drain.
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
	logStart(logger, cfg)
	configureProcess(cfg)

	st, closeStores, err := openStores(runCtx, cfg, logger, env.redisPrefix)
	if err != nil {
		return err
	}
	defer closeStores()
	a, err := build(runCtx, cfg, st, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	if cfg.MetricsAddr != "" {
		// Serves on while the replica drains: the drain is worth watching.
		_, stopMetrics, err := serveMetrics(cfg.MetricsAddr, a.metrics.Handler(), logger)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopMetrics()
	}
	// Startup is over once the listener is open: from here a signal
	// drains instead.
	abortStartup()
	return drain(ctx, runCtx, stopRun, a, ln, env, cfg, logger)
}

// logStart says what siyu starts on, and warns of configurations that
// work but should not reach production.
func logStart(logger *slog.Logger, cfg config) {
	if cfg.embedded() {
		logger.Info("siyu starting on embedded backends: SQLite file and in-process Redis (set MYSQL_DSN and REDIS_URL for production)", "sqlite", cfg.SQLitePath, "addr", cfg.Addr)
	} else {
		logger.Info("siyu starting on MySQL and Redis", "mysql", cfg.MySQLDSN != "", "redis", cfg.RedisURL != "", "addr", cfg.Addr)
	}
	if cfg.MySQLDSN == "" && cfg.RedisURL != "" || cfg.MySQLDSN != "" && cfg.RedisURL == "" {
		logger.Warn("only one of MYSQL_DSN and REDIS_URL is set; the other backend is embedded and not shared between replicas")
	}
	switch {
	case cfg.WeChatDemo && !loopback(cfg.Addr):
		logger.Warn("SIYU_DEMO=1 on a non-loopback address: the public demo Official Account answers anyone who reaches siyu; its credentials are in the source, so anyone can act as any follower", "addr", cfg.Addr)
	case cfg.WeChatDemo:
		logger.Warn("no platform configured: the public demo Official Account answers on this machine only; `siyu simulate` works, a real account will not", "addr", cfg.Addr)
	}
	if cfg.WeChatAllowPlain && cfg.WeChatAESKey != "" {
		logger.Warn("WECHAT_MODE=plain: WeChat callbacks in plain mode are accepted; their bodies are not authenticated, so set the account to safe mode when you can")
	}
}

// configureProcess sets the process-wide knobs of the runtime and the
// SDK, once, here and nowhere else.
func configureProcess(cfg config) {
	if !cfg.GCPercentSet {
		// siyu's live heap is a few megabytes while every callback
		// allocates; collecting at 5× live instead of 2× cut server CPU
		// per callback by about a tenth under load. GOGC overrides.
		debug.SetGCPercent(400)
	}
	// The SDK's package logger defaults to logging customers' messages at
	// Debug; siyu logs through slog, so the SDK's logrus output is
	// discarded.
	logrus.SetOutput(io.Discard)
	logrus.SetLevel(logrus.WarnLevel)
	util.DefaultHTTPClient = platformClient()
	// WECHAT_API_BASE and WECOM_API_BASE point the SDK at a fake or a
	// staging gateway.
	util.SetURIModifier(rewriteBases(map[string]string{
		"https://api.weixin.qq.com":   cfg.WeChatAPIBase,
		"https://qyapi.weixin.qq.com": cfg.WeCom.APIBase,
	}))
}

// openStores opens the database and Redis (embedded ones without
// MYSQL_DSN and REDIS_URL). redisPrefix, when set, keeps tests on a
// shared Redis to keys of their own.
func openStores(ctx context.Context, cfg config, logger *slog.Logger, redisPrefix string) (stores, func(), error) {
	db, err := sqlstore.Open(ctx, sqlstore.Config{MySQLDSN: cfg.MySQLDSN, SQLitePath: cfg.SQLitePath, Logger: logger})
	if err != nil {
		return stores{}, nil, err
	}
	opts := redisOptions(cfg)
	if redisPrefix != "" {
		opts = append(opts, redisstore.WithPrefix(redisPrefix))
	}
	rdb, err := redisstore.Open(ctx, cfg.RedisURL, logger, opts...)
	if err != nil {
		db.Close()
		return stores{}, nil, err
	}
	// Keys named before the cluster-ready scheme are carried over once;
	// a failure is no reason not to serve (see redisstore.Migrate).
	if n, err := rdb.Migrate(ctx); err != nil {
		logger.Warn("redis: old keys not carried over to the cluster-ready names; the next start tries again", "copied", n, "err", err)
	} else if n > 0 {
		logger.Info("redis: carried old keys over to the cluster-ready names", "keys", n)
	}
	return stores{db: db, rdb: rdb}, func() { rdb.Close(); db.Close() }, nil
}

// redisOptions are the redisstore options cfg asks for: a Redis Cluster
// or Sentinel.
func redisOptions(cfg config) []redisstore.Option {
	var opts []redisstore.Option
	if cfg.RedisCluster {
		opts = append(opts, redisstore.Cluster())
	}
	if cfg.RedisSentinelMaster != "" {
		opts = append(opts, redisstore.Sentinel(cfg.RedisSentinelMaster))
	}
	return opts
}

// drain serves a on ln until ctx ends, then drains: /readyz answers 503
// for the shutdown delay, the listener closes, callbacks in flight and
// the work they started finish, the outbox stops, then the background
// work (stopRun ends runCtx).
func drain(ctx, runCtx context.Context, stopRun func(), a *app, ln net.Listener, env runEnv, cfg config, logger *slog.Logger) error {
	srv := &http.Server{
		Handler: a.echo,
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
	go func() { defer close(outboxDone); a.outbox.Run(outboxCtx) }()
	var workers sync.WaitGroup
	for _, work := range a.workers {
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
	select {
	case err := <-serveErr:
		stopBackground(time.Now().Add(shutdownGrace))
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	// Draining: load balancers see /readyz fail and stop routing here,
	// while callbacks they still send are served.
	a.readiness.SetDraining(true)
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
	err := srv.Shutdown(sctx)
	// Work callbacks started and that outlives them (WeCom's late
	// processing and welcomes): it may still queue to the outbox.
	for _, d := range a.drains {
		waitUntil(logger, deadline, "callbacks' background work", d)
	}
	stopBackground(deadline)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// serveMetrics serves /metrics alone on addr (SIYU_METRICS_ADDR), a
// listener operators keep private, until stop is called. The listener is
// opened before it returns, so an address in use is an error; it returns
// the address it listens on.
func serveMetrics(addr string, h http.Handler, logger *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("listen %s (SIYU_METRICS_ADDR): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{
		Handler: mux,
		// Scrapers send a bare GET and read a few hundred kilobytes.
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics listener stopped", "err", err)
		}
	}()
	logger.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	stop := func() {
		// A scrape in flight is not worth waiting for.
		_ = srv.Close()
		<-done
	}
	return ln.Addr().String(), stop, nil
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

// platformClient is the client every SDK API call goes through. The
// default has no timeout, and a hung platform call would pin an outbox
// worker; and its transport keeps 2 idle connections per host, while one
// host (api.weixin.qq.com) takes every call: concurrent calls (outbox
// workers, identity's fetches) each dialled and shook hands anew.
func platformClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}
