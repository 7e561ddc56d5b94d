package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/handlers/wechat"
)

// TestLogsHoldNoSecretsOrCustomerData runs siyu with JSON logs at debug
// level through good and bad callbacks, failing sends and admin calls,
// and scans the whole log: every line is JSON, and no customer's text or
// id and no secret appears anywhere.
func TestLogsHoldNoSecretsOrCustomerData(t *testing.T) {
	const (
		secret     = "app-secret-Do-Not-Log-1"
		token      = "token-Do-Not-Log-2"
		aesKey     = "RG9Ob3RMb2dEb05vdExvZ0RvTm90TG9nRG9Ob3RMb2c"
		adminToken = "admin-Do-Not-Log-3"
		openid     = "o-customer-Do-Not-Log-4"
		dySecret   = "douyin-secret-Do-Not-Log-5"
		dyUser     = "dy-customer-Do-Not-Log-6"
		text       = "我的手机号是13812345678请回电"
	)
	env := map[string]string{
		"SIYU_ADMIN_TOKEN": adminToken,
		"WECHAT_APPID":     "wxlogtest000000", "WECHAT_APPSECRET": secret, "WECHAT_TOKEN": token, "WECHAT_AES_KEY": aesKey,
		// Douyin replies always go through the outbox, whose sends fail
		// here and are logged.
		"DOUYIN_CLIENT_KEY": "dy-key", "DOUYIN_CLIENT_SECRET": dySecret,
	}
	base, logs := startLoggedSiyu(t, env)
	simulateCmd(t, base, env, "--from", openid, text)
	simulateCmd(t, base, env, "--from", openid, "--event", "subscribe", "--key", "qrscene_store-shanghai-01")

	body, _ := json.Marshal(map[string]any{
		"event": "im_receive_msg", "client_key": "dy-key", "from_user_id": dyUser, "to_user_id": "dy-account",
		"content": map[string]any{"conversation_short_id": "@conv-1", "server_message_id": "srv-1", "conversation_type": 1,
			"message_type": "text", "text": text, "create_time": time.Now().UnixMilli()},
	})
	dreq := douyinRequest(t, base, dySecret, string(body))
	dreq.Header.Set("Msg-Id", "msg-1")
	if resp, err := http.DefaultClient.Do(dreq); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusOK {
		t.Fatalf("douyin webhook = %d", resp.StatusCode)
	}

	// A forged callback and a malformed one.
	for _, q := range []string{"?signature=bad&timestamp=1&nonce=2&encrypt_type=aes&msg_signature=bad&openid=" + openid, ""} {
		resp, err := http.Post(base+"/wechat/callback"+q, "text/xml", strings.NewReader("<xml><FromUserName>"+openid+"</FromUserName><Content>"+text+"</Content>"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/admin/outbox", nil)
	req.Header.Set("Authorization", "Bearer not-"+adminToken)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	// Let the outbox try and fail at least once.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"outbox`) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"outbox`) {
		t.Fatalf("the outbox logged no failed send; the test would prove nothing:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
	for name, s := range map[string]string{
		"app secret": secret, "token": token, "AES key": aesKey, "admin token": adminToken,
		"openid": openid, "message text": text, "phone number": "13812345678",
		"Douyin secret": dySecret, "Douyin user": dyUser,
	} {
		if strings.Contains(out, s) {
			t.Errorf("the %s reached the log", name)
		}
	}
}

// TestMetrics scrapes /metrics after a callback: the callback is counted
// by platform and outcome, the answer by its stage, and the outbox depth
// is read from the database.
func TestMetrics(t *testing.T) {
	base, _ := startSiyu(t, nil)
	sim := &wechat.Simulator{URL: base + "/wechat/callback", Token: demoToken, EncodingAESKey: demoAESKey, AppID: demoAppID, OriginalID: demoOrigID}
	msg := sim.TextXML("o-metrics", "营业时间", wechat.NewMsgID())
	for range 2 { // WeChat's retry of the same message
		if _, err := sim.Post(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sim.Post(t.Context(), sim.TextXML("o-metrics", "领券", wechat.NewMsgID())); err != nil {
		t.Fatal(err)
	}
	stale := *sim
	stale.Now = func() time.Time { return time.Now().Add(-3 * time.Hour) }
	if r, _ := stale.Post(t.Context(), stale.TextXML("o-metrics", "营业时间", wechat.NewMsgID())); r.Status != http.StatusUnauthorized {
		t.Fatalf("stale callback = %d, want 401", r.Status)
	}
	resp, err := http.Post(base+"/wechat/callback?signature=x&timestamp=1&nonce=1&encrypt_type=aes&msg_signature=x", "text/xml", strings.NewReader("<xml><Encrypt>x</Encrypt></xml>"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`siyu_callbacks_total{outcome="answered",platform="wechat"} 2`,
		`siyu_callbacks_total{outcome="deduplicated",platform="wechat"} 1`,
		`siyu_callbacks_total{outcome="stale",platform="wechat"} 1`,
		`siyu_callbacks_total{outcome="refused_signature",platform="wechat"} 1`,
		`siyu_dedupe_hits_total 1`,
		`siyu_answers_total{platform="wechat",stage="rule"} 1`,
		`siyu_outbox_rows{status="pending"} `,
		`siyu_callback_duration_seconds_count{platform="wechat"} 5`,
		`siyu_coupon_claims_total{campaign="welcome-2026",outcome="issued"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
