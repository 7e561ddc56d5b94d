package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// Pinger is a dependency that must answer for siyu to take traffic: the
// database, Redis. Declared here so that this package needs no adapter.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Check is one named dependency of /readyz.
type Check struct {
	Name   string // "database", "redis": what the answer and the log say
	Pinger Pinger
}

// Readiness serves /readyz for load balancers: 200 while every check
// answers and the replica is not draining, 503 otherwise. /healthz stays a
// liveness check (the process answers); a replica whose Redis is down is
// alive but must not get callbacks, which would all fail.
type Readiness struct {
	checks   []Check
	timeout  time.Duration
	logger   *slog.Logger
	draining atomic.Bool
	mu       sync.Mutex
	failing  string // the last answer's failing checks, to log changes only
}

// NewReadiness returns the readiness of a replica with these checks.
func NewReadiness(logger *slog.Logger, checks ...Check) *Readiness {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Load balancers probe every few seconds with a timeout of their own;
	// a dependency slower than this is as good as down.
	return &Readiness{checks: checks, timeout: 2 * time.Second, logger: logger}
}

// SetDraining makes /readyz answer 503 (true) so that load balancers stop
// sending traffic before the replica shuts down, or 200 again (false).
func (r *Readiness) SetDraining(draining bool) { r.draining.Store(draining) }

// Register mounts GET and HEAD /readyz on e.
func (r *Readiness) Register(e *echo.Echo) {
	e.GET("/readyz", r.serve)
	e.HEAD("/readyz", r.serve)
}

// Failing runs every check at once and returns the names of those that
// failed, in the checks' order; "draining" when the replica is draining.
func (r *Readiness) Failing(ctx context.Context) []string {
	if r.draining.Load() {
		return []string{"draining"}
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	errs := make([]error, len(r.checks))
	var wg sync.WaitGroup
	for i, c := range r.checks {
		wg.Go(func() { errs[i] = c.Pinger.Ping(ctx) })
	}
	wg.Wait()
	var failing []string
	for i, err := range errs {
		if err != nil {
			failing = append(failing, r.checks[i].Name)
			r.logChange(ctx, r.checks[i].Name, err)
		}
	}
	r.remember(ctx, strings.Join(failing, ","))
	return failing
}

func (r *Readiness) serve(c echo.Context) error {
	failing := r.Failing(c.Request().Context())
	if len(failing) > 0 {
		return c.String(http.StatusServiceUnavailable, "not ready: "+strings.Join(failing, ", "))
	}
	return c.String(http.StatusOK, "ready")
}

// logChange logs a failing check when it was not failing at the last
// answer: probes come every few seconds, the log needs it once.
func (r *Readiness) logChange(ctx context.Context, name string, err error) {
	r.mu.Lock()
	was := r.failing
	r.mu.Unlock()
	for _, f := range strings.Split(was, ",") {
		if f == name {
			return
		}
	}
	r.logger.WarnContext(ctx, "not ready: a dependency does not answer", "check", name, "err", err)
}

func (r *Readiness) remember(ctx context.Context, failing string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing != "" && failing == "" {
		r.logger.InfoContext(ctx, "ready again")
	}
	r.failing = failing
}
