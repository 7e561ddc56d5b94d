package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot/bottest"
)

// TestWeChatAccountConfig: the public demo credentials are used only when
// no WeChat account is configured at all; a partial account refuses to
// start, naming what is missing, instead of running on the demo token.
func TestWeChatAccountConfig(t *testing.T) {
	const key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	tests := []struct {
		name      string
		env       map[string]string
		wantErr   string // "" for no error
		wantDemo  bool
		wantToken string
		wantPlain bool
	}{
		{"nothing configured: demo", nil, "", true, demoToken, false},
		{"demo in plain mode", map[string]string{"WECHAT_MODE": "plain"}, "", true, demoToken, true},
		{"app id and secret without a token", map[string]string{"WECHAT_APPID": "wx1", "WECHAT_APPSECRET": "s"}, "WECHAT_TOKEN", false, "", false},
		{"only a secret", map[string]string{"WECHAT_APPSECRET": "s"}, "WECHAT_TOKEN", false, "", false},
		{"only a key", map[string]string{"WECHAT_AES_KEY": key}, "WECHAT_TOKEN", false, "", false},
		{"a token without an app id", map[string]string{"WECHAT_TOKEN": "t"}, "WECHAT_APPID", false, "", false},
		{"plain-mode account", map[string]string{"WECHAT_APPID": "wx1", "WECHAT_TOKEN": "t"}, "", false, "t", true},
		{"safe-mode account", map[string]string{"WECHAT_APPID": "wx1", "WECHAT_TOKEN": "t", "WECHAT_AES_KEY": key}, "", false, "t", false},
		{"safe-mode account set to plain", map[string]string{"WECHAT_APPID": "wx1", "WECHAT_TOKEN": "t", "WECHAT_AES_KEY": key, "WECHAT_MODE": "plain"}, "", false, "t", true},
		{"compatibility mode is safe", map[string]string{"WECHAT_APPID": "wx1", "WECHAT_TOKEN": "t", "WECHAT_AES_KEY": key, "WECHAT_MODE": "compat"}, "", false, "t", false},
		{"safe mode without a key", map[string]string{"WECHAT_APPID": "wx1", "WECHAT_TOKEN": "t", "WECHAT_MODE": "safe"}, "WECHAT_AES_KEY", false, "", false},
		{"unknown mode", map[string]string{"WECHAT_MODE": "secure"}, "WECHAT_MODE", false, "", false},
		{"demo asked for with a real account", map[string]string{"WECHAT_APPID": "wx1", "WECHAT_TOKEN": "t", "SIYU_DEMO": "1"}, "SIYU_DEMO", false, "", false},
		{"SIYU_DEMO not 0 or 1", map[string]string{"SIYU_DEMO": "yes"}, "SIYU_DEMO", false, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadConfig err = %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if cfg.WeChatDemo != tc.wantDemo || cfg.WeChatToken != tc.wantToken || cfg.WeChatAllowPlain != tc.wantPlain {
				t.Fatalf("demo %v token %q plain %v, want %v %q %v", cfg.WeChatDemo, cfg.WeChatToken, cfg.WeChatAllowPlain, tc.wantDemo, tc.wantToken, tc.wantPlain)
			}
		})
	}
}

// TestDemoAccountOnlyAlone: the demo Official Account, whose credentials
// are public, answers only when siyu runs with no platform configured and
// on a loopback address (the default address then), or with SIYU_DEMO=1;
// never beside a real WeCom or Douyin deployment.
func TestDemoAccountOnlyAlone(t *testing.T) {
	const key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	wecom := map[string]string{"WECOM_CORPID": "ww1", "WECOM_TOKEN": "tok", "WECOM_AES_KEY": key}
	with := envWith
	tests := []struct {
		name     string
		env      map[string]string
		wantDemo bool
		wantOn   bool // /wechat/callback is served
		wantAddr string
	}{
		{"nothing configured: demo on loopback", nil, true, true, "127.0.0.1:8080"},
		{"nothing configured, loopback address", with(nil, "SIYU_ADDR", "127.0.0.1:9000"), true, true, "127.0.0.1:9000"},
		{"nothing configured, localhost", with(nil, "SIYU_ADDR", "localhost:9000"), true, true, "localhost:9000"},
		{"nothing configured, IPv6 loopback", with(nil, "SIYU_ADDR", "[::1]:9000"), true, true, "[::1]:9000"},
		{"nothing configured, every interface", with(nil, "SIYU_ADDR", ":8080"), false, false, ":8080"},
		{"nothing configured, a public address", with(nil, "SIYU_ADDR", "192.0.2.1:8080"), false, false, "192.0.2.1:8080"},
		{"WeCom configured", wecom, false, false, ":8080"},
		{"WeCom configured on loopback", with(wecom, "SIYU_ADDR", "127.0.0.1:8080"), false, false, "127.0.0.1:8080"},
		{"Douyin configured", map[string]string{"DOUYIN_CLIENT_KEY": "k", "DOUYIN_CLIENT_SECRET": "s"}, false, false, ":8080"},
		{"Douyin half configured", map[string]string{"DOUYIN_CLIENT_KEY": "k"}, false, false, ":8080"},
		{"SIYU_DEMO=1 on every interface", with(nil, "SIYU_DEMO", "1", "SIYU_ADDR", ":8080"), true, true, ":8080"},
		{"SIYU_DEMO=1 beside WeCom", with(wecom, "SIYU_DEMO", "1"), true, true, ":8080"},
		{"SIYU_DEMO=0", with(nil, "SIYU_DEMO", "0"), false, false, ":8080"},
		{"a real account", map[string]string{"WECHAT_APPID": "wx1", "WECHAT_TOKEN": "t"}, false, true, ":8080"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.WeChatDemo != tc.wantDemo || cfg.WeChatOn != tc.wantOn || cfg.Addr != tc.wantAddr {
				t.Fatalf("demo %v, wechat on %v, addr %q; want %v, %v, %q", cfg.WeChatDemo, cfg.WeChatOn, cfg.Addr, tc.wantDemo, tc.wantOn, tc.wantAddr)
			}
			if !tc.wantDemo && cfg.WeChatToken == demoToken {
				t.Fatal("the demo token is configured although the demo account is off")
			}
		})
	}
}

// TestPartialAccountRefusesToStart: `siyu` with a partial account exits
// with the reason instead of answering callbacks signed with the demo
// token.
func TestPartialAccountRefusesToStart(t *testing.T) {
	env := map[string]string{"WECHAT_APPID": "wx1", "WECHAT_APPSECRET": "s", "SIYU_ADDR": "127.0.0.1:0"}
	started := false
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err := run(ctx, runEnv{
		getenv: func(k string) string { return env[k] },
		stdout: &bottest.Logs{}, stderr: &bottest.Logs{},
		ready: func(string) { started = true; cancel() }, // a server that starts is stopped at once
	})
	if err == nil || started || !strings.Contains(err.Error(), "WECHAT_TOKEN") {
		t.Fatalf("run = %v (started %v), want a refusal naming WECHAT_TOKEN", err, started)
	}
}

func TestTrustedProxiesConfig(t *testing.T) {
	tests := []struct {
		value   string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"10.0.0.0/8", []string{"10.0.0.0/8"}, false},
		{" 10.0.0.0/8 , 192.0.2.10,2001:db8::/32", []string{"10.0.0.0/8", "192.0.2.10/32", "2001:db8::/32"}, false},
		{"10.0.0.0/33", nil, true},
		{"proxy.local", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string {
				if k == "SIYU_TRUSTED_PROXIES" {
					return tc.value
				}
				return ""
			})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			var got []string
			for _, n := range cfg.TrustedProxies {
				got = append(got, n.String())
			}
			if !tc.wantErr && strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("proxies = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestShutdownDelayConfig(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"default", "", 5 * time.Second, false},
		{"zero stops at once", "0", 0, false},
		{"longer", "30s", 30 * time.Second, false},
		{"negative", "-1s", 0, true},
		{"not a duration", "5", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string {
				if k == "SIYU_SHUTDOWN_DELAY" {
					return tc.value
				}
				return ""
			})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && cfg.ShutdownDelay != tc.want {
				t.Fatalf("ShutdownDelay = %v, want %v", cfg.ShutdownDelay, tc.want)
			}
		})
	}
}

func TestOutboxRetentionAndMetricsAddrConfig(t *testing.T) {
	tests := []struct {
		name          string
		env           map[string]string
		wantRetention time.Duration
		wantMetrics   string
		wantErr       string
	}{
		{"defaults", nil, 7 * 24 * time.Hour, "", ""},
		{"a month", map[string]string{"SIYU_OUTBOX_RETENTION": "720h"}, 720 * time.Hour, "", ""},
		{"shorter than the dedupe TTL", map[string]string{"SIYU_OUTBOX_RETENTION": "1h"}, 0, "", "SIYU_OUTBOX_RETENTION"},
		{"not a duration", map[string]string{"SIYU_OUTBOX_RETENTION": "7d"}, 0, "", "SIYU_OUTBOX_RETENTION"},
		{"private metrics", map[string]string{"SIYU_METRICS_ADDR": "127.0.0.1:9090"}, 7 * 24 * time.Hour, "127.0.0.1:9090", ""},
		{"metrics on the public address", map[string]string{"SIYU_ADDR": ":8080", "SIYU_METRICS_ADDR": ":8080"}, 0, "", "SIYU_METRICS_ADDR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.OutboxRetention != tc.wantRetention || cfg.MetricsAddr != tc.wantMetrics {
				t.Fatalf("retention %v, metrics %q; want %v, %q", cfg.OutboxRetention, cfg.MetricsAddr, tc.wantRetention, tc.wantMetrics)
			}
		})
	}
}

// TestRedisTopologyConfig: REDIS_CLUSTER and REDIS_SENTINEL_MASTER say how
// REDIS_URL is read, and need it; a Redis is not both.
func TestRedisTopologyConfig(t *testing.T) {
	const clusterURL = "redis://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379"
	tests := []struct {
		name        string
		env         map[string]string
		wantErr     string // "" for no error
		wantCluster bool
		wantMaster  string
	}{
		{"single server", map[string]string{"REDIS_URL": "redis://r:6379/0"}, "", false, ""},
		{"cluster", map[string]string{"REDIS_URL": clusterURL, "REDIS_CLUSTER": "1"}, "", true, ""},
		{"cluster off", map[string]string{"REDIS_URL": "redis://r:6379/0", "REDIS_CLUSTER": "0"}, "", false, ""},
		{"sentinel", map[string]string{"REDIS_URL": "redis://s1:26379?addr=s2:26379", "REDIS_SENTINEL_MASTER": "mymaster"}, "", false, "mymaster"},
		{"cluster without a URL", map[string]string{"REDIS_CLUSTER": "1"}, "REDIS_URL", false, ""},
		{"sentinel without a URL", map[string]string{"REDIS_SENTINEL_MASTER": "mymaster"}, "REDIS_URL", false, ""},
		{"both", map[string]string{"REDIS_URL": clusterURL, "REDIS_CLUSTER": "1", "REDIS_SENTINEL_MASTER": "m"}, "not both", false, ""},
		{"cluster yes", map[string]string{"REDIS_URL": clusterURL, "REDIS_CLUSTER": "yes"}, "REDIS_CLUSTER", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadConfig err = %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if cfg.RedisCluster != tc.wantCluster || cfg.RedisSentinelMaster != tc.wantMaster {
				t.Fatalf("cluster %v master %q, want %v %q", cfg.RedisCluster, cfg.RedisSentinelMaster, tc.wantCluster, tc.wantMaster)
			}
			if got := len(redisOptions(cfg)); got != map[bool]int{false: 0, true: 1}[tc.wantCluster || tc.wantMaster != ""] {
				t.Errorf("redisOptions = %d options", got)
			}
		})
	}
}

// TestSecretFiles: a secret variable may come from the file KEY_FILE
// names, trailing newline dropped; both set, an unreadable or an empty
// file is refused naming the file, never a secret.
func TestSecretFiles(t *testing.T) {
	files := map[string]string{"/run/secrets/oa": "app-secret\n", "/run/secrets/empty": "\n"}
	read := func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, fmt.Errorf("open %s: no such file", p)
	}
	tests := []struct {
		name    string
		env     map[string]string
		key     string
		want    string
		wantErr string
	}{
		{"from a file", map[string]string{"WECHAT_APPSECRET_FILE": "/run/secrets/oa"}, "WECHAT_APPSECRET", "app-secret", ""},
		{"plain variable untouched", map[string]string{"WECHAT_APPSECRET": "x"}, "WECHAT_APPSECRET", "x", ""},
		{"not a secret: no _FILE", map[string]string{"WECHAT_APPID_FILE": "/run/secrets/oa"}, "WECHAT_APPID", "", ""},
		{"both", map[string]string{"WECHAT_APPSECRET": "x", "WECHAT_APPSECRET_FILE": "/run/secrets/oa"}, "", "", "both WECHAT_APPSECRET and WECHAT_APPSECRET_FILE"},
		{"missing file", map[string]string{"DOUYIN_CLIENT_SECRET_FILE": "/run/secrets/nope"}, "", "", "DOUYIN_CLIENT_SECRET_FILE: open /run/secrets/nope"},
		{"empty file", map[string]string{"MYSQL_DSN_FILE": "/run/secrets/empty"}, "", "", "MYSQL_DSN_FILE: /run/secrets/empty is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv, err := secretFiles(func(k string) string { return tc.env[k] }, read)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "app-secret") {
					t.Errorf("error %q holds the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := getenv(tc.key); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}
