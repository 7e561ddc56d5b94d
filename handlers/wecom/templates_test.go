package wecom

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
)

// fakeScripts is a script library whose welcome.group staff edit.
type fakeScripts struct {
	mu      sync.Mutex
	scripts *bot.Scripts
	version int
}

func (f *fakeScripts) Scripts() *bot.Scripts { f.mu.Lock(); defer f.mu.Unlock(); return f.scripts }
func (f *fakeScripts) Version() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(rune('a' + f.version))
}

// set replaces welcome.group (a list of YAML texts, or "" for none).
func (f *fakeScripts) set(t *testing.T, group string) {
	t.Helper()
	yaml := "fallback: 抱歉\n"
	if group != "" {
		yaml += "welcome:\n  group: " + group + "\n"
	}
	s, err := bot.LoadScripts(fstest.MapFS{"s.yaml": {Data: []byte(yaml)}})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripts = s
	f.version++
}

func TestGroupWelcomeTexts(t *testing.T) {
	tests := []struct {
		name, group string
		want        []string
	}{
		{"none", "", nil},
		{"one", `"欢迎 %NICKNAME%"`, []string{"欢迎 %NICKNAME%"}},
		{"several, in order", `["一", "二", "三"]`, []string{"一", "二", "三"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f fakeScripts
			f.set(t, tc.group)
			if got := f.Scripts().GroupWelcomes(); !slices.Equal(got, tc.want) {
				t.Fatalf("GroupWelcomes = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTemplateSync keeps WeCom's group welcome templates in step with the
// scripts across edits, with two replicas syncing.
func TestTemplateSync(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	scripts := &fakeScripts{}
	contact := NewClient(testCorp, testContactSecret, "contact", newTestTokens(b))
	replicas := []*TemplateSyncer{
		NewTemplateSyncer(TemplateSyncConfig{CorpID: testCorp}, scripts, contact, b.store, b.rdb, bottest.Logger(t)),
		NewTemplateSyncer(TemplateSyncConfig{CorpID: testCorp}, scripts, contact, b.store, b.rdb, bottest.Logger(t)),
	}
	steps := []struct {
		name    string
		group   string
		dropTpl string // deleted in WeCom's admin console before the sync
		wantOps []string
		want    map[string]string
	}{
		{"start: one template per text", `["欢迎 %NICKNAME% 入群", "新朋友好"]`, "",
			[]string{"add tpl-1", "add tpl-2"}, map[string]string{"tpl-1": "欢迎 %NICKNAME% 入群", "tpl-2": "新朋友好"}},
		{"unchanged scripts: nothing to do", `["欢迎 %NICKNAME% 入群", "新朋友好"]`, "",
			nil, map[string]string{"tpl-1": "欢迎 %NICKNAME% 入群", "tpl-2": "新朋友好"}},
		{"a text changes: edited in place", `["欢迎 %NICKNAME% 入群，周三会员日", "新朋友好"]`, "",
			[]string{"edit tpl-1"}, map[string]string{"tpl-1": "欢迎 %NICKNAME% 入群，周三会员日", "tpl-2": "新朋友好"}},
		{"a text removed: deleted", `"欢迎 %NICKNAME% 入群，周三会员日"`, "",
			[]string{"del tpl-2"}, map[string]string{"tpl-1": "欢迎 %NICKNAME% 入群，周三会员日"}},
		{"deleted in the console, then changed: added anew", `"欢迎！"`, "tpl-1",
			[]string{"add tpl-3"}, map[string]string{"tpl-3": "欢迎！"}},
		{"two texts again", `["一", "二"]`, "",
			[]string{"edit tpl-3", "add tpl-4"}, map[string]string{"tpl-3": "一", "tpl-4": "二"}},
		{"deleted in the console, then removed from the scripts: forgotten", `"一"`, "tpl-4",
			nil, map[string]string{"tpl-3": "一"}},
		{"welcome.group removed: templates deleted", "", "",
			[]string{"del tpl-3"}, map[string]string{}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			scripts.set(t, st.group)
			if st.dropTpl != "" {
				api.dropTemplate(st.dropTpl)
			}
			before := len(api.gotTemplateOps())
			var wg sync.WaitGroup
			errs := make([]error, len(replicas))
			for i, s := range replicas {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = s.Sync(t.Context()) }()
			}
			wg.Wait()
			synced := 0
			for _, err := range errs {
				switch err {
				case nil:
					synced++
				case errSyncBusy:
				default:
					t.Fatal(err)
				}
			}
			if synced == 0 {
				t.Fatal("no replica synced")
			}
			// The replica that found the lock taken syncs at its next tick:
			// by then there is nothing left to do.
			for _, s := range replicas {
				if err := s.Sync(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if got := api.gotTemplateOps()[before:]; !slices.Equal(got, st.wantOps) {
				t.Fatalf("template calls = %q, want %q", got, st.wantOps)
			}
			got := api.gotTemplates()
			if len(got) != len(st.want) {
				t.Fatalf("WeCom templates = %q, want %q", got, st.want)
			}
			for id, text := range st.want {
				if got[id] != text {
					t.Fatalf("WeCom templates = %q, want %q", got, st.want)
				}
			}
		})
	}
}

// TestTemplateSyncRun follows the script library's version: staff edit
// welcome.group, the library reloads, and WeCom's template is edited.
func TestTemplateSyncRun(t *testing.T) {
	api := newFakeAPI(t)
	b := newBackends(t)
	fsys := fstest.MapFS{"welcome.yaml": {Data: []byte("welcome:\n  group: 欢迎入群\n"), ModTime: time.Unix(1, 0)}}
	lib, err := bot.NewLibrary(fsys, bottest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	s := NewTemplateSyncer(TemplateSyncConfig{CorpID: testCorp, Interval: 10 * time.Millisecond}, lib,
		NewClient(testCorp, testContactSecret, "contact", newTestTokens(b)), b.store, b.rdb, bottest.Logger(t))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	api.waitFor(t, "the first template", func() bool { return len(api.gotTemplateOps()) == 1 })

	// What Library.Watch does when the file changes on disk.
	fsys["welcome.yaml"] = &fstest.MapFile{Data: []byte("welcome:\n  group: 欢迎新朋友 %NICKNAME% 入群\n"), ModTime: time.Unix(2, 0)}
	if err := lib.Reload(); err != nil {
		t.Fatal(err)
	}
	api.waitFor(t, "the template edit", func() bool { return len(api.gotTemplateOps()) == 2 })
	if got := api.gotTemplateOps(); !slices.Equal(got, []string{"add tpl-1", "edit tpl-1"}) {
		t.Fatalf("template calls = %q, want add then edit", got)
	}
	if got := api.gotTemplates()["tpl-1"]; got != "欢迎新朋友 %NICKNAME% 入群" {
		t.Fatalf("template text = %q, want the new welcome", got)
	}
}
