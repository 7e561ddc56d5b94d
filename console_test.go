package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// adminCall sends an admin API request and decodes the JSON answer.
func adminCall(t *testing.T, method, url, token, contentType, body string) (int, map[string]any) {
	t.Helper()
	status, raw := adminRequest(t, method, url, token, contentType, body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return status, out
}

// TestConsoleWiring checks what main wires for the console: the page,
// the dry-run over the real engine, saving into SIYU_SCRIPTS and the
// saved rule answering a signed WeChat callback.
func TestConsoleWiring(t *testing.T) {
	const token = "console-admin-token"
	dir := t.TempDir()
	for name, body := range map[string]string{
		"faq.yaml":     "rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    reply: 九点到九点\n",
		"welcome.yaml": "fallback: 没听懂\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base, logs := startSiyu(t, map[string]string{"SIYU_ADMIN_TOKEN": token, "SIYU_SCRIPTS": dir})

	resp, err := http.Get(base + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("私域助手")) {
		t.Fatalf("/admin/ = %d, want the console page", resp.StatusCode)
	}

	status, caps := adminCall(t, http.MethodGet, base+"/admin/api/capabilities", token, "", "")
	if feats, _ := caps["features"].(map[string]any); status != http.StatusOK || feats["dry_run"] != true || feats["scripts_save"] != true {
		t.Fatalf("capabilities = %d %v, want dry-run and saving on", status, caps)
	}
	// The dry-run says what do-not-disturb would hold back: identity
	// wrapping do-not-disturb's send gate must not hide it (the console
	// said 免打扰模块未启用 while it was on).
	if feats, _ := caps["features"].(map[string]any); feats["dnd_explanation"] != true {
		t.Errorf("capabilities = %v, want dnd_explanation with do-not-disturb on", caps)
	}

	status, dry := adminCall(t, http.MethodPost, base+"/admin/api/dry-run", token, "application/json", `{"text":"营业时间？","platform":"wechat"}`)
	if status != http.StatusOK || dry["stage"] != "rule" || dry["rule"] != "hours" {
		t.Fatalf("dry-run = %d %v, want rule hours", status, dry)
	}

	rule := "rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    reply: 九点到九点\n  - name: wifi\n    match: {contains: [wifi]}\n    reply: 密码 coffee123\n"
	status, saved := adminCall(t, http.MethodPut, base+"/admin/api/scripts/faq.yaml", token, "text/plain", rule)
	if status != http.StatusOK {
		t.Fatalf("save = %d %v", status, saved)
	}
	if got := simulateCmd(t, base, nil, "wifi 是多少"); got != "密码 coffee123" {
		t.Fatalf("after saving, the bot answers %q, want the new rule", got)
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("the admin token reached the log")
	}
}

// TestConsoleEmbeddedScriptsAreReadOnly: without a scripts folder the
// console can read and validate but not save.
func TestConsoleEmbeddedScriptsAreReadOnly(t *testing.T) {
	const token = "console-admin-token"
	base, _ := startSiyu(t, map[string]string{"SIYU_ADMIN_TOKEN": token, "SIYU_SCRIPTS": filepath.Join(t.TempDir(), "missing")})
	status, list := adminCall(t, http.MethodGet, base+"/admin/api/scripts", token, "", "")
	if status != http.StatusOK || list["editable"] != false {
		t.Fatalf("scripts = %d %v, want the embedded examples, not editable", status, list)
	}
	status, body := adminCall(t, http.MethodPut, base+"/admin/api/scripts/faq.yaml", token, "text/plain", "fallback: x\n")
	if e, _ := body["error"].(map[string]any); status != http.StatusConflict || !strings.Contains(e["message"].(string), "SIYU_SCRIPTS") {
		t.Fatalf("save = %d %v, want 409 naming SIYU_SCRIPTS", status, body)
	}
}
