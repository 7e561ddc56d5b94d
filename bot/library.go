package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
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
	set     *scriptSet
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
	cur, err := l.parse(readScripts(fsys))
	if err != nil {
		return nil, fmt.Errorf("bot.NewLibrary: %w", err)
	}
	l.cur.Store(cur)
	return l, nil
}

// Scripts returns the current base scripts (the files outside brands/),
// those of the account configured by environment variables. Callers
// should call it once per event and use the result for the whole event,
// so that a reload in between cannot mix two versions.
func (l *Library) Scripts() *Scripts { return l.cur.Load().set.base }

// ScriptsFor returns the current scripts answering route r: its
// account's folder's when there is one, else its brand's, else the base
// scripts (Scripts.Scope says which). Like Scripts, call it once per
// event. It costs two map lookups at most, none for the zero route.
func (l *Library) ScriptsFor(r Route) *Scripts { return l.cur.Load().set.For(r) }

// Scopes returns every scope's current scripts: the base scripts first,
// then each brand's followed by its accounts', by name.
func (l *Library) Scopes() []*Scripts { return slices.Clone(l.cur.Load().set.all) }

// Sections returns the sections the library loads, for validating a
// draft the same way (the admin API's validate).
func (l *Library) Sections() []Section { return l.sections }

// FS returns the file system the library reads.
func (l *Library) FS() fs.FS { return l.fsys }

// Version identifies the current scripts: a hash of the script files'
// names and contents as loaded, the same on every replica that loaded the
// same files.
func (l *Library) Version() string { return l.cur.Load().version }

// Reload loads the scripts again. If they fail to load, it logs each
// mistake at Warn (file, line and message; never customer data), keeps
// the previous scripts answering and returns the error, which holds the
// ScriptErrors as LoadScripts' does.
func (l *Library) Reload() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	raw, err := readScripts(l.fsys)
	return l.reloadLocked(raw, err)
}

// reloadIf loads the files if they still read as state (a scriptsState),
// the state Watch saw settle; it reports whether it tried. Reading under
// mu, like Reload, keeps an older read from replacing a newer load.
func (l *Library) reloadIf(state string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	raw, err := readScripts(l.fsys)
	if scriptsState(raw, err) != state {
		return false
	}
	_ = l.reloadLocked(raw, err) // logged by reloadLocked
	return true
}

// reloadLocked loads raw, the files as read (or the error reading them),
// and replaces the current scripts if they load. l.mu must be held.
func (l *Library) reloadLocked(raw []rawScript, readErr error) error {
	next, err := l.parse(raw, readErr)
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
		"version", next.version, "previous", prev.version, "rules", len(next.set.base.rules), "scopes", len(next.set.all))
	return nil
}

// Watch polls the script files at the given interval and reloads them
// when their names or contents change, until ctx is done. It blocks; run
// it in its own goroutine. A change that fails to load is logged once and
// retried at the next change, so the previous scripts keep answering until
// staff fix the files. every <= 0 means 2s.
//
// Watch compares contents, not sizes and modification times: an edit
// that keeps the size within the file system's timestamp tick would
// otherwise never load. And it loads a change only once the files read
// the same at two polls in a row: an editor saving in place truncates the
// file and then writes it, and the empty file caught in between is valid
// scripts without a rule, which a broken save would then leave answering.
func (l *Library) Watch(ctx context.Context, every time.Duration) {
	if every <= 0 {
		// Quick enough that staff see their edit in the next message they
		// try, cheap enough (reading a few small files) to never matter.
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	// seen is the last state loaded or tried, so that a failing one is
	// logged once; last is the state at the previous poll. A state that
	// changed again by the time reloadIf reads it is not tried, and
	// settles at later polls.
	seen := l.Version()
	last := seen
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		state := scriptsState(readScripts(l.fsys))
		settled := state == last
		last = state
		if !settled {
			continue
		}
		if state == l.Version() {
			// Back to what is loaded: saving a refused state again is a
			// new change, logged again.
			seen = state
			continue
		}
		if state == seen {
			continue
		}
		if l.reloadIf(state) {
			seen = state
		}
	}
}

// scriptsState is what Watch compares: the version of the files read, or
// the error reading them (so that a read failure is logged once).
func scriptsState(raw []rawScript, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return scriptsVersion(raw)
}

// parse loads raw, versioned by exactly the bytes it parsed.
func (l *Library) parse(raw []rawScript, readErr error) (*loadedScripts, error) {
	if readErr != nil {
		return nil, fmt.Errorf("bot.readScripts: %w", readErr)
	}
	set, err := parseScopes(context.Background(), raw, l.sections)
	if err != nil {
		return nil, err
	}
	return &loadedScripts{set: set, version: scriptsVersion(raw)}, nil
}

// scriptsVersion hashes the script files' names and contents.
func scriptsVersion(raw []rawScript) string {
	h := sha256.New()
	for _, r := range raw {
		// Lengths first, so that no two file lists hash alike.
		fmt.Fprintf(h, "%d:%s%d:", len(r.path), r.path, len(r.data))
		h.Write(r.data)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
