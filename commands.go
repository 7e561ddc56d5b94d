package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/bot/nlp"
	"github.com/siyu-bot/siyu/bot/risk"
	"github.com/siyu-bot/siyu/handlers/accounts"
	"github.com/siyu-bot/siyu/handlers/admin"
	"github.com/siyu-bot/siyu/handlers/wechat"
	"github.com/siyu-bot/siyu/knowledge"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// scriptSections returns every capability's script sections, from a
// stack built without stores: enough to check scripts.
func scriptSections(ctx context.Context) ([]bot.Section, error) {
	caps, err := capabilities(ctx, capDeps{})
	if err != nil {
		return nil, err
	}
	stack, err := bot.NewStack(caps.list...)
	if err != nil {
		return nil, err
	}
	return stack.ScriptSections(), nil
}

// checkScripts is `siyu check-scripts [dir]`: it validates the reply
// scripts with every capability's sections and prints file:line errors,
// or each scope's counts (the base scripts, then every brand and account
// folder under brands/).
func checkScripts(ctx context.Context, env runEnv) error {
	dir := "scripts"
	if len(env.args) > 1 {
		dir = env.args[1]
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("check-scripts: %s is not a folder", dir)
	}
	sections, err := scriptSections(ctx)
	if err != nil {
		return err
	}
	scopes, err := bot.LoadScopes(ctx, os.DirFS(dir), sections...)
	if err != nil {
		errs := bot.ScriptErrors(err)
		for _, se := range errs {
			se.File = dir + "/" + se.File
			fmt.Fprintln(env.stderr, se.Error())
		}
		if len(errs) == 0 {
			fmt.Fprintln(env.stderr, err)
		}
		return fmt.Errorf("check-scripts: %d error(s) in %s", max(len(errs), 1), dir)
	}
	for _, s := range scopes {
		name := dir
		if r := s.Scope(); !r.IsZero() {
			name = strings.TrimSuffix(dir+"/brands/"+r.Brand+"/"+r.Name, "/")
		}
		fmt.Fprintf(env.stdout, "%s: ok, %d rules, %d channels\n", name, len(s.Rules()), len(s.Channels()))
	}
	return nil
}

// simulate plays WeChat: it signs and encrypts a callback with the running
// server's credentials (the same environment), posts it and prints the
// decrypted reply.
func simulate(ctx context.Context, env runEnv) error {
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return err
	}
	fl := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fl.SetOutput(env.stderr)
	addr := cfg.Addr
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	url := fl.String("url", "http://"+addr+"/wechat/callback", "the callback URL of the running siyu")
	event := fl.String("event", "", "send an event instead of text: subscribe, unsubscribe, SCAN or CLICK")
	key := fl.String("key", "", "the event's EventKey: a QR scene (qrscene_store-01) or a menu key")
	from := fl.String("from", "o-simulate-0001", "the follower's openid")
	plain := fl.Bool("plain", false, "plain mode: sign but do not encrypt")
	account := fl.String("account", "", "an Official Account of the accounts file (SIYU_ACCOUNTS) to play, at its own callback path")
	if err := fl.Parse(env.args[1:]); err != nil {
		return err
	}
	token, aesKey, appID := cfg.WeChatToken, cfg.WeChatAESKey, cfg.WeChatAppID
	switch {
	case *account != "":
		a, err := accountOf(cfg, *account)
		if err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		token, aesKey, appID = a.Token, a.AESKey, a.AppID
		if !isFlagSet(fl, "url") {
			*url = "http://" + addr + a.CallbackPath()
		}
	case !cfg.WeChatOn:
		return fmt.Errorf("simulate: no WeChat Official Account in this environment, so the server has no /wechat/callback: set the server's WECHAT_* here too, or SIYU_DEMO=1 on both for the demo account, or give --account NAME of the accounts file")
	}
	text := strings.Join(fl.Args(), " ")
	if text == "" && *event == "" {
		return fmt.Errorf("simulate: give the text to send, or --event subscribe")
	}
	sim := &wechat.Simulator{
		URL: *url, Token: token, EncodingAESKey: aesKey, AppID: appID,
		OriginalID: demoOrigID, Client: &http.Client{Timeout: 10 * time.Second},
	}
	if *plain {
		sim.EncodingAESKey = ""
	}
	var msg []byte
	if *event != "" {
		msg = sim.EventXML(*from, *event, *key, time.Now().Unix())
	} else {
		msg = sim.TextXML(*from, text, wechat.NewMsgID())
	}
	r, err := sim.Post(ctx, msg)
	if err != nil {
		return err
	}
	if r.MsgType == "" {
		fmt.Fprintln(env.stdout, "(no reply: the server answered success)")
		return nil
	}
	if r.MsgType == "transfer_customer_service" {
		fmt.Fprintln(env.stdout, "(passed to the Official Account's customer service: transfer_customer_service "+r.KfAccount+")")
		return nil
	}
	fmt.Fprintln(env.stdout, r.Content)
	return nil
}

// accountOf is the Official Account called name in the accounts file.
func accountOf(cfg config, name string) (accounts.Account, error) {
	if cfg.AccountsFile == "" {
		return accounts.Account{}, errors.New("--account needs SIYU_ACCOUNTS, the accounts file the server reads")
	}
	accts, err := accounts.Load(cfg.AccountsFile)
	if err != nil {
		return accounts.Account{}, err
	}
	for _, a := range accts {
		if a.Name == name {
			if a.Platform != bot.WeChat {
				return accounts.Account{}, fmt.Errorf("account %q is a %s account; simulate plays WeChat", name, a.Platform)
			}
			return a, nil
		}
	}
	return accounts.Account{}, fmt.Errorf("no account %q in %s", name, cfg.AccountsFile)
}

// isFlagSet reports whether the flag was given on the command line.
func isFlagSet(fl *flag.FlagSet, name string) bool {
	set := false
	fl.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

const couponsUsage = `usage:
  siyu coupons import CAMPAIGN FILE.csv   add a campaign's codes (one per row, first column)
  siyu coupons stats CAMPAIGN             show a campaign's stock, issued and per-channel counts
CAMPAIGN is a campaign's id, or BRAND:ID for a campaign in scripts/brands/BRAND/.
`

// cmdCoupons is `siyu coupons import|stats`.
func cmdCoupons(ctx context.Context, env runEnv) error {
	args := env.args[1:]
	if len(args) < 2 || args[0] == "import" && len(args) != 3 || args[0] == "stats" && len(args) != 2 {
		fmt.Fprint(env.stderr, couponsUsage)
		return errors.New("coupons: wrong arguments")
	}
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return err
	}
	sections, err := scriptSections(ctx)
	if err != nil {
		return err
	}
	fsys, source := scriptsFS(cfg.ScriptsDir)
	scopes, err := bot.LoadScopes(ctx, fsys, sections...)
	if err != nil {
		return fmt.Errorf("coupons: reply scripts in %s: %w", source, err)
	}
	c, ok := coupon.Find(scopes, args[1])
	if !ok {
		return fmt.Errorf("coupons: no campaign %q in the scripts (%s)", args[1], source)
	}
	logger := newLogger(env.stderr, "warn", cfg.LogFormat)
	db, err := sqlstore.Open(ctx, sqlstore.Config{MySQLDSN: cfg.MySQLDSN, SQLitePath: cfg.SQLitePath, Logger: logger})
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := sqlstore.NewCoupons(ctx, db)
	if err != nil {
		return err
	}
	switch args[0] {
	case "import":
		if !c.Codes.Import {
			return fmt.Errorf("coupons: campaign %q generates its codes (codes: generate); set codes: {import: true} to import", c.Key())
		}
		if err := importCodes(ctx, env, store, c, args[2]); err != nil {
			return err
		}
		if cfg.RedisURL != "" {
			// Running replicas recount the campaign's codes at the next
			// claim (an embedded Redis is per process: they notice when
			// stock seems to run out).
			rdb, err := redisstore.Open(ctx, cfg.RedisURL, logger, redisOptions(cfg)...)
			if err != nil {
				return err
			}
			defer rdb.Close()
			return redisstore.NewCouponCounter(rdb).Reset(ctx, c.Key())
		}
		return nil
	case "stats":
		stats, err := store.Stats(ctx, []string{c.Key()})
		if err != nil {
			return err
		}
		coupon.WriteStats(env.stdout, c, stats[c.Key()])
		return nil
	}
	fmt.Fprint(env.stderr, couponsUsage)
	return fmt.Errorf("coupons: unknown command %q", args[0])
}

// importCodes reads path with a progress bar on stderr, reports refused
// lines by number, and adds the good codes (a second run adds none).
func importCodes(ctx context.Context, env runEnv, store *sqlstore.Coupons, c *coupon.Campaign, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("coupons import: %w", err)
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	bar := newBar(env.stderr, size, "读取 "+path)
	codes, bad, err := coupon.ParseCodes(f, func(n int64) { _ = bar.Set64(n) })
	_ = bar.Finish()
	if err != nil {
		return fmt.Errorf("coupons import: %w", err)
	}
	for _, le := range bad {
		fmt.Fprintf(env.stderr, "%s:%d: %s\n", path, le.Line, le.Msg)
	}
	bar = newBar(env.stderr, int64(len(codes)), "导入 "+c.Key())
	added, err := store.ImportCodes(ctx, c.Key(), codes, func(done int) { _ = bar.Set(done) })
	_ = bar.Finish()
	if err != nil {
		return fmt.Errorf("coupons import: %w", err)
	}
	fmt.Fprintf(env.stdout, "%s: %d codes added, %d already there, %d lines refused\n", c.Key(), added, len(codes)-added, len(bad))
	return nil
}

// newBar is a progress bar on w; size -1 is a spinner.
func newBar(w io.Writer, size int64, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

// classifyReading is one line of `siyu classify`'s output.
type classifyReading struct {
	Text           string   `json:"text"`
	Intent         string   `json:"intent"`
	Confidence     float64  `json:"confidence"`
	Risk           string   `json:"risk"`
	RiskCategories []string `json:"risk_categories"`
}

// classifyRiskFunc returns the risk reading of `siyu classify`: the
// overall level ("none" when clean) and the categories hit, read by
// the scanner with the lexicons, the detectors and the risk model.
func classifyRiskFunc() (func(text string) (string, []string), error) {
	model, err := loadRiskModel()
	if err != nil {
		return nil, err
	}
	scanner, err := newRiskScanner(model)
	if err != nil {
		return nil, err
	}
	return func(text string) (string, []string) { return riskReading(scanner, text) }, nil
}

// cmdClassify is `siyu classify`: each stdin line, plain text or a JSON
// object with a "text" field, becomes one JSON reading on stdout, in
// order, flushed per line. It opens no database, writes no file and
// starts no server. A bad line gets {"line": n, "error": …} and the rest
// go on.
func cmdClassify(_ context.Context, env runEnv) error {
	fl := flag.NewFlagSet("classify", flag.ContinueOnError)
	fl.SetOutput(env.stderr)
	modelPath := fl.String("model", "", "an intents model file (default: the embedded knowledge/intents.model)")
	if err := fl.Parse(env.args[1:]); err != nil {
		return err
	}
	var m *nlp.Model
	var err error
	if *modelPath == "" {
		m, err = nlp.LoadDatasetModel(knowledge.FS, intentsDataset)
	} else {
		m, err = loadModelFile(*modelPath)
	}
	if err != nil {
		return fmt.Errorf("classify: %w", err)
	}
	classifyRisk, err := classifyRiskFunc()
	if err != nil {
		return fmt.Errorf("classify: %w", err)
	}
	in := env.stdin
	if in == nil {
		in = strings.NewReader("")
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	out := bufio.NewWriter(env.stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for n := 1; sc.Scan(); n++ {
		var v any
		if text, err := classifyLineText(sc.Bytes()); err != nil {
			v = map[string]any{"line": n, "error": err.Error()}
		} else {
			r := classifyReading{Text: text}
			var conf float64
			r.Intent, conf = m.Classify(nlp.Canonical(text))
			r.Confidence = math.Round(conf*1e4) / 1e4
			r.Risk, r.RiskCategories = classifyRisk(text)
			if r.RiskCategories == nil {
				r.RiskCategories = []string{}
			}
			v = r
		}
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("classify: %w", err)
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("classify: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("classify: reading stdin: %w", err)
	}
	return nil
}

// classifyLineText returns the text of one input line: the "text" of a
// JSON object, else the line itself.
func classifyLineText(line []byte) (string, error) {
	s := strings.TrimSpace(string(line))
	if strings.HasPrefix(s, "{") {
		var obj struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal([]byte(s), &obj); err != nil {
			return "", fmt.Errorf("bad JSON: %v", err)
		}
		if obj.Text == nil {
			return "", errors.New(`JSON line without a "text" field`)
		}
		s = *obj.Text
	}
	if strings.TrimSpace(s) == "" {
		return "", errors.New("empty text")
	}
	return s, nil
}

func loadModelFile(path string) (*nlp.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return nlp.LoadModel(f)
}

// riskReading is what `siyu classify` reports for risk: "risk", the main
// category or "none", and "risk_categories", every category that hit.
// cmdClassify adds it to each line's reading.
func riskReading(s *risk.Scanner, text string) (main string, categories []string) {
	categories = risk.Main(s.Scan(text))
	if len(categories) == 0 {
		return "none", []string{}
	}
	return categories[0], categories
}

// cmdStaff is `siyu staff …`: staff accounts of the console, on the
// database and Redis of the configuration (the same environment as the
// server). The first admin is made this way:
//
//	printf '%s\n' "$PASSWORD" | siyu staff add 店长 --role admin
func cmdStaff(ctx context.Context, env runEnv) error {
	args := env.args[1:]
	if len(args) == 0 {
		fmt.Fprint(env.stderr, staffUsage)
		return errors.New("staff: which command?")
	}
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return err
	}
	logger := newLogger(env.stderr, "warn", cfg.LogFormat)
	st, closeStores, err := openStores(ctx, cfg, logger, env.redisPrefix)
	if err != nil {
		return err
	}
	defer closeStores()
	sc, _, err := consoleStaff(ctx, st)
	if err != nil {
		return err
	}
	return staffCommand(ctx, sc.Staff, sc.Sessions, env.stdin, env.stdout, args, time.Now)
}

// staffCommand runs one staff command on the stores.
func staffCommand(ctx context.Context, staff admin.StaffStore, sessions admin.SessionStore, stdin io.Reader, stdout io.Writer, args []string, now func() time.Time) error {
	need := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("staff %s: wrong arguments\n%s", args[0], staffUsage)
		}
		return nil
	}
	readPassword := func() (string, error) {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("staff: reading the password: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("staff: no password on stdin")
		}
		return pw, nil
	}
	update := func(name string, change func(*admin.StaffMember) error) error {
		m, err := staff.Staff(ctx, name)
		if err != nil {
			return fmt.Errorf("staff: %s: %w", name, err)
		}
		if err := change(&m); err != nil {
			return err
		}
		m.UpdatedAt = now()
		if err := staff.UpdateStaff(ctx, m); err != nil {
			return err
		}
		return sessions.DeleteSessionsOf(ctx, name)
	}
	switch args[0] {
	case "add":
		name, role, brands, err := parseStaffAdd(args[1:])
		if err != nil {
			return fmt.Errorf("staff add: %w", err)
		}
		pw, err := readPassword()
		if err != nil {
			return err
		}
		hash, err := admin.HashPassword(pw)
		if err != nil {
			return fmt.Errorf("staff add: %w", err)
		}
		t := now()
		if err := staff.AddStaff(ctx, admin.StaffMember{Name: name, Role: role, PasswordHash: hash, Brands: brands, CreatedAt: t, UpdatedAt: t}); err != nil {
			if errors.Is(err, bot.ErrConflict) {
				return fmt.Errorf("staff add: %s exists already (siyu staff passwd %s changes the password)", name, name)
			}
			return err
		}
		fmt.Fprintf(stdout, "added %s (%s, %s)\n", name, role, brandsWord(brands))
	case "passwd":
		if err := need(2); err != nil {
			return err
		}
		pw, err := readPassword()
		if err != nil {
			return err
		}
		hash, err := admin.HashPassword(pw)
		if err != nil {
			return fmt.Errorf("staff passwd: %w", err)
		}
		if err := update(args[1], func(m *admin.StaffMember) error { m.PasswordHash = hash; return nil }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; their sessions ended\n", args[1])
	case "role":
		if err := need(3); err != nil {
			return err
		}
		role, err := admin.ParseRole(args[2])
		if err != nil {
			return fmt.Errorf("staff role: %w", err)
		}
		if err := update(args[1], func(m *admin.StaffMember) error { m.Role = role; return nil }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is now %s; their sessions ended\n", args[1], role)
	case "brands":
		if err := need(3); err != nil {
			return err
		}
		brands, err := parseBrandsArg(args[2])
		if err != nil {
			return fmt.Errorf("staff brands: %w", err)
		}
		if err := update(args[1], func(m *admin.StaffMember) error { m.Brands = brands; return nil }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s now sees %s; their sessions ended\n", args[1], brandsWord(brands))
	case "disable", "enable":
		if err := need(2); err != nil {
			return err
		}
		off := args[0] == "disable"
		if err := update(args[1], func(m *admin.StaffMember) error { m.Disabled = off; return nil }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %sd\n", args[1], args[0])
	case "remove":
		if err := need(2); err != nil {
			return err
		}
		if err := staff.RemoveStaff(ctx, args[1]); err != nil {
			return fmt.Errorf("staff remove: %s: %w", args[1], err)
		}
		if err := sessions.DeleteSessionsOf(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s\n", args[1])
	case "list":
		ms, err := staff.ListStaff(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tROLE\tBRANDS\tSTATE\tUPDATED")
		for _, m := range ms {
			state := "active"
			if m.Disabled {
				state = "disabled"
			}
			brands := "all"
			if len(m.Brands) > 0 {
				brands = strings.Join(m.Brands, ",")
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.Role, brands, state, m.UpdatedAt.Format(time.RFC3339))
		}
		return w.Flush()
	default:
		return fmt.Errorf("staff: unknown command %q\n%s", args[0], staffUsage)
	}
	return nil
}

// parseStaffAdd reads `staff add`'s arguments after the command: NAME,
// --role ROLE and an optional --brand B1,B2, the flags in either order
// and as --flag=value too.
func parseStaffAdd(args []string) (name string, role admin.Role, brands []string, err error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", "", nil, fmt.Errorf("wrong arguments\n%s", staffUsage)
	}
	name = args[0]
	if err := admin.CheckStaffName(name); err != nil {
		return "", "", nil, err
	}
	var roleArg, brandArg string
	seen := map[string]bool{}
	for rest := args[1:]; len(rest) > 0; {
		flag, value, inline := strings.Cut(rest[0], "=")
		if !inline {
			if len(rest) < 2 {
				return "", "", nil, fmt.Errorf("%s needs a value\n%s", flag, staffUsage)
			}
			value = rest[1]
			rest = rest[2:]
		} else {
			rest = rest[1:]
		}
		if seen[flag] {
			return "", "", nil, fmt.Errorf("%s given twice", flag)
		}
		seen[flag] = true
		switch flag {
		case "--role":
			roleArg = value
		case "--brand", "--brands":
			brandArg = value
		default:
			return "", "", nil, fmt.Errorf("unknown argument %q\n%s", flag, staffUsage)
		}
	}
	if roleArg == "" {
		return "", "", nil, fmt.Errorf("--role is required\n%s", staffUsage)
	}
	if role, err = admin.ParseRole(roleArg); err != nil {
		return "", "", nil, err
	}
	if seen["--brand"] || seen["--brands"] {
		if brands, err = parseBrandsArg(brandArg); err != nil {
			return "", "", nil, err
		}
	}
	return name, role, brands, nil
}

// parseBrandsArg reads B1,B2 (those brands) or all (every brand: nil).
func parseBrandsArg(s string) ([]string, error) {
	if strings.TrimSpace(s) == "all" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if slices.Contains(parts, "all") {
		return nil, fmt.Errorf("%q: all stands alone (every brand), or name the brands", s)
	}
	brands, err := admin.NormalizeBrands(parts)
	if err != nil {
		return nil, err
	}
	if len(brands) == 0 {
		return nil, errors.New("name the brands (B1,B2), or all")
	}
	return brands, nil
}

// brandsWord says a member's brands in the CLI's answers.
func brandsWord(brands []string) string {
	if len(brands) == 0 {
		return "every brand"
	}
	return "brands " + strings.Join(brands, ",")
}

// trainDatasets says how `siyu train` trains the datasets other than the
// intents': risk's ordinary lines are "none", and its evaluation reads
// through the scanner (lexicons, detectors and the model), as siyu
// decides on a message.
func trainDatasets() map[string]nlp.DatasetOptions {
	return map[string]nlp.DatasetOptions{
		"risk": {
			Background: "none", Fillers: []string{"none"},
			Detector: func(fsys fs.FS) (func(m *nlp.Model, minConfidence float64) func(string) []string, error) {
				lex, err := risk.LoadLexicon(fsys, "risk/lexicon")
				if err != nil {
					return nil, err
				}
				return func(m *nlp.Model, minConfidence float64) func(string) []string {
					s := risk.NewScanner(lex, risk.ScannerConfig{Classifier: riskClassifier(m), MinConfidence: minConfidence,
						ClauseMinConfidence: risk.ClauseThreshold(minConfidence)})
					return func(text string) []string { return risk.Main(s.Scan(text)) }
				}, nil
			},
		},
	}
}
