package sqlstore_test

import (
	"errors"
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/storetest"
)

func TestPing(t *testing.T) {
	db := storetest.SQL(t)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping on an open database: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); !errors.Is(err, bot.ErrUnavailable) {
		t.Fatalf("Ping on a closed database = %v, want ErrUnavailable", err)
	}
}
