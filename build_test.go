package main

import (
	"cmp"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/storetest"
)

// buildTest builds siyu as serve does from env (nothing else of the
// process's environment) on the test backends, and serves its routes.
// The app's outbox and workers do not run: a test runs what it needs.
func buildTest(t testing.TB, env map[string]string) (*app, *httptest.Server) {
	t.Helper()
	return buildTestLog(t, env, bottest.Logger(t))
}

// buildTestLog is buildTest logging to logger.
func buildTestLog(t testing.TB, env map[string]string, logger *slog.Logger) (*app, *httptest.Server) {
	t.Helper()
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	st := stores{db: storetest.SQL(t), rdb: storetest.Redis(t)}
	a, err := build(t.Context(), cfg, st, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.echo)
	t.Cleanup(srv.Close)
	return a, srv
}

// adminRequest sends one admin API request with the bearer token and
// returns the status and the answer. A body is JSON unless contentType
// says otherwise.
func adminRequest(t testing.TB, method, url, token, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", cmp.Or(contentType, "application/json"))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// adminJSON is adminRequest with a JSON body, decoding the answer into
// v; it fails the test unless the status is want.
func adminJSON(t testing.TB, method, url, token, body string, want int, v any) {
	t.Helper()
	status, raw := adminRequest(t, method, url, token, "", body)
	if status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, url, status, raw, want)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, raw)
		}
	}
}

// envWith returns a copy of base with the key, value pairs kv set.
func envWith(base map[string]string, kv ...string) map[string]string {
	env := maps.Clone(base)
	if env == nil {
		env = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}
