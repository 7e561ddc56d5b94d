package admin

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// CouponCampaign is one campaign's figures for staff.
type CouponCampaign struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Stock      int            `json:"stock"`
	Issued     int            `json:"issued"`
	Remaining  int            `json:"remaining"`
	Start      *time.Time     `json:"start"`
	End        *time.Time     `json:"end"`
	PerChannel map[string]int `json:"per_channel"`
}

// CouponClaim is one issued coupon, unmasked; the module masks it.
type CouponClaim struct {
	Person    string
	Code      string
	Channel   string
	Trigger   string
	CreatedAt time.Time
}

// CouponAdmin is what the coupon module needs: the campaigns in force
// with their figures, and a campaign's newest claims.
type CouponAdmin interface {
	Campaigns(ctx context.Context) ([]CouponCampaign, error)
	// Claims returns bot.ErrNotFound for an unknown campaign.
	Claims(ctx context.Context, campaign string, limit int) ([]CouponClaim, error)
}

// Coupon is the admin module "coupon": GET campaigns and GET
// campaigns/:id/claims.
type Coupon struct{ src CouponAdmin }

// NewCoupon returns the coupon module over src.
func NewCoupon(src CouponAdmin) *Coupon { return &Coupon{src: src} }

// Name implements Module.
func (*Coupon) Name() string { return "coupon" }

// Register implements Module.
func (m *Coupon) Register(g *echo.Group) {
	g.GET("/campaigns", m.campaigns)
	g.GET("/campaigns/:id/claims", m.claims)
}

func (m *Coupon) campaigns(c echo.Context) error {
	list, err := m.src.Campaigns(c.Request().Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []CouponCampaign{}
	}
	return c.JSON(http.StatusOK, map[string]any{"campaigns": list})
}

type couponClaimJSON struct {
	Person  string `json:"person"` // masked
	Tag     string `json:"tag"`
	Code    string `json:"code"`
	Channel string `json:"channel"`
	// Source says what claimed: "reward" (a check-in milestone, named by
	// SourceDetail) or the platform whose message or follow did.
	Source       string    `json:"source"`
	SourceDetail string    `json:"source_detail,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// claimSource names what claimed a coupon from the claim's trigger:
// "reward:<milestone>" for a check-in reward, else
// "<platform>:<account>:<event>" for a message or a follow. Only the
// milestone is shown: the event part is an internal key.
func claimSource(trigger string) (source, detail string) {
	if m, ok := strings.CutPrefix(trigger, "reward:"); ok {
		return "reward", m
	}
	kind, _, _ := strings.Cut(trigger, ":")
	return kind, ""
}

func (m *Coupon) claims(c echo.Context) error {
	limit, _ := strconv.Atoi(c.QueryParam("limit"))
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	list, err := m.src.Claims(c.Request().Context(), c.Param("id"), limit)
	if err != nil {
		return err
	}
	people := shownPeople(c)
	out := make([]couponClaimJSON, len(list))
	for i, cl := range list {
		src, detail := claimSource(cl.Trigger)
		out[i] = couponClaimJSON{
			Person: people.mask(cl.Person), Tag: PersonTag(cl.Person), Code: MaskCode(cl.Code), Channel: cl.Channel,
			Source: src, SourceDetail: detail, CreatedAt: cl.CreatedAt,
		}
	}
	if err := people.flush(c.Request().Context()); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"claims": out})
}

// MaskCode keeps a code's first four and last two characters, enough for
// staff to match a customer's complaint, not to redeem it.
func MaskCode(code string) string {
	if len(code) <= 6 {
		return strings.Repeat("*", len(code))
	}
	return code[:4] + strings.Repeat("*", len(code)-6) + code[len(code)-2:]
}
