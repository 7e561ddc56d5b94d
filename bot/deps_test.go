package bot_test

import (
	"os/exec"
	"strings"
	"testing"
)

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
