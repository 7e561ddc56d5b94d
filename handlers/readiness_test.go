package handlers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot/bottest"
)

type pingFunc func(ctx context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

var (
	up   = pingFunc(func(context.Context) error { return nil })
	down = pingFunc(func(context.Context) error { return errors.New("dial tcp 127.0.0.1:6379: connection refused") })
	hung = pingFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
)

// TestReadyz: /readyz answers 503 naming what is down while /healthz, the
// liveness check, keeps answering 200.
func TestReadyz(t *testing.T) {
	tests := []struct {
		name       string
		db, redis  Pinger
		draining   bool
		wantStatus int
		wantBody   string
	}{
		{"all up", up, up, false, http.StatusOK, "ready"},
		{"redis down", up, down, false, http.StatusServiceUnavailable, "not ready: redis"},
		{"database down", down, up, false, http.StatusServiceUnavailable, "not ready: database"},
		{"both down", down, down, false, http.StatusServiceUnavailable, "not ready: database, redis"},
		{"redis hangs", up, hung, false, http.StatusServiceUnavailable, "not ready: redis"},
		{"draining", up, up, true, http.StatusServiceUnavailable, "not ready: draining"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEcho(bottest.Logger(t))
			r := NewReadiness(bottest.Logger(t), Check{"database", tc.db}, Check{"redis", tc.redis})
			r.timeout = 50 * time.Millisecond // the hung check must not hold the test
			r.SetDraining(tc.draining)
			r.Register(e)
			for _, path := range []string{"/readyz", "/healthz"} {
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				wantStatus, wantBody := tc.wantStatus, tc.wantBody
				if path == "/healthz" {
					wantStatus, wantBody = http.StatusOK, "ok"
				}
				if rec.Code != wantStatus || rec.Body.String() != wantBody {
					t.Errorf("GET %s = %d %q, want %d %q", path, rec.Code, rec.Body.String(), wantStatus, wantBody)
				}
			}
		})
	}
}

// TestReadyzRecovers: a replica whose Redis comes back is ready again, and
// a draining one that stops draining too.
func TestReadyzRecovers(t *testing.T) {
	var redisUp bool
	redis := pingFunc(func(ctx context.Context) error {
		if redisUp {
			return nil
		}
		return down(ctx)
	})
	r := NewReadiness(nil, Check{"redis", redis})
	if got := r.Failing(t.Context()); strings.Join(got, ",") != "redis" {
		t.Fatalf("Failing = %q, want redis", got)
	}
	redisUp = true
	if got := r.Failing(t.Context()); len(got) != 0 {
		t.Fatalf("Failing = %q after Redis came back, want none", got)
	}
	r.SetDraining(true)
	r.SetDraining(false)
	if got := r.Failing(t.Context()); len(got) != 0 {
		t.Fatalf("Failing = %q after draining ended, want none", got)
	}
}

// TestClientAddress: the logged client address comes from a forwarding
// header only when the connection comes from a configured proxy.
func TestClientAddress(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("10.1.0.0/16")
	tests := []struct {
		name    string
		trusted []*net.IPNet
		remote  string
		headers map[string]string
		want    string
	}{
		{"direct", nil, "198.51.100.7:4000", nil, "198.51.100.7"},
		{"forged X-Forwarded-For, no proxy configured", nil, "198.51.100.7:4000", map[string]string{"X-Forwarded-For": "203.0.113.1"}, "198.51.100.7"},
		{"forged X-Real-IP, no proxy configured", nil, "198.51.100.7:4000", map[string]string{"X-Real-IP": "203.0.113.1"}, "198.51.100.7"},
		{"forged header from a private address, no proxy configured", nil, "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "203.0.113.1"}, "10.1.2.3"},
		{"through a trusted proxy", []*net.IPNet{proxies}, "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "203.0.113.1"}, "203.0.113.1"},
		{"client's own forged entry before the proxy's", []*net.IPNet{proxies}, "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "192.0.2.66, 203.0.113.1"}, "203.0.113.1"},
		{"header from outside the trusted proxies", []*net.IPNet{proxies}, "198.51.100.7:4000", map[string]string{"X-Forwarded-For": "203.0.113.1"}, "198.51.100.7"},
		{"a private address not configured as a proxy", []*net.IPNet{proxies}, "192.168.1.5:4000", map[string]string{"X-Forwarded-For": "203.0.113.1"}, "192.168.1.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEcho(bottest.Logger(t), tc.trusted...)
			var got string
			e.GET("/ip", func(c echo.Context) error { got = c.RealIP(); return nil })
			req := httptest.NewRequest(http.MethodGet, "/ip", nil)
			req.RemoteAddr = tc.remote
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			e.ServeHTTP(httptest.NewRecorder(), req)
			if got != tc.want {
				t.Fatalf("RealIP = %q, want %q", got, tc.want)
			}
		})
	}
}
