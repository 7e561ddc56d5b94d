package admin

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
)

// One deployment serves many accounts (SIYU_ACCOUNTS), each of one
// brand. A staff member may be limited to some brands: they see the
// accounts, conversations and scripts of those brands only, dry-run only
// as those brands' accounts, review only those brands' risk events, and
// save scripts only under scripts/brands/<brand>/. A page whose data
// names no brand (the home page's totals, campaigns, opt-outs, the
// outbox, the audit log) is refused to them rather than shown with
// another brand's customers in it. No brands, the default, is every brand: staff made
// before brands existed keep what they had.

// maxBrands bounds the brands one staff member is limited to.
const maxBrands = 32

// CheckBrand returns why b cannot name a brand, or nil: a brand is the
// name of its scripts folder (scripts/brands/<b>/) and of the accounts
// file's brands: 1 to 32 ASCII letters, digits, - and _, starting with a
// letter or a digit (bot's rule for route names). Errors wrap
// bot.ErrInvalid.
func CheckBrand(b string) error {
	if len(b) == 0 || len(b) > bot.MaxRouteNameLen {
		return fmt.Errorf("品牌名须为 1 到 %d 个字符: %w", bot.MaxRouteNameLen, bot.ErrInvalid)
	}
	if !bot.ValidRouteName(b) {
		return fmt.Errorf("品牌名 %q 只能含英文字母、数字、- 和 _，并以字母或数字开头: %w", b, bot.ErrInvalid)
	}
	return nil
}

// NormalizeBrands checks brands and returns them trimmed, sorted and
// without repeats; nil (every brand) when none is left. Errors wrap
// bot.ErrInvalid.
func NormalizeBrands(brands []string) ([]string, error) {
	var out []string
	for _, b := range brands {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if err := CheckBrand(b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxBrands {
		return nil, fmt.Errorf("一位员工最多限定 %d 个品牌: %w", maxBrands, bot.ErrInvalid)
	}
	return out, nil
}

// allBrands reports whether p sees every brand.
func (p Principal) allBrands() bool { return len(p.Brands) == 0 }

// mayBrand reports whether p may see brand's data. The environment's
// account has no brand: only staff who see every brand see it.
func (p Principal) mayBrand(brand string) bool {
	return p.allBrands() || (brand != "" && slices.Contains(p.Brands, brand))
}

// brandList names brands for staff: 山茶、其他.
func brandList(brands []string) string { return strings.Join(brands, "、") }

// brandAware reports whether a route keeps to the brands of a limited
// principal (it filters or checks every record by its brand), so it may
// serve them. Every other route is refused to them, modules' included:
// a module added later is refused until it is listed here.
func brandAware(route string) bool {
	i := strings.Index(route, "/admin/api/")
	if i < 0 {
		return false // the profiler
	}
	switch r := route[i+len("/admin/api"):]; r {
	case "/session", "/capabilities", "/accounts",
		"/scripts", "/scripts/*", "/scripts/validate",
		"/rules", "/rules/preview",
		"/history", "/history/version", "/history/restore",
		"/dry-run",
		// Risk events carry their account's route: the list keeps to
		// the member's brands, and acting on another brand's is refused.
		"/risk/events", "/risk/events/bulk", "/risk/events/:id/ack", "/risk/events/:id/dismiss", "/risk/events/:id/reopen":
		return true
	default:
		// The inbox's conversations carry their account's route; its
		// daily counts do not.
		return r == "/inbox/conversations" || strings.HasPrefix(r, "/inbox/conversations/")
	}
}

// brandRefusal is the 403 for a limited principal on a route whose data
// names no brand.
func brandRefusal(p Principal, route string) error {
	if strings.Contains(route, "/admin/api/staff") {
		return echo.NewHTTPError(http.StatusForbidden, "只有可管理全部品牌的管理员才能管理员工账号。")
	}
	return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("你的账号只能查看品牌「%s」的数据；这一页的数据不区分品牌，只对可查看全部品牌的员工开放。", brandList(p.Brands)))
}

// AccountInfo is one configured account as the console shows it: the
// accounts file's entries (SIYU_ACCOUNTS), and the account of the
// environment variables with no Name and no Brand (默认账号), one entry
// per platform it is configured on.
type AccountInfo struct {
	// Name is the account's name in the accounts file ("" for the
	// environment's account): its callback path and scripts folder.
	Name     string
	Platform bot.Platform
	// Brand owns the account ("" for the environment's account).
	Brand string
	// CallbackPath is where the platform calls siyu, from siyu's root:
	// /wechat/<name>/callback, /wecom/<name>/callback,
	// /douyin/<name>/webhook.
	CallbackPath string
	// SecretSet says whether the credential siyu sends with is set (the
	// Official Account's AppSecret, WeCom's Secret, Douyin's client
	// secret): without it the account answers only within a callback's
	// reply, and staff cannot reply from the inbox.
	SecretSet bool
}

// Route is the account's route, as its events carry it.
func (a AccountInfo) Route() bot.Route { return bot.Route{Brand: a.Brand, Name: a.Name} }

// key names the account in the console and the API: platform:name
// ("wechat:" for the environment's Official Account).
func (a AccountInfo) key() string { return string(a.Platform) + ":" + a.Name }

// AccountLister lists the configured accounts; the root package
// implements it over the configuration.
type AccountLister interface {
	Accounts(ctx context.Context) []AccountInfo
}

// WithAccounts names the configured accounts: the console's account
// switcher and 账号 page, the dry-run as one account, and the brands
// staff may be limited to.
func (h *Handler) WithAccounts(l AccountLister) *Handler {
	h.accounts = l
	return h
}

// visibleAccounts returns the accounts p may see, the environment's
// first, then by brand and name.
func (h *Handler) visibleAccounts(ctx context.Context, p Principal) []AccountInfo {
	if h.accounts == nil {
		return nil
	}
	var out []AccountInfo
	for _, a := range h.accounts.Accounts(ctx) {
		if p.mayBrand(a.Brand) {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b AccountInfo) int {
		named := func(x AccountInfo) int { return min(len(x.Name), 1) }
		return cmp.Or(cmp.Compare(named(a), named(b)), cmp.Compare(a.Brand, b.Brand), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Platform, b.Platform))
	})
	return out
}

// accountView is an account as GET /admin/api/accounts shows it.
type accountView struct {
	Key          string `json:"key"`
	Name         string `json:"name"`
	Platform     string `json:"platform"`
	Brand        string `json:"brand"`
	Default      bool   `json:"default"`
	CallbackPath string `json:"callback_path"`
	// CallbackURL is the address to paste into the platform's console,
	// as this request reached siyu.
	CallbackURL string `json:"callback_url"`
	SecretSet   bool   `json:"secret_set"`
}

// listAccounts answers GET /admin/api/accounts: the accounts the
// principal may see and their brands.
func (h *Handler) listAccounts(c echo.Context) error {
	p := principalOf(c)
	accounts := h.visibleAccounts(c.Request().Context(), p)
	base := c.Scheme() + "://" + c.Request().Host + strings.TrimSuffix(adminPath(c), "/admin/")
	out := make([]accountView, len(accounts))
	brands := []string{}
	for i, a := range accounts {
		out[i] = accountView{Key: a.key(), Name: a.Name, Platform: string(a.Platform), Brand: a.Brand, Default: a.Name == "",
			CallbackPath: a.CallbackPath, CallbackURL: base + a.CallbackPath, SecretSet: a.SecretSet}
		if a.Brand != "" {
			brands = append(brands, a.Brand)
		}
	}
	slices.Sort(brands)
	return c.JSON(http.StatusOK, map[string]any{
		"accounts": out, "brands": slices.Compact(brands),
		"all_brands": p.allBrands(), "my_brands": nonNilStrings(p.Brands), "configured": h.accounts != nil,
	})
}

// findAccount returns the account key names ("platform:name"), or, with
// key "", the environment's account on platform. It refuses an account
// p may not see.
func (h *Handler) findAccount(ctx context.Context, p Principal, name string, platform bot.Platform) (AccountInfo, error) {
	if name == "" {
		if !p.allBrands() {
			return AccountInfo{}, echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("请先在顶部选择品牌「%s」的一个账号：你只能以所属品牌的账号试运行。", brandList(p.Brands)))
		}
		return AccountInfo{Platform: platform}, nil
	}
	if h.accounts == nil {
		return AccountInfo{}, echo.NewHTTPError(http.StatusBadRequest, "没有配置多账号（SIYU_ACCOUNTS）：不能选择账号")
	}
	var found []AccountInfo
	for _, a := range h.accounts.Accounts(ctx) {
		if a.Name == name && (platform == "" || a.Platform == platform) {
			found = append(found, a)
		}
	}
	switch {
	case len(found) == 0:
		return AccountInfo{}, echo.NewHTTPError(http.StatusBadRequest, "没有这个账号："+name)
	case len(found) > 1:
		return AccountInfo{}, echo.NewHTTPError(http.StatusBadRequest, "账号 "+name+" 在多个平台上都有，请同时指定 platform")
	case !p.mayBrand(found[0].Brand):
		return AccountInfo{}, echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("账号 %s 属于其他品牌：你只能以品牌「%s」的账号试运行。", name, brandList(p.Brands)))
	}
	return found[0], nil
}

// scriptBrand returns the brand whose folder holds the script name
// (brands/<brand>/…), "" for a file outside a brand's folder.
func scriptBrand(name string) string {
	rest, ok := strings.CutPrefix(name, "brands/")
	if !ok {
		return ""
	}
	b, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return b
}

// mayReadScript reports whether p may read a script: every file outside
// brands/ (the scripts every account shares; reading them shows no
// customer's data), and their brands' folders.
func (p Principal) mayReadScript(name string) bool {
	b := scriptBrand(name)
	return p.allBrands() || b == "" || slices.Contains(p.Brands, b)
}

// mayWriteScript reports whether p may save a script: a limited member
// only under brands/<their brand>/.
func (p Principal) mayWriteScript(name string) bool {
	b := scriptBrand(name)
	return p.allBrands() || (b != "" && slices.Contains(p.Brands, b))
}

// scriptRefusal is the 403 for a script p may not save (write) or read.
func scriptRefusal(p Principal, name string, write bool) error {
	if write {
		folders := make([]string, len(p.Brands))
		for i, b := range p.Brands {
			folders[i] = "brands/" + b + "/"
		}
		return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("不能保存 %s：你只能保存 %s 下的脚本。", name, brandList(folders)))
	}
	return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("脚本 %s 属于其他品牌，你无权查看。", name))
}

// visibleProblems keeps the mistakes in files p may read; mistakes in
// another brand's files are said to exist, not shown.
func visibleProblems(p Principal, problems []scriptProblem) []scriptProblem {
	if p.allBrands() {
		return problems
	}
	out := make([]scriptProblem, 0, len(problems))
	hidden := 0
	for _, pr := range problems {
		if p.mayReadScript(pr.File) {
			out = append(out, pr)
		} else {
			hidden++
		}
	}
	if hidden > 0 {
		out = append(out, scriptProblem{File: "（其他品牌）", Message: fmt.Sprintf("其他品牌的脚本有 %d 处错误，你无权查看，请联系可查看全部品牌的员工。", hidden)})
	}
	return out
}
