//go:build chaos

package main_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestJudge: the chaos run's judge counts a reply sent through another
// account than the callback's as wrong, an extra delivery as a
// duplicate unless an ambiguous send explains it, and an accepted
// callback without a side effect as lost.
func TestJudge(t *testing.T) {
	a := &chaosAccount{name: "oa-00", platform: "wechat"}
	at := time.Now()
	send := func(text, account string, ambiguous bool) delivery {
		at = at.Add(time.Millisecond)
		return delivery{text: text, account: account, at: at, ambiguous: ambiguous}
	}
	tests := []struct {
		name    string
		passive string
		sends   []delivery
		resends int
		want    tally // the counted fields
	}{
		{"passive reply", "ans01", nil, 0, tally{effects: 1}},
		{"send through its account", "", []delivery{send("ans01", "oa-00", false)}, 0, tally{effects: 1}},
		{"send through another account", "", []delivery{send("ans01", "oa-01", false)}, 0, tally{effects: 1, wrong: 1, wrongAcct: 1}},
		{"wrong text", "", []delivery{send("ans02", "oa-00", false)}, 0, tally{effects: 1, wrong: 1}},
		{"lost", "", nil, 0, tally{lost: 1}},
		{"duplicate", "", []delivery{send("ans01", "oa-00", false), send("ans01", "oa-00", false)}, 0, tally{effects: 2, dups: 1}},
		{"after a send that timed out", "", []delivery{send("ans01", "oa-00", true), send("ans01", "oa-00", false)}, 0, tally{effects: 2, ambiguous: 1}},
		{"resent row", "", []delivery{send("ans01", "oa-00", false), send("ans01", "oa-00", false)}, 1, tally{effects: 2, ambiguous: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &message{platform: "wechat", acct: a, want: "ans01", accepted: true, passive: tt.passive, acceptedAt: at, attempts: []attempt{{ok: true}}}
			_, got := judge(m, tt.sends, tt.resends)
			if got.effects != tt.want.effects || got.wrong != tt.want.wrong || got.wrongAcct != tt.want.wrongAcct ||
				got.lost != tt.want.lost || got.dups != tt.want.dups || got.ambiguous != tt.want.ambiguous {
				t.Errorf("judge = effects %d wrong %d (another account %d) lost %d dups %d ambiguous %d; want %d %d (%d) %d %d %d",
					got.effects, got.wrong, got.wrongAcct, got.lost, got.dups, got.ambiguous,
					tt.want.effects, tt.want.wrong, tt.want.wrongAcct, tt.want.lost, tt.want.dups, tt.want.ambiguous)
			}
		})
	}
}

// TestFakeAPIAccounts: the fake platforms hand each account its own
// token for its own credentials only, file each send under the account
// whose token it carried, and refuse a send whose token and body name
// different accounts.
func TestFakeAPIAccounts(t *testing.T) {
	accts := fileAccounts(10)
	api := newFakeAPI(accts)
	srv := httptest.NewServer(api)
	defer srv.Close()
	var wx, wc0, wc1, dy *chaosAccount
	for _, a := range accts {
		switch {
		case a.platform == "wechat" && wx == nil:
			wx = a
		case a.platform == "wecom" && wc0 == nil:
			wc0 = a
		case a.platform == "wecom" && wc1 == nil:
			wc1 = a
		case a.platform == "douyin" && dy == nil:
			dy = a
		}
	}
	post := func(path string, q url.Values, header map[string]string, body any) map[string]any {
		t.Helper()
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path+"?"+q.Encode(), strings.NewReader(string(raw)))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	// Tokens: the account's own for its own secret, none for another's.
	if got := post("/cgi-bin/stable_token", nil, nil, map[string]string{"appid": wx.appID, "secret": wx.secret}); got["access_token"] != wx.accessToken() {
		t.Errorf("WeChat token = %v, want %s", got, wx.accessToken())
	}
	if got := post("/cgi-bin/stable_token", nil, nil, map[string]string{"appid": wx.appID, "secret": "another"}); got["access_token"] != nil {
		t.Errorf("WeChat token for a wrong secret = %v, want a refusal", got)
	}
	wcTok, _ := http.Get(srv.URL + "/cgi-bin/gettoken?" + url.Values{"corpid": {wc1.corpID}, "corpsecret": {wc1.secret}}.Encode())
	var tok map[string]any
	_ = json.NewDecoder(wcTok.Body).Decode(&tok)
	wcTok.Body.Close()
	if tok["access_token"] != wc1.accessToken() {
		t.Errorf("WeCom token = %v, want %s", tok, wc1.accessToken())
	}
	if got := post("/oauth/client_token/", nil, nil, map[string]string{"client_key": dy.clientKey, "client_secret": dy.clientSecret}); got["data"].(map[string]any)["access_token"] != dy.accessToken() {
		t.Errorf("Douyin token = %v, want %s", got, dy.accessToken())
	}
	before := api.refused.Load()

	// Sends are filed under the token's account.
	post("/cgi-bin/message/custom/send", url.Values{"access_token": {wx.accessToken()}}, nil,
		map[string]any{"touser": "o-1", "msgtype": "text", "text": map[string]string{"content": "ans01"}})
	if s := api.sent("wx:o-1"); len(s) != 1 || s[0].account != wx.name {
		t.Errorf("WeChat send filed as %+v, want one through %s", s, wx.name)
	}
	// A WeCom send naming another app's agent with this app's token is
	// refused, as WeCom does.
	post("/cgi-bin/message/send", url.Values{"access_token": {wc0.accessToken()}}, nil,
		map[string]any{"touser": "staff-1", "msgtype": "text", "agentid": atoi(t, wc1.agentID), "text": map[string]string{"content": "ans01"}})
	if s := api.sent("wc:staff-1"); len(s) != 0 {
		t.Errorf("WeCom send with another agent's token delivered: %+v", s)
	}
	// A Douyin send as another account, and one with no account's token.
	post("/im/send/msg/", url.Values{"open_id": {"acct-someone-else"}}, map[string]string{"access-token": dy.accessToken()},
		map[string]any{"to_user_id": "dy-1", "content": map[string]any{"text": map[string]string{"text": "ans01"}}})
	post("/im/send/msg/", url.Values{"open_id": {dy.openID}}, map[string]string{"access-token": "forged"},
		map[string]any{"to_user_id": "dy-1", "content": map[string]any{"text": map[string]string{"text": "ans01"}}})
	if s := api.sent("dy:dy-1"); len(s) != 0 {
		t.Errorf("Douyin sends with mismatched credentials delivered: %+v", s)
	}
	if got := api.refused.Load() - before; got != 3 {
		t.Errorf("refused %d sends, want 3", got)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return n
}
