package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers/wechat"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestRunDrainsOnSignal (issue 17 item 3): a callback is on the wire when
// the signal comes. /readyz answers 503 first while the replica still
// serves; then the listener closes, run waits for the callback, which
// gets its complete answer, and run returns nil.
func TestRunDrainsOnSignal(t *testing.T) {
	env := map[string]string{
		"SIYU_ADDR":   "127.0.0.1:0",
		"SIYU_SQLITE": filepath.Join(t.TempDir(), "siyu.db"),
		// Never waited for: drainWait below stands in for the delay.
		"SIYU_SHUTDOWN_DELAY": "1h",
	}
	if os.Getenv("MYSQL_DSN") != "" {
		env["MYSQL_DSN"] = storetest.SQLConfig(t).MySQLDSN
	}
	for k, v := range storetest.RedisEnv() { // a cluster or Sentinel too
		env[k] = v
	}
	redisPrefix := storetest.RedisPrefix(t)
	draining, proceed := make(chan time.Duration, 1), make(chan struct{})
	logs := &bottest.Logs{}
	ctx, signal := context.WithCancel(context.Background())
	defer signal()
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- run(ctx, runEnv{
			getenv: func(k string) string { return env[k] },
			stdout: io.Discard, stderr: logs,
			ready:       func(a string) { addrc <- a },
			redisPrefix: redisPrefix,
			drainWait:   func(d time.Duration) { draining <- d; <-proceed },
		})
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, logs)
	}
	base := "http://" + addr

	// The platform has sent the callback's headers and waits to send its
	// body (Expect: 100-continue). The "100 Continue" shows the server
	// read the headers and the handler is reading the body: a request
	// whose headers are still unread when the shutdown starts is closed
	// unanswered by net/http (the platform retries it), which a loaded
	// machine showed as an EOF.
	sim := &wechat.Simulator{URL: base + "/wechat/callback", Token: demoToken, EncodingAESKey: demoAESKey, AppID: demoAppID, OriginalID: demoOrigID}
	req, err := sim.Request(t.Context(), sim.TextXML("o-drain", "你们营业时间是？", wechat.NewMsgID()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/xml\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		req.URL.RequestURI(), addr, len(body)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if r, err := http.ReadResponse(br, nil); err != nil || r.StatusCode != http.StatusContinue {
		t.Fatalf("before the body: %v, %v; want 100 Continue", r, err)
	}
	half := len(body) / 2
	if _, err := conn.Write(body[:half]); err != nil {
		t.Fatal(err)
	}

	signal()
	if d := <-draining; d != time.Hour {
		t.Errorf("drain delay %v, want SIYU_SHUTDOWN_DELAY (1h)", d)
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("/readyz while draining: %v (the listener must stay open during the delay)", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining = %d, want 503", resp.StatusCode)
	}

	mark := logs.Len()
	close(proceed)
	waitFor(t, logs, "shutting down", mark)
	// The listener closes: new connections are refused, while the
	// callback on the wire is still waited for.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener stayed open after the shutdown began")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("run returned %v with a callback in flight", err)
	default:
	}

	if _, err := conn.Write(body[half:]); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the callback in flight got no answer: %v", err)
	}
	raw, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		t.Fatalf("the callback's answer was cut: %v", err)
	}
	got, err := sim.DecodeReply(r.StatusCode, raw)
	if want := "山茶咖啡各门店营业时间为每天 9:00-21:00，节假日照常营业。"; err != nil || got.Status != http.StatusOK || got.Content != want {
		t.Fatalf("the callback in flight got %d %q (%v), want 200 and %q", got.Status, got.Content, err, want)
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not return after the last callback\n%s", logs)
	}
	out := logs.String()
	order := []string{"draining", "shutting down", "stopped"}
	last := -1
	for _, msg := range order {
		i := strings.Index(out, msg)
		if i <= last {
			t.Fatalf("log lines %q not in that order:\n%s", order, out)
		}
		last = i
	}
}

// asMainEnv makes the test binary run siyu's main instead of its tests
// (TestSignals re-executes itself with it).
const asMainEnv = "SIYU_TEST_AS_MAIN"

// TestSignals runs siyu as a process and sends it SIGTERM: once, it
// drains and exits 0; twice, the second ends it at once (code 143, as
// for a process killed by SIGTERM) while the first is still waiting out
// a ten-minute SIYU_SHUTDOWN_DELAY.
func TestSignals(t *testing.T) {
	if os.Getenv(asMainEnv) == "1" {
		os.Args = []string{"siyu"}
		main()
		return
	}
	tests := []struct {
		name     string
		delay    string
		signals  int
		wantCode int
	}{
		{"one signal drains and exits 0", "0", 1, 0},
		{"a second signal exits at once", "10m", 2, 128 + int(syscall.SIGTERM)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestSignals$")
			dir := t.TempDir()
			cmd.Env = []string{
				asMainEnv + "=1",
				"SIYU_ADDR=127.0.0.1:0",
				"SIYU_SQLITE=" + filepath.Join(dir, "siyu.db"),
				"SIYU_SCRIPTS=" + filepath.Join(dir, "none"), // the built-in scripts
				"SIYU_LOG_FORMAT=json",
				"SIYU_SHUTDOWN_DELAY=" + tc.delay,
			}
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := make(chan string, 100)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			var seen []string
			waitLog := func(msg string) {
				t.Helper()
				timeout := time.After(30 * time.Second) // bounds a failing test only
				for {
					select {
					case l, ok := <-lines:
						if !ok {
							t.Fatalf("siyu ended before logging %q:\n%s", msg, strings.Join(seen, "\n"))
						}
						seen = append(seen, l)
						var m struct{ Msg string }
						if json.Unmarshal([]byte(l), &m) == nil && strings.HasPrefix(m.Msg, msg) {
							return
						}
					case <-timeout:
						t.Fatalf("siyu did not log %q:\n%s", msg, strings.Join(seen, "\n"))
					}
				}
			}
			waitLog("listening")
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waitLog("draining")
			if tc.signals == 2 {
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
			exited := make(chan error, 1)
			var rest []string // read after exited
			go func() {
				for l := range lines { // to the end, so the process never blocks on stderr
					rest = append(rest, l)
				}
				exited <- cmd.Wait()
			}()
			select {
			case err = <-exited:
			case <-time.After(30 * time.Second): // far below the 10-minute delay
				t.Fatalf("siyu did not exit:\n%s", strings.Join(seen, "\n"))
			}
			out := strings.Join(append(seen, rest...), "\n")
			if got := cmd.ProcessState.ExitCode(); got != tc.wantCode {
				t.Fatalf("exit %v (code %d), want code %d:\n%s", err, got, tc.wantCode, out)
			}
			if stopped := strings.Contains(out, `"msg":"stopped"`); stopped != (tc.signals == 1) {
				t.Fatalf("logged that it stopped after draining: %v, want %v:\n%s", stopped, tc.signals == 1, out)
			}
		})
	}
}
