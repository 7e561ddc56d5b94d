package checkin

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// Day is a calendar day in the check-in time zone, written yyyymmdd
// (20261126), so it sorts and stores as a plain number.
type Day int

// DayOf returns the day t falls on in loc.
func DayOf(t time.Time, loc *time.Location) Day {
	y, m, d := t.In(loc).Date()
	return Day(y*10000 + int(m)*100 + d)
}

// date is the day at midnight UTC, for calendar arithmetic only.
func (d Day) date() time.Time {
	return time.Date(int(d)/10000, time.Month(int(d)/100%100), int(d)%100, 0, 0, 0, 0, time.UTC)
}

// AddDays returns the day n days after d (before, for negative n),
// across month and year ends.
func (d Day) AddDays(n int) Day { return DayOf(d.date().AddDate(0, 0, n), time.UTC) }

// Week returns the ISO week (Monday first) d is in, written yyyyww.
func (d Day) Week() int {
	y, w := d.date().ISOWeek()
	return y*100 + w
}

// String returns the day as 2026-11-26.
func (d Day) String() string { return d.date().Format(time.DateOnly) }

// Maximum lengths of the keys stored for a scope and a person. Together
// (with the day) they fit a unique index in 767 bytes of utf8mb4, the
// limit of InnoDB's oldest row format; a longer id is stored as a digest.
const (
	MaxScopeLen  = 88
	MaxPersonLen = 100
)

// bound returns s, or a digest of it when it is longer than n.
func bound(s string, n int) string {
	if len(s) <= n {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h:" + hex.EncodeToString(sum[:20])
}

// digest returns a short fixed-length digest of s, for keys.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// ScopeOf returns the scope an event's check-in counts in: the group
// (platform, account and group), or the account for 1:1 conversations.
func ScopeOf(ev bot.Event) string { return ScopeIn("", ev) }

// ScopeIn is ScopeOf for brand's check-ins: "<brand>|" before ScopeOf's
// scope, or ScopeOf's own for the brand "" (the base scripts). No scope
// ScopeOf returns has a "|" before its platform, so a brand's scopes
// never meet the base scripts' or another brand's.
func ScopeIn(brand string, ev bot.Event) string {
	s := string(ev.Platform) + ":" + string(ev.Account)
	if ev.Conversation.IsGroup() {
		s += ":" + string(ev.Conversation.Group)
	}
	if brand != "" {
		s = brand + "|" + s
	}
	return bound(s, MaxScopeLen)
}

// PersonKey returns the key a person's check-ins are stored under: the
// PersonID, or a digest of an overlong one.
func PersonKey(p bot.PersonID) string { return bound(string(p), MaxPersonLen) }

// displayName is what a digest or board shows for someone whose name siyu
// does not know: a short, stable tag that reveals no id.
func displayName(name, person string) string {
	if name != "" {
		return name
	}
	sum := sha256.Sum256([]byte(person))
	return "用户" + hex.EncodeToString(sum[:2])
}

func itoa(n int) string { return strconv.Itoa(n) }
