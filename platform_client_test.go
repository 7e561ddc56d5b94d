package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// TestPlatformClientKeepsConnections: rounds of concurrent API calls to
// one host reuse the connections of the rounds before, instead of
// dialling most of them anew (the default transport keeps two idle).
func TestPlatformClientKeepsConnections(t *testing.T) {
	var dials atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"errcode":0}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := platformClient()
	if c.Timeout == 0 {
		t.Error("the platform client has no timeout")
	}
	const concurrent, rounds = 16, 5
	for range rounds {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resp, err := c.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body) // as the SDK reads its answers
				_ = resp.Body.Close()
			}()
		}
		close(start)
		wg.Wait()
	}
	// A connection goes back to the pool just after its answer is read,
	// so a few may be dialled anew; the default transport dials ~60.
	if n := dials.Load(); n > 2*concurrent {
		t.Errorf("%d connections for %d rounds of %d concurrent calls, want at most %d", n, rounds, concurrent, 2*concurrent)
	}
}
