package coupon

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// Install adds coupons to the stack: the campaigns: section, the 领券
// command (with follow claims) and the renderer of coupon messages.
func (s *Service) Install(st *bot.Stack) error {
	st.Sections(Section{})
	s.cfg.Confirm.Answers(func(sc *bot.Scripts, text string) bool {
		list := From(sc).List()
		for i := range list {
			if slices.Contains(list[i].ConfirmWords(), text) {
				return true
			}
		}
		return false
	})
	st.Command(s)
	return st.Render(RendererName, s)
}

// Reports are the reads staff need beyond Store. sqlstore.Coupons
// implements them.
type Reports interface {
	// Stats returns the figures of the given campaigns, by key.
	Stats(ctx context.Context, campaigns []string) (map[string]Stats, error)
	// Claims returns a campaign's newest claims, at most limit.
	Claims(ctx context.Context, campaign string, limit int) ([]Claim, error)
}

// Stats are a campaign's figures in the store.
type Stats struct {
	Issued     int
	Codes      int // imported codes
	PerChannel map[string]int
}

// Available is what c can issue: its stock, or fewer when its codes are
// imported and fewer were.
func (c *Campaign) Available(st Stats) int {
	if c.Codes.Import {
		return min(c.Stock, st.Codes)
	}
	return c.Stock
}

// Figures are a campaign in force with its store figures, for staff.
type Figures struct {
	Campaign  *Campaign
	Stock     int // Available
	Issued    int
	Remaining int
	Stats     Stats
}

// Figures returns every campaign of the base scripts in force with its
// figures.
func (s *Service) Figures(ctx context.Context) ([]Figures, error) {
	return s.FiguresFor(ctx, bot.Route{})
}

// FiguresFor returns every campaign in force for route r with its
// figures: a brand's campaigns count their own claims (Campaign.Key).
func (s *Service) FiguresFor(ctx context.Context, r bot.Route) ([]Figures, error) {
	list := s.CampaignsFor(r).List()
	keys := make([]string, len(list))
	for i := range list {
		keys[i] = list[i].Key()
	}
	stats, err := s.reports().Stats(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]Figures, len(list))
	for i := range list {
		c := &list[i]
		st := stats[c.Key()]
		stock := c.Available(st)
		out[i] = Figures{Campaign: c, Stock: stock, Issued: st.Issued, Remaining: max(stock-st.Issued, 0), Stats: st}
	}
	return out, nil
}

// ClaimsOf returns the newest claims of a base campaign. Errors:
// bot.ErrNotFound for a campaign not in force.
func (s *Service) ClaimsOf(ctx context.Context, campaign string, limit int) ([]Claim, error) {
	return s.ClaimsFor(ctx, bot.Route{}, campaign, limit)
}

// ClaimsFor returns the newest claims of the campaign with id campaign in
// the scripts in force for route r. Errors: bot.ErrNotFound for a
// campaign not in force there.
func (s *Service) ClaimsFor(ctx context.Context, r bot.Route, campaign string, limit int) ([]Claim, error) {
	c, ok := s.CampaignsFor(r).Get(campaign)
	if !ok {
		return nil, fmt.Errorf("coupon campaign %q: %w", campaign, bot.ErrNotFound)
	}
	return s.reports().Claims(ctx, c.Key(), limit)
}

// Find returns the campaign whose Key is key in any of scopes (the
// scripts of every scope, bot.LoadScopes): `siyu coupons` names a
// brand's campaign <brand>:<id>.
func Find(scopes []*bot.Scripts, key string) (*Campaign, bool) {
	for _, sc := range scopes {
		if c, ok := From(sc).GetKey(key); ok {
			return c, true
		}
	}
	return nil, false
}

func (s *Service) reports() Reports {
	if s.cfg.Reports == nil {
		return noReports{}
	}
	return s.cfg.Reports
}

type noReports struct{}

func (noReports) Stats(_ context.Context, ids []string) (map[string]Stats, error) {
	out := make(map[string]Stats, len(ids))
	for _, id := range ids {
		out[id] = Stats{PerChannel: map[string]int{}}
	}
	return out, nil
}
func (noReports) Claims(context.Context, string, int) ([]Claim, error) { return nil, nil }

// WriteStats writes a campaign's figures for `siyu coupons stats`.
func WriteStats(w io.Writer, c *Campaign, st Stats) {
	stock := c.Available(st)
	fmt.Fprintf(w, "campaign   %s (%s)\n", c.Key(), c.Name)
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
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "…"
	}
	return t.Format("2006-01-02 15:04 MST")
}
