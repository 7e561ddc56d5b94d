package redisstore

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/redis/go-redis/v9"
)

// replyError is an error reply from the server, as go-redis reports one.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

func TestConnFailed(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"nil reply", redis.Nil, false},
		{"wrapped nil reply", fmt.Errorf("op: %w", redis.Nil), false},
		{"error reply", replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"wrapped error reply", fmt.Errorf("op: %w", replyError("ERR x")), false},
		// A master demoted by a Sentinel failover answers writes so.
		{"demoted master", replyError("READONLY You can't write against a read only replica."), true},
		{"connection closed", io.EOF, true},
		{"timeout", context.DeadlineExceeded, true},
		{"client closed", redis.ErrClosed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connFailed(tt.err); got != tt.want {
				t.Errorf("connFailed(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// BenchmarkConnFailed times the check the batcher makes on every
// command's result; the nil case is almost every command.
func BenchmarkConnFailed(b *testing.B) {
	for _, bc := range []struct {
		name string
		err  error
	}{
		{"nil", nil},
		{"nil-reply", redis.Nil},
		{"error-reply", replyError("ERR x")},
		{"io-error", io.EOF},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				connFailed(bc.err)
			}
		})
	}
}
