package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/siyu-bot/siyu/bot"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Limits of the outbox table.
const (
	// MaxOutboxKeyLen is the longest Key, in characters: 191 utf8mb4
	// characters (764 bytes) is the most a unique index holds on InnoDB's
	// oldest row format (767 bytes).
	MaxOutboxKeyLen = 191
	// MaxLastErrorLen is how many characters of an error are kept: enough
	// for a platform's error code and message, bounded so a huge error
	// body cannot bloat the table.
	MaxLastErrorLen = 500
	// MaxListLimit bounds List, so an admin page cannot load the table.
	MaxListLimit = 1000
)

// outboxRow is the outbox table. The key column is item_key, not key:
// KEY is reserved in MySQL, and every hand-written query would need to
// quote it.
type outboxRow struct {
	ID        int64     `gorm:"primaryKey;autoIncrement"`
	ItemKey   string    `gorm:"type:varchar(191);not null;uniqueIndex:ux_outbox_item_key"`
	Platform  string    `gorm:"type:varchar(32);not null"`
	Payload   []byte    `gorm:"not null"`
	Status    string    `gorm:"type:varchar(16);not null;index:ix_outbox_status_next_at,priority:1"`
	Attempts  int       `gorm:"not null;default:0"`
	NextAt    time.Time `gorm:"precision:6;not null;index:ix_outbox_status_next_at,priority:2"`
	LastError string    `gorm:"type:varchar(512);not null;default:''"`
	// ExpiresAt is NULL for rows without a deadline (and rows queued
	// before the column existed).
	ExpiresAt *time.Time `gorm:"precision:6"`
	// Sending is set by the claim that leases the row to a worker about
	// to send it, and cleared when that worker records the outcome: a
	// claim that finds it still set counts an ambiguous resend.
	Sending   bool      `gorm:"not null;default:false"`
	Ambiguous int       `gorm:"not null;default:0"`
	CreatedAt time.Time `gorm:"precision:6;not null"`
	UpdatedAt time.Time `gorm:"precision:6;not null"`
}

func (outboxRow) TableName() string { return "outbox" }

func (r outboxRow) item() bot.OutboxItem {
	return bot.OutboxItem{
		ID:        r.ID,
		Key:       r.ItemKey,
		Platform:  bot.Platform(r.Platform),
		Payload:   r.Payload,
		Status:    bot.OutboxStatus(r.Status),
		Attempts:  r.Attempts,
		NextAt:    r.NextAt.UTC(),
		LastError: r.LastError,
		ExpiresAt: expiresAt(r.ExpiresAt),

		AmbiguousResends: r.Ambiguous,
		CreatedAt:        r.CreatedAt.UTC(),
		UpdatedAt:        r.UpdatedAt.UTC(),
	}
}

// Outbox is the durable bot.OutboxStore, plus the queries the admin API
// needs.
type Outbox struct {
	db *DB
}

// Interface guards.
var _ bot.OutboxStore = (*Outbox)(nil)

// NewOutbox returns the outbox stored in db.
func NewOutbox(db *DB) *Outbox { return &Outbox{db: db} }

// Enqueue implements bot.OutboxStore. Items need a Key of at most
// MaxOutboxKeyLen characters and a Platform (else bot.ErrInvalid);
// database failures are bot.ErrUnavailable.
func (o *Outbox) Enqueue(ctx context.Context, items []bot.OutboxItem) error {
	if len(items) == 0 {
		return nil
	}
	now := dbTime(o.db.now())
	rows := make([]outboxRow, 0, len(items))
	for _, it := range items {
		if it.Key == "" || utf8.RuneCountInString(it.Key) > MaxOutboxKeyLen || !utf8.ValidString(it.Key) {
			return fmt.Errorf("sqlstore.Outbox.Enqueue: key %s (%d characters): %w", bot.Fingerprint(it.Key), utf8.RuneCountInString(it.Key), bot.ErrInvalid)
		}
		if it.Platform == "" {
			return fmt.Errorf("sqlstore.Outbox.Enqueue %s: no platform: %w", bot.Fingerprint(it.Key), bot.ErrInvalid)
		}
		next := now
		if !it.NextAt.IsZero() {
			next = dbTime(it.NextAt)
		}
		payload := it.Payload
		if payload == nil {
			payload = []byte{} // the column is NOT NULL
		}
		var expires *time.Time
		if !it.ExpiresAt.IsZero() {
			e := dbTime(it.ExpiresAt)
			expires = &e
		}
		rows = append(rows, outboxRow{
			ItemKey:   it.Key,
			Platform:  string(it.Platform),
			Payload:   payload,
			Status:    string(bot.OutboxPending),
			NextAt:    next,
			ExpiresAt: expires,
		})
	}
	// Prepared: one row per statement shape, and rarely more than
	// three (an event's actions).
	err := o.db.prepared(ctx).Clauses(o.activateStandby()).Create(&rows).Error
	if err != nil {
		return fmt.Errorf("sqlstore.Outbox.Enqueue: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// activateStandby is Enqueue's conflict clause: a row of the same key is
// left alone unless it is on standby, which becomes pending, due at the
// new item's time (bot.OutboxStandby). next_at comes first: MySQL
// assigns left to right, so it must read the status before it changes
// (SQLite reads the old values throughout).
func (o *Outbox) activateStandby() clause.OnConflict {
	standby := string(bot.OutboxStandby)
	newNext := "VALUES(next_at)"
	if o.db.dialect != DialectMySQL {
		newNext = "excluded.next_at"
	}
	return clause.OnConflict{
		Columns: []clause.Column{{Name: "item_key"}},
		DoUpdates: clause.Set{
			{Column: clause.Column{Name: "next_at"}, Value: gorm.Expr("CASE WHEN status = ? THEN "+newNext+" ELSE next_at END", standby)},
			{Column: clause.Column{Name: "status"}, Value: gorm.Expr("CASE WHEN status = ? THEN ? ELSE status END", standby, string(bot.OutboxPending))},
		},
	}
}

// Claim implements bot.OutboxStore. On MySQL/MariaDB it locks due rows
// with SELECT … FOR UPDATE SKIP LOCKED, so concurrent workers take
// disjoint batches without waiting. SQLite has no row locks; there each
// candidate is claimed by an UPDATE conditioned on the values read, and
// only rows that UPDATE changed are returned, which is correct under any
// concurrency. limit and lease must be positive (else bot.ErrInvalid).
func (o *Outbox) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]bot.OutboxItem, error) {
	return o.claim(ctx, now, limit, lease, o.db.dialect == DialectMySQL)
}

func (o *Outbox) claim(ctx context.Context, now time.Time, limit int, lease time.Duration, skipLocked bool) ([]bot.OutboxItem, error) {
	if limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("sqlstore.Outbox.Claim: limit %d, lease %v: %w", limit, lease, bot.ErrInvalid)
	}
	now = dbTime(now)
	until := dbTime(now.Add(lease))
	var (
		rows []outboxRow
		err  error
	)
	if skipLocked {
		rows, err = o.claimLocked(ctx, now, until, limit)
	} else {
		rows, err = o.claimConditional(ctx, now, until, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Outbox.Claim: %w: %w", bot.ErrUnavailable, err)
	}
	items := make([]bot.OutboxItem, len(rows))
	for i, r := range rows {
		items[i] = r.item()
		items[i].Unfinished = r.Sending // as the claim found it
	}
	return items, nil
}

// due selects up to limit pending rows due at now, oldest first.
func due(tx *gorm.DB, now time.Time, limit int) *gorm.DB {
	return tx.Where("status = ? AND next_at <= ?", bot.OutboxPending, now).
		Order("next_at, id").Limit(limit)
}

func (o *Outbox) claimLocked(ctx context.Context, now, until time.Time, limit int) ([]outboxRow, error) {
	var rows []outboxRow
	err := o.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Not prepared (DB.prepared): inside a transaction gorm would
		// prepare the statement anew every time.
		err := due(tx, now, limit).
			Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked}).
			Find(&rows).Error
		if err != nil || len(rows) == 0 {
			return err
		}
		ids := make([]int64, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
		}
		updated := dbTime(o.db.now())
		// Written out for the order of its assignments: MySQL evaluates
		// them left to right, so ambiguous must read sending before it is
		// set (SQLite reads the old values throughout).
		err = tx.Exec("UPDATE outbox SET ambiguous = ambiguous + sending, sending = ?, next_at = ?, attempts = attempts + 1, updated_at = ? WHERE id IN ?",
			true, until, updated, ids).Error
		if err != nil {
			return err
		}
		for i := range rows {
			claimed(&rows[i], until, updated)
		}
		return nil
		// READ COMMITTED: under REPEATABLE READ the locking read also
		// takes gap locks on the (status, next_at) index, which block
		// concurrent Enqueues and can deadlock with them.
	}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	return rows, err
}

func (o *Outbox) claimConditional(ctx context.Context, now, until time.Time, limit int) ([]outboxRow, error) {
	g := o.db.gorm.WithContext(ctx)
	var candidates []outboxRow
	if err := due(g, now, limit).Find(&candidates).Error; err != nil {
		return nil, err
	}
	out := candidates[:0]
	for _, r := range candidates {
		updated := dbTime(o.db.now())
		// next_at and attempts change on every claim, so they fence out a
		// worker that read the row before another claimed it.
		ambiguous := r.Ambiguous
		if r.Sending {
			ambiguous++
		}
		res := g.Model(&outboxRow{}).
			Where("id = ? AND status = ? AND next_at = ? AND attempts = ? AND sending = ?", r.ID, bot.OutboxPending, dbTime(r.NextAt), r.Attempts, r.Sending).
			Updates(map[string]any{
				"next_at":    until,
				"attempts":   r.Attempts + 1,
				"sending":    true,
				"ambiguous":  ambiguous,
				"updated_at": updated,
			})
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected != 1 {
			continue
		}
		claimed(&r, until, updated)
		out = append(out, r)
	}
	return out, nil
}

// claimed updates r, as read by a claim, to what the claim wrote: r's
// Sending still says whether the previous claim left it marked.
func claimed(r *outboxRow, until, updated time.Time) {
	if r.Sending {
		r.Ambiguous++
	}
	r.NextAt, r.Attempts, r.UpdatedAt = until, r.Attempts+1, updated
}

// Extend implements bot.OutboxStore in one UPDATE, fenced by each row's
// (id, attempts): every claim increments attempts, so a row another
// worker claimed since is left alone.
func (o *Outbox) Extend(ctx context.Context, claimed []bot.OutboxItem, until time.Time) (int, error) {
	if len(claimed) == 0 {
		return 0, nil
	}
	pairs := make([][]any, len(claimed))
	for i, it := range claimed {
		pairs[i] = []any{it.ID, it.Attempts}
	}
	res := o.db.gorm.WithContext(ctx).Model(&outboxRow{}).
		Where("status = ? AND (id, attempts) IN ?", bot.OutboxPending, pairs).
		Updates(map[string]any{"next_at": dbTime(until), "updated_at": dbTime(o.db.now())})
	if res.Error != nil {
		return 0, fmt.Errorf("sqlstore.Outbox.Extend: %w: %w", bot.ErrUnavailable, res.Error)
	}
	return int(res.RowsAffected), nil
}

// Release implements bot.OutboxStore in one UPDATE, fenced by each row's
// (id, attempts) as Extend is; attempts stays as the claim left it, so
// the fence holds against the next claim.
func (o *Outbox) Release(ctx context.Context, claimed []bot.OutboxItem, next time.Time) (int, error) {
	if len(claimed) == 0 {
		return 0, nil
	}
	pairs := make([][]any, len(claimed))
	for i, it := range claimed {
		pairs[i] = []any{it.ID, it.Attempts}
	}
	res := o.db.gorm.WithContext(ctx).Model(&outboxRow{}).
		Where("status = ? AND (id, attempts) IN ?", bot.OutboxPending, pairs).
		Updates(map[string]any{
			"next_at":    dbTime(next),
			"sending":    false,
			"updated_at": dbTime(o.db.now()),
		})
	if res.Error != nil {
		return 0, fmt.Errorf("sqlstore.Outbox.Release: %w: %w", bot.ErrUnavailable, res.Error)
	}
	return int(res.RowsAffected), nil
}

func expiresAt(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// Complete implements bot.OutboxStore. The row's next_at becomes the
// time it was sent, which PurgeSent reads. A missing row is
// bot.ErrNotFound.
func (o *Outbox) Complete(ctx context.Context, id int64) error {
	return o.update(ctx, "sqlstore.Outbox.Complete", id, map[string]any{"status": string(bot.OutboxSent), "next_at": dbTime(o.db.now()), "sending": false})
}

// Fail implements bot.OutboxStore. lastErr is kept to its first
// MaxLastErrorLen characters. A missing row is bot.ErrNotFound.
func (o *Outbox) Fail(ctx context.Context, id int64, lastErr string, next time.Time, dead bool) error {
	fields := map[string]any{
		"next_at":    dbTime(next),
		"last_error": truncate(lastErr, MaxLastErrorLen),
		"sending":    false,
	}
	if dead {
		fields["status"] = string(bot.OutboxDead)
	}
	return o.update(ctx, "sqlstore.Outbox.Fail", id, fields)
}

// Defer implements bot.OutboxStore: the claimed row is due again at next
// and its claim is not counted as an attempt.
func (o *Outbox) Defer(ctx context.Context, id int64, note string, next time.Time) error {
	err := o.db.prepared(ctx).Model(&outboxRow{}).
		Where("id = ? AND status = ?", id, string(bot.OutboxPending)).
		Updates(map[string]any{
			"attempts":   gorm.Expr("CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END"),
			"next_at":    dbTime(next),
			"last_error": truncate(note, MaxLastErrorLen),
			"sending":    false,
			"updated_at": dbTime(o.db.now()),
		}).Error
	if err != nil {
		return fmt.Errorf("sqlstore.Outbox.Defer %d: %w: %w", id, bot.ErrUnavailable, err)
	}
	return nil
}

func (o *Outbox) update(ctx context.Context, op string, id int64, fields map[string]any) error {
	fields["updated_at"] = dbTime(o.db.now())
	res := o.db.prepared(ctx).Model(&outboxRow{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return fmt.Errorf("%s %d: %w: %w", op, id, bot.ErrUnavailable, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s %d: %w", op, id, bot.ErrNotFound)
	}
	return nil
}

// List returns up to limit rows with the given status (any status when
// empty), newest first. limit must be 1…MaxListLimit and status one of
// the bot.Outbox… states (else bot.ErrInvalid).
func (o *Outbox) List(ctx context.Context, status bot.OutboxStatus, limit int) ([]bot.OutboxItem, error) {
	if limit <= 0 || limit > MaxListLimit {
		return nil, fmt.Errorf("sqlstore.Outbox.List: limit %d: %w", limit, bot.ErrInvalid)
	}
	q := o.db.gorm.WithContext(ctx).Order("id DESC").Limit(limit)
	switch status {
	case "":
	case bot.OutboxPending, bot.OutboxSent, bot.OutboxDead, bot.OutboxStandby:
		q = q.Where("status = ?", status)
	default:
		return nil, fmt.Errorf("sqlstore.Outbox.List: status %q: %w", status, bot.ErrInvalid)
	}
	var rows []outboxRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sqlstore.Outbox.List: %w: %w", bot.ErrUnavailable, err)
	}
	items := make([]bot.OutboxItem, len(rows))
	for i, r := range rows {
		items[i] = r.item()
	}
	return items, nil
}

// Requeue puts a dead row back to pending, due at now, with its attempts
// reset; its last error is kept for reference. It is bot.ErrNotFound when
// no dead row has that id.
func (o *Outbox) Requeue(ctx context.Context, id int64, now time.Time) error {
	res := o.db.gorm.WithContext(ctx).Model(&outboxRow{}).
		Where("id = ? AND status = ?", id, bot.OutboxDead).
		Updates(map[string]any{
			"status":     string(bot.OutboxPending),
			"attempts":   0,
			"next_at":    dbTime(now),
			"sending":    false,
			"updated_at": dbTime(o.db.now()),
		})
	if res.Error != nil {
		return fmt.Errorf("sqlstore.Outbox.Requeue %d: %w: %w", id, bot.ErrUnavailable, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("sqlstore.Outbox.Requeue %d: no dead row: %w", id, bot.ErrNotFound)
	}
	return nil
}

// Counts returns how many rows are in each state. Every bot.Outbox…
// state is present, zero when empty.
func (o *Outbox) Counts(ctx context.Context) (map[bot.OutboxStatus]int, error) {
	var res []struct {
		Status string
		N      int
	}
	err := o.db.gorm.WithContext(ctx).Model(&outboxRow{}).
		Select("status, COUNT(*) AS n").Group("status").Scan(&res).Error
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Outbox.Counts: %w: %w", bot.ErrUnavailable, err)
	}
	counts := map[bot.OutboxStatus]int{bot.OutboxPending: 0, bot.OutboxSent: 0, bot.OutboxDead: 0, bot.OutboxStandby: 0}
	for _, r := range res {
		counts[bot.OutboxStatus(r.Status)] = r.N
	}
	return counts, nil
}

// truncate returns s cut to at most n characters, with invalid UTF-8
// replaced, since utf8mb4 columns reject it.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// ListBefore returns rows of status (all when "") with ids below before
// (0: from the newest), newest first: the console's pages. limit must be
// 1…MaxListLimit+1 (else bot.ErrInvalid).
func (o *Outbox) ListBefore(ctx context.Context, status bot.OutboxStatus, before int64, limit int) ([]bot.OutboxItem, error) {
	if limit <= 0 || limit > MaxListLimit+1 {
		return nil, fmt.Errorf("sqlstore.Outbox.ListBefore: limit %d: %w", limit, bot.ErrInvalid)
	}
	q := o.db.gorm.WithContext(ctx).Order("id DESC").Limit(limit)
	switch status {
	case "":
	case bot.OutboxPending, bot.OutboxSent, bot.OutboxDead:
		q = q.Where("status = ?", status)
	default:
		return nil, fmt.Errorf("sqlstore.Outbox.ListBefore: status %q: %w", status, bot.ErrInvalid)
	}
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var rows []outboxRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sqlstore.Outbox.ListBefore: %w: %w", bot.ErrUnavailable, err)
	}
	items := make([]bot.OutboxItem, len(rows))
	for i, r := range rows {
		items[i] = r.item()
	}
	return items, nil
}
