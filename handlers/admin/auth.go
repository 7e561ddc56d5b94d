package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
)

// Staff sign in with a name and a password and get a session: an
// HttpOnly, SameSite=Strict cookie, and a CSRF token the console sends
// back in a header with every change. Automation keeps the bearer token
// (SIYU_ADMIN_TOKEN), which acts as an admin. Staff, sessions, the
// failure counts that limit sign-in and the audit log live in the
// database and Redis, shared by every replica.

// Role is what a staff member may do. Each role may do what the ones
// before it may.
type Role string

// The roles, from least to most.
const (
	// RoleViewer reads every page, dry-runs and validates drafts.
	RoleViewer Role = "viewer"
	// RoleOperator also changes things: saves scripts, handles alerts,
	// requeues messages, opts people out or in.
	RoleOperator Role = "operator"
	// RoleAdmin also manages staff accounts.
	RoleAdmin Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// ParseRole returns the role named s. Errors wrap bot.ErrInvalid.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.rank() == 0 {
		return "", fmt.Errorf("角色只能是 viewer、operator 或 admin: %w", bot.ErrInvalid)
	}
	return r, nil
}

// StaffMember is a named staff account.
type StaffMember struct {
	Name string
	Role Role
	// PasswordHash is HashPassword's PHC string.
	PasswordHash string
	Disabled     bool
	// Brands limit the member to those brands' accounts, conversations
	// and scripts (NormalizeBrands); none is every brand.
	Brands    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CheckStaffName returns why name cannot name a staff account, or nil:
// 1 to 32 letters, digits, Chinese characters or . _ - @. Errors wrap
// bot.ErrInvalid.
func CheckStaffName(name string) error {
	n := utf8.RuneCountInString(name)
	if n == 0 || n > 32 || !utf8.ValidString(name) {
		return fmt.Errorf("员工账号名须为 1 到 32 个字符: %w", bot.ErrInvalid)
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("._-@", r) {
			return fmt.Errorf("员工账号名只能含字母、数字、汉字和 . _ - @: %w", bot.ErrInvalid)
		}
	}
	return nil
}

// StaffStore keeps staff accounts, shared by every replica.
type StaffStore interface {
	// Staff returns the account named name; bot.ErrNotFound when none.
	Staff(ctx context.Context, name string) (StaffMember, error)
	// ListStaff returns every account by name.
	ListStaff(ctx context.Context) ([]StaffMember, error)
	// AddStaff creates an account; bot.ErrConflict when the name is taken.
	AddStaff(ctx context.Context, m StaffMember) error
	// UpdateStaff replaces an account's role, hash, disabled flag and
	// brands; bot.ErrNotFound when none.
	UpdateStaff(ctx context.Context, m StaffMember) error
	// RemoveStaff deletes an account; bot.ErrNotFound when none.
	RemoveStaff(ctx context.Context, name string) error
}

// Session is a signed-in staff member. ID is the digest of the cookie's
// value, so a copy of the store opens no session.
type Session struct {
	ID   string
	Name string
	Role Role
	// Brands are the member's brands when they signed in (none: every
	// brand); a change ends their sessions.
	Brands  []string
	CSRF    string
	Expires time.Time
}

// SessionStore keeps sessions, shared by every replica (Redis).
type SessionStore interface {
	// PutSession stores s until s.Expires.
	PutSession(ctx context.Context, s Session) error
	// Session returns the session of id; bot.ErrNotFound when none or
	// expired.
	Session(ctx context.Context, id string) (Session, error)
	// DeleteSession ends one session (none is not an error).
	DeleteSession(ctx context.Context, id string) error
	// DeleteSessionsOf ends every session of a staff member: their role,
	// brands or password changed, or their account went.
	DeleteSessionsOf(ctx context.Context, name string) error
}

// Limiter counts failed sign-ins, shared by every replica (Redis).
type Limiter interface {
	// Failures returns the failures counted under key in its window.
	Failures(ctx context.Context, key string) (int, error)
	// Fail counts one failure under key; the count ends window after the
	// first.
	Fail(ctx context.Context, key string, window time.Duration) (int, error)
}

// StaffConfig turns on staff accounts. Staff and Sessions are required
// together; Audit and Limiter are optional.
type StaffConfig struct {
	Staff    StaffStore
	Sessions SessionStore
	Audit    AuditLog
	Limiter  Limiter
	// SessionTTL is how long a session lasts (default 12 hours: a
	// working day, then sign in again).
	SessionTTL time.Duration
	// MaxFailures is how many failed sign-ins a name, or an address,
	// gets per FailureWindow before every try is refused (defaults 5 per
	// name and 20 per address, 15 minutes).
	MaxFailuresPerName int
	MaxFailuresPerAddr int
	FailureWindow      time.Duration
}

func (c StaffConfig) withDefaults() StaffConfig {
	if c.SessionTTL <= 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.MaxFailuresPerName <= 0 {
		c.MaxFailuresPerName = 5
	}
	if c.MaxFailuresPerAddr <= 0 {
		c.MaxFailuresPerAddr = 20
	}
	if c.FailureWindow <= 0 {
		c.FailureWindow = 15 * time.Minute
	}
	return c
}

// WithStaff turns on named staff accounts, sessions, the sign-in
// limiter shared by replicas and the audit log.
func (h *Handler) WithStaff(cfg StaffConfig) *Handler {
	cfg = cfg.withDefaults()
	h.staffCfg = cfg
	h.staff, h.sessions, h.audit = cfg.Staff, cfg.Sessions, cfg.Audit
	if cfg.Limiter != nil {
		h.limiter = cfg.Limiter
	}
	return h
}

// WithPeople lets staff look customers up by the masked ids and tags the
// API shows (dir remembers who was shown).
func (h *Handler) WithPeople(dir PeopleDirectory) *Handler {
	h.people = newPeople(dir)
	return h
}

// Principal is who makes a request: a staff member, or the bearer token.
type Principal struct {
	Name string
	Role Role
	// Brands limit what the principal sees (none: every brand; the
	// bearer token sees every brand).
	Brands []string
	// Via is "session" or "token".
	Via     string
	session Session
}

// tokenActor names the bearer token in the audit log.
const tokenActor = "token"

const principalKey = "siyu.admin.principal"

// principalOf returns who makes the request (zero before auth).
func principalOf(c echo.Context) Principal {
	p, _ := c.Get(principalKey).(Principal)
	return p
}

// sessionCookie is the session cookie's name.
const sessionCookie = "siyu_admin"

// csrfHeader carries the session's CSRF token on every change.
const csrfHeader = "X-CSRF-Token"

// localLimiter counts failures in this process, for an admin API built
// without a shared Limiter (tests, tools). serve always passes Redis's.
type localLimiter struct {
	mu sync.Mutex
	m  map[string]localCount
	// now is the Handler's clock.
	now func() time.Time
}

type localCount struct {
	n     int
	until time.Time
}

func (l *localLimiter) Failures(_ context.Context, key string) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.m[key]
	if l.now().After(c.until) {
		return 0, nil
	}
	return c.n, nil
}

func (l *localLimiter) Fail(_ context.Context, key string, window time.Duration) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	c := l.m[key]
	if now.After(c.until) {
		c = localCount{until: now.Add(window)}
	}
	c.n++
	l.m[key] = c
	return c.n, nil
}

// tokenDigest is what the Handler keeps of the bearer token: comparing
// digests takes the same time whatever length was tried, so timing tells
// nothing of the token's length, and the token itself is not kept.
func tokenDigest(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// errTooMany refuses a sign-in after too many failures.
func errTooMany(retry time.Duration) error {
	return echo.NewHTTPError(http.StatusTooManyRequests, fmt.Sprintf("登录失败次数过多，请 %d 分钟后再试", max(1, int(retry.Minutes()+0.5))))
}

// limited reports whether any of keys reached its limit.
func (h *Handler) limited(ctx context.Context, keys map[string]int) bool {
	for key, limit := range keys {
		n, err := h.limiter.Failures(ctx, key)
		if err != nil {
			// A limiter that is down must not lock staff out; the
			// password hash still bounds guessing.
			h.logger.WarnContext(ctx, "admin: sign-in limiter unavailable", "err", err)
			return false
		}
		if n >= limit {
			return true
		}
	}
	return false
}

func (h *Handler) fail(ctx context.Context, keys map[string]int) {
	for key := range keys {
		if _, err := h.limiter.Fail(ctx, key, h.staffCfg.FailureWindow); err != nil {
			h.logger.WarnContext(ctx, "admin: sign-in limiter unavailable", "err", err)
		}
	}
}

func addrKey(c echo.Context) string { return "addr:" + c.RealIP() }

// auth admits a request by its session cookie or its bearer token, and
// refuses it when the principal's role may not use the route.
func (h *Handler) auth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if isSignIn(c) {
			return next(c)
		}
		ctx := c.Request().Context()
		p, err := h.authenticate(c)
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		if need := requiredRole(c.Request().Method, c.Path()); p.Role.rank() < need.rank() {
			return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("%s 的角色（%s）不能执行此操作，需要 %s", p.Name, roleNames[p.Role], roleNames[need]))
		}
		if !p.allBrands() && !brandAware(c.Path()) {
			return brandRefusal(p, c.Path())
		}
		if p.Via == "session" && !isSafe(c.Request().Method) {
			got := c.Request().Header.Get(csrfHeader)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.session.CSRF)) != 1 {
				h.logger.WarnContext(ctx, "admin: change without the session's CSRF token", "path", c.Path(), "staff", p.Name)
				return echo.NewHTTPError(http.StatusForbidden, "请求缺少有效的 CSRF 令牌，请刷新页面后重试")
			}
		}
		return next(c)
	}
}

// authenticate finds the request's principal: the bearer token when the
// request carries one, else the session cookie.
func (h *Handler) authenticate(c echo.Context) (Principal, error) {
	ctx := c.Request().Context()
	unauthorized := echo.NewHTTPError(http.StatusUnauthorized, "需要登录，或有效的管理令牌（Authorization: Bearer …）")
	if hdr := c.Request().Header.Get(echo.HeaderAuthorization); hdr != "" {
		limit := map[string]int{addrKey(c): h.staffCfg.MaxFailuresPerAddr}
		if h.limited(ctx, limit) {
			return Principal{}, errTooMany(h.staffCfg.FailureWindow)
		}
		got, ok := strings.CutPrefix(hdr, "Bearer ")
		sum := tokenDigest(got)
		if !ok || h.noToken || subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) != 1 {
			h.fail(ctx, limit)
			h.logger.WarnContext(ctx, "admin: request without a valid bearer token", "path", c.Path(), "remote", c.RealIP())
			return Principal{}, unauthorized
		}
		return Principal{Name: tokenActor, Role: RoleAdmin, Via: "token"}, nil
	}
	ck, err := c.Cookie(sessionCookie)
	if err != nil || h.sessions == nil || ck.Value == "" {
		h.logger.WarnContext(ctx, "admin: request without a valid bearer token", "path", c.Path(), "remote", c.RealIP())
		return Principal{}, unauthorized
	}
	s, err := h.sessions.Session(ctx, sessionID(ck.Value))
	switch {
	case errors.Is(err, bot.ErrNotFound):
		return Principal{}, echo.NewHTTPError(http.StatusUnauthorized, "登录已过期，请重新登录")
	case err != nil:
		return Principal{}, fmt.Errorf("admin.auth: %w", err)
	case h.now().After(s.Expires):
		return Principal{}, echo.NewHTTPError(http.StatusUnauthorized, "登录已过期，请重新登录")
	}
	return Principal{Name: s.Name, Role: s.Role, Brands: s.Brands, Via: "session", session: s}, nil
}

// sessionID is what the store keys a session by: the digest of the
// cookie's value.
func sessionID(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("admin: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func isSafe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// isSignIn reports whether the request signs in (the one API route
// without auth).
func isSignIn(c echo.Context) bool {
	return c.Request().Method == http.MethodPost && strings.HasSuffix(c.Path(), "/admin/api/session")
}

// readOnlyPosts are the API's POST routes that change nothing: a viewer
// may use them and the audit log skips them.
var readOnlyPosts = []string{"/admin/api/dry-run", "/admin/api/scripts/validate", "/admin/api/session", "/admin/api/rules/preview"}

// requiredRole is the least role that may use a route: staff management
// needs an admin, reading (and read-only POSTs) a viewer, every other
// change an operator. Modules' routes follow the same rule by method.
func requiredRole(method, route string) Role {
	switch {
	case strings.Contains(route, "/admin/api/staff"):
		return RoleAdmin
	case strings.Contains(route, "/admin/api/inbox"):
		// Conversations are customers' own words: only staff who answer
		// them read them.
		return RoleOperator
	case isSafe(method):
		return RoleViewer
	case isReadOnlyPost(method, route):
		return RoleViewer
	}
	return RoleOperator
}

func isReadOnlyPost(method, route string) bool {
	if method != http.MethodPost && method != http.MethodDelete {
		return false
	}
	for _, p := range readOnlyPosts {
		if strings.HasSuffix(route, p) {
			return true
		}
	}
	return false
}

var roleNames = map[Role]string{RoleViewer: "只读", RoleOperator: "运营", RoleAdmin: "管理员", "": "无"}

// signIn answers POST /admin/api/session {"name","password"}: a session
// cookie and the CSRF token, or 401; 429 once the name or the address
// failed too often.
func (h *Handler) signIn(c echo.Context) error {
	if h.staff == nil || h.sessions == nil {
		return echo.NewHTTPError(http.StatusNotFound, "未启用员工账号：请用管理令牌登录")
	}
	ctx := c.Request().Context()
	var req struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := decodeJSON(c, &req, 4<<10); err != nil {
		return err
	}
	if req.Name == "" || req.Password == "" {
		return echo.NewHTTPError(http.StatusBadRequest, "请输入账号和密码")
	}
	if len(req.Name) > 128 || len(req.Password) > maxPasswordBytes {
		return echo.NewHTTPError(http.StatusBadRequest, "账号或密码太长")
	}
	limits := map[string]int{"name:" + req.Name: h.staffCfg.MaxFailuresPerName, addrKey(c): h.staffCfg.MaxFailuresPerAddr}
	if h.limited(ctx, limits) {
		h.logger.WarnContext(ctx, "admin: sign-in refused: too many failures", "remote", c.RealIP())
		return errTooMany(h.staffCfg.FailureWindow)
	}
	m, err := h.staff.Staff(ctx, req.Name)
	if err != nil && !errors.Is(err, bot.ErrNotFound) {
		return fmt.Errorf("admin.signIn: %w", err)
	}
	ok := false
	if err == nil && !m.Disabled {
		ok, err = h.checkPassword(m.PasswordHash, req.Password)
		if err != nil {
			h.logger.ErrorContext(ctx, "admin: a staff member's password hash is unreadable", "staff", m.Name)
		}
	} else {
		// Hash anyway, so an unknown name takes as long as a wrong
		// password and the timing tells no one which names exist.
		h.dummyOnce.Do(func() {
			if pw, err := randomToken(); err == nil {
				h.dummyHash, _ = HashPassword(pw)
			}
		})
		_, _ = h.checkPassword(h.dummyHash, req.Password)
	}
	if !ok {
		h.fail(ctx, limits)
		h.logger.WarnContext(ctx, "admin: sign-in failed", "remote", c.RealIP())
		return echo.NewHTTPError(http.StatusUnauthorized, "账号或密码不正确")
	}
	cookie, err := randomToken()
	if err != nil {
		return err
	}
	csrf, err := randomToken()
	if err != nil {
		return err
	}
	s := Session{ID: sessionID(cookie), Name: m.Name, Role: m.Role, Brands: m.Brands, CSRF: csrf, Expires: h.now().Add(h.staffCfg.SessionTTL)}
	if err := h.sessions.PutSession(ctx, s); err != nil {
		return fmt.Errorf("admin.signIn: %w", err)
	}
	c.SetCookie(&http.Cookie{
		// Max-Age, not Expires: the browser's clock, not this server's,
		// counts the session's life down.
		Name: sessionCookie, Value: cookie, Path: adminPath(c), MaxAge: int(h.staffCfg.SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Scheme() == "https",
	})
	h.record(c, Principal{Name: m.Name, Role: m.Role, Via: "session"}, "session.sign_in", m.Name, "")
	return c.JSON(http.StatusOK, map[string]any{"name": m.Name, "role": m.Role, "brands": nonNilStrings(m.Brands), "csrf": csrf, "via": "session"})
}

// checkPassword hashes with at most two sign-ins at a time per replica:
// each takes 19 MiB, and a burst of guesses must not take the memory
// callbacks need.
func (h *Handler) checkPassword(hash, pw string) (bool, error) {
	h.hashSlots <- struct{}{}
	defer func() { <-h.hashSlots }()
	return checkPassword(hash, pw)
}

// adminPath is the cookie's path: the console's folder whatever prefix
// siyu is mounted under.
func adminPath(c echo.Context) string {
	p := c.Request().URL.Path
	if i := strings.LastIndex(p, "/admin/"); i >= 0 {
		return p[:i] + "/admin/"
	}
	return "/admin/"
}

// whoAmI answers GET /admin/api/session: who is signed in, with the
// CSRF token the console needs after a reload.
func (h *Handler) whoAmI(c echo.Context) error {
	p := principalOf(c)
	out := map[string]any{"name": p.Name, "role": p.Role, "brands": nonNilStrings(p.Brands), "via": p.Via}
	if p.Via == "session" {
		out["csrf"] = p.session.CSRF
		out["expires"] = p.session.Expires
	}
	return c.JSON(http.StatusOK, out)
}

// signOut answers DELETE /admin/api/session.
func (h *Handler) signOut(c echo.Context) error {
	p := principalOf(c)
	if p.Via == "session" {
		if err := h.sessions.DeleteSession(c.Request().Context(), p.session.ID); err != nil {
			return fmt.Errorf("admin.signOut: %w", err)
		}
		h.record(c, p, "session.sign_out", p.Name, "")
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: adminPath(c), MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Scheme() == "https"})
	return c.NoContent(http.StatusNoContent)
}

// staffView is an account as the API shows it (never its hash).
type staffView struct {
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Disabled bool   `json:"disabled"`
	// Brands are those the member is limited to; [] is every brand.
	Brands    []string  `json:"brands"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewStaff(m StaffMember) staffView {
	return staffView{Name: m.Name, Role: m.Role, Disabled: m.Disabled, Brands: nonNilStrings(m.Brands), CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

// brandsNote says a member's brands in the audit log.
func brandsNote(brands []string) string {
	if len(brands) == 0 {
		return "品牌 全部"
	}
	return "品牌 " + brandList(brands)
}

func (h *Handler) needStaff() error {
	if h.staff == nil {
		return echo.NewHTTPError(http.StatusNotFound, "未启用员工账号")
	}
	return nil
}

// listStaff answers GET /admin/api/staff.
func (h *Handler) listStaff(c echo.Context) error {
	if err := h.needStaff(); err != nil {
		return err
	}
	ms, err := h.staff.ListStaff(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]staffView, len(ms))
	for i, m := range ms {
		out[i] = viewStaff(m)
	}
	return c.JSON(http.StatusOK, map[string]any{"staff": out})
}

type staffRequest struct {
	Name     string  `json:"name"`
	Role     *string `json:"role"`
	Password *string `json:"password"`
	Disabled *bool   `json:"disabled"`
	// Brands limit the member ([] or null: every brand).
	Brands *[]string `json:"brands"`
}

// addStaff answers POST /admin/api/staff {"name","role","password"}.
func (h *Handler) addStaff(c echo.Context) error {
	if err := h.needStaff(); err != nil {
		return err
	}
	var req staffRequest
	if err := decodeJSON(c, &req, 4<<10); err != nil {
		return err
	}
	if err := CheckStaffName(req.Name); err != nil {
		return err
	}
	if req.Role == nil || req.Password == nil {
		return echo.NewHTTPError(http.StatusBadRequest, "需要 name、role 和 password")
	}
	role, err := ParseRole(*req.Role)
	if err != nil {
		return err
	}
	var brands []string
	if req.Brands != nil {
		if brands, err = NormalizeBrands(*req.Brands); err != nil {
			return err
		}
	}
	hash, err := HashPassword(*req.Password)
	if err != nil {
		return err
	}
	now := h.now()
	m := StaffMember{Name: req.Name, Role: role, PasswordHash: hash, Brands: brands, CreatedAt: now, UpdatedAt: now}
	if err := h.staff.AddStaff(c.Request().Context(), m); err != nil {
		if errors.Is(err, bot.ErrConflict) {
			return echo.NewHTTPError(http.StatusConflict, "已有同名员工账号："+req.Name)
		}
		return err
	}
	auditNote(c, m.Name, "角色 "+string(role)+"，"+brandsNote(brands))
	return c.JSON(http.StatusCreated, viewStaff(m))
}

// updateStaff answers PUT /admin/api/staff/:name {"role"?, "password"?,
// "disabled"?}. Any change ends the member's sessions.
func (h *Handler) updateStaff(c echo.Context) error {
	if err := h.needStaff(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var req staffRequest
	if err := decodeJSON(c, &req, 4<<10); err != nil {
		return err
	}
	m, err := h.staff.Staff(ctx, c.Param("name"))
	if err != nil {
		return err
	}
	var notes []string
	if req.Role != nil {
		if m.Role, err = ParseRole(*req.Role); err != nil {
			return err
		}
		notes = append(notes, "角色 "+*req.Role)
	}
	if req.Password != nil {
		if m.PasswordHash, err = HashPassword(*req.Password); err != nil {
			return err
		}
		notes = append(notes, "重设密码")
	}
	if req.Disabled != nil {
		m.Disabled = *req.Disabled
		notes = append(notes, map[bool]string{true: "停用", false: "启用"}[m.Disabled])
	}
	if req.Brands != nil {
		if m.Brands, err = NormalizeBrands(*req.Brands); err != nil {
			return err
		}
		notes = append(notes, brandsNote(m.Brands))
	}
	if len(notes) == 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "需要 role、password、disabled 或 brands")
	}
	if p := principalOf(c); p.Via == "session" && p.Name == m.Name && (m.Role != RoleAdmin || m.Disabled || len(m.Brands) > 0) {
		return echo.NewHTTPError(http.StatusConflict, "不能降低、停用自己的管理员账号或限定它的品牌：请另一位管理员操作")
	}
	m.UpdatedAt = h.now()
	if err := h.staff.UpdateStaff(ctx, m); err != nil {
		return err
	}
	if err := h.sessions.DeleteSessionsOf(ctx, m.Name); err != nil {
		return fmt.Errorf("admin.updateStaff: %w", err)
	}
	auditNote(c, m.Name, strings.Join(notes, "，"))
	return c.JSON(http.StatusOK, viewStaff(m))
}

// removeStaff answers DELETE /admin/api/staff/:name.
func (h *Handler) removeStaff(c echo.Context) error {
	if err := h.needStaff(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	name := c.Param("name")
	if p := principalOf(c); p.Via == "session" && p.Name == name {
		return echo.NewHTTPError(http.StatusConflict, "不能删除自己的账号")
	}
	if err := h.staff.RemoveStaff(ctx, name); err != nil {
		return err
	}
	if err := h.sessions.DeleteSessionsOf(ctx, name); err != nil {
		return fmt.Errorf("admin.removeStaff: %w", err)
	}
	auditNote(c, name, "")
	return c.NoContent(http.StatusNoContent)
}

// decodeJSON decodes a JSON body of at most limit bytes into v, or
// answers 400.
func decodeJSON(c echo.Context, v any, limit int64) error {
	dec := jsonDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, limit))
	if err := dec.Decode(v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "请求体应为 JSON（不超过 "+strconv.FormatInt(limit>>10, 10)+" KB）")
	}
	return nil
}
