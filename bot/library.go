package bot

import (
	"context"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Library holds the current reply scripts and replaces them when staff
// edit the files, without a restart. Readers call Scripts for each event
// and never block reloads. It is safe for concurrent use.
//
// The library reads only the fs.FS it is given: main passes os.DirFS for
// editable scripts or scripts.FS for the embedded ones.
type Library struct {
	fsys     fs.FS
	logger   *slog.Logger
	sections []Section
	// mu serialises reloads so that a slow load cannot replace the result
	// of a newer one.
	mu  sync.Mutex
	cur atomic.Pointer[loadedScripts]
}

// loadedScripts is one successful load.
type loadedScripts struct {
	scripts *Scripts
	version string
}

// NewLibrary loads the scripts in fsys and returns a library holding them.
// It fails as LoadScripts does if they do not load: a service must not
// start without its scripts. A nil logger discards logs.
//
// sections are the capabilities' script sections (see Section).
func NewLibrary(fsys fs.FS, logger *slog.Logger, sections ...Section) (*Library, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Library{fsys: fsys, logger: logger, sections: sections}
	cur, err := l.load()
	if err != nil {
		return nil, fmt.Errorf("bot.NewLibrary: %w", err)
	}
	l.cur.Store(cur)
	return l, nil
}

// Scripts returns the current scripts. Callers should call it once per
// event and use the result for the whole event, so that a reload in
// between cannot mix two versions.
func (l *Library) Scripts() *Scripts { return l.cur.Load().scripts }

// Sections returns the sections the library loads, for validating a
// draft the same way (the admin API's validate).
func (l *Library) Sections() []Section { return l.sections }

// FS returns the file system the library reads.
func (l *Library) FS() fs.FS { return l.fsys }

// Version identifies the current scripts: a fingerprint of the script
// files' names, sizes and modification times, the same on every replica
// that loaded the same files.
func (l *Library) Version() string { return l.cur.Load().version }

// Reload loads the scripts again. If they fail to load, it logs each
// mistake at Warn (file, line and message; never customer data), keeps
// the previous scripts answering and returns the error, which holds the
// ScriptErrors as LoadScripts' does.
func (l *Library) Reload() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	next, err := l.load()
	if err != nil {
		serrs := ScriptErrors(err)
		for _, e := range serrs {
			l.logger.Warn("bot: script error, keeping previous scripts",
				"file", e.File, "line", e.Line, "error", e.Msg, "version", l.Version())
		}
		if len(serrs) == 0 {
			l.logger.Warn("bot: cannot read scripts, keeping previous scripts",
				"error", err, "version", l.Version())
		}
		return fmt.Errorf("bot.Library.Reload: %w", err)
	}
	prev := l.cur.Swap(next)
	l.logger.Info("bot: scripts reloaded",
		"version", next.version, "previous", prev.version, "rules", len(next.scripts.rules))
	return nil
}

// Watch polls the script files at the given interval and reloads them when their
// fingerprint (names, sizes, modification times) changes, until ctx is
// done. It blocks; run it in its own goroutine. A change that fails to
// load is logged once and retried at the next change, so the previous
// scripts keep answering until staff fix the files. every <= 0 means 2s.
func (l *Library) Watch(ctx context.Context, every time.Duration) {
	if every <= 0 {
		// Quick enough that staff see their edit in the next message they
		// try, cheap enough (a few Stat calls) to never matter.
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	seen := l.Version()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fp, err := scriptsFingerprint(l.fsys)
		if err != nil {
			// Reload logs the error once per distinct failure.
			fp = "error: " + err.Error()
		}
		if fp == seen {
			continue
		}
		seen = fp
		_ = l.Reload() // logged by Reload
	}
}

func (l *Library) load() (*loadedScripts, error) {
	// Fingerprint before loading: if a file changes in between, the
	// version is stale and Watch loads again, never the other way round.
	fp, err := scriptsFingerprint(l.fsys)
	if err != nil {
		return nil, err
	}
	s, err := LoadScripts(l.fsys, l.sections...)
	if err != nil {
		return nil, err
	}
	return &loadedScripts{scripts: s, version: fp}, nil
}

// scriptsFingerprint hashes the names, sizes and modification times of
// the script files, cheaply enough to poll.
func scriptsFingerprint(fsys fs.FS) (string, error) {
	paths, err := scriptPaths(fsys)
	if err != nil {
		return "", fmt.Errorf("bot.scriptsFingerprint: %w", err)
	}
	h := fnv.New64a()
	for _, p := range paths {
		// Stat rather than the walk's DirEntry: it follows symlinks, which
		// is how a Kubernetes ConfigMap volume swaps files.
		fi, err := fs.Stat(fsys, p)
		if err != nil {
			return "", fmt.Errorf("bot.scriptsFingerprint: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", p, fi.Size(), fi.ModTime().UnixNano())
	}
	return strconv.FormatUint(h.Sum64(), 16), nil
}
