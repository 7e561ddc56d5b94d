package douyin

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzWebhook feeds arbitrary bodies to the webhook parser (after the
// signature check, a body is still outside input): errors, never panics,
// and an accepted body always names its event. Seeds: the published
// samples plus edge shapes; `go test -fuzz FuzzWebhook -fuzztime 60s
// ./handlers/douyin/` explores (README: Fuzzing).
func FuzzWebhook(f *testing.F) {
	samples, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range samples {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"event":"verify_webhook","client_key":"k","content":{"challenge":12345}}`,
		`{"event":"im_receive_msg","from_user_id":"u","to_user_id":"a","content":"{\"message_type\":\"text\",\"text\":\"你好\"}"}`,
		`{"event":"im_recall_msg","content":"\"\""}`,
		`{"event":"x","content":[1,2]}`,
		`{"event":"","content":null}`,
		`{"event":"im_receive_msg","content":"{\"create_time\":\"1700000000000\"}"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, _, err := parseWebhook(body)
		if err == nil && env.Event == "" {
			t.Fatalf("parseWebhook(%q) accepted a body without an event", body)
		}
	})
}
