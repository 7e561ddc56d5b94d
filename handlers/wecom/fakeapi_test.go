package wecom

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
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
	// kfSendFailures are errcodes for the next kf/send_msg calls;
	// kfSendCalls counts every call, failed ones included.
	kfSendFailures []int64
	kfSendCalls    int
	kfTrans        []kfTrans // kf/service_state/trans calls

	appSent []appSend

	called chan struct{} // closed at the next API call answered, when someone waits

	contactCalls []string // 客户联系 endpoints called, in order ("send_welcome_msg", "mark_tag", …)
	tagGroups    []CorpTagGroup
	nextTag      int
	tagRace      bool // add_corp_tag: someone else creates the tags first (40071)
	addedTags    []addTagCall
	marks        []markCall
	markFailures []int64 // errcodes for the next mark_tag calls

	unions map[string]string // external_userid → unionid for externalcontact/get; missing: 84061
}

type addTagCall struct {
	GroupName string
	Names     []string
}

type markCall struct {
	UserID, ExternalUserID string
	AddTag                 []string
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

type kfTrans struct {
	OpenKfID       string `json:"open_kfid"`
	ExternalUserID string `json:"external_userid"`
	ServiceState   int    `json:"service_state"`
	ServicerUserID string `json:"servicer_userid"`
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
	mux.HandleFunc("POST /cgi-bin/externalcontact/get_corp_tag_list", f.contact(func(w http.ResponseWriter, body []byte) {
		if string(body) != "{}" { // siyu looks names up in every group
			t.Errorf("get_corp_tag_list body %s, want {}", body)
		}
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "tag_group": f.tagGroups})
	}))
	mux.HandleFunc("POST /cgi-bin/externalcontact/add_corp_tag", f.contact(f.addCorpTag))
	mux.HandleFunc("GET /cgi-bin/externalcontact/get", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f.mu.Lock()
		defer f.mu.Unlock()
		if got, want := q.Get("access_token"), f.tokens[testContactSecret]; got != want {
			writeJSON(w, map[string]any{"errcode": 40014, "errmsg": "invalid access_token"})
			return
		}
		f.contactCalls = append(f.contactCalls, "get")
		id := q.Get("external_userid")
		if id == "wm-http-500" {
			http.Error(w, "gateway trouble", http.StatusInternalServerError)
			return
		}
		union, ok := f.unions[id]
		if !ok {
			writeJSON(w, map[string]any{"errcode": 84061, "errmsg": "not external contact"})
			return
		}
		contact := map[string]any{"external_userid": id, "name": "客户", "type": 1}
		if union != "" { // only when the corp is bound to Open Platform
			contact["unionid"] = union
		}
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "external_contact": contact,
			"follow_user": []map[string]any{{"userid": "zhangsan"}}})
		if f.called != nil {
			close(f.called)
			f.called = nil
		}
	})
	mux.HandleFunc("POST /cgi-bin/externalcontact/mark_tag", f.contact(f.markTag))
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
		f.kfSendCalls++
		if len(f.kfSendFailures) > 0 {
			code := f.kfSendFailures[0]
			f.kfSendFailures = f.kfSendFailures[1:]
			writeJSON(w, map[string]any{"errcode": code, "errmsg": "send msg session status invalid"})
			return
		}
		f.kfSent = append(f.kfSent, kfSend{req.ToUser, req.OpenKfID, req.MsgType, req.Text.Content})
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "msgid": "m" + strconv.Itoa(len(f.kfSent))})
	}))
	mux.HandleFunc("POST /cgi-bin/kf/service_state/trans", f.app(func(w http.ResponseWriter, body []byte) {
		var req kfTrans
		err := json.Unmarshal(body, &req)
		switch {
		case err != nil || req.OpenKfID == "" || req.ExternalUserID == "":
			t.Errorf("kf/service_state/trans body %s: %v", body, err)
		case req.ServiceState == KFStateHuman && req.ServicerUserID == "":
			// WeCom requires the servicer for 人工接待.
			writeJSON(w, map[string]any{"errcode": 40058, "errmsg": "invalid servicer_userid"})
			return
		case req.ServiceState < 1 || req.ServiceState > 4:
			t.Errorf("kf/service_state/trans to state %d", req.ServiceState)
		}
		f.kfTrans = append(f.kfTrans, req)
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
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
	return func(w http.ResponseWriter, r *http.Request) {
		name := path.Base(r.URL.Path)
		f.withToken(testContactSecret, func(w http.ResponseWriter, body []byte) {
			f.contactCalls = append(f.contactCalls, name)
			h(w, body)
		})(w, r)
	}
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
		if f.called != nil {
			close(f.called)
			f.called = nil
		}
	}
}

// waitFor blocks until cond holds, checking it again after every API call
// the fake answers (a real signal, not a polling sleep). The deadline only
// bounds a failing test.
func (f *fakeAPI) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		// Take the signal before checking, so a call in between is seen.
		f.mu.Lock()
		if f.called == nil {
			f.called = make(chan struct{})
		}
		called := f.called
		f.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-called:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
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

// addCorpTag serves add_corp_tag: siyu creates tags only in its own
// group, by name, and only names the library lacks (else 40071, as WeCom).
func (f *fakeAPI) addCorpTag(w http.ResponseWriter, body []byte) {
	var req struct {
		GroupID   string `json:"group_id"`
		GroupName string `json:"group_name"`
		Tag       []struct {
			Name string `json:"name"`
		} `json:"tag"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.GroupID != "" || req.GroupName != "siyu 渠道" || len(req.Tag) == 0 {
		f.t.Errorf("add_corp_tag body %s: %v; want new tags in the group siyu 渠道", body, err)
		writeJSON(w, map[string]any{"errcode": 40058, "errmsg": "invalid parameter"})
		return
	}
	call := addTagCall{GroupName: req.GroupName}
	for _, t := range req.Tag {
		if t.Name == "" {
			f.t.Errorf("add_corp_tag: a tag without a name: %s", body)
		}
		call.Names = append(call.Names, t.Name)
	}
	f.addedTags = append(f.addedTags, call)
	if f.tagRace { // another replica got there first
		f.tagRace = false
		f.addTags("其他", call.Names...)
	}
	for _, n := range call.Names {
		if f.tagID(n) != "" {
			writeJSON(w, map[string]any{"errcode": 40071, "errmsg": "UserTag Name Already Exist"})
			return
		}
	}
	g := f.addTags(req.GroupName, call.Names...)
	g.Tag = g.Tag[len(g.Tag)-len(call.Names):] // WeCom answers with the new tags only
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "tag_group": g})
}

// markTag serves mark_tag: ids must be in the library.
func (f *fakeAPI) markTag(w http.ResponseWriter, body []byte) {
	var req struct {
		UserID         string   `json:"userid"`
		ExternalUserID string   `json:"external_userid"`
		AddTag         []string `json:"add_tag"`
		RemoveTag      []string `json:"remove_tag"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.UserID == "" || req.ExternalUserID == "" || len(req.AddTag) == 0 || len(req.RemoveTag) != 0 {
		f.t.Errorf("mark_tag body %s: %v", body, err)
		writeJSON(w, map[string]any{"errcode": 40058, "errmsg": "invalid parameter"})
		return
	}
	f.marks = append(f.marks, markCall{req.UserID, req.ExternalUserID, req.AddTag})
	for _, id := range req.AddTag {
		if !f.hasTagID(id) {
			f.t.Errorf("mark_tag with tag id %q, not in the corp's library", id)
			writeJSON(w, map[string]any{"errcode": 40068, "errmsg": "invalid tagid"})
			return
		}
	}
	if len(f.markFailures) > 0 {
		code := f.markFailures[0]
		f.markFailures = f.markFailures[1:]
		writeJSON(w, map[string]any{"errcode": code, "errmsg": "fake failure"})
		return
	}
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
}

// addTags adds tags to the library's group named group, created if
// missing, and returns a copy of the group. Callers hold f.mu.
func (f *fakeAPI) addTags(group string, names ...string) CorpTagGroup {
	i := slices.IndexFunc(f.tagGroups, func(g CorpTagGroup) bool { return g.GroupName == group })
	if i < 0 {
		f.tagGroups = append(f.tagGroups, CorpTagGroup{GroupID: "etg-" + strconv.Itoa(len(f.tagGroups)+1), GroupName: group})
		i = len(f.tagGroups) - 1
	}
	for _, n := range names {
		f.nextTag++
		f.tagGroups[i].Tag = append(f.tagGroups[i].Tag, CorpTag{ID: "et-" + strconv.Itoa(f.nextTag), Name: n})
	}
	g := f.tagGroups[i]
	g.Tag = slices.Clone(g.Tag)
	return g
}

func (f *fakeAPI) tagID(name string) string {
	for _, g := range f.tagGroups {
		for _, t := range g.Tag {
			if t.Name == name {
				return t.ID
			}
		}
	}
	return ""
}

func (f *fakeAPI) hasTagID(id string) bool {
	for _, g := range f.tagGroups {
		for _, t := range g.Tag {
			if t.ID == id {
				return true
			}
		}
	}
	return false
}

// seedTags puts tags in the corp's library, as staff do in the admin
// console, and returns their ids.
func (f *fakeAPI) seedTags(group string, names ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.addTags(group, names...)
	ids := make([]string, 0, len(names))
	for _, t := range g.Tag[len(g.Tag)-len(names):] {
		ids = append(ids, t.ID)
	}
	return ids
}

func (f *fakeAPI) failMarks(codes ...int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.markFailures = append(f.markFailures, codes...)
}

func (f *fakeAPI) gotContactCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.contactCalls)
}

func (f *fakeAPI) gotAddedTags() []addTagCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addedTags)
}

func (f *fakeAPI) gotMarks() []markCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.marks)
}

// tagIDs returns the library's ids of names ("" for a missing one).
func (f *fakeAPI) tagIDs(names ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, len(names))
	for i, n := range names {
		ids[i] = f.tagID(n)
	}
	return ids
}
