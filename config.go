package main

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Demo credentials of the demo Official Account, so `go run .` and
// `siyu simulate` work at once. They are public: anyone can sign
// callbacks with them, so the demo account answers only where nobody else
// can reach it (see config.demo), and they are never used to fill in a
// real account's missing settings.
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

	// RedisCluster reads RedisURL as a Redis Cluster's (REDIS_CLUSTER=1):
	// go-redis's ParseClusterURL form, redis://h1:p1?addr=h2:p2&addr=h3:p3.
	RedisCluster bool
	// RedisSentinelMaster names the master Sentinel is asked for
	// (REDIS_SENTINEL_MASTER); RedisURL then names the sentinels.
	RedisSentinelMaster string

	WeChatAppID     string
	WeChatAppSecret string
	WeChatToken     string
	WeChatAESKey    string
	WeChatAPIBase   string
	// WeChatDemo says the Official Account is the demo account.
	WeChatDemo bool
	// WeChatOn says /wechat/callback is served: a real account or the
	// demo one. Off, the route does not exist (404).
	WeChatOn bool
	// WeChatAllowPlain accepts plain-mode callbacks: WECHAT_MODE=plain,
	// or no EncodingAESKey. Otherwise only encrypted callbacks are.
	WeChatAllowPlain bool

	// TrustedProxies are the networks of the reverse proxies whose
	// X-Forwarded-For is believed for the logged client address.
	TrustedProxies []*net.IPNet

	ReplyBudget  time.Duration
	ReplayWindow time.Duration
	DedupeTTL    time.Duration
	// ShutdownDelay is how long a replica told to stop keeps serving
	// with /readyz answering 503, before it closes its listener.
	ShutdownDelay time.Duration
	// GCPercentSet says GOGC is set, so serve leaves the collector alone.
	GCPercentSet bool
	// MetricsAddr, when set, is the only address /metrics is served on
	// (SIYU_METRICS_ADDR), so it can stay off the public listener.
	MetricsAddr string
	// OutboxRetention is how long sent outbox rows are kept before they
	// are purged (SIYU_OUTBOX_RETENTION).
	OutboxRetention time.Duration

	WeCom  weComConfig
	Douyin douyinConfig
	// RiskAlertWebhook is a chat robot's URL staff alerts also go to when
	// WeCom app alerts are off. It holds the robot's key: never logged.
	RiskAlertWebhook string
	// UnionIDFollowWait and UnionIDContactWait bound how long a new
	// follower's or WeCom contact's unionid is waited for before the
	// engine runs (identity.Config).
	UnionIDFollowWait  time.Duration
	UnionIDContactWait time.Duration
	// ModelsDir, when set, is a folder a brand retrains into (siyu train
	// -knowledge on its own exports): its intents.model replaces the one
	// built into the binary at start, without a rebuild.
	ModelsDir string
	// AccountsFile is the accounts file (SIYU_ACCOUNTS): many accounts
	// of many brands, each at its own callback path. The environment's
	// account, when configured, keeps serving at the plain paths.
	AccountsFile string
	// AccountsReload is how often the accounts file is read again
	// (SIYU_ACCOUNTS_RELOAD, default 5 s).
	AccountsReload time.Duration
	// InboxRetention is how long the text of conversations handed to a
	// person is kept (SIYU_INBOX_RETENTION, default 30 days).
	InboxRetention time.Duration
}

// weComConfig is WeCom's part of the environment (see handlers/wecom/README.md).
type weComConfig struct {
	CorpID        string   // WECOM_CORPID
	AgentID       string   // WECOM_AGENTID: the self-built app
	Secret        string   // WECOM_SECRET: the app's secret (app messages, 微信客服)
	ContactSecret string   // WECOM_CONTACT_SECRET: 客户联系 (welcomes, group welcome templates)
	Token         string   // WECOM_TOKEN
	AESKey        string   // WECOM_AES_KEY
	AlertTo       []string // WECOM_ALERT_TO: staff userids, comma- or |-separated
	ArchiveSecret string   // WECOM_ARCHIVE_SECRET: 会话内容存档, optional
	ArchiveKey    string   // WECOM_ARCHIVE_KEY_FILE: its RSA private key (PEM file)
	APIBase       string   // WECOM_API_BASE: a fake or a gateway; "" for the real one
}

// enabled reports whether WeCom is configured at all.
func (c weComConfig) enabled() bool { return c.CorpID != "" && c.Token != "" }

// douyinConfig is Douyin's part of the environment. Douyin is off
// without both the client key and secret.
type douyinConfig struct {
	ClientKey     string // DOUYIN_CLIENT_KEY
	ClientSecret  string // DOUYIN_CLIENT_SECRET
	APIBase       string // DOUYIN_API_BASE: default https://open.douyin.com
	AccountOpenID string // DOUYIN_ACCOUNT_OPEN_ID: the enterprise account for events that name none
}

// enabled reports whether Douyin is configured.
func (c douyinConfig) enabled() bool { return c.ClientKey != "" && c.ClientSecret != "" }

// embedded reports whether siyu runs on its embedded backends.
func (c config) embedded() bool { return c.MySQLDSN == "" && c.RedisURL == "" }

// secretKeys are the variables whose value may come from a file named by
// KEY_FILE instead (the convention of Docker and Kubernetes secrets).
var secretKeys = []string{
	"MYSQL_DSN", "REDIS_URL", "SIYU_ADMIN_TOKEN", "RISK_ALERT_WEBHOOK",
	"WECHAT_APPSECRET", "WECHAT_TOKEN", "WECHAT_AES_KEY",
	"WECOM_SECRET", "WECOM_CONTACT_SECRET", "WECOM_TOKEN", "WECOM_AES_KEY", "WECOM_ARCHIVE_SECRET",
	"DOUYIN_CLIENT_SECRET",
}

// secretFiles returns getenv with each secret set by KEY_FILE read from
// its file (trailing newline dropped). Setting both KEY and KEY_FILE, or
// a file that cannot be read or is empty, is an error naming the file,
// never its content.
func secretFiles(getenv func(string) string, readFile func(string) ([]byte, error)) (func(string) string, error) {
	resolved := map[string]string{}
	for _, k := range secretKeys {
		path := getenv(k + "_FILE")
		if path == "" {
			continue
		}
		if getenv(k) != "" {
			return nil, fmt.Errorf("config: both %s and %s_FILE are set; keep one", k, k)
		}
		b, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %s_FILE: %w", k, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return nil, fmt.Errorf("config: %s_FILE: %s is empty", k, path)
		}
		resolved[k] = v
	}
	if len(resolved) == 0 {
		return getenv, nil
	}
	return func(k string) string {
		if v, ok := resolved[k]; ok {
			return v
		}
		return getenv(k)
	}, nil
}

// loadConfig reads the configuration. It is pure: getenv is the only input.
func loadConfig(getenv func(string) string) (config, error) {
	or := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	c := config{
		Addr:            getenv("SIYU_ADDR"), // defaulted by weChatAccount
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
		GCPercentSet:    getenv("GOGC") != "",
		Douyin: douyinConfig{
			ClientKey: getenv("DOUYIN_CLIENT_KEY"), ClientSecret: getenv("DOUYIN_CLIENT_SECRET"),
			APIBase: getenv("DOUYIN_API_BASE"), AccountOpenID: getenv("DOUYIN_ACCOUNT_OPEN_ID"),
		},
		RiskAlertWebhook: getenv("RISK_ALERT_WEBHOOK"),
		ModelsDir:        getenv("SIYU_MODELS"),
		AccountsFile:     getenv("SIYU_ACCOUNTS"),
	}
	var err error
	if err := c.redisTopology(getenv("REDIS_CLUSTER"), getenv("REDIS_SENTINEL_MASTER")); err != nil {
		return c, err
	}
	if c.WeCom, err = loadWeComConfig(getenv); err != nil {
		return c, err
	}
	if c.UnionIDContactWait, err = waitEnv(getenv, "SIYU_UNIONID_CONTACT_WAIT"); err != nil {
		return c, err
	}
	if c.UnionIDFollowWait, err = waitEnv(getenv, "SIYU_UNIONID_FOLLOW_WAIT"); err != nil {
		return c, err
	}
	if c.RiskAlertWebhook != "" {
		if u, err := url.Parse(c.RiskAlertWebhook); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return c, fmt.Errorf("config: RISK_ALERT_WEBHOOK is not an http(s) URL")
		}
	}
	if err := c.weChatAccount(getenv("WECHAT_MODE"), getenv("SIYU_DEMO")); err != nil {
		return c, err
	}
	c.MetricsAddr = getenv("SIYU_METRICS_ADDR")
	if c.MetricsAddr != "" && c.MetricsAddr == c.Addr {
		return c, fmt.Errorf("config: SIYU_METRICS_ADDR must differ from SIYU_ADDR (%s): it is the private listener for /metrics", c.Addr)
	}
	proxies, err := parseProxies(getenv("SIYU_TRUSTED_PROXIES"))
	if err != nil {
		return c, err
	}
	c.TrustedProxies = proxies
	for _, d := range []struct {
		key  string
		def  time.Duration
		dest *time.Duration
	}{
		{"SIYU_REPLY_BUDGET", 4 * time.Second, &c.ReplyBudget},
		{"SIYU_REPLAY_WINDOW", time.Hour, &c.ReplayWindow},
		{"SIYU_DEDUPE_TTL", 0, &c.DedupeTTL},
		{"SIYU_INBOX_RETENTION", 30 * 24 * time.Hour, &c.InboxRetention},
		{"SIYU_ACCOUNTS_RELOAD", 5 * time.Second, &c.AccountsReload},
		// A week of sent rows answers "was it sent?" for the console
		// and support; older ones only slow the table down.
		{"SIYU_OUTBOX_RETENTION", 7 * 24 * time.Hour, &c.OutboxRetention},
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
	// Load balancers stop routing to a replica only after a few failed
	// health checks (every few seconds each); closing the listener before
	// would refuse callbacks they still send here. 0 (tests) stops at once.
	c.ShutdownDelay = 5 * time.Second
	if v := getenv("SIYU_SHUTDOWN_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return c, fmt.Errorf("config: SIYU_SHUTDOWN_DELAY=%q is not a duration like 5s (0 for none)", v)
		}
		c.ShutdownDelay = d
	}
	if c.DedupeTTL == 0 {
		// A callback must be remembered for longer than it may be
		// replayed, or a late copy inside the window is handled twice.
		c.DedupeTTL = 2 * c.ReplayWindow
	}
	if c.DedupeTTL < c.ReplayWindow {
		return c, fmt.Errorf("config: SIYU_DEDUPE_TTL (%s) must not be shorter than SIYU_REPLAY_WINDOW (%s)", c.DedupeTTL, c.ReplayWindow)
	}
	if c.OutboxRetention < c.DedupeTTL {
		// A sent row's key stops a callback's actions being queued twice:
		// it must outlive every copy of the callback that can still come.
		return c, fmt.Errorf("config: SIYU_OUTBOX_RETENTION (%s) must not be shorter than SIYU_DEDUPE_TTL (%s)", c.OutboxRetention, c.DedupeTTL)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return c, fmt.Errorf("config: SIYU_LOG_FORMAT=%q: want text or json", c.LogFormat)
	}
	if c.WeChatAESKey != "" && len(c.WeChatAESKey) != 43 {
		return c, fmt.Errorf("config: WECHAT_AES_KEY must be the 43-character EncodingAESKey, got %s characters", strconv.Itoa(len(c.WeChatAESKey)))
	}
	return c, nil
}

// redisTopology reads REDIS_CLUSTER and REDIS_SENTINEL_MASTER, and checks
// that a cluster or Sentinel comes with the REDIS_URL that reaches it.
func (c *config) redisTopology(cluster, master string) error {
	switch strings.ToLower(cluster) {
	case "", "0", "false":
	case "1", "true":
		c.RedisCluster = true
	default:
		return fmt.Errorf("config: REDIS_CLUSTER=%q: want 1 (REDIS_URL names cluster nodes) or 0", cluster)
	}
	c.RedisSentinelMaster = master
	switch {
	case c.RedisCluster && master != "":
		return fmt.Errorf("config: REDIS_CLUSTER and REDIS_SENTINEL_MASTER are both set: a Redis is a cluster or behind Sentinel, not both")
	case (c.RedisCluster || master != "") && c.RedisURL == "":
		return fmt.Errorf("config: REDIS_CLUSTER or REDIS_SENTINEL_MASTER is set without REDIS_URL, which names the cluster's nodes or the sentinels")
	}
	return nil
}

// weChatAccount settles the Official Account: a complete real account
// (a partial one is refused rather than completed with public demo
// values), the demo account where config.demo allows it, or none (no
// route); which callback modes it accepts; and the listen address, which
// defaults to loopback when siyu runs the demo on its own.
func (c *config) weChatAccount(mode, demo string) error {
	if c.WeChatAppID == "" && c.WeChatAppSecret == "" && c.WeChatToken == "" && c.WeChatAESKey == "" {
		on, err := c.demo(demo)
		if err != nil {
			return err
		}
		if on {
			c.WeChatDemo, c.WeChatOn = true, true
			c.WeChatAppID, c.WeChatToken, c.WeChatAESKey = demoAppID, demoToken, demoAESKey
		}
	} else {
		if demo == "1" {
			return fmt.Errorf("config: SIYU_DEMO=1 runs the public demo Official Account, but a real one is configured (WECHAT_*): unset one of them")
		}
		var missing []string
		if c.WeChatAppID == "" {
			missing = append(missing, "WECHAT_APPID (the account's AppID)")
		}
		if c.WeChatToken == "" {
			missing = append(missing, "WECHAT_TOKEN (the Token of the account's server configuration, 服务器配置)")
		}
		if len(missing) > 0 {
			return fmt.Errorf("config: a WeChat Official Account is partly configured (some of WECHAT_APPID, WECHAT_APPSECRET, WECHAT_TOKEN, WECHAT_AES_KEY are set); "+
				"siyu will not run it on the public demo credentials: set %s, or unset them all for the demo", strings.Join(missing, " and "))
		}
		c.WeChatOn = true
	}
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	switch strings.ToLower(mode) {
	case "":
		c.WeChatAllowPlain = c.WeChatAESKey == ""
	case "plain":
		c.WeChatAllowPlain = true
	case "safe", "compat", "compatible":
		if c.WeChatAESKey == "" {
			return fmt.Errorf("config: WECHAT_MODE=%s needs WECHAT_AES_KEY, the account's EncodingAESKey", mode)
		}
	default:
		return fmt.Errorf("config: WECHAT_MODE=%q: want safe (also for compatibility mode) or plain", mode)
	}
	return nil
}

// demo reports whether the demo Official Account answers, no WeChat
// account being configured. Its credentials are public, so anyone who
// reaches it can claim coupons or opt people out as any openid: it
// answers only when siyu runs with no platform configured at all and on
// a loopback address (the default address then, where SIYU_ADDR is
// unset), or when SIYU_DEMO=1 says so explicitly. SIYU_DEMO=0 turns it
// off.
func (c *config) demo(v string) (bool, error) {
	switch v {
	case "1":
		return true, nil
	case "0":
		return false, nil
	case "":
	default:
		return false, fmt.Errorf("config: SIYU_DEMO=%q: want 1 (run the public demo Official Account) or 0", v)
	}
	if c.WeCom.CorpID != "" || c.WeCom.Token != "" || c.Douyin.ClientKey != "" || c.Douyin.ClientSecret != "" || c.AccountsFile != "" {
		return false, nil // a real deployment: only its own platforms answer
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
		return true, nil
	}
	return loopback(c.Addr), nil
}

// loopback reports whether the listen address addr accepts connections
// from this machine only: a loopback IP or localhost. ":8080" listens on
// every interface and is not.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseProxies reads SIYU_TRUSTED_PROXIES: comma-separated CIDRs or bare
// addresses of the reverse proxies in front of siyu.
func parseProxies(v string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for f := range strings.SplitSeq(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			ip := net.ParseIP(f)
			if ip == nil {
				return nil, fmt.Errorf("config: SIYU_TRUSTED_PROXIES: %q is not an address or a CIDR like 10.0.0.0/8", f)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(f)
		if err != nil {
			return nil, fmt.Errorf("config: SIYU_TRUSTED_PROXIES: %q is not an address or a CIDR like 10.0.0.0/8", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// loadWeComConfig reads WeCom's variables.
func loadWeComConfig(getenv func(string) string) (weComConfig, error) {
	c := weComConfig{
		CorpID:        strings.TrimSpace(getenv("WECOM_CORPID")),
		AgentID:       strings.TrimSpace(getenv("WECOM_AGENTID")),
		Secret:        getenv("WECOM_SECRET"),
		ContactSecret: getenv("WECOM_CONTACT_SECRET"),
		Token:         getenv("WECOM_TOKEN"),
		AESKey:        getenv("WECOM_AES_KEY"),
		ArchiveSecret: getenv("WECOM_ARCHIVE_SECRET"),
		ArchiveKey:    getenv("WECOM_ARCHIVE_KEY_FILE"),
		APIBase:       getenv("WECOM_API_BASE"),
	}
	c.AlertTo = strings.FieldsFunc(getenv("WECOM_ALERT_TO"), func(r rune) bool { return r == ',' || r == '|' || r == ' ' })
	if !c.enabled() {
		return c, nil
	}
	if len(c.AESKey) != 43 {
		return c, fmt.Errorf("config: WECOM_AES_KEY must be the 43-character EncodingAESKey, got %d characters", len(c.AESKey))
	}
	if c.AgentID != "" {
		if _, err := strconv.Atoi(c.AgentID); err != nil {
			return c, fmt.Errorf("config: WECOM_AGENTID must be the app's numeric AgentId, got %q", c.AgentID)
		}
	}
	if len(c.AlertTo) > 0 && (c.AgentID == "" || c.Secret == "") {
		return c, fmt.Errorf("config: WECOM_ALERT_TO needs WECOM_AGENTID and WECOM_SECRET (alerts are app messages)")
	}
	if c.ArchiveSecret != "" && c.ArchiveKey == "" {
		return c, fmt.Errorf("config: WECOM_ARCHIVE_SECRET needs WECOM_ARCHIVE_KEY_FILE")
	}
	return c, nil
}

// waitEnv reads a wait for a unionid before the engine runs: 0 when
// unset, at most 3 s so the platforms' 5 s answer stays safe.
func waitEnv(getenv func(string) string, name string) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > 3*time.Second {
		return 0, fmt.Errorf("config: %s must be a duration between 0 and 3s, got %q", name, v)
	}
	return d, nil
}
