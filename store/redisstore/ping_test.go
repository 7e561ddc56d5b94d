package redisstore_test

import (
	"errors"
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/redisstore"
)

func TestPing(t *testing.T) {
	c, err := redisstore.Open(t.Context(), "", nil) // its own miniredis, stopped below
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping while Redis runs: %v", err)
	}
	c.Miniredis().Close() // Redis goes away under the client
	if err := c.Ping(t.Context()); !errors.Is(err, bot.ErrUnavailable) {
		t.Fatalf("Ping with Redis down = %v, want ErrUnavailable", err)
	}
	_ = c.Close()
}
