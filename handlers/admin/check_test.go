package admin

import (
	"context"
	"errors"
	"testing"

	"github.com/siyu-bot/siyu/bot/bottest"
)

// TestCheckSlots: at most maxChecks script loads run at once; one that
// waits for a slot gives up when its request ends instead of running for
// a client that went away, and runs once a slot is free.
func TestCheckSlots(t *testing.T) {
	lib, _ := scriptsLibrary(t, map[string]string{"faq.yaml": testFAQ})
	h := New("t0ken", &fakeOutbox{}, lib, bottest.Logger(t))
	for range maxChecks {
		h.checks <- struct{}{} // loads in flight
	}
	draft := map[string][]byte{"x.yaml": []byte("rules: []\n")}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := h.check(ctx, draft)
		done <- err
	}()
	cancel() // the client went away
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("check with every slot taken and its request gone = %v, want context.Canceled", err)
	}
	<-h.checks // one load finished
	problems, err := h.check(t.Context(), draft)
	if err != nil || len(problems) != 0 {
		t.Fatalf("check with a slot free = %v, %v; want no problem", problems, err)
	}
	if n := len(h.checks); n != maxChecks-1 {
		t.Fatalf("%d slots held after the check, want its slot given back (%d)", n, maxChecks-1)
	}
}
