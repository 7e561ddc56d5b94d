package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
)

const (
	// maxScriptBytes bounds one script file sent to validate or save; the
	// shipped examples are a few kilobytes.
	maxScriptBytes = 256 << 10
	// maxDraftFiles bounds the files of one validate request.
	maxDraftFiles = 32
	// maxValidateBytes bounds a validate request's body.
	maxValidateBytes = 4 << 20
	// historyDir holds previous versions of saved files inside the scripts
	// folder; the loader skips dot-directories, so they are never loaded.
	historyDir = ".history"
	// keepHistory is how many previous versions of each file are kept.
	keepHistory = 20
	// maxChecks bounds the script loads (validate, save) running at once
	// on a replica: one is up to 4 MB of drafts to parse, and the console
	// validates as staff type.
	maxChecks = 2
	// checkWait bounds how long a validation waits for a slot before it
	// is refused (503): the console asks again at the next keystroke.
	checkWait = 10 * time.Second
)

// scriptFile is one script file as listed.
type scriptFile struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	// SHA256 identifies the content, for a save that must not overwrite
	// someone else's newer edit (If-Match).
	SHA256 string `json:"sha256"`
}

// scriptProblem is one mistake of a draft, for the editor to point at.
type scriptProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (h *Handler) needScripts() error {
	if h.scripts == nil {
		return echo.NewHTTPError(http.StatusNotFound, "脚本库未接入")
	}
	return nil
}

func contentHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// listScripts answers GET /admin/api/scripts: the files in force and
// whether they can be saved from here.
func (h *Handler) listScripts(c echo.Context) error {
	if err := h.needScripts(); err != nil {
		return err
	}
	fsys := h.scripts.FS()
	paths, err := bot.ScriptPaths(fsys)
	if err != nil {
		return fmt.Errorf("admin.listScripts: %w: %w", bot.ErrUnavailable, err)
	}
	who := principalOf(c)
	files := make([]scriptFile, 0, len(paths))
	for _, p := range paths {
		if !who.mayReadScript(p) {
			continue // another brand's
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("admin.listScripts: %w: %w", bot.ErrUnavailable, err)
		}
		f := scriptFile{Name: p, Size: int64(len(data)), SHA256: contentHash(data)}
		if fi, err := fs.Stat(fsys, p); err == nil {
			f.Modified = fi.ModTime().UTC()
		}
		files = append(files, f)
	}
	return c.JSON(http.StatusOK, map[string]any{
		"files":    files,
		"version":  h.scripts.Version(),
		"editable": h.scriptsDir != "",
		"rules":    len(h.scripts.Scripts().Rules()),
		// writable_prefixes: where this member may save (a limited
		// member: their brands' folders); [""] is everywhere.
		"writable_prefixes": writablePrefixes(who),
	})
}

// scriptName checks a file name from a URL or a draft: a relative
// .yaml/.yml path the loader would read, without dot-segments.
func scriptName(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("文件名 %q 无效：%s", name, why))
	}
	switch {
	case name == "":
		return bad("不能为空")
	case !fs.ValidPath(name) || strings.Contains(name, `\`):
		return bad("只能是脚本目录内的相对路径")
	case path.Ext(name) != ".yaml" && path.Ext(name) != ".yml":
		return bad("须以 .yaml 或 .yml 结尾")
	case len(name) > 128:
		return bad("太长")
	}
	for seg := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return bad("不能以点开头（这样的文件不会被加载）")
		}
	}
	return name, nil
}

// readScript answers GET /admin/api/scripts/{name} with the file's text.
func (h *Handler) readScript(c echo.Context) error {
	if err := h.needScripts(); err != nil {
		return err
	}
	name, err := scriptName(c.Param("*"))
	if err != nil {
		return err
	}
	if p := principalOf(c); !p.mayReadScript(name) {
		return scriptRefusal(p, name, false)
	}
	data, err := fs.ReadFile(h.scripts.FS(), name)
	if errors.Is(err, fs.ErrNotExist) {
		return echo.NewHTTPError(http.StatusNotFound, "没有这个脚本文件："+name)
	}
	if err != nil {
		return fmt.Errorf("admin.readScript: %w: %w", bot.ErrUnavailable, err)
	}
	return c.JSON(http.StatusOK, map[string]any{"name": name, "text": string(data), "sha256": contentHash(data)})
}

// overlay returns the script files in force with drafts laid over them,
// the way the folder would look once the drafts are saved.
//
// fstest.MapFS is the standard library's in-memory fs.FS; it imports no
// testing machinery, and writing another would only duplicate it.
func (h *Handler) overlay(drafts map[string][]byte) (fs.FS, error) {
	fsys := h.scripts.FS()
	paths, err := bot.ScriptPaths(fsys)
	if err != nil {
		return nil, fmt.Errorf("admin.overlay: %w: %w", bot.ErrUnavailable, err)
	}
	m := fstest.MapFS{}
	for _, p := range paths {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("admin.overlay: %w: %w", bot.ErrUnavailable, err)
		}
		m[p] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	for name, data := range drafts {
		m[name] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	return m, nil
}

// check loads the scripts as they would be with drafts saved, and returns
// their mistakes (none: they load). It waits for one of maxChecks slots
// and gives up when ctx (the request's) ends: a client that went away
// stops costing the server.
func (h *Handler) check(ctx context.Context, drafts map[string][]byte) ([]scriptProblem, error) {
	wait, cancel := context.WithTimeout(ctx, checkWait)
	defer cancel()
	select {
	case h.checks <- struct{}{}:
		defer func() { <-h.checks }()
	case <-wait.Done():
		if ctx.Err() != nil {
			return nil, fmt.Errorf("admin.check: %w", ctx.Err())
		}
		return nil, echo.NewHTTPError(http.StatusServiceUnavailable, "正在校验的脚本太多，请稍后再试")
	}
	fsys, err := h.overlay(drafts)
	if err != nil {
		return nil, err
	}
	_, err = bot.LoadScriptsContext(ctx, fsys, h.scripts.Sections()...)
	if err == nil {
		return []scriptProblem{}, nil
	}
	serrs := bot.ScriptErrors(err)
	if len(serrs) == 0 {
		return nil, fmt.Errorf("admin.check: %w", err)
	}
	out := make([]scriptProblem, len(serrs))
	for i, se := range serrs {
		out[i] = scriptProblem{File: se.File, Line: se.Line, Message: se.Msg}
	}
	return out, nil
}

// validateScripts answers POST /admin/api/scripts/validate: drafts are
// checked together with the other files in force, as a reload would.
func (h *Handler) validateScripts(c echo.Context) error {
	if err := h.needScripts(); err != nil {
		return err
	}
	var req struct {
		Files map[string]string `json:"files"`
	}
	body := http.MaxBytesReader(c.Response(), c.Request().Body, maxValidateBytes)
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("请求体不能超过 %d MB", maxValidateBytes>>20))
		}
		return echo.NewHTTPError(http.StatusBadRequest, "请求体应为 JSON：{\"files\":{\"名称.yaml\":\"内容\"}}")
	}
	if len(req.Files) == 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "files 不能为空")
	}
	if len(req.Files) > maxDraftFiles {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("一次最多校验 %d 个文件", maxDraftFiles))
	}
	p := principalOf(c)
	drafts := make(map[string][]byte, len(req.Files))
	for name, text := range req.Files {
		if _, err := scriptName(name); err != nil {
			return err
		}
		if !p.mayReadScript(name) {
			return scriptRefusal(p, name, false)
		}
		if len(text) > maxScriptBytes {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("%s 超过 %d KB", name, maxScriptBytes>>10))
		}
		drafts[name] = []byte(text)
	}
	problems, err := h.check(c.Request().Context(), drafts)
	if err != nil {
		return err
	}
	problems = visibleProblems(p, problems)
	return c.JSON(http.StatusOK, map[string]any{"ok": len(problems) == 0, "errors": problems})
}

// saveScript answers PUT /admin/api/scripts/{name} (body: the file's
// text): it validates the draft with the other files, writes it
// atomically, keeps the previous version under .history/ and reloads.
// Every other replica picks the file up through its own watch.
func (h *Handler) saveScript(c echo.Context) error {
	if err := h.needScripts(); err != nil {
		return err
	}
	if h.scriptsDir == "" {
		return echo.NewHTTPError(http.StatusConflict, "当前使用的是内置示例脚本，不能在线保存：请设置 SIYU_SCRIPTS 指向脚本目录后重启")
	}
	name, err := scriptName(c.Param("*"))
	if err != nil {
		return err
	}
	if p := principalOf(c); !p.mayWriteScript(name) {
		return scriptRefusal(p, name, true)
	}
	data, err := io.ReadAll(io.LimitReader(c.Request().Body, maxScriptBytes+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "读取请求体失败")
	}
	if len(data) > maxScriptBytes {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("脚本文件不能超过 %d KB", maxScriptBytes>>10))
	}
	if !utf8.Valid(data) {
		return echo.NewHTTPError(http.StatusBadRequest, "脚本须为 UTF-8 文本")
	}
	return h.writeScript(c, name, data, saveOptions{
		ifMatch: c.Request().Header.Get("If-Match"), mustBeNew: c.Request().Header.Get("If-None-Match") == "*",
	})
}

// saveOptions are a save's preconditions.
type saveOptions struct {
	// ifMatch is the If-Match header: the sha256 the file must have.
	ifMatch string
	// mustBeNew refuses to overwrite a file (If-None-Match: *).
	mustBeNew bool
	// restoredFrom names the history version restored (for the log).
	restoredFrom string
}

// writeScript validates data as name with the other files, keeps the
// previous version, writes it and reloads: a save or a restore.
func (h *Handler) writeScript(c echo.Context, name string, data []byte, opt saveOptions) error {
	if p := principalOf(c); !p.mayWriteScript(name) {
		return scriptRefusal(p, name, true)
	}
	h.saveMu.Lock()
	defer h.saveMu.Unlock()
	// Every file operation goes through an os.Root on the folder: a
	// symlink (or a ".." planted in one) cannot lead a save outside it.
	root, err := os.OpenRoot(h.scriptsDir)
	if err != nil {
		return fmt.Errorf("admin.saveScript: %w: %w", bot.ErrUnavailable, err)
	}
	defer root.Close()
	prev, err := root.ReadFile(name)
	existed := err == nil
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist):
	case err != nil && isEscape(err):
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("文件名 %q 无效：指向脚本目录之外", name))
	case err != nil:
		return fmt.Errorf("admin.saveScript: %w: %w", bot.ErrUnavailable, err)
	}
	// If-None-Match: * is a new file's save (the console's 新建文件): it
	// must not overwrite a file of the same name.
	if opt.mustBeNew && existed {
		return echo.NewHTTPError(http.StatusPreconditionFailed, "已有同名文件："+name+"，请换一个文件名，或打开该文件编辑")
	}
	if want := opt.ifMatch; want != "" {
		got := ""
		if existed {
			got = contentHash(prev)
		}
		if strings.Trim(want, `"`) != got {
			return echo.NewHTTPError(http.StatusConflict, "文件已被他人修改，请重新打开后再保存")
		}
	}
	problems, err := h.check(c.Request().Context(), map[string][]byte{name: data})
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return &detailedError{
			err:     echo.NewHTTPError(http.StatusUnprocessableEntity, fmt.Sprintf("脚本有 %d 处错误，未保存", len(problems))),
			details: visibleProblems(principalOf(c), problems),
		}
	}
	kept := ""
	if existed {
		if kept, err = h.keepPrevious(root, name, prev); err != nil {
			return err
		}
	}
	if err := writeAtomic(root, name, data); err != nil {
		if isEscape(err) {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("文件名 %q 无效：指向脚本目录之外", name))
		}
		return err
	}
	h.logger.InfoContext(c.Request().Context(), "admin: script saved", "file", name, "bytes", len(data), "previous", kept)
	if opt.restoredFrom != "" {
		auditNote(c, name, "恢复为 "+opt.restoredFrom)
	} else {
		auditNote(c, name, kept)
	}
	if err := h.scripts.Reload(); err != nil {
		// The folder changed under us (another file edited meanwhile);
		// the saved file stays and Watch will retry.
		return fmt.Errorf("admin.saveScript: saved, but reload failed: %w: %w", bot.ErrConflict, err)
	}
	return c.JSON(http.StatusOK, map[string]any{
		"name": name, "sha256": contentHash(data), "version": h.scripts.Version(), "previous": kept,
	})
}

// isEscape reports whether err is os.Root refusing a path that leads
// outside the folder.
func isEscape(err error) bool {
	var pe *os.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes from parent")
}

// historyStamp is the time suffix of a kept version; it sorts lexically.
const historyStamp = "20060102T150405.000000000Z"

// historyBase names a script's versions in .history: the path with "%"
// and "/" escaped, so two names never share a base ("sub/h.yaml" is
// "sub%2Fh.yaml", "sub__h.yaml" stays itself).
func historyBase(name string) string {
	return strings.NewReplacer("%", "%25", "/", "%2F").Replace(name)
}

// versionOf reports whether file (in .history) is a version of the
// script whose base is base, and when it was kept.
func versionOf(file, base string) (time.Time, bool) {
	n := len(historyStamp)
	if len(file) != len(base)+1+n || !strings.HasPrefix(file, base+".") {
		return time.Time{}, false
	}
	t, err := time.Parse(historyStamp, file[len(base)+1:])
	return t, err == nil
}

// keepPrevious copies the file's previous content to
// .history/<base>.<time> and prunes the oldest beyond keepHistory.
func (h *Handler) keepPrevious(root *os.Root, name string, prev []byte) (string, error) {
	base := historyBase(name)
	if err := root.MkdirAll(historyDir, 0o755); err != nil {
		return "", fmt.Errorf("admin.keepPrevious: %w: %w", bot.ErrUnavailable, err)
	}
	at := h.now().UTC()
	kept := base + "." + at.Format(historyStamp)
	// Two saves within one clock tick must not share a name (the second
	// would replace the first's version): take the next free instant.
	for i := 0; i < 1000; i++ {
		if _, err := root.Stat(historyDir + "/" + kept); errors.Is(err, fs.ErrNotExist) {
			break
		}
		at = at.Add(time.Nanosecond)
		kept = base + "." + at.Format(historyStamp)
	}
	if err := writeAtomic(root, historyDir+"/"+kept, prev); err != nil {
		return "", err
	}
	entries, err := fs.ReadDir(root.FS(), historyDir)
	if err != nil {
		return "", fmt.Errorf("admin.keepPrevious: %w: %w", bot.ErrUnavailable, err)
	}
	var mine []string
	for _, e := range entries {
		if _, ok := versionOf(e.Name(), base); ok {
			mine = append(mine, e.Name())
		}
	}
	slices.Sort(mine)
	for len(mine) > keepHistory {
		_ = root.Remove(historyDir + "/" + mine[0]) // best effort: an extra old copy harms nothing
		mine = mine[1:]
	}
	return historyDir + "/" + kept, nil
}

// writeAtomic writes data to name in root through a temporary dot-file
// in the same folder (hidden from the loader) and a rename, so a reader
// sees the old file or the new one, never half of one.
func writeAtomic(root *os.Root, name string, data []byte) error {
	dir := path.Dir(name)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("admin.writeAtomic: %w: %w", bot.ErrUnavailable, err)
	}
	suffix, err := randomToken()
	if err != nil {
		return err
	}
	tmpName := path.Join(dir, ".siyu-save-"+suffix[:12])
	tmp, err := root.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("admin.writeAtomic: %w: %w", bot.ErrUnavailable, err)
	}
	defer root.Remove(tmpName) // after a successful rename there is nothing to remove
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmpName, name)
	}
	if err != nil {
		return fmt.Errorf("admin.writeAtomic: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// reloadScripts answers POST /admin/api/scripts/reload.
func (h *Handler) reloadScripts(c echo.Context) error {
	if err := h.needScripts(); err != nil {
		return err
	}
	if err := h.scripts.Reload(); err != nil {
		serrs := bot.ScriptErrors(err)
		if len(serrs) == 0 {
			return fmt.Errorf("admin.reloadScripts: %w: %w", bot.ErrUnavailable, err)
		}
		details := make([]scriptProblem, len(serrs))
		for i, se := range serrs {
			details[i] = scriptProblem{File: se.File, Line: se.Line, Message: se.Msg}
		}
		return &detailedError{
			err:     echo.NewHTTPError(http.StatusUnprocessableEntity, fmt.Sprintf("脚本有 %d 处错误，仍使用上一版（%s）", len(serrs), h.scripts.Version())),
			details: details,
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"version": h.scripts.Version()})
}

// writablePrefixes are the folders p may save in: "" (everywhere), or
// brands/<brand>/ of each of their brands.
func writablePrefixes(p Principal) []string {
	if p.allBrands() {
		return []string{""}
	}
	out := make([]string, len(p.Brands))
	for i, b := range p.Brands {
		out[i] = "brands/" + b + "/"
	}
	return out
}
