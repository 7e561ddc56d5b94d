package main

import (
	"fmt"
	"strconv"
	"time"
)

// Demo credentials used when WECHAT_TOKEN is unset, so `go run .` and
// `siyu simulate` work at once with no WeChat account. They are public: a
// real account must set its own.
const (
	demoToken  = "siyu-demo-token"
	demoAESKey = "c2l5dWRlbW9rZXlzaXl1ZGVtb2tleXNpeXVkZW1va2U"
	demoAppID  = "wxsiyudemo0000000"
	demoOrigID = "gh_siyudemo0000"
)

// config is everything siyu reads from its environment.
type config struct {
	Addr       string
	MySQLDSN   string
	RedisURL   string
	SQLitePath string
	ScriptsDir string
	AdminToken string
	LogLevel   string
	LogFormat  string

	WeChatAppID     string
	WeChatAppSecret string
	WeChatToken     string
	WeChatAESKey    string
	WeChatAPIBase   string
	WeChatDemo      bool

	ReplyBudget  time.Duration
	ReplayWindow time.Duration
	DedupeTTL    time.Duration
}

// embedded reports whether siyu runs on its embedded backends.
func (c config) embedded() bool { return c.MySQLDSN == "" && c.RedisURL == "" }

// loadConfig reads the configuration. It is pure: getenv is the only input.
func loadConfig(getenv func(string) string) (config, error) {
	or := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	c := config{
		Addr:            or("SIYU_ADDR", ":8080"),
		MySQLDSN:        getenv("MYSQL_DSN"),
		RedisURL:        getenv("REDIS_URL"),
		SQLitePath:      or("SIYU_SQLITE", "siyu.db"),
		ScriptsDir:      or("SIYU_SCRIPTS", "scripts"),
		AdminToken:      getenv("SIYU_ADMIN_TOKEN"),
		LogLevel:        or("SIYU_LOG_LEVEL", "info"),
		LogFormat:       or("SIYU_LOG_FORMAT", "text"),
		WeChatAppID:     getenv("WECHAT_APPID"),
		WeChatAppSecret: getenv("WECHAT_APPSECRET"),
		WeChatToken:     getenv("WECHAT_TOKEN"),
		WeChatAESKey:    getenv("WECHAT_AES_KEY"),
		WeChatAPIBase:   or("WECHAT_API_BASE", "https://api.weixin.qq.com"),
	}
	if c.WeChatToken == "" {
		c.WeChatDemo = true
		c.WeChatToken, c.WeChatAESKey = demoToken, demoAESKey
		if c.WeChatAppID == "" {
			c.WeChatAppID = demoAppID
		}
	}
	for _, d := range []struct {
		key  string
		def  time.Duration
		dest *time.Duration
	}{
		{"SIYU_REPLY_BUDGET", 4 * time.Second, &c.ReplyBudget},
		{"SIYU_REPLAY_WINDOW", time.Hour, &c.ReplayWindow},
		{"SIYU_DEDUPE_TTL", 0, &c.DedupeTTL},
	} {
		*d.dest = d.def
		if v := getenv(d.key); v != "" {
			dur, err := time.ParseDuration(v)
			if err != nil || dur <= 0 {
				return c, fmt.Errorf("config: %s=%q is not a positive duration like 4s or 1h", d.key, v)
			}
			*d.dest = dur
		}
	}
	if c.DedupeTTL == 0 {
		// A callback must be remembered for longer than it may be
		// replayed, or a late copy inside the window is handled twice.
		c.DedupeTTL = 2 * c.ReplayWindow
	}
	if c.DedupeTTL < c.ReplayWindow {
		return c, fmt.Errorf("config: SIYU_DEDUPE_TTL (%s) must not be shorter than SIYU_REPLAY_WINDOW (%s)", c.DedupeTTL, c.ReplayWindow)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("config: SIYU_LOG_FORMAT=%q: want text or json", c.LogFormat)
	}
	if c.WeChatAESKey != "" && len(c.WeChatAESKey) != 43 {
		return c, fmt.Errorf("config: WECHAT_AES_KEY must be the 43-character EncodingAESKey, got %s characters", strconv.Itoa(len(c.WeChatAESKey)))
	}
	return c, nil
}
