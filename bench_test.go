package main

import (
	"net/http"
	"testing"

	"github.com/siyu-bot/siyu/handlers/wechat"
)

// BenchmarkRunCallback is a signed, encrypted WeChat keyword callback
// answered end to end by siyu as `siyu` serves it (run, over loopback),
// on the real backends when MYSQL_DSN and REDIS_URL are set.
func BenchmarkRunCallback(b *testing.B) {
	base, _ := startSiyu(b, map[string]string{"SIYU_LOG_LEVEL": "error"})
	sim := &wechat.Simulator{URL: base + "/wechat/callback", Token: demoToken, EncodingAESKey: demoAESKey, AppID: demoAppID, OriginalID: demoOrigID,
		Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := sim.Post(b.Context(), sim.TextXML("o-bench", "营业时间", wechat.NewMsgID()))
			if err != nil || r.Status != http.StatusOK {
				b.Fatal(r.Status, err)
			}
		}
	})
}
