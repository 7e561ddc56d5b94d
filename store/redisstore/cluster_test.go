package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestFollowFailover: a node client's hook asks for the cluster's slot
// map again when its node does not answer, on commands and pipelines
// alike, and not for an answer, the caller's own cancellation or a
// closed client.
func TestFollowFailover(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name   string
		err    error
		reload bool
	}{
		{"answered", nil, false},
		{"nil reply", redis.Nil, false},
		{"error reply", replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"cluster down reply", replyError("CLUSTERDOWN The cluster is down"), false},
		{"connection refused (dead master)", refused, true},
		{"wrapped connection refused", fmt.Errorf("dial: %w", refused), true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"timeout (stalled master)", context.DeadlineExceeded, true},
		{"caller cancelled", context.Canceled, false},
		{"client closed", redis.ErrClosed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reloads := 0
			h := followFailover{reload: func() { reloads++ }}
			process := h.ProcessHook(func(context.Context, redis.Cmder) error { return tt.err })
			pipeline := h.ProcessPipelineHook(func(context.Context, []redis.Cmder) error { return tt.err })
			if err := process(t.Context(), redis.NewCmd(t.Context(), "get", "k")); !errors.Is(err, tt.err) {
				t.Errorf("command: error %v, want %v passed on", err, tt.err)
			}
			if err := pipeline(t.Context(), nil); !errors.Is(err, tt.err) {
				t.Errorf("pipeline: error %v, want %v passed on", err, tt.err)
			}
			want := 0
			if tt.reload {
				want = 2
			}
			if reloads != want {
				t.Errorf("reloads = %d after a command and a pipeline, want %d", reloads, want)
			}
		})
	}
}

// TestFollowFailoverDial: a dial that fails asks for the slot map again
// at once (go-redis retries a refused dial before the command fails),
// unless the caller gave up.
func TestFollowFailoverDial(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name   string
		err    error
		reload bool
	}{
		{"connected", nil, false},
		{"refused", refused, true},
		{"timed out", context.DeadlineExceeded, true},
		{"caller cancelled", context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reloads := 0
			dial := followFailover{reload: func() { reloads++ }}.DialHook(func(context.Context, string, string) (net.Conn, error) {
				return nil, tt.err
			})
			if _, err := dial(t.Context(), "tcp", "127.0.0.1:1"); !errors.Is(err, tt.err) {
				t.Errorf("dial: error %v, want %v passed on", err, tt.err)
			}
			if got := reloads == 1; got != tt.reload || reloads > 1 {
				t.Errorf("reloads = %d, want reload %v", reloads, tt.reload)
			}
		})
	}
}
