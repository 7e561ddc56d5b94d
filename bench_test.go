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
	benchKeyword(b, sim)
}

// benchKeyword posts the keyword callback through sim, in parallel, and
// reports allocations and CPU per callback.
func benchKeyword(b *testing.B, sim *wechat.Simulator) {
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := sim.Post(b.Context(), sim.TextXML("o-bench", "营业时间", wechat.NewMsgID()))
			if err != nil || r.Status != http.StatusOK {
				b.Fatal(r.Status, err)
			}
		}
	})
}

// reportCPU reports the process's CPU time per op (user + system, client
// and server together, cpuTime) from when it is called to when its
// result is: on a shared machine it moves far less than wall time, so
// two benchmarks of the same client compare by it.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64(cpuTime()-start)/1e3/float64(b.N), "cpu-µs/op")
	}
}
