package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/golang-lru/v2"
	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
)

// Customers appear in the admin API under one masked id everywhere:
// their kind (union, or their platform) and a fingerprint of their
// PersonID, "wechat:#8aa53f2c1b9e". Boards and digests call someone whose
// name siyu does not know by a short tag of the same digest, "用户8aa5".
// Staff look a person up by either, or by the full PersonID.

// MaskPerson shows a PersonID's kind (union, or its platform) and a
// fingerprint: staff can tell two records of one person apart from two
// people's without seeing the customer's id. "" stays "".
func MaskPerson(p string) string {
	if p == "" {
		return ""
	}
	if strings.HasPrefix(p, "group:") {
		// A group's held-back digest: group ids are the brand's own.
		return p
	}
	kind, _, _ := strings.Cut(p, ":")
	return kind + ":" + bot.Fingerprint(p)
}

// PersonTag is the short name boards show for a person without a name
// (bot/checkin's displayName): "用户" and the fingerprint's first four
// hex digits.
func PersonTag(p string) string {
	sum := sha256.Sum256([]byte(p))
	return "用户" + hex.EncodeToString(sum[:2])
}

// PeopleDirectory remembers the customers the admin API showed staff,
// by their fingerprint, so a masked id or a tag staff saw can be looked
// up again. It is shared by every replica (the database).
type PeopleDirectory interface {
	// Remember records persons (PersonIDs) shown to staff; repeats are
	// harmless. Errors are bot.ErrUnavailable.
	Remember(ctx context.Context, persons []string) error
	// FindPeople returns up to limit remembered persons whose
	// fingerprint (12 hex digits) starts with fpPrefix, or, when
	// fpPrefix is "", whose PersonID ends with ":"+idSuffix (a bare
	// openid or unionid).
	FindPeople(ctx context.Context, fpPrefix, idSuffix string, limit int) ([]string, error)
}

// people masks the persons a request shows and remembers them, and
// resolves what staff typed to a PersonID.
type people struct {
	dir PeopleDirectory
	// seen skips remembering persons this replica already wrote, so a
	// list viewed again costs no write.
	seen *lru.Cache[string, struct{}]
}

// seenCacheSize bounds the persons a replica remembers having written:
// a few pages of every list, many times over.
const seenCacheSize = 50_000

func newPeople(dir PeopleDirectory) *people {
	c, _ := lru.New[string, struct{}](seenCacheSize) // fails only for a size ≤ 0
	return &people{dir: dir, seen: c}
}

const peopleKey = "siyu.admin.people"

// shown collects the persons one response shows; flush remembers them.
type shown struct {
	p       *people
	persons []string
}

// shownPeople returns the collector for the request's response.
func shownPeople(c echo.Context) *shown {
	p, _ := c.Get(peopleKey).(*people)
	return &shown{p: p}
}

// mask masks person and notes it for flush.
func (s *shown) mask(person string) string {
	if person == "" {
		return ""
	}
	if s.p != nil && s.p.dir != nil && !strings.HasPrefix(person, "group:") {
		if _, ok := s.p.seen.Get(person); !ok {
			s.persons = append(s.persons, person)
		}
	}
	return MaskPerson(person)
}

// flush remembers the persons masked, before the response is written so
// that staff can look up at once what they were shown. A directory that
// is down costs the lookup, not the page: it is logged by the caller.
func (s *shown) flush(ctx context.Context) error {
	if len(s.persons) == 0 || s.p == nil || s.p.dir == nil {
		return nil
	}
	slices.Sort(s.persons)
	s.persons = slices.Compact(s.persons)
	if err := s.p.dir.Remember(ctx, s.persons); err != nil {
		return err
	}
	for _, p := range s.persons {
		s.p.seen.Add(p, struct{}{})
	}
	return nil
}

var (
	// tagRE is a board's tag: 用户 and 4 hex digits.
	tagRE = regexp.MustCompile(`^用户([0-9a-f]{4})$`)
	// maskedRE is a masked id, with or without its kind.
	maskedRE = regexp.MustCompile(`^(?:[a-z]+:)?#([0-9a-f]{4,12})$`)
)

// errNoPerson is a lookup that finds no one: staff typed something no
// record shows.
func errNoPerson(q string) error {
	return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("找不到用户「%s」：请输入榜单或记录里显示的用户标签（如 用户8aa5）、脱敏编号（如 wechat:#8aa53f2c1b9e）或完整的用户标识", q))
}

// find returns the persons q names: a full PersonID (itself), a masked
// id or a tag (by fingerprint), or a bare platform id (by suffix).
func (p *people) find(ctx context.Context, q string, limit int) ([]string, error) {
	q = strings.TrimSpace(q)
	if q == "" || len(q) > 191 {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "请输入用户标签、脱敏编号或用户标识（不超过 191 个字符）")
	}
	fp := ""
	if m := tagRE.FindStringSubmatch(q); m != nil {
		fp = m[1]
	} else if m := maskedRE.FindStringSubmatch(strings.ToLower(q)); m != nil {
		fp = m[1]
	} else if strings.Contains(q, ":") {
		return []string{q}, nil // a PersonID, as stored
	}
	if p == nil || p.dir == nil {
		if fp != "" {
			return nil, echo.NewHTTPError(http.StatusNotFound, "未接入用户目录，只能用完整的用户标识查询")
		}
		return nil, errNoPerson(q)
	}
	var (
		found []string
		err   error
	)
	if fp != "" {
		found, err = p.dir.FindPeople(ctx, fp, "", limit)
	} else {
		found, err = p.dir.FindPeople(ctx, "", q, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("admin.people: %w", err)
	}
	return found, nil
}

// resolve returns the one person q names. None is a 404; several (a tag
// shared by two people) is a 409 asking for the masked id.
func (p *people) resolve(ctx context.Context, q string) (bot.PersonID, error) {
	found, err := p.find(ctx, q, 5)
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", errNoPerson(q)
	case 1:
		return bot.PersonID(found[0]), nil
	}
	masked := make([]string, len(found))
	for i, f := range found {
		masked[i] = MaskPerson(f)
	}
	return "", echo.NewHTTPError(http.StatusConflict, fmt.Sprintf("「%s」对应多位用户（%s），请输入完整的脱敏编号", q, strings.Join(masked, "、")))
}

// resolvePerson resolves what staff typed in a request.
func resolvePerson(c echo.Context, q string) (bot.PersonID, error) {
	p, _ := c.Get(peopleKey).(*people)
	return p.resolve(c.Request().Context(), q)
}

// personView is one person as a lookup lists them.
type personView struct {
	Person string `json:"person"`
	Tag    string `json:"tag"`
	Kind   string `json:"kind"`
}

// findPeople answers GET /admin/api/people?q=: the persons q names,
// masked, for staff to pick from.
func (h *Handler) findPeople(c echo.Context) error {
	found, err := h.people.find(c.Request().Context(), c.QueryParam("q"), 20)
	if err != nil {
		return err
	}
	out := make([]personView, 0, len(found))
	for _, f := range found {
		kind, _, _ := strings.Cut(f, ":")
		out = append(out, personView{Person: MaskPerson(f), Tag: PersonTag(f), Kind: kind})
	}
	return c.JSON(http.StatusOK, map[string]any{"people": out})
}
