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
	// Stats returns the figures of the given campaigns, by id.
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

// Figures returns every campaign in force with its figures.
func (s *Service) Figures(ctx context.Context) ([]Figures, error) {
	list := s.Campaigns().List()
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	stats, err := s.reports().Stats(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]Figures, len(list))
	for i := range list {
		c := &list[i]
		st := stats[c.ID]
		stock := c.Available(st)
		out[i] = Figures{Campaign: c, Stock: stock, Issued: st.Issued, Remaining: max(stock-st.Issued, 0), Stats: st}
	}
	return out, nil
}

// ClaimsOf returns a campaign's newest claims. Errors: bot.ErrNotFound
// for a campaign not in force.
func (s *Service) ClaimsOf(ctx context.Context, campaign string, limit int) ([]Claim, error) {
	if _, ok := s.Campaigns().Get(campaign); !ok {
		return nil, fmt.Errorf("coupon campaign %q: %w", campaign, bot.ErrNotFound)
	}
	return s.reports().Claims(ctx, campaign, limit)
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
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "…"
	}
	return t.Format("2006-01-02 15:04 MST")
}
