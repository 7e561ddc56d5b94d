package admin

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/bot/nlp"
	"github.com/siyu-bot/siyu/bot/risk"
	"github.com/siyu-bot/siyu/handlers"
	"github.com/siyu-bot/siyu/knowledge"
	"github.com/siyu-bot/siyu/scripts"
)

// benchAPI is the admin API over the shipped example scripts, called
// in-process (no network), for the editor's two hot calls.
func benchAPI(b *testing.B) (http.Handler, string) {
	b.Helper()
	// The shipped examples use every capability's section; the intent
	// names are the shipped model's.
	model, err := knowledge.FS.Open("intents.model")
	if err != nil {
		b.Fatal(err)
	}
	labels, err := nlp.ReadLabels(model)
	model.Close()
	if err != nil {
		b.Fatal(err)
	}
	sections := []bot.Section{
		checkin.Section{}, coupon.Section{}, dnd.Section{}, risk.Section{}, nlp.FAQSection{}, nlp.IntentsSection{Labels: labels},
	}
	lib, err := bot.NewLibrary(scripts.FS, nil, sections...)
	if err != nil {
		b.Fatal(err)
	}
	faq, err := fs.ReadFile(scripts.FS, "faq.yaml")
	if err != nil {
		b.Fatal(err)
	}
	logger := bottest.Discard()
	e := handlers.NewEcho(logger)
	engine := bot.NewEngine(bot.EngineConfig{Scripts: lib, Pick: func(int) int { return 0 }})
	New("t0ken", &fakeOutbox{}, lib, logger).WithDryRun(engine, nil).Register(e.Group(""))
	return e, string(faq)
}

func benchPost(b *testing.B, h http.Handler, path, body string) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t0ken")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s = %d %s", path, rec.Code, rec.Body)
		}
	}
}

// BenchmarkValidate is one live-validation call of the editor: the shipped
// faq.yaml as a draft, checked with every other file.
func BenchmarkValidate(b *testing.B) {
	h, faq := benchAPI(b)
	body, _ := json.Marshal(map[string]any{"files": map[string]string{"faq.yaml": faq + "\n"}})
	benchPost(b, h, "/admin/api/scripts/validate", string(body))
}

// BenchmarkDryRun is one dry-run of a message a keyword rule answers.
func BenchmarkDryRun(b *testing.B) {
	h, _ := benchAPI(b)
	benchPost(b, h, "/admin/api/dry-run", `{"text":"你们几点开门？营业时间","platform":"wechat"}`)
}
