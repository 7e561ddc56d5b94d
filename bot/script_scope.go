package bot

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Scripts per brand and per account. The scripts folder holds
//
//	faq.yaml, welcome.yaml, …          the base scripts (any depth but brands/)
//	brands/<brand>/*.yaml              a brand's files
//	brands/<brand>/<account>/*.yaml    one account's files (<account> is
//	                                   the account's name, Route.Name)
//
// Each scope is compiled once per load into its own Scripts: the base
// scripts; each brand's, which are the base files with the brand's files
// over them; each account's, which are its brand's files with the
// account's over them. Over means by file name: a file replaces the file
// of the same name (extension included) at the levels below it, so
// brands/shancha/faq.yaml stands in for faq.yaml, and an empty file
// switches one off; a file of a new name adds to them. Only base files
// at the top of the folder can be replaced (a brand's folders are its
// accounts). A scope's files are read in that order, the lower levels'
// first, each level in path order: among rules of equal priority the
// first wins, so a brand's rule beats a base rule it competes with only
// by priority or by replacing its file.
//
// A brand or account has a scope when it has at least one file; one
// without answers with the scripts of the level below (Library.ScriptsFor).

// brandsDir is the folder of the brands' scripts.
const brandsDir = "brands"

// MaxRouteNameLen bounds a brand's or an account's name: the brand's
// name prefixes the keys its capabilities store (a campaign's stock is
// "<brand>:<id>"), within the columns that hold them.
const MaxRouteNameLen = 32

// maxScopes bounds the brand and account folders of one load: every
// scope costs a merge and an index each load and stays in memory.
const maxScopes = 100

var routeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// ValidRouteName reports whether s may name a brand or an account in
// the scripts folder (and so in the accounts file): ASCII letters,
// digits, '-' and '_', starting with a letter or digit, at most
// MaxRouteNameLen bytes.
func ValidRouteName(s string) bool { return len(s) <= MaxRouteNameLen && routeName.MatchString(s) }

// scopedFile is a parsed file and the scope whose folder holds it.
type scopedFile struct {
	f     *scriptFile
	route Route
	rel   string // its name within the scope's folder
}

// scopeOfPath says which scope's folder holds the script file at p and
// the file's name there; msg is not empty when p is somewhere no scope
// reads.
func scopeOfPath(p string) (r Route, rel, msg string) {
	rest, ok := strings.CutPrefix(p, brandsDir+"/")
	if !ok {
		return Route{}, p, ""
	}
	parts := strings.Split(rest, "/")
	switch len(parts) {
	case 1:
		return Route{}, "", "a file directly in brands/ belongs to no brand: move it into brands/<brand>/, or out of brands/ for every brand"
	case 2:
		r = Route{Brand: parts[0]}
	case 3:
		r = Route{Brand: parts[0], Name: parts[1]}
	default:
		return Route{}, "", "folders inside an account's folder are not read: put the account's files directly in brands/<brand>/<account>/"
	}
	for _, name := range []string{r.Brand, r.Name} {
		if name != "" && !ValidRouteName(name) {
			return Route{}, "", fmt.Sprintf("folder name %q: a brand's or account's folder is named with letters, digits, '-' or '_', at most %d, as in the accounts file", name, MaxRouteNameLen)
		}
	}
	return r, parts[len(parts)-1], ""
}

// scopePlan is one scope and the files it merges, in merge order.
type scopePlan struct {
	route Route
	files []*scriptFile
}

// planScopes lays out the scopes of files (in path order): the base
// first, then each brand followed by its accounts, by name.
func planScopes(files []scopedFile) ([]scopePlan, []ScriptError) {
	var base []scopedFile
	own := map[Route][]scopedFile{} // each scope's own files
	var routes []Route
	for _, sf := range files {
		if sf.route.IsZero() {
			base = append(base, sf)
			continue
		}
		for _, r := range []Route{{Brand: sf.route.Brand}, sf.route} {
			if _, ok := own[r]; !ok {
				own[r] = nil
				routes = append(routes, r)
			}
		}
		own[sf.route] = append(own[sf.route], sf)
	}
	var errs []ScriptError
	if len(routes) > maxScopes {
		errs = append(errs, ScriptError{File: brandsDir, Msg: fmt.Sprintf("%d brand and account folders with scripts, over the limit of %d", len(routes), maxScopes)})
		routes = routes[:0]
	}
	// A brand sorts before its accounts: its Name is "".
	slices.SortFunc(routes, func(a, b Route) int {
		return strings.Compare(a.Brand+"\x00"+a.Name, b.Brand+"\x00"+b.Name)
	})
	plan := []scopePlan{{route: Route{}, files: filesOf(base)}}
	brandFiles := map[string][]scopedFile{}
	for _, r := range routes {
		if r.Name == "" {
			brandFiles[r.Brand] = overlay(base, own[r])
			plan = append(plan, scopePlan{route: r, files: filesOf(brandFiles[r.Brand])})
			continue
		}
		plan = append(plan, scopePlan{route: r, files: filesOf(overlay(brandFiles[r.Brand], own[r]))})
	}
	return plan, errs
}

// overlay is lower's files without those upper replaces (same name),
// then upper's.
func overlay(lower, upper []scopedFile) []scopedFile {
	out := make([]scopedFile, 0, len(lower)+len(upper))
	for _, l := range lower {
		if !slices.ContainsFunc(upper, func(u scopedFile) bool { return u.rel == l.rel }) {
			out = append(out, l)
		}
	}
	return append(out, upper...)
}

func filesOf(sfs []scopedFile) []*scriptFile {
	out := make([]*scriptFile, len(sfs))
	for i, sf := range sfs {
		out[i] = sf.f
	}
	return out
}
