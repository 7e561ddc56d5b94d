package bot

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestCircuitProbesWhileProbeHangs: an open circuit sends a probe per
// cooldown even while an earlier probe still hangs (a probe sent during
// a hang takes the whole SendTimeout), so a platform that recovered is
// found within a cooldown; the first probe that succeeds closes it.
func TestCircuitProbesWhileProbeHangs(t *testing.T) {
	cfg := OutboxConfig{CircuitThreshold: 3, CircuitCooldown: time.Second}.withDefaults()
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	timeout := fmt.Errorf("fake: %w", context.DeadlineExceeded)
	var cs circuits
	for range 3 {
		cs.record(string(Douyin), false, true, timeout, t0, cfg)
	}
	steps := []struct {
		name      string
		at        time.Duration
		wantOK    bool
		wantProbe bool
	}{
		{"open: deferred", 500 * time.Millisecond, false, false},
		{"cooldown over: a probe (it hangs)", time.Second, true, true},
		{"same cooldown: deferred", 1500 * time.Millisecond, false, false},
		{"next cooldown: another probe while the first hangs", 2 * time.Second, true, true},
	}
	for _, s := range steps {
		probe, until, ok := cs.allow(string(Douyin), t0.Add(s.at), cfg)
		if ok != s.wantOK || probe != s.wantProbe {
			t.Fatalf("%s: allow = probe %v ok %v, want probe %v ok %v", s.name, probe, ok, s.wantProbe, s.wantOK)
		}
		if !ok && !until.After(t0.Add(s.at)) {
			t.Errorf("%s: deferred until %v, want after now", s.name, until)
		}
	}
	if _, _, ok := cs.allow(string(WeChat), t0.Add(time.Second), cfg); !ok {
		t.Errorf("another platform's row deferred, want sent: circuits are per platform")
	}
	cs.record(string(Douyin), true, true, nil, t0.Add(2100*time.Millisecond), cfg) // the second probe succeeds
	if probe, _, ok := cs.allow(string(Douyin), t0.Add(2200*time.Millisecond), cfg); !ok || probe {
		t.Errorf("after a probe succeeded: allow = probe %v ok %v, want a plain send", probe, ok)
	}
}
