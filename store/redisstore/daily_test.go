package redisstore_test

import (
	"maps"
	"testing"

	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestDailyCounts: what replicas add to a day is summed per field, and
// days are kept apart.
func TestDailyCounts(t *testing.T) {
	c := storetest.Redis(t)
	d := redisstore.NewDailyCounts(c)
	adds := []struct {
		day    string
		counts map[string]int
	}{
		{"20261207", map[string]int{"turns": 40, "rule:hours": 3}},
		{"20261207", map[string]int{"turns": 2, "fallback": 1}},
		{"20261208", map[string]int{"turns": 5}},
		{"20261208", nil},
	}
	for _, a := range adds {
		if err := d.Add(t.Context(), a.day, a.counts); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	for day, want := range map[string]map[string]int{
		"20261207": {"turns": 42, "rule:hours": 3, "fallback": 1},
		"20261208": {"turns": 5},
		"20261209": {},
	} {
		got, err := d.Day(t.Context(), day)
		if err != nil {
			t.Fatalf("Day: %v", err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("Day(%s) = %v, want %v", day, got, want)
		}
	}
}
