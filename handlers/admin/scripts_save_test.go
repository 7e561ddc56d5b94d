package admin

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHistoryNamesDoNotCollide: versions of sub/h.yaml and of
// sub__h.yaml are kept apart, so pruning one file's history never
// deletes the other's (issue 22, item 8).
func TestHistoryNamesDoNotCollide(t *testing.T) {
	srv, _, dir, _ := fullAdmin(t)
	save := func(name, reply string) {
		t.Helper()
		text := "rules:\n  - name: " + strings.ReplaceAll(strings.TrimSuffix(name, ".yaml"), "/", "-") + "\n    match: {exact: [" + reply + "]}\n    reply: " + reply + "\n"
		if status, body := sendAdmin(t, http.MethodPut, srv.URL+"/admin/api/scripts/"+name, "t0ken", "text/plain", text); status != http.StatusOK {
			t.Fatalf("save %s = %d %v", name, status, body)
		}
	}
	save("sub/h.yaml", "a1")
	save("sub/h.yaml", "a2") // keeps a1
	for i := range keepHistory + 2 {
		save("sub__h.yaml", "b"+strings.Repeat("x", i))
	}
	entries, err := os.ReadDir(filepath.Join(dir, historyDir))
	if err != nil {
		t.Fatal(err)
	}
	var sub, flat int
	for _, e := range entries {
		if _, ok := versionOf(e.Name(), historyBase("sub/h.yaml")); ok {
			sub++
		}
		if _, ok := versionOf(e.Name(), historyBase("sub__h.yaml")); ok {
			flat++
		}
	}
	if sub != 1 || flat != keepHistory {
		t.Errorf("history keeps %d of sub/h.yaml and %d of sub__h.yaml, want 1 and %d", sub, flat, keepHistory)
	}
}

func TestHistoryBaseIsOneToOne(t *testing.T) {
	names := []string{"sub/h.yaml", "sub__h.yaml", "sub%2Fh.yaml", "a/b/c.yaml", "a%2Fb/c.yaml"}
	seen := map[string]string{}
	for _, n := range names {
		b := historyBase(n)
		if o, ok := seen[b]; ok {
			t.Errorf("%q and %q share the history name %q", o, n, b)
		}
		seen[b] = n
		if strings.Contains(b, "/") {
			t.Errorf("history name %q of %q has a slash", b, n)
		}
	}
}

// TestSaveStaysInsideTheFolder: a symlink in the scripts folder cannot
// lead a save outside it (issue 22, item 10).
func TestSaveStaysInsideTheFolder(t *testing.T) {
	srv, _, dir, _ := fullAdmin(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "victim.yaml"), []byte("fallback: 原样\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "victim.yaml"), filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"out/evil.yaml", "out/victim.yaml", "link.yaml"} {
		t.Run(name, func(t *testing.T) {
			status, body := sendAdmin(t, http.MethodPut, srv.URL+"/admin/api/scripts/"+name, "t0ken", "text/plain", "rules: []\n")
			if status == http.StatusOK {
				t.Errorf("save %s = 200, want it refused", name)
			}
			if status >= 500 {
				t.Errorf("save %s = %d %v, want a 4xx", name, status, body)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "victim.yaml")); string(b) != "fallback: 原样\n" {
		t.Errorf("the file outside became %q", b)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("the folder outside has %d files, want only victim.yaml", len(entries))
	}
}

// TestNewFileDoesNotOverwrite: a save with If-None-Match: * (the
// console's 新建文件) is refused when the file exists (issue 22, item 10).
func TestNewFileDoesNotOverwrite(t *testing.T) {
	srv, _, dir, _ := fullAdmin(t)
	status, body := sendAdmin(t, http.MethodPut, srv.URL+"/admin/api/scripts/faq.yaml", "t0ken", "text/plain", "rules: []\n", "If-None-Match", "*")
	if status != http.StatusPreconditionFailed {
		t.Fatalf("status = %d %v, want 412", status, body)
	}
	if code, _ := wantErrorShape(t, body); code != "precondition_failed" {
		t.Errorf("code = %q, want precondition_failed", code)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "faq.yaml")); string(b) != testFAQ {
		t.Errorf("faq.yaml = %q, want it untouched", b)
	}
	if status, body := sendAdmin(t, http.MethodPut, srv.URL+"/admin/api/scripts/brand-new.yaml", "t0ken", "text/plain", "rules: []\n", "If-None-Match", "*"); status != http.StatusOK {
		t.Errorf("a new name = %d %v, want 200", status, body)
	}
}
