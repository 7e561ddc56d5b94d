package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/siyu-bot/siyu/bot"
)

// WeCom welcome outcomes recorded per new external contact. The values
// are stored as is; staff read them in the wecom_contacts table.
const (
	// WelcomePending: the welcome is being sent (or the replica sending
	// it died before recording the outcome).
	WelcomePending = "pending"
	// WelcomeSent: send_welcome_msg succeeded.
	WelcomeSent = "sent"
	// WelcomeAlreadySent: WeCom answered 41051, someone else's welcome
	// went out with this code.
	WelcomeAlreadySent = "already_sent"
	// WelcomeNoCode: the event carried no welcome code, because the
	// member has a welcome configured in the admin console.
	WelcomeNoCode = "no_code"
	// WelcomeNoText: the scripts have no welcome for this channel, nor a
	// default one.
	WelcomeNoText = "no_text"
	// WelcomeBusyGaveUp: another app kept sending (41096) until the
	// 20-second window closed.
	WelcomeBusyGaveUp = "busy_gave_up"
	// WelcomeFailed: WeCom refused the welcome or could not be reached.
	WelcomeFailed = "failed"
)

// WeCom tag outcomes recorded per new external contact (the tags_outcome
// column): whether the channel's tags were applied to the contact in
// WeCom. A contact whose channel has no tags has none ("").
const (
	// TagsPending: the tags are being applied (or the replica applying
	// them died before recording the outcome).
	TagsPending = "pending"
	// TagsApplied: mark_tag succeeded with every tag of the channel.
	TagsApplied = "applied"
	// TagsFailed: the tags could not be looked up, created or applied;
	// tag_error says why.
	TagsFailed = "failed"
)

// Limits of the WeCom tables.
const (
	// maxWeComEventKeyLen is the longest event key stored as is; longer
	// keys are stored as a hash. With the 32-character corp id it keeps
	// the unique index within 767 bytes of utf8mb4 (see MaxOutboxKeyLen).
	maxWeComEventKeyLen = 150
	// maxWeComTextLen bounds stored template texts: WeCom allows 4000
	// bytes of welcome text, at least 1000 characters.
	maxWeComTextLen = 4000
)

// WeCom stores what the WeCom adapter keeps: new external contacts with
// their channel and welcome outcome, customer groups and their members,
// pull cursors, 微信客服 reply windows and group welcome templates. Every
// method takes the corp id, so one database can serve several corps.
type WeCom struct {
	db *DB
}

// NewWeCom returns the WeCom store in db, creating its tables when
// missing. Errors are bot.ErrUnavailable.
func NewWeCom(ctx context.Context, db *DB) (*WeCom, error) {
	if err := db.migrateTables(ctx, &weComContactRow{}, &weComGroupRow{}, &weComMemberRow{}, &weComCursorRow{}, &weComKFSessionRow{}, &weComTemplateRow{}); err != nil {
		return nil, fmt.Errorf("sqlstore.NewWeCom: %w", err)
	}
	return &WeCom{db: db}, nil
}

// weComContactRow is one new external contact: who added whom through
// which channel, and what became of the welcome.
type weComContactRow struct {
	ID             int64      `gorm:"primaryKey;autoIncrement"`
	CorpID         string     `gorm:"type:varchar(32);not null;uniqueIndex:ux_wecom_contacts_event,priority:1;index:ix_wecom_contacts_user,priority:1;index:ix_wecom_contacts_state,priority:1"`
	EventKey       string     `gorm:"type:varchar(150);not null;uniqueIndex:ux_wecom_contacts_event,priority:2"`
	ExternalUserID string     `gorm:"type:varchar(64);not null;index:ix_wecom_contacts_user,priority:2"`
	UserID         string     `gorm:"type:varchar(64);not null"`
	State          string     `gorm:"type:varchar(64);not null;index:ix_wecom_contacts_state,priority:2"`
	ChannelName    string     `gorm:"type:varchar(128);not null;default:''"`
	Tags           string     `gorm:"type:varchar(512);not null;default:''"`
	Outcome        string     `gorm:"type:varchar(16);not null"`
	Error          string     `gorm:"type:varchar(512);not null;default:''"`
	TagsOutcome    string     `gorm:"type:varchar(16);not null;default:''"`
	TagError       string     `gorm:"type:varchar(512);not null;default:''"`
	ClaimToken     string     `gorm:"type:varchar(32);not null"`
	AddedAt        time.Time  `gorm:"precision:6;not null"`
	WelcomeAt      *time.Time `gorm:"precision:6"`
	CreatedAt      time.Time  `gorm:"precision:6;not null"`
	UpdatedAt      time.Time  `gorm:"precision:6;not null"`
}

func (weComContactRow) TableName() string { return "wecom_contacts" }

// WeComContact is a new external contact as recorded. The handler in
// handlers/wecom mirrors it field for field (main converts between them).
type WeComContact struct {
	CorpID string
	// EventKey identifies the add event across WeCom's retries and
	// replicas: the event's dedupe key.
	EventKey       string
	ExternalUserID string
	// UserID is the staff member the customer added.
	UserID      string
	State       string // the channel QR code's state
	ChannelName string // the channel's name in the scripts, if known
	Tags        []string
	Outcome     string // one of the Welcome… constants
	Error       string
	AddedAt     time.Time
	WelcomeAt   time.Time // when the outcome became final; zero while pending
	TagsOutcome string    // one of the Tags… constants, "" when the channel has no tags
	TagError    string
}

func (r weComContactRow) contact() WeComContact {
	c := WeComContact{
		CorpID: r.CorpID, EventKey: r.EventKey, ExternalUserID: r.ExternalUserID, UserID: r.UserID,
		State: r.State, ChannelName: r.ChannelName, Outcome: r.Outcome, Error: r.Error, AddedAt: r.AddedAt.UTC(),
		TagsOutcome: r.TagsOutcome, TagError: r.TagError,
	}
	if r.Tags != "" {
		_ = json.Unmarshal([]byte(r.Tags), &c.Tags) // written by ClaimContact
	}
	if r.WelcomeAt != nil {
		c.WelcomeAt = r.WelcomeAt.UTC()
	}
	return c
}

// weComEventKey is k as stored: itself when short enough, else a hash.
func weComEventKey(k string) string {
	if len(k) <= maxWeComEventKeyLen {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "h:" + hex.EncodeToString(sum[:])
}

func claimToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand docs)
	return hex.EncodeToString(b[:])
}

// ClaimContact records a new contact unless its event is already
// recorded, and reports whether this caller recorded it: exactly one
// caller across retries and replicas gets true, and only that caller may
// send the welcome. c needs a CorpID, EventKey and ExternalUserID (else
// bot.ErrInvalid); database failures are bot.ErrUnavailable.
func (s *WeCom) ClaimContact(ctx context.Context, c WeComContact) (bool, error) {
	if c.CorpID == "" || c.EventKey == "" || c.ExternalUserID == "" {
		return false, fmt.Errorf("sqlstore.WeCom.ClaimContact: corp, event key and external user are required: %w", bot.ErrInvalid)
	}
	tags := ""
	if len(c.Tags) > 0 {
		b, err := json.Marshal(c.Tags)
		if err != nil {
			return false, fmt.Errorf("sqlstore.WeCom.ClaimContact: tags: %w: %w", bot.ErrInvalid, err)
		}
		tags = truncate(string(b), 512)
	}
	row := weComContactRow{
		CorpID: c.CorpID, EventKey: weComEventKey(c.EventKey), ExternalUserID: c.ExternalUserID, UserID: c.UserID,
		State: truncate(c.State, 64), ChannelName: truncate(c.ChannelName, 128), Tags: tags,
		Outcome: c.Outcome, Error: truncate(c.Error, MaxLastErrorLen), ClaimToken: claimToken(), AddedAt: dbTime(c.AddedAt),
		TagsOutcome: c.TagsOutcome, TagError: truncate(c.TagError, MaxLastErrorLen),
	}
	if row.Outcome == "" {
		row.Outcome = WelcomePending
	}
	if !c.WelcomeAt.IsZero() {
		t := dbTime(c.WelcomeAt)
		row.WelcomeAt = &t
	}
	g := s.db.gorm.WithContext(ctx)
	// Insert-if-absent, then read back whose claim is stored: portable,
	// where RowsAffected of a conflicting insert is not (MySQL with
	// CLIENT_FOUND_ROWS counts the untouched duplicate as affected).
	if err := g.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return false, fmt.Errorf("sqlstore.WeCom.ClaimContact: %w: %w", bot.ErrUnavailable, err)
	}
	var stored weComContactRow
	err := g.Select("claim_token").Where("corp_id = ? AND event_key = ?", row.CorpID, row.EventKey).Take(&stored).Error
	if err != nil {
		return false, fmt.Errorf("sqlstore.WeCom.ClaimContact: %w: %w", bot.ErrUnavailable, err)
	}
	return stored.ClaimToken == row.ClaimToken, nil
}

// ReleaseContact forgets a claimed contact whose outcome is still
// pending, so that the event can be claimed afresh (its handling failed
// before the welcome was tried). Releasing an unknown or settled event
// does nothing. Errors are bot.ErrUnavailable.
func (s *WeCom) ReleaseContact(ctx context.Context, corpID, eventKey string) error {
	err := s.db.gorm.WithContext(ctx).
		Where("corp_id = ? AND event_key = ? AND outcome = ?", corpID, weComEventKey(eventKey), WelcomePending).
		Delete(&weComContactRow{}).Error
	if err != nil {
		return fmt.Errorf("sqlstore.WeCom.ReleaseContact: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// FinishWelcome records the final welcome outcome of a claimed contact.
// errText is kept to its first MaxLastErrorLen characters. An unknown
// event is bot.ErrNotFound.
func (s *WeCom) FinishWelcome(ctx context.Context, corpID, eventKey, outcome, errText string, at time.Time) error {
	return s.updateContact(ctx, "sqlstore.WeCom.FinishWelcome", corpID, eventKey, map[string]any{
		"outcome":    outcome,
		"error":      truncate(errText, MaxLastErrorLen),
		"welcome_at": dbTime(at),
	})
}

// FinishTags records whether a claimed contact's channel tags were
// applied in WeCom: outcome is one of the Tags… constants, errText is kept
// to its first MaxLastErrorLen characters. The welcome's outcome is left
// as it is. An unknown event is bot.ErrNotFound.
func (s *WeCom) FinishTags(ctx context.Context, corpID, eventKey, outcome, errText string) error {
	return s.updateContact(ctx, "sqlstore.WeCom.FinishTags", corpID, eventKey, map[string]any{
		"tags_outcome": outcome,
		"tag_error":    truncate(errText, MaxLastErrorLen),
	})
}

// updateContact sets fields (and updated_at) on the contact recorded for
// an event; an unknown event is bot.ErrNotFound.
func (s *WeCom) updateContact(ctx context.Context, op, corpID, eventKey string, fields map[string]any) error {
	fields["updated_at"] = dbTime(s.db.now())
	res := s.db.gorm.WithContext(ctx).Model(&weComContactRow{}).
		Where("corp_id = ? AND event_key = ?", corpID, weComEventKey(eventKey)).
		Updates(fields)
	if res.Error != nil {
		return fmt.Errorf("%s: %w: %w", op, bot.ErrUnavailable, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s %s: %w", op, bot.Fingerprint(eventKey), bot.ErrNotFound)
	}
	return nil
}

// Contacts returns up to limit recorded contacts of a corp, newest first:
// those of one external user when externalUserID is set, else those who
// came through the channel with the given state when state is set, else
// all. limit must be 1…MaxListLimit (else bot.ErrInvalid).
func (s *WeCom) Contacts(ctx context.Context, corpID, externalUserID, state string, limit int) ([]WeComContact, error) {
	if limit <= 0 || limit > MaxListLimit {
		return nil, fmt.Errorf("sqlstore.WeCom.Contacts: limit %d: %w", limit, bot.ErrInvalid)
	}
	q := s.db.gorm.WithContext(ctx).Where("corp_id = ?", corpID).Order("id DESC").Limit(limit)
	switch {
	case externalUserID != "":
		q = q.Where("external_user_id = ?", externalUserID)
	case state != "":
		q = q.Where("state = ?", state)
	}
	var rows []weComContactRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sqlstore.WeCom.Contacts: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]WeComContact, len(rows))
	for i, r := range rows {
		out[i] = r.contact()
	}
	return out, nil
}

// upsertThenUpdate inserts row unless its unique key exists, then applies
// fields to the row matching where, so that two writers racing on one
// key both end with the newer values. It is how the group and session
// tables are written: idempotent, so WeCom's retries are harmless.
func upsertThenUpdate(g *gorm.DB, row any, model any, where string, args []any, fields map[string]any) error {
	if err := g.Clauses(clause.OnConflict{DoNothing: true}).Create(row).Error; err != nil {
		return err
	}
	return g.Model(model).Where(where, args...).Updates(fields).Error
}
