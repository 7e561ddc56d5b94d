package dnd

import (
	"context"
	"errors"
	"testing"
)

// TestHeldCounter: every held-back record that is stored is counted by
// its reason, and a failed store is not.
func TestHeldCounter(t *testing.T) {
	counted := map[string]int{}
	fail := false
	h := heldCounter{Store: failingHeldStore{fail: &fail}, count: func(r string) { counted[r]++ }}
	for _, r := range []string{"opted_out", "quiet_hours", "opted_out"} {
		if err := h.RecordHeld(t.Context(), HeldBack{Reason: r}); err != nil {
			t.Fatal(err)
		}
	}
	fail = true
	if err := h.RecordHeld(t.Context(), HeldBack{Reason: "cap"}); err == nil {
		t.Fatal("want the store's error")
	}
	if counted["opted_out"] != 2 || counted["quiet_hours"] != 1 || counted["cap"] != 0 {
		t.Errorf("counted %v, want opted_out 2, quiet_hours 1, cap 0", counted)
	}
}

// failingHeldStore is a Store whose RecordHeld fails on demand; the
// rest of the interface is not used by the test.
type failingHeldStore struct {
	Store
	fail *bool
}

func (f failingHeldStore) RecordHeld(context.Context, HeldBack) error {
	if *f.fail {
		return errors.New("down")
	}
	return nil
}
