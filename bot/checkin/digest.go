package checkin

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// DigestRenderer is the name the digest Renderer is registered under.
const DigestRenderer = "checkin_digest"

// DigestNames is how many names a digest lists before it gives a count:
// a group message of a few lines, not a roll call.
const DigestNames = 30

// DigestRef is what a digest covers: the check-ins of a scope made in
// one window of one day. Its String is the Render action's Key.
type DigestRef struct {
	Scope    string
	Day      Day
	From, To time.Time
}

// String encodes the reference: day|from|to|scope (the scope last, as it
// may hold any character).
func (r DigestRef) String() string {
	return strconv.Itoa(int(r.Day)) + "|" + strconv.FormatInt(r.From.Unix(), 10) + "|" + strconv.FormatInt(r.To.Unix(), 10) + "|" + r.Scope
}

// ParseDigestRef decodes DigestRef.String.
func ParseDigestRef(s string) (DigestRef, error) {
	f := strings.SplitN(s, "|", 4)
	if len(f) != 4 || f[3] == "" {
		return DigestRef{}, fmt.Errorf("checkin.ParseDigestRef: %w", bot.ErrInvalid)
	}
	day, err1 := strconv.Atoi(f[0])
	from, err2 := strconv.ParseInt(f[1], 10, 64)
	to, err3 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return DigestRef{}, fmt.Errorf("checkin.ParseDigestRef: %w", bot.ErrInvalid)
	}
	return DigestRef{Scope: f[3], Day: Day(day), From: time.Unix(from, 0).UTC(), To: time.Unix(to, 0).UTC()}, nil
}

// Render implements bot.Renderer for DigestRenderer: the group's
// check-ins of the window, read from the database when the digest is
// sent, as one message ("今日签到：小王 连续3天、小李 连续1天 … 共 N 人").
func (s *Service) Render(ctx context.Context, r bot.Render) (bot.Action, error) {
	ref, err := ParseDigestRef(r.Key)
	if err != nil {
		return nil, err
	}
	list, n, err := s.store.Window(ctx, ref.Scope, ref.Day, ref.From, ref.To, DigestNames)
	if err != nil {
		return nil, fmt.Errorf("checkin.Render: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	today, err := s.store.CountDay(ctx, ref.Scope, ref.Day)
	if err != nil {
		return nil, fmt.Errorf("checkin.Render: %w", err)
	}
	return bot.Reply{To: r.To, Text: DigestText(list, n, today)}, nil
}

// DigestText writes a digest: the first names with their streaks, then
// how many checked in in the window and today.
func DigestText(list []Checkin, n, today int) string {
	var b strings.Builder
	b.WriteString("今日签到：")
	for i, c := range list {
		if i > 0 {
			b.WriteString("、")
		}
		b.WriteString(displayName(c.Name, c.Person))
		b.WriteString(" 连续")
		b.WriteString(strconv.Itoa(c.Streak))
		b.WriteString("天")
	}
	if n > len(list) {
		b.WriteString(" 等")
	}
	fmt.Fprintf(&b, " 共 %d 人", n)
	if today > n {
		fmt.Fprintf(&b, "（今日已有 %d 人签到）", today)
	}
	return b.String()
}
