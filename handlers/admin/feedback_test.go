package admin

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/feedback"
	"github.com/siyu-bot/siyu/handlers"
)

// memLines is an in-memory feedback.Store.
type memLines struct {
	mu    sync.Mutex
	lines []feedback.Line
}

func (m *memLines) Put(_ context.Context, l feedback.Line) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lines = slices.DeleteFunc(m.lines, func(o feedback.Line) bool { return o.Key == l.Key })
	m.lines = append(m.lines, l)
	return nil
}

func (m *memLines) Lines(_ context.Context, dataset string, limit int) ([]feedback.Line, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []feedback.Line
	for i := len(m.lines) - 1; i >= 0 && len(out) < limit; i-- {
		if m.lines[i].Dataset == dataset {
			out = append(out, m.lines[i])
		}
	}
	return out, nil
}

// getRaw sends an authenticated GET and returns the status, the content
// type and the body.
func getRaw(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer t0ken")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// TestFeedbackModule: staff correct a dry-run's intent, a reviewed risk
// event arrives through the Learner, and both export as the files
// knowledge/ reads, masked.
func TestFeedbackModule(t *testing.T) {
	svc := feedback.New(feedback.Config{Store: &memLines{}, Labels: map[string][]string{
		"intents": {"after_sales", "checkin", "other", "unsubscribe"},
		"risk":    {"abuse", "ad_spam", "complaint", "fraud", "none", "poaching"},
	}})
	modules, _ := FromCapabilities([]bot.Capability{svc})
	if len(modules) != 1 || modules[0].Name() != "feedback" {
		t.Fatalf("modules = %v, want the feedback module", modules)
	}
	logger := bottest.Logger(t)
	e := handlers.NewEcho(logger)
	New("t0ken", &fakeOutbox{}, nil, logger, modules...).Register(e.Group(""))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	// A risk event staff dismissed, as risk's SetStatus hands it over.
	if err := svc.Learn(t.Context(), bot.Labelled{Dataset: "risk", Label: "none", Text: "两件包邮吗，能便宜点不", Source: bot.SourceRiskDismissed, Key: "risk:7"}); err != nil {
		t.Fatal(err)
	}

	corrections := []struct {
		name     string
		body     any
		wantCode int
		wantText string
	}{
		{"a dry-run read 那我不要了 as unsubscribe", map[string]string{"text": "那我不要了", "intent": "after_sales", "was": "unsubscribe"}, 200, "那我不要了"},
		{"personal data is masked before it is kept", map[string]string{"text": "快递员要签收，电话 13800138000", "intent": "other", "was": "checkin"}, 200, "快递员要签收，电话 [号码]"},
		{"an intent the model lacks", map[string]string{"text": "退款", "intent": "refund"}, 400, ""},
		{"no text", map[string]string{"text": " ", "intent": "other"}, 400, ""},
		{"no intent", map[string]string{"text": "好的"}, 400, ""},
		{"an unknown field", map[string]string{"text": "好的", "intent": "other", "label": "x"}, 400, ""},
	}
	for _, tc := range corrections {
		t.Run(tc.name, func(t *testing.T) {
			code, body := sendAdmin(t, http.MethodPost, srv.URL+"/admin/api/feedback/corrections", "t0ken", "", tc.body)
			if code != tc.wantCode {
				t.Fatalf("POST corrections = %d %v, want %d", code, body, tc.wantCode)
			}
			if tc.wantText != "" && body["text"] != tc.wantText {
				t.Errorf("kept text = %v, want %q", body["text"], tc.wantText)
			}
		})
	}

	code, body := do(t, http.MethodGet, srv.URL+"/admin/api/feedback/lines?dataset=intents")
	if lines, _ := body["lines"].([]any); code != 200 || len(lines) != 2 {
		t.Errorf("GET lines = %d, %v; want 2 lines", code, body)
	}
	if code, _ := do(t, http.MethodGet, srv.URL+"/admin/api/feedback/lines?dataset=faq"); code != 400 {
		t.Errorf("GET lines of an unknown dataset = %d, want 400", code)
	}

	exports := []struct {
		name, query string
		wantCode    int
		wantType    string
		want        map[string]string // path → its lines after the comment
	}{
		{"intents as a zip for knowledge/", "dataset=intents", 200, "application/zip", map[string]string{
			"intents/sources/brand/after_sales.txt": "那我不要了",
			"intents/sources/brand/other.txt":       "快递员要签收，电话 [号码]",
		}},
		{"risk", "dataset=risk", 200, "application/zip", map[string]string{"risk/sources/brand/none.txt": "两件包邮吗，能便宜点不"}},
		{"one label as text", "dataset=intents&label=after_sales", 200, "text/plain; charset=utf-8", map[string]string{"": "那我不要了"}},
		{"a label with no lines", "dataset=intents&label=checkin", 404, "", nil},
		{"no dataset", "", 400, "", nil},
		{"an unknown dataset", "dataset=faq", 400, "", nil},
	}
	for _, tc := range exports {
		t.Run(tc.name, func(t *testing.T) {
			code, ctype, b := getRaw(t, srv.URL+"/admin/api/feedback/export?"+tc.query)
			if code != tc.wantCode {
				t.Fatalf("GET export = %d %s, want %d", code, b, tc.wantCode)
			}
			if tc.want == nil {
				return
			}
			if ctype != tc.wantType {
				t.Errorf("content type = %q, want %q", ctype, tc.wantType)
			}
			got := map[string]string{}
			if ctype == "application/zip" {
				zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range zr.File {
					rc, _ := f.Open()
					data, _ := io.ReadAll(rc)
					rc.Close()
					got[f.Name] = linesOf(data)
				}
			} else {
				got[""] = linesOf(b)
			}
			for path, want := range tc.want {
				if got[path] != want {
					t.Errorf("%s = %q, want %q", path, got[path], want)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("files = %v, want %v", got, tc.want)
			}
		})
	}
}

// linesOf returns an exported file's lines after its # comment, joined
// by newlines.
func linesOf(data []byte) string {
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "# ") {
		return "no comment line: " + string(data)
	}
	return strings.Join(lines[1:], "\n")
}
