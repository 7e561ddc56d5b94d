package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/handlers/admin"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// couponCapability wires bot/coupon: the campaigns: section, the 领券
// command (rank 30) and follow claims, the outbox renderer of coupon
// messages, and the admin module "coupon".
func couponCapability() capability {
	return capability{
		name:     "coupon",
		sections: func() ([]bot.Section, error) { return []bot.Section{coupon.Section{}}, nil },
		wire:     wireCoupon,
	}
}

func wireCoupon(ctx context.Context, w capWiring, p *parts) error {
	store, err := sqlstore.NewCoupons(ctx, w.db)
	if err != nil {
		return err
	}
	var onClaim func(campaign, outcome string)
	if w.obs != nil {
		onClaim = w.obs.CouponClaim
	}
	svc := coupon.New(coupon.Config{
		Store:   store,
		Counter: redisstore.NewCouponCounter(w.rdb),
		Logger:  w.logger,
		OnClaim: onClaim,
		Scripts: w.scripts,
	})
	p.commands = append(p.commands, rankedStage{rank: rankCoupon, stage: svc})
	p.renderers[coupon.RendererName] = svc
	p.admin = append(p.admin, admin.NewCoupon(couponAdmin{svc: svc, store: store}))
	return nil
}

// couponClaimer returns the coupon service wired into p, for check-in's
// milestone rewards (checkin.CouponClaimer); nil when couponCapability
// has not been wired. capabilities() wires coupon before checkin.
func couponClaimer(p *parts) *coupon.Service {
	svc, _ := p.renderers[coupon.RendererName].(*coupon.Service)
	return svc
}

// couponAdmin serves the admin module from the scripts' campaigns and the
// store's figures.
type couponAdmin struct {
	svc   *coupon.Service
	store *sqlstore.Coupons
}

func (a couponAdmin) Campaigns(ctx context.Context) ([]admin.CouponCampaign, error) {
	list := a.svc.Campaigns().List()
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	stats, err := a.store.Stats(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]admin.CouponCampaign, 0, len(list))
	for _, c := range list {
		st := stats[c.ID]
		stock := effectiveStock(&c, st)
		out = append(out, admin.CouponCampaign{
			ID: c.ID, Name: c.Name, Stock: stock, Issued: st.Issued, Remaining: max(stock-st.Issued, 0),
			Start: timeOrNil(c.Start), End: timeOrNil(c.End), PerChannel: st.PerChannel,
		})
	}
	return out, nil
}

func (a couponAdmin) Claims(ctx context.Context, campaign string, limit int) ([]admin.CouponClaim, error) {
	if _, ok := a.svc.Campaigns().Get(campaign); !ok {
		return nil, fmt.Errorf("coupon campaign %q: %w", campaign, bot.ErrNotFound)
	}
	claims, err := a.store.Claims(ctx, campaign, limit)
	if err != nil {
		return nil, err
	}
	out := make([]admin.CouponClaim, len(claims))
	for i, cl := range claims {
		out[i] = admin.CouponClaim{Person: string(cl.Person), Code: cl.Code, Channel: cl.Channel, Trigger: cl.Trigger, CreatedAt: cl.CreatedAt}
	}
	return out, nil
}

// effectiveStock is what a campaign can issue: its stock, or fewer when
// its codes are imported and fewer were.
func effectiveStock(c *coupon.Campaign, st sqlstore.CouponStats) int {
	if c.Codes.Import {
		return min(c.Stock, st.Codes)
	}
	return c.Stock
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

const couponsUsage = `usage:
  siyu coupons import CAMPAIGN FILE.csv   add a campaign's codes (one per row, first column)
  siyu coupons stats CAMPAIGN             show a campaign's stock, issued and per-channel counts
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
	sections, err := scriptSections()
	if err != nil {
		return err
	}
	fsys, source := scriptsFS(cfg.ScriptsDir)
	scripts, err := bot.LoadScripts(fsys, sections...)
	if err != nil {
		return fmt.Errorf("coupons: reply scripts in %s: %w", source, err)
	}
	c, ok := coupon.From(scripts).Get(args[1])
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
			return fmt.Errorf("coupons: campaign %q generates its codes (codes: generate); set codes: {import: true} to import", c.ID)
		}
		if err := importCodes(ctx, env, store, c, args[2]); err != nil {
			return err
		}
		if cfg.RedisURL != "" {
			// Running replicas recount the campaign's codes at the next
			// claim (an embedded Redis is per process: they notice when
			// stock seems to run out).
			rdb, err := redisstore.Open(ctx, cfg.RedisURL, logger)
			if err != nil {
				return err
			}
			defer rdb.Close()
			return redisstore.NewCouponCounter(rdb).Reset(ctx, c.ID)
		}
		return nil
	case "stats":
		return couponStats(ctx, env.stdout, store, c)
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
	bar = newBar(env.stderr, int64(len(codes)), "导入 "+c.ID)
	added, err := store.ImportCodes(ctx, c.ID, codes, func(done int) { _ = bar.Set(done) })
	_ = bar.Finish()
	if err != nil {
		return fmt.Errorf("coupons import: %w", err)
	}
	fmt.Fprintf(env.stdout, "%s: %d codes added, %d already there, %d lines refused\n", c.ID, added, len(codes)-added, len(bad))
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

func couponStats(ctx context.Context, w io.Writer, store *sqlstore.Coupons, c *coupon.Campaign) error {
	stats, err := store.Stats(ctx, []string{c.ID})
	if err != nil {
		return err
	}
	st := stats[c.ID]
	stock := effectiveStock(c, st)
	fmt.Fprintf(w, "campaign   %s (%s)\n", c.ID, c.Name)
	if !c.Start.IsZero() || !c.End.IsZero() {
		fmt.Fprintf(w, "window     %s – %s\n", fmtTime(c.Start), fmtTime(c.End))
	}
	fmt.Fprintf(w, "stock      %d\n", stock)
	if c.Codes.Import {
		fmt.Fprintf(w, "codes      %d imported\n", st.Codes)
	}
	fmt.Fprintf(w, "issued     %d\nremaining  %d\n", st.Issued, max(stock-st.Issued, 0))
	channels := make([]string, 0, len(st.PerChannel))
	for ch := range st.PerChannel {
		channels = append(channels, ch)
	}
	sort.Strings(channels)
	for _, ch := range channels {
		name := ch
		if name == "" {
			name = "(no channel)"
		}
		fmt.Fprintf(w, "  %-20s %d\n", name, st.PerChannel[ch])
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "…"
	}
	return t.Format("2006-01-02 15:04 MST")
}
