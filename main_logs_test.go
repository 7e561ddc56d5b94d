package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/handlers/wechat"
)

// TestLogsCarryRequestID (issue 17 item 2) runs siyu with JSON logs at
// debug level and sends callbacks that make each adapter log: bad
// signatures, malformed bodies, stale timestamps, on WeChat, WeCom and
// Douyin, a message the risk stage records, an admin call without the
// token. Every line logged while a callback is handled carries the
// request_id that its answer's X-Request-Id names; only the outbox, which
// works for no request, logs without one. No secret, customer id or text
// appears in the whole run's log.
func TestLogsCarryRequestID(t *testing.T) {
	const (
		dySecret    = "douyin-secret-for-the-log-test"
		wecomCorp   = "wwlogtest"
		wecomToken  = "wecom-token-for-the-log-test"
		wecomAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
		adminToken  = "admin-token-for-the-log-test"
		openid      = "o-customer-Do-Not-Log-1"
		dyUser      = "dy-customer-Do-Not-Log-2"
		staff       = "staff-Do-Not-Log-3"
		risky       = "兼职刷单日赚五百，加我 v 信"
	)
	base, logs := startLoggedSiyu(t, map[string]string{
		"SIYU_ADMIN_TOKEN":  adminToken,
		"DOUYIN_CLIENT_KEY": "dy-key", "DOUYIN_CLIENT_SECRET": dySecret,
		"WECOM_CORPID": wecomCorp, "WECOM_TOKEN": wecomToken, "WECOM_AES_KEY": wecomAESKey,
		// The demo account never answers beside real platforms: the
		// Official Account is configured, on the same credentials.
		"WECHAT_APPID": demoAppID, "WECHAT_TOKEN": demoToken, "WECHAT_AES_KEY": demoAESKey,
	})

	sim := &wechat.Simulator{URL: base + "/wechat/callback", Token: demoToken, EncodingAESKey: demoAESKey, AppID: demoAppID, OriginalID: demoOrigID}
	stale := *sim
	stale.Now = func() time.Time { return time.Now().Add(-3 * time.Hour) }
	weChat := func(s *wechat.Simulator, plain []byte) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			req, err := s.Request(t.Context(), plain)
			if err != nil {
				t.Fatal(err)
			}
			return req
		}
	}
	douyin := func(body string) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			return douyinRequest(t, base, dySecret, body)
		}
	}
	douyinMessage := func(created time.Time, text string) string {
		b, _ := json.Marshal(map[string]any{
			"event": "im_receive_msg", "client_key": "dy-key", "from_user_id": dyUser, "to_user_id": "dy-account",
			"content": map[string]any{"conversation_short_id": "@conv-1", "server_message_id": "srv-" + strconv.FormatInt(created.UnixNano(), 10),
				"conversation_type": 1, "message_type": "text", "text": text, "create_time": created.UnixMilli()},
		})
		return string(b)
	}
	weCom := func(plain string, at time.Time) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			enc, err := util.EncryptMsg([]byte("0123456789abcdef"), []byte(plain), wecomCorp, wecomAESKey)
			if err != nil {
				t.Fatal(err)
			}
			ts, nonce := strconv.FormatInt(at.Unix(), 10), "1234567"
			sig := util.Signature(wecomToken, ts, nonce, string(enc))
			body := fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>", wecomCorp, enc)
			return newRequest(t, http.MethodPost, base+"/wecom/callback?msg_signature="+sig+"&timestamp="+ts+"&nonce="+nonce, body)
		}
	}
	weComText := func(text string) string {
		return fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime>"+
			"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId><AgentID>1000002</AgentID></xml>",
			wecomCorp, staff, time.Now().Unix(), text, wechat.NewMsgID())
	}
	plainRequest := func(method, path, body string) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request { return newRequest(t, method, base+path, body) }
	}

	tests := []struct {
		name    string
		request func(t *testing.T) *http.Request
		// wantMsg is a line the request must log (with its id); empty
		// when it may log nothing.
		wantMsg string
	}{
		{"wechat message", weChat(sim, sim.TextXML(openid, "营业时间", wechat.NewMsgID())), ""},
		{"wechat risky message", weChat(sim, sim.TextXML(openid, risky, wechat.NewMsgID())), "risk event recorded"},
		{"wechat bad signature", plainRequest(http.MethodPost, "/wechat/callback?timestamp=1&nonce=2&encrypt_type=aes&msg_signature=bad", "<xml><Encrypt>x</Encrypt></xml>"), "wechat: callback with a bad msg_signature"},
		{"wechat malformed envelope", plainRequest(http.MethodPost, "/wechat/callback?timestamp=1&nonce=2&encrypt_type=aes&msg_signature=bad", "<xml></xml>"), "wechat: malformed safe-mode body"},
		{"wechat stale timestamp", weChat(&stale, stale.TextXML(openid, "营业时间", wechat.NewMsgID())), "wechat: callback outside the replay window refused"},
		{"wechat malformed message", weChat(sim, []byte("not xml at all")), "wechat: malformed message"},
		{"wechat URL check with a bad signature", plainRequest(http.MethodGet, "/wechat/callback?signature=bad&timestamp=1&nonce=2&echostr=e", ""), "wechat: URL verification with a bad signature"},
		{"douyin message", douyin(douyinMessage(time.Now(), "营业时间")), ""},
		{"douyin bad signature", plainRequest(http.MethodPost, "/douyin/webhook", `{"event":"im_receive_msg"}`), "douyin: webhook with a bad signature refused"},
		{"douyin malformed body", douyin("{not json"), "douyin: malformed webhook refused"},
		{"douyin stale create_time", douyin(douyinMessage(time.Now().Add(-3*time.Hour), "营业时间")), "douyin: webhook outside the replay window refused"},
		{"douyin event without action", douyin(`{"event":"some_new_event","client_key":"dy-key"}`), "douyin: event acknowledged without action"},
		{"wecom message", weCom(weComText("营业时间"), time.Now()), ""},
		{"wecom bad signature", plainRequest(http.MethodPost, "/wecom/callback?msg_signature=bad&timestamp=1&nonce=2", "<xml><Encrypt>x</Encrypt></xml>"), "wecom: callback with a bad msg_signature"},
		{"wecom stale timestamp", weCom(weComText("营业时间"), time.Now().Add(-3*time.Hour)), "wecom: callback outside the replay window refused"},
		{"wecom malformed message", weCom("not xml at all", time.Now()), "wecom: malformed message"},
		{"admin without the token", plainRequest(http.MethodGet, "/admin/api/outbox", ""), "admin: request without a valid bearer token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mark := logs.Len()
			resp, err := http.DefaultClient.Do(tc.request(t))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			id := resp.Header.Get(handlers.RequestIDHeader)
			if id == "" {
				t.Fatalf("answer %d has no %s", resp.StatusCode, handlers.RequestIDHeader)
			}
			if tc.wantMsg != "" {
				waitFor(t, logs, `"msg":"`+tc.wantMsg+`"`, mark)
			}
			found := tc.wantMsg == ""
			for _, line := range logLines(t, logs.String()[mark:]) {
				msg, _ := line["msg"].(string)
				if strings.HasPrefix(msg, "outbox") {
					continue // the outbox's work belongs to no request
				}
				if got, _ := line["request_id"].(string); got != id {
					t.Errorf("line %q has request_id %q, want %q (X-Request-Id)", msg, got, id)
				}
				found = found || msg == tc.wantMsg
			}
			if !found {
				t.Errorf("no line %q after the request; the test would prove nothing", tc.wantMsg)
			}
		})
	}
	out := logs.String()
	for name, secret := range map[string]string{
		"Douyin secret": dySecret, "WeCom token": wecomToken, "WeCom AES key": wecomAESKey, "admin token": adminToken,
		"openid": openid, "Douyin user": dyUser, "WeCom staff id": staff, "message text": risky, "keyword text": "营业时间",
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the %s reached the log", name)
		}
	}
}

// startLoggedSiyu runs siyu as the log tests need it: JSON logs at
// debug level, and every platform's API a fake that refuses everything,
// so the outbox logs its failures with whatever error text the platform
// returns. extra adds the accounts.
func startLoggedSiyu(t *testing.T, extra map[string]string) (string, *bottest.Logs) {
	t.Helper()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"errcode":40001,"errmsg":"invalid credential, access_token is invalid"}`, http.StatusOK)
	}))
	t.Cleanup(api.Close)
	env := map[string]string{
		"SIYU_LOG_FORMAT": "json", "SIYU_LOG_LEVEL": "debug",
		"WECHAT_API_BASE": api.URL, "DOUYIN_API_BASE": api.URL, "WECOM_API_BASE": api.URL,
	}
	maps.Copy(env, extra)
	base, logs := startSiyu(t, env)
	// The background work's first lines belong to no request: let them
	// come before the test's requests do.
	waitFor(t, logs, "handover: listening for other replicas' hand-overs", 0)
	return base, logs
}

// douyinRequest is a Douyin webhook call of body, signed with the
// application's secret as Douyin signs it.
func douyinRequest(t *testing.T, base, secret, body string) *http.Request {
	t.Helper()
	sum := sha1.Sum([]byte(secret + body))
	req := newRequest(t, http.MethodPost, base+"/douyin/webhook", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Douyin-Signature", hex.EncodeToString(sum[:]))
	return req
}

// logLines parses JSON log lines.
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		lines = append(lines, m)
	}
	return lines
}

func newRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	return req
}
