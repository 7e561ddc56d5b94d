package wechat

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/silenceper/wechat/v2/util"
)

// fakeAPI is WeChat's API for tests: it issues stable access tokens and
// receives customer-service messages, checking what it is sent.
type fakeAPI struct {
	t *testing.T
	*httptest.Server

	mu          sync.Mutex
	token       string
	tokenCalls  int
	sent        []sentMessage
	failures    []int64 // errcodes to answer the next sends with, in order
	sendAttempt int

	unions        map[string]string // openid → unionid for user/info; missing: 40003
	userInfoCalls []string          // openids asked about, in order

	sessions        []string // "create kf@x o-1", "close kf@x o-1": kfsession calls, in order
	sessionFailures []int64  // errcodes for the next kfsession calls
}

type sentMessage struct {
	ToUser  string
	MsgType string
	Text    string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, token: "TOKEN-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cgi-bin/stable_token", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			GrantType string `json:"grant_type"`
			AppID     string `json:"appid"`
			Secret    string `json:"secret"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.GrantType != "client_credential" || req.AppID != testAppID || req.Secret != testSecret {
			t.Errorf("stable_token request = %+v (err %v), want client_credential for %s with the secret", req, err, testAppID)
			w.Write([]byte(`{"errcode":40125,"errmsg":"invalid appsecret"}`))
			return
		}
		f.mu.Lock()
		f.tokenCalls++
		tok := f.token
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 7200})
	})
	mux.HandleFunc("POST /cgi-bin/message/custom/send", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if got := r.URL.Query().Get("access_token"); got != f.token {
			w.Write([]byte(`{"errcode":40001,"errmsg":"invalid credential"}`))
			return
		}
		var m struct {
			ToUser  string `json:"touser"`
			MsgType string `json:"msgtype"`
			Text    struct {
				Content string `json:"content"`
			} `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.ToUser == "" || m.MsgType == "" {
			t.Errorf("custom/send body: %+v, %v", m, err)
			w.Write([]byte(`{"errcode":40008,"errmsg":"invalid message type"}`))
			return
		}
		f.sendAttempt++
		if len(f.failures) > 0 {
			code := f.failures[0]
			f.failures = f.failures[1:]
			json.NewEncoder(w).Encode(map[string]any{"errcode": code, "errmsg": "fake failure"})
			return
		}
		f.sent = append(f.sent, sentMessage{ToUser: m.ToUser, MsgType: m.MsgType, Text: m.Text.Content})
		w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
	})
	mux.HandleFunc("GET /cgi-bin/user/info", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		q := r.URL.Query()
		if q.Get("access_token") != f.token {
			w.Write([]byte(`{"errcode":40001,"errmsg":"invalid credential"}`))
			return
		}
		openID := q.Get("openid")
		f.userInfoCalls = append(f.userInfoCalls, openID)
		if openID == "o-http-500" {
			http.Error(w, "gateway trouble", http.StatusInternalServerError)
			return
		}
		if q.Get("lang") != "zh_CN" || openID == "" {
			t.Errorf("user/info query %q, want an openid and lang=zh_CN", r.URL.RawQuery)
		}
		union, ok := f.unions[openID]
		if !ok {
			w.Write([]byte(`{"errcode":40003,"errmsg":"invalid openid"}`))
			return
		}
		resp := map[string]any{"subscribe": 1, "openid": openID, "language": "zh_CN", "subscribe_time": 1782000000}
		if union != "" { // only when the account is bound to Open Platform
			resp["unionid"] = union
		}
		json.NewEncoder(w).Encode(resp)
	})
	for _, op := range []string{"create", "close"} {
		mux.HandleFunc("POST /customservice/kfsession/"+op, func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if r.URL.Query().Get("access_token") != f.token {
				w.Write([]byte(`{"errcode":40001,"errmsg":"invalid credential"}`))
				return
			}
			var req struct {
				KfAccount string `json:"kf_account"`
				OpenID    string `json:"openid"`
			}
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !strings.Contains(req.KfAccount, "@") || req.OpenID == "" {
				t.Errorf("kfsession/%s body %+v (%v), want a full kf_account and an openid", op, req, err)
			}
			if len(f.sessionFailures) > 0 {
				code := f.sessionFailures[0]
				f.sessionFailures = f.sessionFailures[1:]
				json.NewEncoder(w).Encode(map[string]any{"errcode": code, "errmsg": "fake failure"})
				return
			}
			f.sessions = append(f.sessions, op+" "+req.KfAccount+" "+req.OpenID)
			w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake WeChat API: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	f.Server = httptest.NewServer(mux)
	// The SDK's URL rewriting is process-wide: tests that use the fake
	// must not run in parallel.
	util.SetURIModifier(func(uri string) string {
		return strings.Replace(uri, "https://api.weixin.qq.com", f.URL, 1)
	})
	t.Cleanup(func() {
		util.SetURIModifier(nil)
		f.Close()
	})
	return f
}

func (f *fakeAPI) messages() []sentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentMessage(nil), f.sent...)
}

func (f *fakeAPI) failNext(codes ...int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, codes...)
}
