package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers/wechat"
)

func TestLoadWeComConfig(t *testing.T) {
	const key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	base := map[string]string{"WECOM_CORPID": "ww1", "WECOM_TOKEN": "tok", "WECOM_AES_KEY": key}
	with := func(kv ...string) map[string]string { return envWith(base, kv...) }
	tests := []struct {
		name        string
		env         map[string]string
		wantEnabled bool
		wantAlertTo []string
		wantErr     string
	}{
		{"nothing set: off", map[string]string{}, false, nil, ""},
		{"no token: off", map[string]string{"WECOM_CORPID": "ww1"}, false, nil, ""},
		{"minimal", base, true, nil, ""},
		{"alert recipients, commas or bars", with("WECOM_AGENTID", "1000002", "WECOM_SECRET", "s", "WECOM_ALERT_TO", "zhangsan, lisi|wangwu"), true, []string{"zhangsan", "lisi", "wangwu"}, ""},
		{"short AES key", with("WECOM_AES_KEY", "abc"), true, nil, "WECOM_AES_KEY"},
		{"agent id not a number", with("WECOM_AGENTID", "app"), true, nil, "WECOM_AGENTID"},
		{"alerts without the app", with("WECOM_ALERT_TO", "zhangsan"), true, nil, "WECOM_ALERT_TO"},
		{"archive without its key", with("WECOM_ARCHIVE_SECRET", "s"), true, nil, "WECOM_ARCHIVE_KEY_FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadWeComConfig(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one about %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.enabled() != tc.wantEnabled || !slices.Equal(c.AlertTo, tc.wantAlertTo) {
				t.Fatalf("config = %+v, want enabled %v, alerts to %q", c, tc.wantEnabled, tc.wantAlertTo)
			}
		})
	}
}

// TestWeComMounted mounts the callback with the published sample corp and
// answers WeCom's URL check (vectors.json wecom-sample-url-verify).
func TestWeComMounted(t *testing.T) {
	env := map[string]string{
		"WECOM_CORPID": "wx5823bf96d3bd56c7", "WECOM_TOKEN": "QDG6eK",
		"WECOM_AES_KEY": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "WECOM_AGENTID": "1000002",
	}
	env["SIYU_SCRIPTS"] = "scripts"
	_, srv := buildTest(t, env)
	q := url.Values{
		"msg_signature": {"5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"}, "timestamp": {"1409659589"}, "nonce": {"263014780"},
		"echostr": {"P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="},
	}
	resp, err := http.Get(srv.URL + "/wecom/callback?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "1616140317555161061" {
		t.Fatalf("URL check = %d %q, want 200 1616140317555161061", resp.StatusCode, body)
	}
}

func TestWeComOff(t *testing.T) {
	_, srv := buildTest(t, map[string]string{"SIYU_SCRIPTS": "scripts"})
	resp, err := http.Get(srv.URL + "/wecom/callback")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /wecom/callback with WeCom off = %d, want 404", resp.StatusCode)
	}
}

// TestDemoAccountNotBesideRealPlatforms: with WeCom (or Douyin) configured
// and no WECHAT_*, a callback signed with the public demo credentials finds
// no /wechat/callback (404) instead of an engine that claims coupons and
// opts people out for it; and the log says which platforms are on.
func TestDemoAccountNotBesideRealPlatforms(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantOn  string // in the "platforms on" line
		wantOff string // not in it
	}{
		{"WeCom configured", map[string]string{
			"WECOM_CORPID": "wx5823bf96d3bd56c7", "WECOM_TOKEN": "QDG6eK", "WECOM_AES_KEY": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
		}, "platforms=wecom", "wechat"},
		{"Douyin configured", map[string]string{"DOUYIN_CLIENT_KEY": "k", "DOUYIN_CLIENT_SECRET": "s"}, "platforms=douyin", "wechat"},
		{"nothing configured, every interface", map[string]string{"SIYU_ADDR": ":8080"}, "no platform is on", "platforms on"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["SIYU_SCRIPTS"] = "scripts"
			logs := &bottest.Logs{}
			_, srv := buildTestLog(t, tc.env, logs.Logger(slog.LevelInfo))
			sim := &wechat.Simulator{URL: srv.URL + "/wechat/callback", Token: demoToken, EncodingAESKey: demoAESKey, AppID: demoAppID, OriginalID: demoOrigID}
			r, err := sim.Post(t.Context(), sim.TextXML("o-attacker", "领券", wechat.NewMsgID()))
			if r.Status != http.StatusNotFound {
				t.Fatalf("demo-signed callback = %d (%v), want 404: no WeChat account is configured", r.Status, err)
			}
			var line string
			for l := range strings.SplitSeq(logs.String(), "\n") {
				if strings.Contains(l, "platforms on") || strings.Contains(l, "no platform is on") {
					line = l
				}
			}
			if !strings.Contains(line, tc.wantOn) || strings.Contains(line, tc.wantOff) {
				t.Fatalf("platforms log line = %q, want %q without %q", line, tc.wantOn, tc.wantOff)
			}
		})
	}
}

// TestDemoAccountAlone: with nothing configured, the demo account answers
// (siyu listens on loopback), and the log says so.
func TestDemoAccountAlone(t *testing.T) {
	logs := &bottest.Logs{}
	_, srv := buildTestLog(t, map[string]string{"SIYU_SCRIPTS": "scripts"}, logs.Logger(slog.LevelInfo))
	sim := &wechat.Simulator{URL: srv.URL + "/wechat/callback", Token: demoToken, EncodingAESKey: demoAESKey, AppID: demoAppID, OriginalID: demoOrigID}
	r, err := sim.Post(t.Context(), sim.TextXML("o-demo", "营业时间", wechat.NewMsgID()))
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("demo callback = %d, %v; want 200", r.Status, err)
	}
	if !strings.Contains(logs.String(), "platforms=\"wechat (public demo account)\"") {
		t.Fatalf("logs say nothing of the demo account:\n%s", logs.String())
	}
}
