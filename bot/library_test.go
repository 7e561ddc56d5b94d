package bot

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot/bottest"
)

const (
	hoursV1 = "rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    reply: 9点开门\n"
	hoursV2 = "rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    reply: 10点开门，周末照常\n"
	broken  = "rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    replay: 11点开门\n"
)

// writeScript writes a script file into dir, creating folders as needed.
func writeScript(tb testing.TB, dir, name, text string) {
	tb.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// replaceScript replaces a script file as a deployment does (a ConfigMap
// swap, the admin API's save): written aside, then renamed over, so that
// Watch sees the old file or the new one, never one half-written. How
// Watch copes with a file written in place is TestLibraryWatchStates',
// which does not depend on when the scheduler runs the writer.
func replaceScript(tb testing.TB, dir, name, text string) {
	tb.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(p), ".tmp-"+filepath.Base(p)) // dot files are not scripts
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		tb.Fatal(err)
	}
}

// mustNewLibrary returns a library over a temporary folder holding files.
func mustNewLibrary(tb testing.TB, logger *slog.Logger, files map[string]string) (*Library, string) {
	tb.Helper()
	dir := tb.TempDir()
	for name, text := range files {
		writeScript(tb, dir, name, text)
	}
	l, err := NewLibrary(os.DirFS(dir), logger)
	if err != nil {
		tb.Fatalf("NewLibrary: %v", err)
	}
	return l, dir
}

// hoursReply is what the library currently answers to a question about
// opening hours.
func hoursReply(l *Library) string {
	r, ok := l.Scripts().Match(WeChat, "营业时间？")
	if !ok {
		return ""
	}
	return r.Reply(nil)
}

func TestNewLibraryFailsOnBadScripts(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		invalid bool
	}{
		{name: "invalid script", files: map[string]string{"faq.yaml": broken}, invalid: true},
		{name: "no scripts", files: map[string]string{"README.md": "hi"}, invalid: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tc.files {
				writeScript(t, dir, name, text)
			}
			l, err := NewLibrary(os.DirFS(dir), nil)
			if err == nil {
				t.Fatalf("NewLibrary = %v, nil, want an error", l)
			}
			if got := errors.Is(err, ErrInvalid); got != tc.invalid {
				t.Errorf("errors.Is(err, ErrInvalid) = %v, want %v; err = %v", got, tc.invalid, err)
			}
		})
	}
	t.Run("missing folder", func(t *testing.T) {
		_, err := NewLibrary(os.DirFS(filepath.Join(t.TempDir(), "nope")), nil)
		if err == nil || errors.Is(err, ErrInvalid) {
			t.Errorf("NewLibrary(missing folder) err = %v, want an I/O error without ErrInvalid", err)
		}
	})
}

func TestLibraryReload(t *testing.T) {
	var logs bottest.Logs
	logger := logs.Logger(slog.LevelInfo)
	l, dir := mustNewLibrary(t, logger, map[string]string{"faq.yaml": hoursV1})
	v1 := l.Version()
	if got := hoursReply(l); got != "9点开门" {
		t.Fatalf("initial reply = %q, want %q", got, "9点开门")
	}

	steps := []struct {
		name        string
		text        string
		wantErr     bool
		wantReply   string
		wantLog     string
		wantVersion func(string) bool
	}{
		{
			name: "good change is picked up", text: hoursV2, wantReply: "10点开门，周末照常",
			wantVersion: func(v string) bool { return v != v1 },
		},
		{
			name: "broken change keeps the previous scripts", text: broken, wantErr: true, wantReply: "10点开门，周末照常",
			wantLog: `level=WARN msg="bot: script error, keeping previous scripts" file=faq.yaml line=4 error="rule: unknown key \"replay\"`,
		},
		{name: "fixed change is picked up", text: hoursV1, wantReply: "9点开门"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := l.Version()
			writeScript(t, dir, "faq.yaml", st.text)
			err := l.Reload()
			if (err != nil) != st.wantErr {
				t.Fatalf("Reload() = %v, want error %v", err, st.wantErr)
			}
			if st.wantErr {
				if !errors.Is(err, ErrInvalid) || len(ScriptErrors(err)) == 0 {
					t.Errorf("Reload() = %v, want ErrInvalid with script errors", err)
				}
				if l.Version() != before {
					t.Errorf("Version() = %v after a failed reload, want %v", l.Version(), before)
				}
			}
			if got := hoursReply(l); got != st.wantReply {
				t.Errorf("reply = %q, want %q", got, st.wantReply)
			}
			if st.wantLog != "" && !strings.Contains(logs.String(), st.wantLog) {
				t.Errorf("logs = %s\nwant them to contain %s", logs.String(), st.wantLog)
			}
			if st.wantVersion != nil && !st.wantVersion(l.Version()) {
				t.Errorf("Version() = %v, want a new version", l.Version())
			}
		})
	}
}

func TestLibraryWatch(t *testing.T) {
	var logs bottest.Logs
	logger := logs.Logger(slog.LevelInfo)
	l, dir := mustNewLibrary(t, logger, map[string]string{"faq.yaml": hoursV1})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Watch(ctx, 5*time.Millisecond)
	}()
	defer func() {
		cancel()
		<-done
	}()

	// waitFor checks cond again after each line the library logs (every
	// reload and every refused edit is logged); the deadline only guards
	// against a hung test.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			logged := logs.Next() // before the check, so no line is missed
			if cond() {
				return
			}
			select {
			case <-logged:
			case <-deadline:
				t.Fatalf("timed out waiting for %s; logs:\n%s", what, logs.String())
			}
		}
	}

	replaceScript(t, dir, "faq.yaml", hoursV2)
	waitFor("the edited reply", func() bool { return hoursReply(l) == "10点开门，周末照常" })

	replaceScript(t, dir, "faq.yaml", broken)
	waitFor("the broken file to be logged", func() bool { return strings.Contains(logs.String(), "file=faq.yaml line=4") })
	if got := hoursReply(l); got != "10点开门，周末照常" {
		t.Errorf("reply after a broken edit = %q, want the previous %q", got, "10点开门，周末照常")
	}

	replaceScript(t, dir, "more/new.yaml", "rules:\n  - name: wifi\n    match: {exact: [wifi]}\n    reply: 无需密码\n")
	replaceScript(t, dir, "faq.yaml", hoursV1)
	waitFor("the fixed file and the new file", func() bool {
		_, ok := l.Scripts().Match(WeChat, "WiFi")
		return ok && hoursReply(l) == "9点开门"
	})
}

// stateFS serves faq.yaml with one text of states per read of the folder
// (each poll walks it, starting with ReadDir(".")), then the last text for
// ever: a test of Watch decides what each read sees, whenever it runs. The
// files' modification times never change, as within one timestamp tick.
type stateFS struct {
	mu     sync.Mutex
	states []string
	reads  int
	cur    fstest.MapFS
}

func (f *stateFS) Open(name string) (fs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur.Open(name)
}

func (f *stateFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name == "." {
		text := f.states[min(f.reads, len(f.states)-1)]
		f.reads++
		f.cur = fstest.MapFS{"faq.yaml": {Data: []byte(text), Mode: 0o644}}
	}
	return f.cur.ReadDir(name)
}

func TestLibraryWatchStates(t *testing.T) {
	const (
		hoursV1Same = "rules:\n  - name: hours\n    match: {contains: [营业时间]}\n    reply: 8点开门\n"
		reloaded    = `msg="bot: scripts reloaded"`
	)
	if len(hoursV1Same) != len(hoursV1) {
		t.Fatalf("len(hoursV1Same) = %d, want len(hoursV1) = %d", len(hoursV1Same), len(hoursV1))
	}
	tests := []struct {
		name string
		// states are what each read of the folder sees: the first is
		// NewLibrary's, the others Watch's, the last for ever.
		states      []string
		waitLog     string // logged once Watch has acted
		waitLogs    int    // times waitLog must be logged; 0 means 1
		wantReply   string
		wantReloads int
	}{
		{
			name:   "an edit keeping the size and time is loaded",
			states: []string{hoursV1, hoursV1Same}, waitLog: reloaded,
			wantReply: "8点开门", wantReloads: 1,
		},
		{
			// An editor saving in place truncates, then writes: the
			// empty file is valid scripts without a rule, which the
			// broken save would leave answering.
			name:   "a file caught mid-write is not loaded",
			states: []string{hoursV2, "", broken}, waitLog: "file=faq.yaml line=4",
			wantReply: "10点开门，周末照常", wantReloads: 0,
		},
		{
			name:   "a state changed again before its reload is not loaded",
			states: []string{hoursV1, hoursV2, hoursV2, hoursV1Same}, waitLog: reloaded,
			wantReply: "8点开门", wantReloads: 1,
		},
		{
			// The fourth read is the reload's own, under its lock.
			name:   "a refused save made again after a revert is refused again",
			states: []string{hoursV2, broken, broken, broken, hoursV2, hoursV2, broken}, waitLog: "file=faq.yaml line=4", waitLogs: 2,
			wantReply: "10点开门，周末照常", wantReloads: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bottest.Logs
			fsys := &stateFS{states: tc.states}
			l, err := NewLibrary(fsys, logs.Logger(slog.LevelInfo))
			if err != nil {
				t.Fatalf("NewLibrary: %v", err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() {
				defer close(done)
				l.Watch(ctx, time.Millisecond)
			}()
			defer func() {
				cancel()
				<-done
			}()

			// Woken by each line logged; the deadline only guards
			// against a hung test.
			deadline := time.After(10 * time.Second)
			for {
				logged := logs.Next() // before the check, so no line is missed
				if strings.Count(logs.String(), tc.waitLog) >= max(tc.waitLogs, 1) {
					break
				}
				select {
				case <-logged:
				case <-deadline:
					t.Fatalf("timed out waiting for %s in the logs:\n%s", tc.waitLog, logs.String())
				}
			}
			if got := hoursReply(l); got != tc.wantReply {
				t.Errorf("reply = %q, want %q; logs:\n%s", got, tc.wantReply, logs.String())
			}
			if got := strings.Count(logs.String(), reloaded); got != tc.wantReloads {
				t.Errorf("reloads = %d, want %d; logs:\n%s", got, tc.wantReloads, logs.String())
			}
		})
	}
}

func TestLibraryWatchStops(t *testing.T) {
	l, _ := mustNewLibrary(t, nil, map[string]string{"faq.yaml": hoursV1})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Watch(ctx, time.Hour)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after its context was canceled")
	}
}

// BenchmarkWatchPoll measures one Watch poll of the shipped scripts
// folder: reading every file and hashing it, every 2 s in production.
func BenchmarkWatchPoll(b *testing.B) {
	fsys := os.DirFS(filepath.Join("..", "scripts"))
	raw, err := readScripts(fsys)
	if err != nil || len(raw) == 0 {
		b.Fatalf("readScripts(../scripts) = %d files, %v", len(raw), err)
	}
	size := 0
	for _, r := range raw {
		size += len(r.data)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if scriptsState(readScripts(fsys)) == "" {
			b.Fatal("empty state")
		}
	}
}
