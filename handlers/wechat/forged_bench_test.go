package wechat

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/handlers"
)

// BenchmarkRefuseForgedBody is what an unauthenticated client costs: a
// safe-mode callback with a wrong msg_signature and a 60 KiB body that is
// not flat XML, refused with 401.
func BenchmarkRefuseForgedBody(b *testing.B) {
	logger := bottest.Discard()
	h, err := New(Config{Token: testToken, EncodingAESKey: testAESKey, AppID: testAppID}, bot.HandlerFunc(nil), nil, logger)
	if err != nil {
		b.Fatal(err)
	}
	e := handlers.NewEcho(logger)
	h.Register(e.Group(""))
	body := []byte("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Junk a='1'>" + strings.Repeat("<c>junk</c>", 60<<10/11) + "</Junk><Encrypt><![CDATA[AAAA]]></Encrypt></xml>")
	url := "/wechat/callback?encrypt_type=aes&timestamp=1700000000&nonce=1&msg_signature=" + strings.Repeat("0", 40)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, url, bytes.NewReader(body)))
		if rec.Code != http.StatusUnauthorized {
			b.Fatalf("status %d, want 401", rec.Code)
		}
	}
}
