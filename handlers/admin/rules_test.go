package admin

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

func TestWithRuleKeepsTheFile(t *testing.T) {
	const file = "# 门店问答\nrules:\n  # 营业时间\n  - name: hours\n    match: {contains: [营业时间]}\n    reply: 每天 9:00-21:00\nfallback: 没听懂\n"
	tests := []struct {
		name, replace string
		rule          ruleDraft
		want          []string // in the new text
		wantNot       []string
		wantStatus    int // of the error, 0 for none
	}{
		{name: "a new rule is appended", rule: ruleDraft{Name: "wifi", Kind: "contains", Patterns: []string{"wifi"}, Replies: []string{"密码 coffee123"}},
			want: []string{"# 门店问答", "# 营业时间", "name: hours", "name: wifi", "contains: [wifi]", "reply: 密码 coffee123", "fallback: 没听懂"}},
		{name: "an edit replaces the rule in place, comment kept", replace: "hours", rule: ruleDraft{Name: "hours", Kind: "exact", Patterns: []string{"几点关门"}, Replies: []string{"21 点", "晚上九点"}},
			want: []string{"# 营业时间", "exact: [几点关门]", "- 21 点", "- 晚上九点"}, wantNot: []string{"营业时间]"}},
		{name: "an intent rule", rule: ruleDraft{Name: "price", Kind: "intent", Intent: "price", MinConfidence: 0.7, Replies: []string{"看小程序"}},
			want: []string{"intent: price", "min_confidence: 0.7"}},
		{name: "a new rule may not take an existing name", rule: ruleDraft{Name: "hours", Kind: "contains", Patterns: []string{"x"}, Replies: []string{"y"}}, wantStatus: http.StatusConflict},
		{name: "editing a rule that is not there", replace: "nope", rule: ruleDraft{Name: "nope", Kind: "contains", Patterns: []string{"x"}, Replies: []string{"y"}}, wantStatus: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withRule([]byte(file), tc.rule, tc.replace)
			if tc.wantStatus != 0 {
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("code=%d,", tc.wantStatus)) {
					t.Fatalf("err = %v, want %d", err, tc.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("new text lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(string(got), w) {
					t.Errorf("new text still has %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestRulePreviewAndDraftDryRun(t *testing.T) {
	srv, _, dir, _ := fullAdmin(t)
	tests := []struct {
		name         string
		body         any
		wantStatus   int
		wantWarnings []string // kind:rule:pattern
		wantOK       bool
	}{
		{"a clash with an earlier rule", map[string]any{"file": "faq.yaml", "rule": map[string]any{"name": "opening", "kind": "contains", "patterns": []string{"营业时间", "几点开门"}, "replies": []string{"9 点"}}},
			http.StatusOK, []string{"shadowed:hours:营业时间"}, true},
		{"a rule that takes another's keyword", map[string]any{"file": "a.yaml", "rule": map[string]any{"name": "shop", "kind": "contains", "patterns": []string{"营业"}, "replies": []string{"9 点"}}},
			http.StatusOK, []string{"shadows:hours:营业时间"}, true},
		{"no clash", map[string]any{"file": "new.yaml", "rule": map[string]any{"name": "wifi", "kind": "exact", "patterns": []string{"wifi"}, "replies": []string{"密码"}}},
			http.StatusOK, nil, true},
		{"no replies", map[string]any{"file": "faq.yaml", "rule": map[string]any{"name": "x", "kind": "contains", "patterns": []string{"x"}}}, http.StatusBadRequest, nil, false},
		{"a bad kind", map[string]any{"file": "faq.yaml", "rule": map[string]any{"name": "x", "kind": "menu", "patterns": []string{"x"}, "replies": []string{"y"}}}, http.StatusBadRequest, nil, false},
		{"a bad file", map[string]any{"file": "../x.yaml", "rule": map[string]any{"name": "x", "kind": "contains", "patterns": []string{"x"}, "replies": []string{"y"}}}, http.StatusBadRequest, nil, false},
		{"not JSON", "{", http.StatusBadRequest, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := sendAdmin(t, http.MethodPost, srv.URL+"/admin/api/rules/preview", "t0ken", "application/json", tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status = %d %v, want %d", status, body, tc.wantStatus)
			}
			if status != http.StatusOK {
				wantErrorShape(t, body)
				return
			}
			var got []string
			for _, w := range body["warnings"].([]any) {
				m := w.(map[string]any)
				got = append(got, m["kind"].(string)+":"+m["rule"].(string)+":"+m["pattern"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tc.wantWarnings, ",") {
				t.Errorf("warnings = %v, want %v", got, tc.wantWarnings)
			}
			if body["ok"] != tc.wantOK {
				t.Errorf("ok = %v, want %v (%v)", body["ok"], tc.wantOK, body["errors"])
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "faq.yaml")); string(b) != testFAQ {
		t.Errorf("a preview wrote faq.yaml: %q", b)
	}

	t.Run("the dry-run answers with a draft, not the file", func(t *testing.T) {
		draft := testFAQ + "  - name: wifi\n    match: {contains: [wifi]}\n    reply: 密码 coffee123\n"
		status, body := sendAdmin(t, http.MethodPost, srv.URL+"/admin/api/dry-run", "t0ken", "", map[string]any{"text": "wifi", "files": map[string]string{"faq.yaml": draft}})
		if status != http.StatusOK || body["rule"] != "wifi" || body["draft"] != true {
			t.Fatalf("dry-run with the draft = %d %v, want the wifi rule", status, body)
		}
		status, body = sendAdmin(t, http.MethodPost, srv.URL+"/admin/api/dry-run", "t0ken", "", map[string]any{"text": "wifi"})
		if status != http.StatusOK || body["rule"] == "wifi" {
			t.Fatalf("dry-run without it = %d %v, want no wifi rule (not saved)", status, body)
		}
		status, body = sendAdmin(t, http.MethodPost, srv.URL+"/admin/api/dry-run", "t0ken", "", map[string]any{"text": "wifi", "files": map[string]string{"faq.yaml": "rules: [oops\n"}})
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("dry-run with a broken draft = %d %v, want 422", status, body)
		}
	})

	t.Run("history lists versions, restore brings one back", func(t *testing.T) {
		newer := testFAQ + "  - name: more\n    match: {exact: [多]}\n    reply: 多\n"
		if status, body := sendAdmin(t, http.MethodPut, srv.URL+"/admin/api/scripts/faq.yaml", "t0ken", "text/plain", newer); status != http.StatusOK {
			t.Fatalf("save = %d %v", status, body)
		}
		status, body := sendAdmin(t, http.MethodGet, srv.URL+"/admin/api/history?file=faq.yaml", "t0ken", "", nil)
		vs, _ := body["versions"].([]any)
		if status != http.StatusOK || len(vs) != 1 {
			t.Fatalf("history = %d %v, want one version", status, body)
		}
		version := vs[0].(map[string]any)["version"].(string)
		status, body = sendAdmin(t, http.MethodGet, srv.URL+"/admin/api/history/version?file=faq.yaml&version="+version, "t0ken", "", nil)
		if status != http.StatusOK || body["text"] != testFAQ {
			t.Fatalf("version = %d %v, want the first text", status, body)
		}
		for _, bad := range []string{"../../etc/passwd", "welcome.yaml.20261126T000000.000000000Z", ""} {
			if status, _ := sendAdmin(t, http.MethodGet, srv.URL+"/admin/api/history/version?file=faq.yaml&version="+bad, "t0ken", "", nil); status != http.StatusNotFound {
				t.Errorf("version %q = %d, want 404", bad, status)
			}
		}
		if status, body := sendAdmin(t, http.MethodPost, srv.URL+"/admin/api/history/restore", "t0ken", "", map[string]string{"file": "faq.yaml", "version": version}); status != http.StatusOK {
			t.Fatalf("restore = %d %v", status, body)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "faq.yaml")); string(b) != testFAQ {
			t.Errorf("after restore faq.yaml = %q, want the first version", b)
		}
		if status, _ := sendAdmin(t, http.MethodPost, srv.URL+"/admin/api/history/restore", "t0ken", "", "{"); status != http.StatusBadRequest {
			t.Errorf("restore with a bad body = %d, want 400", status)
		}
	})
}

// TestRecorder: what answered each message is counted per day in the
// scripts' zone, written when flushed (not on the reply path); dry runs
// and other events are not counted.
func TestRecorder(t *testing.T) {
	d := &memDaily{}
	r := NewRecorder(d, nil, nil)
	r.now = func() time.Time { return time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC) } // 01:00 on the 27th in Shanghai
	msg := bot.Event{Kind: bot.KindMessage}
	for _, tn := range []*bot.Turn{
		{Event: msg, Answer: bot.Answer{Stage: "rule", Rule: "hours"}},
		{Event: msg, Answer: bot.Answer{Stage: "intent", Intent: "price"}},
		{Event: msg, Answer: bot.Answer{Stage: "fallback"}, Intent: "product_info"},
		{Event: msg, Answer: bot.Answer{Stage: "command:checkin"}},
		{Event: msg, Answer: bot.Answer{Stage: "rule", Rule: "hours"}, DryRun: true},
		{Event: bot.Event{Kind: bot.KindFollow}, Answer: bot.Answer{Stage: "welcome"}},
	} {
		r.ObserveTurn(tn)
	}
	r.CouponOutcome("c1", "out_of_stock")
	r.CouponOutcome("c1", "issued")
	if got, _ := d.Day(context.Background(), "20261127"); len(got) != 0 {
		t.Fatalf("counted %v before a flush: the reply path must not write", got)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := d.Day(context.Background(), "20261127")
	want := map[string]int{"turns": 4, "rule:hours": 1, "intent:price": 1, "fallback": 1, "unanswered:product_info": 1, "command:checkin": 1, "out_of_stock:c1": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("counts = %v, want exactly %v", got, want)
	}
}

func TestBulkAndListsRefuseBadInput(t *testing.T) {
	site := newConsoleSite(t, true)
	tests := []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"risk bulk without ids", http.MethodPost, "/admin/api/risk/events/bulk", map[string]any{"ids": []int{}, "action": "ack"}, http.StatusBadRequest},
		{"risk bulk with a bad action", http.MethodPost, "/admin/api/risk/events/bulk", map[string]any{"ids": []int{17}, "action": "delete"}, http.StatusBadRequest},
		{"risk bulk with an unknown id", http.MethodPost, "/admin/api/risk/events/bulk", map[string]any{"ids": []int{404}, "action": "ack"}, http.StatusNotFound},
		{"risk bulk", http.MethodPost, "/admin/api/risk/events/bulk", map[string]any{"ids": []int{17, 18}, "action": "dismiss"}, http.StatusOK},
		{"requeue without ids", http.MethodPost, "/admin/api/outbox/requeue", map[string]any{"ids": []int{}}, http.StatusBadRequest},
		{"requeue not JSON", http.MethodPost, "/admin/api/outbox/requeue", "{", http.StatusBadRequest},
		{"requeue", http.MethodPost, "/admin/api/outbox/requeue", map[string]any{"ids": []int{1, 99}}, http.StatusOK},
		{"outbox before not a number", http.MethodGet, "/admin/api/outbox?before=x", nil, http.StatusBadRequest},
		{"opted-out with a bad limit", http.MethodGet, "/admin/api/dnd/opted-out?limit=0", nil, http.StatusBadRequest},
		{"opted-out", http.MethodGet, "/admin/api/dnd/opted-out", nil, http.StatusOK},
		{"people without q", http.MethodGet, "/admin/api/people", nil, http.StatusBadRequest},
		{"audit with a bad cursor", http.MethodGet, "/admin/api/audit?before=-1", nil, http.StatusBadRequest},
		{"overview", http.MethodGet, "/admin/api/overview", nil, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := sendAdmin(t, tc.method, site.url+tc.path, "t0ken", "", tc.body)
			if status != tc.want {
				t.Fatalf("status = %d %v, want %d", status, body, tc.want)
			}
			if status >= 400 {
				wantErrorShape(t, body)
			}
		})
	}
	if got := site.outbox.requeued; len(got) != 1 || got[0] != 1 {
		t.Errorf("requeued %v, want [1] (99 is not dead: skipped)", got)
	}
	if site.risk.events[0].Status != "dismissed" || site.risk.events[1].Status != "dismissed" {
		t.Errorf("bulk dismiss left %s, %s", site.risk.events[0].Status, site.risk.events[1].Status)
	}
}
