package handlers

import (
	"bytes"
	"encoding/json"
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
