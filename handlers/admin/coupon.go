package admin

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
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
	Person    string    `json:"person"`
	Code      string    `json:"code"`
	Channel   string    `json:"channel"`
	Trigger   string    `json:"trigger"`
	CreatedAt time.Time `json:"created_at"`
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
	out := make([]couponClaimJSON, len(list))
	for i, cl := range list {
		out[i] = couponClaimJSON{
			Person: MaskPerson(cl.Person), Code: MaskCode(cl.Code), Channel: cl.Channel,
			Trigger: bot.Fingerprint(cl.Trigger), CreatedAt: cl.CreatedAt,
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"claims": out})
}

// MaskPerson shows a PersonID's kind (union, or its platform) and a
// fingerprint: staff can tell two claims of one person apart from two
// people's without seeing the customer's id.
func MaskPerson(p string) string {
	kind, _, _ := strings.Cut(p, ":")
	return kind + ":" + bot.Fingerprint(p)
}

// MaskCode keeps a code's first four and last two characters, enough for
// staff to match a customer's complaint, not to redeem it.
func MaskCode(code string) string {
	if len(code) <= 6 {
		return strings.Repeat("*", len(code))
	}
	return code[:4] + strings.Repeat("*", len(code)-6) + code[len(code)-2:]
}
