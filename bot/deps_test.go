package bot_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// botPackages returns the import path of package bot and, for it and
// every package under it, its dependencies (transitive, tests excluded).
func botPackages(t *testing.T) (bot string, deps map[string][]string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps = map[string][]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 0 {
			deps[f[0]] = f[1:]
		}
	}
	for p := range deps {
		if bot == "" || len(p) < len(bot) {
			bot = p
		}
	}
	if !strings.HasSuffix(bot, "/bot") {
		t.Fatalf("go list ./... from bot/ gave %q as its root, want package bot", bot)
	}
	return bot, deps
}

// capabilities returns the capability packages among pkgs: every
// package under bot/ but the support packages, so that a new capability
// is covered by the rules below without editing this file.
func capabilities(bot string, pkgs map[string][]string) []string {
	// Support packages serve the engine's tests or several capabilities
	// alike; an entry covers the packages below it too.
	supportPackages := []string{"bottest", "internal", "window"}
	var caps []string
	for p := range pkgs {
		rel, ok := strings.CutPrefix(p, bot+"/")
		if !ok {
			continue
		}
		support := slices.ContainsFunc(supportPackages, func(s string) bool {
			return rel == s || strings.HasPrefix(rel, s+"/")
		})
		if !support {
			caps = append(caps, p)
		}
	}
	slices.Sort(caps)
	return caps
}

// TestBotImportsNoAdapters keeps the domain free of adapters: data flows
// handler → bot → sender, and bot must not know any platform or store.
func TestBotImportsNoAdapters(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	banned := []string{"labstack/echo", "gorm.io", "redis/go-redis", "silenceper/wechat", "siyu/handlers", "siyu/store"}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range banned {
			if strings.Contains(dep, b) {
				t.Errorf("package bot depends on %s", dep)
			}
		}
	}
}

// TestCapabilitiesImportNoCapability keeps each capability replaceable
// on its own: capabilities reach each other only as Go values that the
// composition root passes to their constructors (check-ins get the
// coupon service), so an import between two of them is a shortcut
// around the root, and the compiler, not the wiring, would then decide
// what depends on what.
func TestCapabilitiesImportNoCapability(t *testing.T) {
	bot, deps := botPackages(t)
	caps := capabilities(bot, deps)
	// Guards the derivation: a rule over no packages cannot fail.
	if len(caps) < 2 {
		t.Fatalf("capabilities = %v, want every package under bot/ but the support packages", caps)
	}
	for _, c := range caps {
		for _, d := range deps[c] {
			if d != c && slices.Contains(caps, d) {
				t.Errorf("%s depends on %s: capabilities must not import each other", c, d)
			}
		}
	}
}

// TestEngineImportsNoBotPackage keeps the engine below what it hosts:
// package bot defines the contracts that the capabilities and the
// support packages implement and use, so it must not depend on any of
// them.
func TestEngineImportsNoBotPackage(t *testing.T) {
	bot, deps := botPackages(t)
	for _, d := range deps[bot] {
		if strings.HasPrefix(d, bot+"/") {
			t.Errorf("package bot depends on %s", d)
		}
	}
}
