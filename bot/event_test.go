package bot

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestValidateLongIDs: an event with an id longer than MaxIDLen never
// reaches the engine or a store, whichever way it came (archive polls and
// 微信客服 pulls have no callback to refuse).
func TestValidateLongIDs(t *testing.T) {
	long := strings.Repeat("x", MaxIDLen+1)
	base := Event{Platform: WeCom, Account: "ww1", Kind: KindMessage, Sender: "wm1", Time: time.Unix(1, 0)}
	tests := []struct {
		name    string
		mutate  func(e *Event)
		wantErr bool
	}{
		{"short ids", func(e *Event) {}, false},
		{"an id of MaxIDLen", func(e *Event) { e.Sender = UserID(long[1:]) }, false},
		{"sender", func(e *Event) { e.Sender = UserID(long) }, true},
		{"account", func(e *Event) { e.Account = AccountID(long) }, true},
		{"group", func(e *Event) { e.Conversation.Group = GroupID(long) }, true},
		{"member", func(e *Event) { e.Members = []UserID{"wm2", UserID(long)} }, true},
		{"unionid", func(e *Event) { e.UnionID = long }, true},
		{"message id", func(e *Event) { e.MessageID = long }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := base
			tc.mutate(&e)
			err := e.Validate()
			if (err != nil) != tc.wantErr || err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want an ErrInvalid error %v", err, tc.wantErr)
			}
		})
	}
}
