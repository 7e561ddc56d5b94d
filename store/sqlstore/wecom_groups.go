package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/siyu-bot/siyu/bot"
)

// WeCom customer group states.
const (
	WeComGroupActive    = "active"
	WeComGroupDismissed = "dismissed"
)

// weComGroupRow is a customer group (客户群) as its change_external_chat
// events describe it.
type weComGroupRow struct {
	ID            int64     `gorm:"primaryKey;autoIncrement"`
	CorpID        string    `gorm:"type:varchar(32);not null;uniqueIndex:ux_wecom_groups_chat,priority:1"`
	ChatID        string    `gorm:"type:varchar(64);not null;uniqueIndex:ux_wecom_groups_chat,priority:2"`
	Status        string    `gorm:"type:varchar(16);not null"`
	MemberVersion string    `gorm:"type:varchar(64);not null;default:''"`
	EventAt       time.Time `gorm:"precision:6;not null"` // of the newest event applied
	CreatedAt     time.Time `gorm:"precision:6;not null"`
	UpdatedAt     time.Time `gorm:"precision:6;not null"`
}

func (weComGroupRow) TableName() string { return "wecom_groups" }

// weComMemberRow is one member of a customer group, present or past.
type weComMemberRow struct {
	ID        int64      `gorm:"primaryKey;autoIncrement"`
	CorpID    string     `gorm:"type:varchar(32);not null;uniqueIndex:ux_wecom_group_members,priority:1"`
	ChatID    string     `gorm:"type:varchar(64);not null;uniqueIndex:ux_wecom_group_members,priority:2"`
	MemberID  string     `gorm:"type:varchar(64);not null;uniqueIndex:ux_wecom_group_members,priority:3"`
	InGroup   bool       `gorm:"not null"`
	JoinScene int        `gorm:"not null;default:0"`
	QuitScene int        `gorm:"not null;default:0"`
	JoinedAt  *time.Time `gorm:"precision:6"`
	LeftAt    *time.Time `gorm:"precision:6"`
	EventAt   time.Time  `gorm:"precision:6;not null"`
	CreatedAt time.Time  `gorm:"precision:6;not null"`
	UpdatedAt time.Time  `gorm:"precision:6;not null"`
}

func (weComMemberRow) TableName() string { return "wecom_group_members" }

// WeComGroupChange is one change_external_chat event. The handler in
// handlers/wecom mirrors it field for field.
type WeComGroupChange struct {
	CorpID string
	ChatID string
	// ChangeType is create, update or dismiss.
	ChangeType string
	// UpdateDetail says what an update changed: add_member, del_member,
	// change_owner, change_name or change_notice.
	UpdateDetail string
	Members      []string // who joined or left
	JoinScene    int      // 0 invited directly, 1 invited by link, 3 by QR code
	QuitScene    int      // 0 left, 1 removed by the owner
	// MemberVersion is WeCom's CurMemVer, the member list's version after
	// the change.
	MemberVersion string
	At            time.Time
}

// ApplyGroupChange records a group event. It is idempotent and tolerates
// reordering: every row remembers the time of the newest event applied
// to it, and an older event (a late retry) does not overwrite a newer
// one. Errors are bot.ErrInvalid for a change without corp or chat id
// and bot.ErrUnavailable for database failures.
func (s *WeCom) ApplyGroupChange(ctx context.Context, ch WeComGroupChange) error {
	if ch.CorpID == "" || ch.ChatID == "" {
		return fmt.Errorf("sqlstore.WeCom.ApplyGroupChange: corp and chat id are required: %w", bot.ErrInvalid)
	}
	at := dbTime(ch.At)
	now := dbTime(s.db.now())
	status := WeComGroupActive
	if ch.ChangeType == "dismiss" {
		status = WeComGroupDismissed
	}
	err := s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		fields := map[string]any{"status": status, "event_at": at, "updated_at": now}
		if ch.MemberVersion != "" {
			fields["member_version"] = ch.MemberVersion
		}
		group := weComGroupRow{CorpID: ch.CorpID, ChatID: ch.ChatID, Status: status, MemberVersion: ch.MemberVersion, EventAt: at}
		if err := upsertThenUpdate(tx, &group, &weComGroupRow{},
			"corp_id = ? AND chat_id = ? AND event_at <= ?", []any{ch.CorpID, ch.ChatID, at}, fields); err != nil {
			return err
		}
		if ch.ChangeType != "update" {
			return nil
		}
		for _, m := range slices.Compact(slices.Sorted(slices.Values(ch.Members))) {
			if m == "" {
				continue
			}
			var fields map[string]any
			row := weComMemberRow{CorpID: ch.CorpID, ChatID: ch.ChatID, MemberID: m, EventAt: at}
			switch ch.UpdateDetail {
			case "add_member":
				row.InGroup, row.JoinScene, row.JoinedAt = true, ch.JoinScene, &at
				fields = map[string]any{"in_group": true, "join_scene": ch.JoinScene, "joined_at": at, "left_at": nil}
			case "del_member":
				row.InGroup, row.QuitScene, row.LeftAt = false, ch.QuitScene, &at
				fields = map[string]any{"in_group": false, "quit_scene": ch.QuitScene, "left_at": at}
			default:
				return nil
			}
			fields["event_at"], fields["updated_at"] = at, now
			if err := upsertThenUpdate(tx, &row, &weComMemberRow{},
				"corp_id = ? AND chat_id = ? AND member_id = ? AND event_at <= ?", []any{ch.CorpID, ch.ChatID, m, at}, fields); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore.WeCom.ApplyGroupChange %s: %w: %w", ch.ChatID, bot.ErrUnavailable, err)
	}
	return nil
}

// WeComGroup is a customer group as recorded.
type WeComGroup struct {
	ChatID        string
	Status        string // WeComGroupActive or WeComGroupDismissed
	MemberVersion string
	Members       []WeComGroupMember // present and past, by member id
}

// WeComGroupMember is a member of a customer group, present or past.
type WeComGroupMember struct {
	MemberID  string
	InGroup   bool
	JoinScene int
	QuitScene int
	JoinedAt  time.Time // zero if the join was never seen
	LeftAt    time.Time // zero while in the group
}

// Group returns a recorded group with its members. An unknown group is
// bot.ErrNotFound.
func (s *WeCom) Group(ctx context.Context, corpID, chatID string) (WeComGroup, error) {
	g := s.db.gorm.WithContext(ctx)
	var row weComGroupRow
	err := g.Where("corp_id = ? AND chat_id = ?", corpID, chatID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return WeComGroup{}, fmt.Errorf("sqlstore.WeCom.Group %s: %w", chatID, bot.ErrNotFound)
	}
	if err != nil {
		return WeComGroup{}, fmt.Errorf("sqlstore.WeCom.Group %s: %w: %w", chatID, bot.ErrUnavailable, err)
	}
	var members []weComMemberRow
	if err := g.Where("corp_id = ? AND chat_id = ?", corpID, chatID).Order("member_id").Find(&members).Error; err != nil {
		return WeComGroup{}, fmt.Errorf("sqlstore.WeCom.Group %s: %w: %w", chatID, bot.ErrUnavailable, err)
	}
	out := WeComGroup{ChatID: row.ChatID, Status: row.Status, MemberVersion: row.MemberVersion}
	for _, m := range members {
		gm := WeComGroupMember{MemberID: m.MemberID, InGroup: m.InGroup, JoinScene: m.JoinScene, QuitScene: m.QuitScene}
		if m.JoinedAt != nil {
			gm.JoinedAt = m.JoinedAt.UTC()
		}
		if m.LeftAt != nil {
			gm.LeftAt = m.LeftAt.UTC()
		}
		out.Members = append(out.Members, gm)
	}
	return out, nil
}
