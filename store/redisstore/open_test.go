package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/redisstore"
)

// TestOpenRefuses: what Open cannot use is bot.ErrInvalid, before any
// connection, and the error never quotes a password.
func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name string
		url  string
		opts []redisstore.Option
	}{
		{"cluster without a URL", "", []redisstore.Option{redisstore.Cluster()}},
		{"sentinel without a URL", "", []redisstore.Option{redisstore.Sentinel("mymaster")}},
		{"sentinel without a master name", "redis://:secret@127.0.0.1:1", []redisstore.Option{redisstore.Sentinel("")}},
		{"cluster URL with a bad scheme", "http://:secret@127.0.0.1:1?addr=127.0.0.1:2", []redisstore.Option{redisstore.Cluster()}},
		{"cluster URL with a bad address", "redis://:secret@127.0.0.1:1?addr=nowhere", []redisstore.Option{redisstore.Cluster()}},
		{"sentinel URL with an unknown parameter", "redis://:secret@127.0.0.1:1?colour=blue", []redisstore.Option{redisstore.Sentinel("mymaster")}},
		{"cluster URL with a database", "redis://:secret@127.0.0.1:1/2?addr=127.0.0.1:2", []redisstore.Option{redisstore.Cluster()}},
		{"cluster form without the cluster option", "redis://:secret@127.0.0.1:1?addr=127.0.0.1:2", nil},
		{"prefix with an unclosed hash tag", "", []redisstore.Option{redisstore.WithPrefix("siyu:{a:")}},
		{"prefix with an empty hash tag", "", []redisstore.Option{redisstore.WithPrefix("siyu:{}:")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := redisstore.Open(t.Context(), tt.url, nil, tt.opts...)
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded, want ErrInvalid")
			}
			if !errors.Is(err, bot.ErrInvalid) {
				t.Errorf("Open err = %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("Open err = %q quotes the password", err)
			}
		})
	}
}

// TestOpenUnavailable: a cluster or Sentinel that does not answer is
// bot.ErrUnavailable, naming the addresses tried but no password.
func TestOpenUnavailable(t *testing.T) {
	tests := []struct {
		name string
		opt  redisstore.Option
	}{
		{"cluster", redisstore.Cluster()},
		{"sentinel", redisstore.Sentinel("mymaster")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// go-redis retries sentinels for tens of seconds; the caller's
			// context bounds that.
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			// Ports 1 and 2 on loopback: nothing listens there.
			_, err := redisstore.Open(ctx, "redis://:secret@127.0.0.1:1?addr=127.0.0.1:2", nil, tt.opt)
			if !errors.Is(err, bot.ErrUnavailable) {
				t.Fatalf("Open err = %v, want ErrUnavailable", err)
			}
			if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "127.0.0.1:2") {
				t.Errorf("Open err = %q: want the addresses and no password", err)
			}
		})
	}
}

func TestWithPrefixTag(t *testing.T) {
	// A complete tag in the prefix puts every key in one slot: allowed.
	c, err := redisstore.Open(t.Context(), "", nil, redisstore.WithPrefix("{siyu}:"))
	if err != nil {
		t.Fatalf("Open with a tagged prefix: %v", err)
	}
	c.Close()
}
