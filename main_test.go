package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/storetest"
)

// waitFor blocks until what logs recorded after the mark contains want.
// The deadline only bounds a failing test.
func waitFor(t *testing.T, logs *bottest.Logs, want string, mark int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		next := logs.Next()
		if strings.Contains(logs.String()[mark:], want) {
			return
		}
		select {
		case <-next:
		case <-deadline:
			t.Fatalf("the server did not log %q\n%s", want, logs)
		}
	}
}

// startSiyu runs siyu in-process on a free port with the given extra
// environment, on the real backends when MYSQL_DSN and REDIS_URL are set
// (an isolated database of its own) and the embedded ones otherwise. It
// returns the base URL and the server's log.
func startSiyu(t testing.TB, extra map[string]string) (string, *bottest.Logs) {
	t.Helper()
	env := map[string]string{
		"SIYU_ADDR":   "127.0.0.1:0",
		"SIYU_SQLITE": filepath.Join(t.TempDir(), "siyu.db"),
		// No load balancer to wait for: stop at once.
		"SIYU_SHUTDOWN_DELAY": "0",
	}
	if os.Getenv("MYSQL_DSN") != "" {
		env["MYSQL_DSN"] = storetest.SQLConfig(t).MySQLDSN
	}
	for k, v := range storetest.RedisEnv() { // a cluster or Sentinel too
		env[k] = v
	}
	// Keys of this test's own, never siyu's production prefix, deleted
	// after the server below has stopped (cleanups run in reverse).
	redisPrefix := storetest.RedisPrefix(t)
	for k, v := range extra {
		env[k] = v
	}
	logs := &bottest.Logs{}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, runEnv{
			getenv: func(k string) string { return env[k] },
			stdout: io.Discard, stderr: logs,
			ready:       func(a string) { addr <- a },
			redisPrefix: redisPrefix,
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("siyu did not shut down")
		}
	})
	select {
	case a := <-addr:
		return "http://" + a, logs
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("siyu did not start\n%s", logs)
	}
	return "", nil
}

// simulateCmd runs `siyu simulate` against base and returns its output.
func simulateCmd(t *testing.T, base string, env map[string]string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), runEnv{
		args:   append([]string{"simulate", "--url", base + "/wechat/callback"}, args...),
		getenv: func(k string) string { return env[k] },
		stdout: &out, stderr: &errOut,
	})
	if err != nil {
		t.Fatalf("simulate %v: %v\n%s", args, err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

func TestRunEndToEnd(t *testing.T) {
	base, logs := startSiyu(t, nil)
	if first, _, _ := strings.Cut(logs.String(), "\n"); !strings.Contains(first, "siyu starting") {
		t.Errorf("first log line = %q, want the backends siyu runs on", first)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s = %d, want 200", path, resp.StatusCode)
		}
	}
	tests := []struct {
		name string
		args []string
		want []string // any of these
	}{
		{"keyword", []string{"你们营业时间是？"}, []string{"山茶咖啡各门店营业时间为每天 9:00-21:00，节假日照常营业。"}},
		{"follow welcome", []string{"--event", "subscribe", "--from", "o-new-follower"}, []string{"欢迎关注山茶咖啡☕️ 回复「签到」每天领积分，回复「菜单」看看今天喝什么～", "你好呀，欢迎来到山茶咖啡！新人回复「优惠券」领取首杯立减券🎁"}},
		{"follow through a channel", []string{"--event", "subscribe", "--key", "qrscene_store-shanghai-01", "--from", "o-shop"}, []string{"欢迎来到山茶咖啡上海静安店！出示本条消息可在门店领取一份小食🍪"}},
		{"fallback", []string{"随便说点什么"}, []string{"抱歉，小山没太听懂😅 可以换个说法试试，或回复「人工」联系客服。", "这个问题小山还在学习中～回复「人工」，客服同事会尽快回复你。"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := simulateCmd(t, base, nil, tc.args...)
			for _, w := range tc.want {
				if got == w {
					return
				}
			}
			t.Fatalf("simulate %v = %q, want one of %q", tc.args, got, tc.want)
		})
	}
	if strings.Contains(logs.String(), "营业时间") {
		t.Error("a customer's message reached the log")
	}
}

func TestRunReloadsScripts(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "faq.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    reply: 旧的回复\n")
	base, logs := startSiyu(t, map[string]string{"SIYU_SCRIPTS": dir})
	if got := simulateCmd(t, base, nil, "营业时间"); got != "旧的回复" {
		t.Fatalf("reply = %q, want 旧的回复", got)
	}
	mark := logs.Len()
	write("rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    reply: 新的回复\n")
	waitFor(t, logs, "scripts reloaded", mark)
	if got := simulateCmd(t, base, nil, "营业时间"); got != "新的回复" {
		t.Fatalf("after the reload reply = %q, want 新的回复", got)
	}

	// A broken edit is rejected with its file and line; the last good
	// scripts keep answering.
	mark = logs.Len()
	write("rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    reply: 坏的回复\n    colour: red\n")
	waitFor(t, logs, "file=faq.yaml line=5", mark)
	if got := simulateCmd(t, base, nil, "营业时间"); got != "新的回复" {
		t.Fatalf("after a broken edit reply = %q, want the last good 新的回复", got)
	}
}

func TestCheckScripts(t *testing.T) {
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "faq.yaml"), []byte("rules:\n  - name: x\n    match: {regex: \"([\"}\n    reply: hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badBrand := t.TempDir()
	for name, text := range map[string]string{
		"faq.yaml":                "rules:\n  - name: x\n    match: {contains: [a]}\n    reply: hi\n",
		"brands/shancha/faq.yaml": "rules:\n  - name: x\n    match: {contains: [a]}\n    replay: hi\n",
	} {
		p := filepath.Join(badBrand, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		dir        string
		wantErr    bool
		wantOutput string
	}{
		{"shipped examples", "scripts", false, "ok"},
		{"invalid regex", bad, true, "faq.yaml:3"},
		{"every brand and account folder, with its rules", "testdata/scripts-brands", false, "testdata/scripts-brands: ok, 2 rules, 0 channels\n" +
			"testdata/scripts-brands/brands/shancha: ok, 2 rules, 0 channels\n" +
			"testdata/scripts-brands/brands/shancha/oa-main: ok, 2 rules, 0 channels\n" +
			"testdata/scripts-brands/brands/yunshan: ok, 3 rules, 0 channels\n"},
		{"a mistake in a brand's file", badBrand, true, "brands/shancha/faq.yaml:4: rule: unknown key \"replay\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), runEnv{args: []string{"check-scripts", tc.dir}, getenv: func(string) string { return "" }, stdout: &out, stderr: &errOut})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got := out.String() + errOut.String(); !strings.Contains(got, tc.wantOutput) {
				t.Fatalf("output %q does not contain %q", got, tc.wantOutput)
			}
		})
	}
}

func TestAdminAPI(t *testing.T) {
	tests := []struct {
		name       string
		token      string // configured
		bearer     string // sent
		wantStatus int
	}{
		{"off without a configured token", "", "anything", http.StatusNotFound},
		{"no bearer", "s3cret-admin", "", http.StatusUnauthorized},
		{"wrong bearer", "s3cret-admin", "guess", http.StatusUnauthorized},
		{"right bearer", "s3cret-admin", "s3cret-admin", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base, logs := startSiyu(t, map[string]string{"SIYU_ADMIN_TOKEN": tc.token})
			req, _ := http.NewRequest(http.MethodGet, base+"/admin/api/outbox?status=dead", nil)
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.token != "" && strings.Contains(logs.String(), tc.token) {
				t.Fatal("the admin token reached the log")
			}
		})
	}
}

// TestRunPlainMode: a siyu whose account has an EncodingAESKey (the demo
// account has one) refuses plain-mode callbacks unless WECHAT_MODE=plain.
func TestRunPlainMode(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // "" for the keyword reply
	}{
		{"safe by default", nil, "HTTP 401"},
		{"WECHAT_MODE=plain", map[string]string{"WECHAT_MODE": "plain"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base, _ := startSiyu(t, tc.env)
			var out, errOut bytes.Buffer
			err := run(t.Context(), runEnv{
				args:   []string{"simulate", "--url", base + "/wechat/callback", "--plain", "营业时间"},
				getenv: func(k string) string { return tc.env[k] },
				stdout: &out, stderr: &errOut,
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("simulate --plain = %v %q, want %s", err, out.String(), tc.wantErr)
				}
				return
			}
			if want := "山茶咖啡各门店营业时间为每天 9:00-21:00，节假日照常营业。"; err != nil || strings.TrimSpace(out.String()) != want {
				t.Fatalf("simulate --plain = %v %q, want %q", err, out.String(), want)
			}
		})
	}
}
