package douyin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Failures queued with failNext besides error codes: an HTTP 500, and a
// connection dropped without an answer.
const (
	httpFailure    = -500
	networkFailure = -1000
)

// fakeAPI is Douyin's OpenAPI for tests: it issues client tokens and
// receives private and group messages, checking every request against
// what siyu must send. Its request types are its own, not the package's,
// so a change to the wire shape fails here.
type fakeAPI struct {
	t *testing.T
	*httptest.Server

	mu           sync.Mutex
	token        string
	tokenCalls   int
	tokenFails   int // token requests to answer with HTTP 500 first
	sendAttempts int
	failures     []int64
	sent         []sentMessage
}

// sentMessage is one message the fake accepted.
type sentMessage struct {
	Account        string // open_id query parameter
	To             string // to_user_id, private only
	Group          string // group_id, group only
	ReplyTo        string // msg_id
	ConversationID string
	Scene          string
	Text           string
}

type fakeText struct {
	MsgType json.Number `json:"msg_type"`
	Text    struct {
		Text string `json:"text"`
	} `json:"text"`
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, token: "clt.token-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/client_token/", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ClientKey    string `json:"client_key"`
			ClientSecret string `json:"client_secret"`
			GrantType    string `json:"grant_type"`
		}
		if err := decodeStrict(r, &req); err != nil || r.Header.Get("Content-Type") != "application/json" ||
			req.ClientKey != testClientKey || req.ClientSecret != testSecret || req.GrantType != "client_credential" {
			t.Errorf("client_token request %+v (err %v, type %q), want client_credential with the app's key and secret", req, err, r.Header.Get("Content-Type"))
			writeError(w, 20010013, "client_key 或者 client_secret 报错")
			return
		}
		f.mu.Lock()
		f.tokenCalls++
		tok, fail := f.token, f.tokenFails > 0
		if fail {
			f.tokenFails--
		}
		f.mu.Unlock()
		if fail {
			http.Error(w, "upstream failure", http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"data":    map[string]any{"access_token": tok, "description": "", "error_code": 0, "expires_in": 7200},
			"message": "success",
		})
	})
	mux.HandleFunc("POST /im/send/msg/", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			MsgID          string   `json:"msg_id"`
			ConversationID string   `json:"conversation_id"`
			ToUserID       string   `json:"to_user_id"`
			Scene          string   `json:"scene"`
			Content        fakeText `json:"content"`
		}
		if err := decodeStrict(r, &req); err != nil || req.MsgID == "" || req.ConversationID == "" || req.ToUserID == "" ||
			(req.Scene != "im_reply_msg" && req.Scene != "im_enter_direct_msg") || req.Content.MsgType != "1" || req.Content.Text.Text == "" {
			t.Errorf("im/send/msg body %+v (err %v): want msg_id, conversation_id, to_user_id, a reply scene and text content with msg_type 1", req, err)
			writeError(w, 28001007, "参数不合法")
			return
		}
		f.accept(w, r, sentMessage{To: req.ToUserID, ReplyTo: req.MsgID, ConversationID: req.ConversationID, Scene: req.Scene, Text: req.Content.Text.Text})
	})
	mux.HandleFunc("POST /im/send/msg/group/", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			GroupID string   `json:"group_id"`
			Content fakeText `json:"content"`
		}
		if err := decodeStrict(r, &req); err != nil || req.GroupID == "" || req.Content.MsgType != "1" || req.Content.Text.Text == "" {
			t.Errorf("im/send/msg/group body %+v (err %v): want group_id and text content with msg_type 1", req, err)
			writeError(w, 28001007, "参数不合法")
			return
		}
		f.accept(w, r, sentMessage{Group: req.GroupID, Text: req.Content.Text.Text})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake Douyin OpenAPI: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// accept checks what every send shares (the account, the token), applies
// a queued failure, and records the message.
func (f *fakeAPI) accept(w http.ResponseWriter, r *http.Request, m sentMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m.Account = r.URL.Query().Get("open_id")
	if m.Account != testAccount || r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("send %s with open_id %q and type %q, want %q and JSON", r.URL.Path, m.Account, r.Header.Get("Content-Type"), testAccount)
	}
	if r.Header.Get("access-token") != f.token {
		writeError(w, 28001008, "access_token过期,请刷新或重新授权")
		return
	}
	f.sendAttempts++
	if len(f.failures) > 0 {
		code := f.failures[0]
		f.failures = f.failures[1:]
		switch code {
		case httpFailure:
			http.Error(w, "upstream failure", http.StatusInternalServerError)
			return
		case networkFailure:
			panic(http.ErrAbortHandler) // the client sees the connection drop
		}
		writeError(w, code, "fake failure")
		return
	}
	f.sent = append(f.sent, m)
	json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"error_code": 0, "msg_id": "@sent"}, "extra": map[string]any{"error_code": 0}})
}

// writeError answers in the OpenAPI's error envelope.
func writeError(w http.ResponseWriter, code int64, desc string) {
	block := map[string]any{"error_code": code, "description": desc}
	json.NewEncoder(w).Encode(map[string]any{"data": block, "extra": block})
}

func decodeStrict(r *http.Request, v any) error {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return err
	}
	d := json.NewDecoder(&buf)
	d.DisallowUnknownFields()
	return d.Decode(v)
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

func (f *fakeAPI) failTokenNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenFails += n
}

func (f *fakeAPI) revoke(newToken string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.token = newToken
}

func (f *fakeAPI) counts() (tokenCalls, sendAttempts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls, f.sendAttempts
}
