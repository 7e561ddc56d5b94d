// Package accounts serves many platform accounts from one deployment:
// it reads the accounts file (SIYU_ACCOUNTS), mounts each account's
// callback at its own path, routes each action to the sender of the
// account it goes out through (bot.Target.Route) and each staff alert to
// its brand's staff (alert_to), and swaps the whole set when the file
// changes, keeping the old set when the new file has a mistake. Building an account's adapter is the caller's (Builder): this
// package knows paths and names, never what an account says.
package accounts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/siyu-bot/siyu/bot"
)

// Account is one entry of the accounts file.
type Account struct {
	Name     string
	Platform bot.Platform
	Brand    string
	// File and Line are where the entry is, for errors about it.
	File string
	Line int

	// WeChat Official Account.
	AppID, AppSecret string
	// Token and AESKey sign and encrypt WeChat's and WeCom's callbacks.
	Token, AESKey string
	// PlainMode accepts plain-mode callbacks (mode: plain).
	PlainMode bool

	// WeCom self-built app.
	CorpID, AgentID, Secret, ContactSecret string
	// AlertTo are the staff userids who get the staff alerts of the
	// account's brand, as app messages from this app (alert_to); none:
	// the brand's alerts go to the environment's staff.
	AlertTo []string

	// Douyin application.
	ClientKey, ClientSecret, AccountOpenID string

	// APIBase points a Douyin account's API client at a fake or a
	// gateway. WeChat's and WeCom's are the process's (WECHAT_API_BASE,
	// WECOM_API_BASE): their SDK has one for all clients.
	APIBase string
}

// Route is the account's bot.Route.
func (a Account) Route() bot.Route { return bot.Route{Brand: a.Brand, Name: a.Name} }

// CallbackPath is where the platform posts the account's callbacks.
func (a Account) CallbackPath() string {
	switch a.Platform {
	case bot.Douyin:
		return "/douyin/" + a.Name + "/webhook"
	default:
		return "/" + string(a.Platform) + "/" + a.Name + "/callback"
	}
}

// fingerprint changes whenever anything of the account does, secrets
// read from files included, so a reload rebuilds exactly the accounts
// that changed. It is kept in memory only.
func (a Account) fingerprint() string {
	a.File, a.Line = "", 0 // moving an entry in the file changes nothing
	h := sha256.New()
	fmt.Fprintf(h, "%#v", a)
	return hex.EncodeToString(h.Sum(nil))
}

// where is "file:line: account NAME" for errors.
func (a Account) where() string {
	return fmt.Sprintf("%s:%d: account %q", a.File, a.Line, a.Name)
}

// maxFileSize bounds the accounts file and each secret file read.
const maxFileSize = 1 << 20

var (
	namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	yamlLine    = regexp.MustCompile(`line (\d+)`)
)

// field is one key an account may have: which platforms take it, whether
// it may come from a file (KEY_file, the Docker and Kubernetes secrets
// convention), and where it goes.
type field struct {
	platforms []bot.Platform // nil: every platform
	secret    bool           // may be KEY_file; never logged
	// list: the value may also be a YAML list, handed to set joined by
	// commas.
	list bool
	set  func(a *Account, v string)
}

var fields = map[string]field{
	"name":     {set: func(a *Account, v string) { a.Name = v }},
	"platform": {set: func(a *Account, v string) { a.Platform = bot.Platform(v) }},
	"brand":    {set: func(a *Account, v string) { a.Brand = v }},
	"api_base": {platforms: []bot.Platform{bot.Douyin}, set: func(a *Account, v string) { a.APIBase = v }},

	"appid":     {platforms: []bot.Platform{bot.WeChat}, set: func(a *Account, v string) { a.AppID = v }},
	"appsecret": {platforms: []bot.Platform{bot.WeChat}, secret: true, set: func(a *Account, v string) { a.AppSecret = v }},
	"mode":      {platforms: []bot.Platform{bot.WeChat}, set: func(a *Account, v string) { a.PlainMode = v == "plain" }},
	"token":     {platforms: []bot.Platform{bot.WeChat, bot.WeCom}, secret: true, set: func(a *Account, v string) { a.Token = v }},
	"aes_key":   {platforms: []bot.Platform{bot.WeChat, bot.WeCom}, secret: true, set: func(a *Account, v string) { a.AESKey = v }},

	"corpid":         {platforms: []bot.Platform{bot.WeCom}, set: func(a *Account, v string) { a.CorpID = v }},
	"agentid":        {platforms: []bot.Platform{bot.WeCom}, set: func(a *Account, v string) { a.AgentID = v }},
	"secret":         {platforms: []bot.Platform{bot.WeCom}, secret: true, set: func(a *Account, v string) { a.Secret = v }},
	"contact_secret": {platforms: []bot.Platform{bot.WeCom}, secret: true, set: func(a *Account, v string) { a.ContactSecret = v }},
	"alert_to":       {platforms: []bot.Platform{bot.WeCom}, list: true, set: func(a *Account, v string) { a.AlertTo = splitUserIDs(v) }},

	"client_key":      {platforms: []bot.Platform{bot.Douyin}, set: func(a *Account, v string) { a.ClientKey = v }},
	"client_secret":   {platforms: []bot.Platform{bot.Douyin}, secret: true, set: func(a *Account, v string) { a.ClientSecret = v }},
	"account_open_id": {platforms: []bot.Platform{bot.Douyin}, set: func(a *Account, v string) { a.AccountOpenID = v }},
}

// required are the keys each platform cannot do without.
var required = map[bot.Platform][]string{
	bot.WeChat: {"appid", "token"},
	bot.WeCom:  {"corpid", "token", "aes_key"},
	bot.Douyin: {"client_key", "client_secret"},
}

// Error is one mistake in the accounts file, at its line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Load reads the accounts file at path. Every mistake is reported, each
// with its file and line; a file with any is refused whole.
func Load(path string) ([]Account, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	return Parse(path, data, readBounded)
}

// readBounded reads a file of at most maxFileSize bytes.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}

// Parse parses an accounts file's data; readFile reads the KEY_file
// secrets (relative paths are relative to the accounts file).
func Parse(file string, data []byte, readFile func(string) ([]byte, error)) ([]Account, error) {
	p := parser{file: file, readFile: readFile}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 1
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		return nil, Error{File: file, Line: line, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	accts := p.document(&doc)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return accts, nil
}

type parser struct {
	file     string
	readFile func(string) ([]byte, error)
	errs     []error
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, Error{File: p.file, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) document(doc *yaml.Node) []Account {
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.errs = append(p.errs, Error{File: p.file, Line: 1, Msg: "empty: want accounts: followed by a list of accounts"})
		return nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		p.errorf(top, "want a mapping with the key accounts:")
		return nil
	}
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Value != "accounts" {
			p.errorf(k, "unknown key %q: the file has only accounts:", k.Value)
			continue
		}
		list = v
	}
	if list == nil {
		p.errorf(top, "no accounts: key")
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		p.errorf(list, "accounts: want a list, one entry per account")
		return nil
	}
	var out []Account
	names := map[string]int{}
	type secretUse struct {
		name string
		line int
	}
	secrets := map[string]secretUse{} // platform + token or client key: one account each
	for _, n := range list.Content {
		a, ok := p.account(n)
		if !ok {
			continue
		}
		if line, dup := names[a.Name]; dup {
			p.errorf(n, "account %q: the name is used at line %d too; names are callback paths and must differ", a.Name, line)
			continue
		}
		names[a.Name] = n.Line
		// A callback signed for one account must not verify at another's
		// path: accounts of a platform never share what signs them.
		// Nor their ids: an appid (or a corp's app) names the events'
		// account, so two entries for one would share dedupe keys.
		for _, k := range []string{a.Token, a.ClientKey, "appid:" + a.AppID, "app:" + a.CorpID + "/" + a.AgentID} {
			if k == "" || k == "appid:" || k == "app:/" {
				continue
			}
			key := string(a.Platform) + "\x00" + k
			if u, dup := secrets[key]; dup {
				p.errorf(n, "account %q: shares its token, client_key, appid or corp app with account %q at line %d; each account needs its own (a callback signed for one would be accepted at the other's path, and their callbacks would be taken for each other's)", a.Name, u.name, u.line)
				continue
			}
			secrets[key] = secretUse{a.Name, n.Line}
		}
		out = append(out, a)
	}
	return out
}

// account parses one entry.
func (p *parser) account(n *yaml.Node) (Account, bool) {
	a := Account{File: p.file, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "an account is a mapping: {name: …, platform: …, brand: …}")
		return a, false
	}
	before := len(p.errs)
	type kv struct {
		key string
		k   *yaml.Node
		v   *yaml.Node
	}
	var kvs []kv
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			p.errorf(k, "key %q given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		kvs = append(kvs, kv{k.Value, k, v})
		if k.Value == "name" {
			a.Name = v.Value
		}
		if k.Value == "platform" {
			a.Platform = bot.Platform(v.Value)
		}
	}
	label := fmt.Sprintf("account %q", a.Name)
	switch {
	case a.Name == "":
		p.errorf(n, "account without a name")
		label = "account"
	case !namePattern.MatchString(a.Name) || !bot.ValidRouteName(a.Name):
		p.errorf(n, "%s: a name is at most %d lower-case letters, digits, - and _ (it is part of the callback path and a scripts folder)", label, bot.MaxRouteNameLen)
	}
	if _, ok := required[a.Platform]; !ok {
		p.errorf(n, "%s: platform %q: want wechat, wecom or douyin", label, a.Platform)
		return a, false
	}
	for _, e := range kvs {
		key, fromFile := e.key, false
		if base, ok := strings.CutSuffix(key, "_file"); ok {
			key, fromFile = base, true
		}
		f, ok := fields[key]
		if !ok || (fromFile && !f.secret) {
			p.errorf(e.k, "%s: unknown key %q", label, e.key)
			continue
		}
		if f.platforms != nil && !slices.Contains(f.platforms, a.Platform) {
			p.errorf(e.k, "%s: %q is not a key of a %s account", label, e.key, a.Platform)
			continue
		}
		if fromFile && seen[key] {
			p.errorf(e.k, "%s: both %s and %s are set; keep one", label, key, e.key)
			continue
		}
		var v string
		if f.list {
			v, ok = p.list(e.v, label, e.key)
		} else {
			v, ok = p.scalar(e.v, label, e.key)
		}
		if !ok {
			continue
		}
		if fromFile {
			v, ok = p.secretFile(e.v, label, e.key, v)
			if !ok {
				continue
			}
		}
		f.set(&a, v)
		seen[key] = true
	}
	if a.Brand == "" {
		p.errorf(n, "%s: no brand: each account belongs to a brand (its scripts are scripts/brands/<brand>/)", label)
	} else if !namePattern.MatchString(a.Brand) || !bot.ValidRouteName(a.Brand) {
		p.errorf(n, "%s: brand %q: at most %d lower-case letters, digits, - and _ (it is a folder name)", label, a.Brand, bot.MaxRouteNameLen)
	}
	for _, k := range required[a.Platform] {
		if !seen[k] {
			p.errorf(n, "%s: %s is required for a %s account", label, k, a.Platform)
		}
	}
	if seen["alert_to"] {
		p.alertTo(&a, kvs[slices.IndexFunc(kvs, func(e kv) bool { return e.key == "alert_to" })].v, label)
	}
	if a.Platform == bot.WeChat && seen["mode"] && !a.PlainMode {
		for _, e := range kvs {
			if e.key == "mode" {
				p.errorf(e.v, "%s: mode %q: the only mode to set is plain (encrypted is the default)", label, e.v.Value)
			}
		}
	}
	return a, len(p.errs) == before
}

// maxAlertTo is how many members one app message may go to (WeCom's
// message/send touser).
const maxAlertTo = 1000

// weComUserID is a WeCom member's userid: 1 to 64 letters, digits, _, -,
// @ and ., starting with a letter or a digit.
var weComUserID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_@.-]{0,63}$`)

// splitUserIDs splits a list of userids separated by commas, | or
// spaces (as WECOM_ALERT_TO is), keeping the first of repeats.
func splitUserIDs(v string) []string {
	var out []string
	for _, id := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '|' || r == ' ' }) {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// alertTo checks an account's alert_to (at n): staff userids, sent to as
// app messages, which need the app's agentid and secret.
func (p *parser) alertTo(a *Account, n *yaml.Node, label string) {
	switch {
	case len(a.AlertTo) == 0:
		p.errorf(n, "%s: alert_to is empty: list the staff userids who get the brand's alerts, or leave it out", label)
	case len(a.AlertTo) > maxAlertTo:
		p.errorf(n, "%s: alert_to: %d userids, at most %d", label, len(a.AlertTo), maxAlertTo)
	}
	for _, id := range a.AlertTo {
		if !weComUserID.MatchString(id) {
			p.errorf(n, "%s: alert_to: %q is not a WeCom userid (1 to 64 letters, digits, _ - @ .)", label, id)
		}
	}
	if _, err := strconv.Atoi(a.AgentID); err != nil || a.Secret == "" {
		p.errorf(n, "%s: alert_to needs the app's numeric agentid and its secret: alerts are app messages", label)
	}
}

// list is a key's value given as a single value or a list of them,
// joined by commas.
func (p *parser) list(v *yaml.Node, label, key string) (string, bool) {
	if v.Kind == yaml.ScalarNode {
		return v.Value, true
	}
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, "%s: %s: want a list, or values separated by commas", label, key)
		return "", false
	}
	items := make([]string, 0, len(v.Content))
	for _, it := range v.Content {
		if it.Kind != yaml.ScalarNode || it.Value == "" || strings.ContainsAny(it.Value, ",| ") {
			p.errorf(it, "%s: %s: want one value per list item", label, key)
			return "", false
		}
		items = append(items, it.Value)
	}
	return strings.Join(items, ","), true
}

// scalar is a key's value.
func (p *parser) scalar(v *yaml.Node, label, key string) (string, bool) {
	if v.Kind == yaml.ScalarNode {
		return v.Value, true
	}
	p.errorf(v, "%s: %s: want a single value", label, key)
	return "", false
}

// secretFile reads a KEY_file secret: its content with the trailing
// newline trimmed. The error names the file, never its content.
func (p *parser) secretFile(v *yaml.Node, label, key, path string) (string, bool) {
	if path == "" {
		p.errorf(v, "%s: %s is empty", label, key)
		return "", false
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(p.file), path)
	}
	data, err := p.readFile(path)
	if err != nil {
		p.errorf(v, "%s: %s: %v", label, key, err)
		return "", false
	}
	data = bytes.TrimRight(data, "\r\n")
	if len(data) == 0 {
		p.errorf(v, "%s: %s: %s is empty", label, key, path)
		return "", false
	}
	return string(data), true
}
