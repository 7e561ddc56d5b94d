package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestRequestIDOnEveryLine(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(LogRequestID(slog.NewJSONHandler(&buf, nil)))
	e := NewEcho(logger)
	e.Use(RequestID())
	e.POST("/cb", func(c echo.Context) error {
		ctx := c.Request().Context()
		logger.InfoContext(ctx, "one")
		logger.With("k", "v").WarnContext(ctx, "two")
		return c.String(http.StatusOK, "ok")
	})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/cb", nil)
	req.Header.Set(RequestIDHeader, "forged")
	e.ServeHTTP(rec, req)
	id := rec.Header().Get(RequestIDHeader)
	if len(id) != 16 || id == "forged" {
		t.Fatalf("response request id = %q, want 16 hex digits of siyu's own", id)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("logged %d lines, want 2:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		if m["request_id"] != id {
			t.Errorf("line %s has request_id %v, want %s", l, m["request_id"], id)
		}
	}
}

// BenchmarkLogLine is the cost of one JSON log line of a refused
// callback, without and with its request's context (the request_id).
func BenchmarkLogLine(b *testing.B) {
	logger := slog.New(LogRequestID(slog.NewJSONHandler(io.Discard, nil)))
	ctx := context.WithValue(context.Background(), requestKey{}, &requestInfo{id: "0123456789abcdef"})
	for _, bc := range []struct {
		name string
		log  func()
	}{
		{"no context", func() { logger.Warn("wechat: callback with a bad msg_signature", "remote", "192.0.2.1") }},
		{"request context", func() { logger.WarnContext(ctx, "wechat: callback with a bad msg_signature", "remote", "192.0.2.1") }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.log()
			}
		})
	}
}
