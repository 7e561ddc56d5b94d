package wecom

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"
)

// fakeAPI is WeCom's server API for tests. It issues access tokens per
// secret and checks every call: the right token for the endpoint (客户联系
// or app), well-formed bodies, and that two 微信客服 pulls never overlap.
type fakeAPI struct {
	t *testing.T
	*httptest.Server

	mu         sync.Mutex
	tokens     map[string]string // secret → current token
	tokenCalls int

	welcomes        []welcomeCall
	welcomeFailures []int64 // errcodes for the next send_welcome_msg calls

	templates   map[string]string // template id → text
	templateOps []string          // "add tpl-1", "edit tpl-1", "del tpl-1"
	nextTpl     int

	kfPages   map[string]kfPage // by cursor
	kfSyncs   []KFSyncRequest
	kfPulling int // sync_msg calls in flight
	kfSent    []kfSend

	appSent []appSend
}

type welcomeCall struct {
	Code, Text string
	At         time.Time
}

type kfPage struct {
	Next    string
	HasMore int
	Msgs    []map[string]any
}

type kfSend struct {
	ToUser, OpenKfID, MsgType, Text string
}

type appSend struct {
	ToUser  string
	AgentID int
	MsgType string
	Text    string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{
		t:         t,
		tokens:    map[string]string{testSecret: "TOKEN-APP-1", testContactSecret: "TOKEN-CONTACT-1"},
		templates: map[string]string{},
		kfPages:   map[string]kfPage{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cgi-bin/gettoken", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f.mu.Lock()
		tok, ok := f.tokens[q.Get("corpsecret")]
		f.tokenCalls++
		f.mu.Unlock()
		if q.Get("corpid") != testCorp || !ok {
			t.Errorf("gettoken for corp %q with an unknown secret, want corp %s", q.Get("corpid"), testCorp)
			writeJSON(w, map[string]any{"errcode": 40001, "errmsg": "invalid credential"})
			return
		}
		writeJSON(w, map[string]any{"errcode": 0, "access_token": tok, "expires_in": 7200})
	})
	mux.HandleFunc("POST /cgi-bin/externalcontact/send_welcome_msg", f.contact(func(w http.ResponseWriter, body []byte) {
		var req struct {
			WelcomeCode string      `json:"welcome_code"`
			Text        textContent `json:"text"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.WelcomeCode == "" || req.Text.Content == "" {
			t.Errorf("send_welcome_msg body %s: %v", body, err)
			writeJSON(w, map[string]any{"errcode": 40058, "errmsg": "invalid parameter"})
			return
		}
		f.welcomes = append(f.welcomes, welcomeCall{Code: req.WelcomeCode, Text: req.Text.Content, At: time.Now()})
		if len(f.welcomeFailures) > 0 {
			code := f.welcomeFailures[0]
			f.welcomeFailures = f.welcomeFailures[1:]
			writeJSON(w, map[string]any{"errcode": code, "errmsg": "fake failure"})
			return
		}
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
	}))
	for _, op := range []string{"add", "edit", "del"} {
		mux.HandleFunc("POST /cgi-bin/externalcontact/group_welcome_template/"+op, f.contact(func(w http.ResponseWriter, body []byte) {
			f.template(op, w, body)
		}))
	}
	mux.HandleFunc("POST /cgi-bin/kf/sync_msg", func(w http.ResponseWriter, r *http.Request) {
		// Checked outside the lock: two pulls at once is what this finds.
		f.mu.Lock()
		f.kfPulling++
		if f.kfPulling > 1 {
			t.Errorf("kf/sync_msg: %d pulls at once, want one replica at a time", f.kfPulling)
		}
		f.mu.Unlock()
		time.Sleep(20 * time.Millisecond) // a real round trip, so overlaps would show
		f.app(func(w http.ResponseWriter, body []byte) {
			var req KFSyncRequest
			if err := json.Unmarshal(body, &req); err != nil || req.OpenKfID == "" {
				t.Errorf("kf/sync_msg body %s: %v", body, err)
			}
			f.kfSyncs = append(f.kfSyncs, req)
			p, ok := f.kfPages[req.Cursor]
			if !ok {
				writeJSON(w, map[string]any{"errcode": 95000, "errmsg": "invalid cursor"})
				return
			}
			writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "next_cursor": p.Next, "has_more": p.HasMore, "msg_list": p.Msgs})
		})(w, r)
		f.mu.Lock()
		f.kfPulling--
		f.mu.Unlock()
	})
	mux.HandleFunc("POST /cgi-bin/kf/send_msg", f.app(func(w http.ResponseWriter, body []byte) {
		var req struct {
			ToUser   string      `json:"touser"`
			OpenKfID string      `json:"open_kfid"`
			MsgType  string      `json:"msgtype"`
			Text     textContent `json:"text"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.ToUser == "" || req.OpenKfID == "" || req.MsgType != "text" {
			t.Errorf("kf/send_msg body %s: %v", body, err)
		}
		f.kfSent = append(f.kfSent, kfSend{req.ToUser, req.OpenKfID, req.MsgType, req.Text.Content})
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "msgid": "m" + strconv.Itoa(len(f.kfSent))})
	}))
	mux.HandleFunc("POST /cgi-bin/message/send", f.app(func(w http.ResponseWriter, body []byte) {
		var req struct {
			ToUser  string      `json:"touser"`
			MsgType string      `json:"msgtype"`
			AgentID int         `json:"agentid"`
			Text    textContent `json:"text"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.ToUser == "" || req.AgentID == 0 {
			t.Errorf("message/send body %s: %v", body, err)
		}
		f.appSent = append(f.appSent, appSend{req.ToUser, req.AgentID, req.MsgType, req.Text.Content})
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "invaliduser": ""})
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake WeCom API: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	f.Server = httptest.NewServer(mux)
	// The SDK's URL rewriting is process-wide: tests that use the fake
	// must not run in parallel.
	util.SetURIModifier(func(uri string) string {
		return strings.Replace(uri, "https://qyapi.weixin.qq.com", f.URL, 1)
	})
	t.Cleanup(func() {
		util.SetURIModifier(nil)
		f.Close()
	})
	return f
}

// template serves group_welcome_template/add, edit and del.
func (f *fakeAPI) template(op string, w http.ResponseWriter, body []byte) {
	var req struct {
		TemplateID string       `json:"template_id"`
		Text       *textContent `json:"text"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("group_welcome_template/%s body %s: %v", op, body, err)
	}
	if op != "del" && (req.Text == nil || req.Text.Content == "") {
		f.t.Errorf("group_welcome_template/%s without text: %s", op, body)
		writeJSON(w, map[string]any{"errcode": 40058, "errmsg": "invalid parameter"})
		return
	}
	if op == "add" {
		f.nextTpl++
		id := "tpl-" + strconv.Itoa(f.nextTpl)
		f.templates[id] = req.Text.Content
		f.templateOps = append(f.templateOps, "add "+id)
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "template_id": id})
		return
	}
	if _, ok := f.templates[req.TemplateID]; !ok {
		writeJSON(w, map[string]any{"errcode": 41060, "errmsg": "template not found"})
		return
	}
	if op == "edit" {
		f.templates[req.TemplateID] = req.Text.Content
	} else {
		delete(f.templates, req.TemplateID)
	}
	f.templateOps = append(f.templateOps, op+" "+req.TemplateID)
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
}

// dropTemplate deletes a template behind siyu's back, as staff can in the
// admin console.
func (f *fakeAPI) dropTemplate(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.templates, id)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// contact and app wrap an endpoint that needs the 客户联系 or the app
// token: a wrong token is refused as WeCom does (40014), a revoked one
// too. The endpoint runs under f.mu.
func (f *fakeAPI) contact(h func(http.ResponseWriter, []byte)) http.HandlerFunc {
	return f.withToken(testContactSecret, h)
}

func (f *fakeAPI) app(h func(http.ResponseWriter, []byte)) http.HandlerFunc {
	return f.withToken(testSecret, h)
}

func (f *fakeAPI) withToken(secret string, h func(http.ResponseWriter, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			f.t.Errorf("%s: body is not JSON: %v", r.URL.Path, err)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			f.t.Errorf("%s: Content-Type %q, want JSON", r.URL.Path, ct)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if got, want := r.URL.Query().Get("access_token"), f.tokens[secret]; got != want {
			writeJSON(w, map[string]any{"errcode": 40014, "errmsg": "invalid access_token"})
			return
		}
		h(w, body)
	}
}

// revoke makes WeCom issue a new token for secret: the old one is
// refused from now on.
func (f *fakeAPI) revoke(secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[secret] += "-revoked"
}

func (f *fakeAPI) failWelcomes(codes ...int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.welcomeFailures = append(f.welcomeFailures, codes...)
}

func (f *fakeAPI) gotWelcomes() []welcomeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]welcomeCall(nil), f.welcomes...)
}

func (f *fakeAPI) gotKFSent() []kfSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]kfSend(nil), f.kfSent...)
}

func (f *fakeAPI) gotAppSent() []appSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]appSend(nil), f.appSent...)
}

func (f *fakeAPI) gotTemplateOps() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.templateOps...)
}

func (f *fakeAPI) gotTemplates() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.templates))
	for k, v := range f.templates {
		out[k] = v
	}
	return out
}

func (f *fakeAPI) setKFPages(pages map[string]kfPage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kfPages = pages
}

func (f *fakeAPI) gotKFSyncs() []KFSyncRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]KFSyncRequest(nil), f.kfSyncs...)
}
