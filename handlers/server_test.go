package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

func TestErrorHandler(t *testing.T) {
	secret := "openid-o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
	tests := []struct {
		name     string
		method   string
		err      error
		wantCode int
		wantBody string
		wantLog  bool
	}{
		{"bad input", http.MethodPost, fmt.Errorf("wechat: parse: %w", bot.ErrInvalid), http.StatusBadRequest, "Bad Request", false},
		{"bad signature", http.MethodPost, fmt.Errorf("wechat: verify: %w", bot.ErrUnauthorized), http.StatusUnauthorized, "Unauthorized", false},
		{"not found", http.MethodGet, fmt.Errorf("outbox row 42: %w", bot.ErrNotFound), http.StatusNotFound, "Not Found", false},
		{"conflict", http.MethodPost, fmt.Errorf("requeue: %w", bot.ErrConflict), http.StatusConflict, "Conflict", false},
		{"dependency down", http.MethodPost, fmt.Errorf("dedupe %s: %w", secret, bot.ErrUnavailable), http.StatusServiceUnavailable, "Service Unavailable", true},
		{"deadline", http.MethodPost, fmt.Errorf("engine: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, "Service Unavailable", true},
		{"unknown", http.MethodPost, errors.New("boom " + secret), http.StatusInternalServerError, "Internal Server Error", true},
		{"echo error keeps its message", http.MethodPost, echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body too large"), http.StatusRequestEntityTooLarge, "body too large", false},
		{"HEAD gets no body", http.MethodHead, fmt.Errorf("x: %w", bot.ErrNotFound), http.StatusNotFound, "", false},
		// The client hung up: nobody reads an answer, so none is written.
		{"client gone", http.MethodPost, fmt.Errorf("engine: %w", context.Canceled), http.StatusOK, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bottest.Logs
			logger := logs.Logger(slog.LevelInfo)
			e := echo.New()
			rec := httptest.NewRecorder()
			c := e.NewContext(httptest.NewRequest(tt.method, "/x", nil), rec)

			ErrorHandler(logger)(tt.err, c)

			if rec.Code != tt.wantCode {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantCode)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if strings.Contains(rec.Body.String(), secret) {
				t.Errorf("response leaks the error's details: %q", rec.Body.String())
			}
			if logged := logs.Len() > 0; logged != tt.wantLog {
				t.Errorf("logged = %v, want %v (log: %q)", logged, tt.wantLog, logs.String())
			}
		})
	}
}

func TestErrorHandlerLeavesCommittedResponse(t *testing.T) {
	e := echo.New()
	rec := httptest.NewRecorder()
	c := e.NewContext(httptest.NewRequest(http.MethodPost, "/x", nil), rec)
	if err := c.String(http.StatusOK, "success"); err != nil {
		t.Fatal(err)
	}

	ErrorHandler(bottest.Logger(t))(fmt.Errorf("late: %w", bot.ErrUnavailable), c)

	if rec.Code != http.StatusOK || rec.Body.String() != "success" {
		t.Errorf("got %d %q, want the answer already sent: 200 %q", rec.Code, rec.Body.String(), "success")
	}
}
