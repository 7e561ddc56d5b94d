package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
)

// Coupons stores coupon claims and imported codes: the truth of
// bot/coupon. Unique constraints make the rules hold whatever the
// replicas and their Redis counters do: (campaign, seq) with seq ≤ stock
// checked before the insert, so a campaign never issues more than its
// stock; (campaign, person, slot) with slot ≤ per_person; (campaign,
// person, trigger) so one event claims once; (campaign, code) so codes
// are distinct.
//
// A linked person (see coupon's package doc) has two names, and their
// claims under both must share per_person. Each claim therefore also
// has one row per name in coupon_claim_names, unique on (campaign,
// name, slot) and written in the claim's transaction: a claim under
// union:<id> with alias wechat:<appid>:<openid> holds its slot under
// both, so it collides with a claim made under the platform name before
// the link (or by a replica that has not learnt the link yet) exactly as
// two claims under one name do. The claim row's own (campaign, person,
// slot) index stays; it is the same rule for the first name.
type Coupons struct {
	db    *DB
	batch *claimBatcher
}

// Interface guard.
var (
	_ coupon.Store   = (*Coupons)(nil)
	_ coupon.Reports = (*Coupons)(nil)
)

// NewCoupons returns the coupon store in db, creating its tables when
// missing. Errors are bot.ErrUnavailable.
func NewCoupons(ctx context.Context, db *DB) (*Coupons, error) {
	if err := db.migrateTables(ctx, &couponClaimRow{}, &couponCodeRow{}, &couponNameRow{}); err != nil {
		return nil, fmt.Errorf("sqlstore.NewCoupons: %w", err)
	}
	s := &Coupons{db: db}
	if err := s.backfillNames(ctx); err != nil {
		return nil, fmt.Errorf("sqlstore.NewCoupons: %w", err)
	}
	s.batch = &claimBatcher{max: maxClaimFlushers, flush: s.insertBatch}
	return s, nil
}

// couponClaimRow is one issued coupon. person_hash and trigger_hash keep
// the unique indexes short whatever the lengths of ids.
// ix_coupon_claims_channel lets Stats count a campaign's claims by
// channel from the index alone (BenchmarkConsoleQueries on MariaDB, 100k
// claims: 196 ms reading every row without it). AutoMigrate adds it to
// an existing table.
type couponClaimRow struct {
	ID          string    `gorm:"type:varchar(32);primaryKey"`
	Campaign    string    `gorm:"type:varchar(64);not null;uniqueIndex:ux_coupon_claims_seq,priority:1;uniqueIndex:ux_coupon_claims_slot,priority:1;uniqueIndex:ux_coupon_claims_code,priority:1;index:ix_coupon_claims_created,priority:1;index:ix_coupon_claims_channel,priority:1"`
	Seq         int       `gorm:"not null;uniqueIndex:ux_coupon_claims_seq,priority:2"`
	PersonHash  string    `gorm:"type:varchar(64);not null;uniqueIndex:ux_coupon_claims_slot,priority:2"`
	Slot        int       `gorm:"not null;uniqueIndex:ux_coupon_claims_slot,priority:3"`
	TriggerHash string    `gorm:"type:varchar(64);not null;uniqueIndex:ux_coupon_claims_trigger"`
	Code        *string   `gorm:"type:varchar(64);uniqueIndex:ux_coupon_claims_code,priority:2"`
	Person      string    `gorm:"type:varchar(191);not null"`
	TriggerText string    `gorm:"column:trigger_text;type:varchar(191);not null"`
	Channel     string    `gorm:"type:varchar(128);not null;default:'';index:ix_coupon_claims_channel,priority:2"`
	Target      string    `gorm:"type:varchar(512);not null"`
	Message     string    `gorm:"type:text;not null"`
	Proactive   bool      `gorm:"not null"`
	CreatedAt   time.Time `gorm:"precision:6;not null;index:ix_coupon_claims_created,priority:2"`
}

func (couponClaimRow) TableName() string { return "coupon_claims" }

// couponCodeRow is one imported code, numbered from 1 per campaign in
// import order: the claim numbered seq gets the code numbered seq, so
// concurrent claims never contend for a code.
type couponCodeRow struct {
	ID        int64     `gorm:"primaryKey;autoIncrement"`
	Campaign  string    `gorm:"type:varchar(64);not null;uniqueIndex:ux_coupon_codes_seq,priority:1;uniqueIndex:ux_coupon_codes_code,priority:1"`
	Seq       int       `gorm:"not null;uniqueIndex:ux_coupon_codes_seq,priority:2"`
	Code      string    `gorm:"type:varchar(64);not null;uniqueIndex:ux_coupon_codes_code,priority:2"`
	CreatedAt time.Time `gorm:"precision:6;not null"`
}

func (couponCodeRow) TableName() string { return "coupon_codes" }

// couponNameRow is one name a claim counts under against per_person:
// its person, and its alias when it has one. See Coupons.
type couponNameRow struct {
	ID         int64  `gorm:"primaryKey;autoIncrement"`
	Campaign   string `gorm:"type:varchar(64);not null;uniqueIndex:ux_coupon_claim_names_slot,priority:1"`
	PersonHash string `gorm:"type:varchar(64);not null;uniqueIndex:ux_coupon_claim_names_slot,priority:2"`
	Slot       int    `gorm:"not null;uniqueIndex:ux_coupon_claim_names_slot,priority:3"`
	ClaimID    string `gorm:"type:varchar(32);not null;index:ix_coupon_claim_names_claim"`
	Person     string `gorm:"type:varchar(191);not null"`
}

func (couponNameRow) TableName() string { return "coupon_claim_names" }

// nameRows returns the name rows of a claim row and its alias.
func nameRows(row couponClaimRow, alias bot.PersonID) []couponNameRow {
	out := []couponNameRow{{Campaign: row.Campaign, PersonHash: row.PersonHash, Slot: row.Slot, ClaimID: row.ID, Person: row.Person}}
	if alias != "" && string(alias) != row.Person {
		out = append(out, couponNameRow{Campaign: row.Campaign, PersonHash: personHash(row.Campaign, alias), Slot: row.Slot, ClaimID: row.ID, Person: truncate(string(alias), 191)})
	}
	return out
}

// backfillNames gives claims stored before coupon_claim_names existed
// (or by a replica of an older version during a rolling update) their
// person's row, once at each start; a claim's row is never lost to a
// race, since every replica writes the same row and duplicates are
// skipped.
func (s *Coupons) backfillNames(ctx context.Context) error {
	g := s.db.gorm.WithContext(ctx)
	for {
		var rows []couponClaimRow
		err := g.Where("NOT EXISTS (SELECT 1 FROM coupon_claim_names n WHERE n.claim_id = coupon_claims.id)").
			Limit(importBatch).Find(&rows).Error
		if err != nil {
			return fmt.Errorf("backfill names: %w: %w", bot.ErrUnavailable, err)
		}
		if len(rows) == 0 {
			return nil
		}
		names := make([]couponNameRow, 0, len(rows))
		for _, r := range rows {
			names = append(names, nameRows(r, "")...)
		}
		if err := g.Clauses(clause.OnConflict{DoNothing: true}).Create(&names).Error; err != nil {
			return fmt.Errorf("backfill names: %w: %w", bot.ErrUnavailable, err)
		}
		if len(rows) < importBatch {
			return nil
		}
	}
}

func personHash(campaign string, person bot.PersonID) string {
	return hashKey(campaign, string(person))
}

func triggerHash(campaign string, person bot.PersonID, trigger string) string {
	return hashKey(campaign, string(person), trigger)
}

// triggerPerson is the name a claim's trigger is unique under: its
// platform name (the alias of a linked claim), so a callback retried
// after the link was learnt hits the claim its unlinked try made. Every
// trigger names its platform and account already, so this joins nothing
// that was apart.
func triggerPerson(c coupon.Claim) bot.PersonID {
	if c.Alias != "" {
		return c.Alias
	}
	return c.Person
}

func (r couponClaimRow) claim() coupon.Claim {
	c := coupon.Claim{
		ID: r.ID, Campaign: r.Campaign, Person: bot.PersonID(r.Person), Trigger: r.TriggerText, Seq: r.Seq, Slot: r.Slot,
		Channel: r.Channel, Message: r.Message, Proactive: r.Proactive, CreatedAt: r.CreatedAt.UTC(),
	}
	if r.Code != nil {
		c.Code = *r.Code
	}
	_ = json.Unmarshal([]byte(r.Target), &c.To) // written by Insert
	return c
}

// Insert implements coupon.Store.
func (s *Coupons) Insert(ctx context.Context, c coupon.Claim, perPerson int, msg bot.OutboxItem) (coupon.Claim, error) {
	target, err := json.Marshal(c.To)
	if err != nil {
		return coupon.Claim{}, fmt.Errorf("sqlstore.Coupons.Insert: target: %w: %w", bot.ErrInvalid, err)
	}
	now := dbTime(c.CreatedAt)
	row := couponClaimRow{
		ID: c.ID, Campaign: c.Campaign, Seq: c.Seq, PersonHash: personHash(c.Campaign, c.Person), Slot: c.Slot,
		TriggerHash: triggerHash(c.Campaign, triggerPerson(c), c.Trigger), Person: truncate(string(c.Person), 191),
		TriggerText: truncate(c.Trigger, 191), Channel: truncate(c.Channel, 128), Target: string(target),
		Message: c.Message, Proactive: c.Proactive, CreatedAt: now,
	}
	if c.Code != "" {
		code := c.Code
		row.Code = &code
	}
	payload := msg.Payload
	if payload == nil {
		payload = []byte{}
	}
	alias := c.Alias
	if alias == c.Person {
		alias = ""
	}
	status := bot.OutboxPending
	if msg.Status == bot.OutboxStandby {
		status = bot.OutboxStandby // the callback's answer carries it
	}
	out := outboxRow{ItemKey: msg.Key, Platform: string(msg.Platform), Payload: payload, Status: string(status), NextAt: dbTime(msg.NextAt)}
	if msg.NextAt.IsZero() {
		out.NextAt = now
	}
	// Claims arriving together share one transaction: the commit's
	// flush to disk is most of a claim's cost. Should any of them
	// conflict, the whole batch is rolled back and each is inserted on
	// its own, which tells its caller which constraint it hit.
	if err := s.batch.do(claimInsert{row: row, names: nameRows(row, alias), out: out}); err == nil {
		c.CreatedAt = now
		return c, nil
	} else if !errors.Is(err, errInsertAlone) {
		return coupon.Claim{}, fmt.Errorf("sqlstore.Coupons.Insert: %w: %w", bot.ErrUnavailable, err)
	}
	g := s.db.gorm.WithContext(ctx)
	for attempt := 0; ; attempt++ {
		// The default isolation: naming one costs a round trip per
		// claim, and two inserts take no gap locks that READ COMMITTED
		// would spare; the rare deadlock between duplicates is retried.
		err := g.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&row).Error; err != nil {
				return err
			}
			names := nameRows(row, alias)
			if err := tx.Create(&names).Error; err != nil {
				return err
			}
			o := out // Create writes the id back; a retry needs a fresh row
			return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&o).Error
		})
		if err == nil {
			c.CreatedAt = now
			return c, nil
		}
		switch {
		case isRetryable(err) && attempt < 5:
			continue
		case !isDuplicate(err):
			return coupon.Claim{}, fmt.Errorf("sqlstore.Coupons.Insert: %w: %w", bot.ErrUnavailable, err)
		}
		// Which constraint? Asking is portable where error texts are not.
		slot, err := s.conflict(ctx, row, alias, perPerson)
		if err != nil {
			return coupon.Claim{}, fmt.Errorf("sqlstore.Coupons.Insert: %w", err)
		}
		if attempt >= perPerson+5 {
			return coupon.Claim{}, fmt.Errorf("sqlstore.Coupons.Insert: slot: %w", coupon.ErrLimit)
		}
		row.Slot = slot
		c.Slot = slot
	}
}

// maxClaimFlushers is how many claim batches may be in flight at once:
// enough to keep the database busy while one batch commits, few enough
// that batches stay large under load.
const maxClaimFlushers = 4

// errInsertAlone tells Insert that its claim's batch failed on a
// constraint or a deadlock and the claim must be inserted on its own.
var errInsertAlone = errors.New("insert alone")

type claimInsert struct {
	row   couponClaimRow
	names []couponNameRow
	out   outboxRow
}

// insertBatch inserts claims and their outbox rows in one transaction.
func (s *Coupons) insertBatch(batch []claimInsert) error {
	// The batch is several callers' work: no one caller's context may
	// cancel it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows := make([]couponClaimRow, len(batch))
	outs := make([]outboxRow, len(batch))
	names := make([]couponNameRow, 0, len(batch))
	for i, b := range batch {
		rows[i], outs[i] = b.row, b.out
		names = append(names, b.names...)
	}
	err := s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&rows).Error; err != nil {
			return err
		}
		if err := tx.Create(&names).Error; err != nil {
			return err
		}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&outs).Error
	})
	if err != nil && (isDuplicate(err) || isRetryable(err)) {
		return errInsertAlone
	}
	return err
}

// claimBatcher gathers concurrent inserts into batches without a
// goroutine of its own: a caller that finds fewer than max batches in
// flight flushes everything queued, its own insert included, and keeps
// flushing while more arrives; the others wait for their result. Written
// here because it is a dozen lines around one mutex, and no library does
// this combining for database/sql.
type claimBatcher struct {
	mu       sync.Mutex
	queue    []claimWait
	flushing int
	max      int
	flush    func([]claimInsert) error
}

type claimWait struct {
	ins  claimInsert
	done chan error
}

func (b *claimBatcher) do(ins claimInsert) error {
	done := make(chan error, 1)
	b.mu.Lock()
	b.queue = append(b.queue, claimWait{ins, done})
	if b.flushing >= b.max {
		b.mu.Unlock()
		return <-done
	}
	b.flushing++
	for len(b.queue) > 0 {
		waits := b.queue
		b.queue = nil
		b.mu.Unlock()
		batch := make([]claimInsert, len(waits))
		for i, w := range waits {
			batch[i] = w.ins
		}
		err := b.flush(batch)
		for _, w := range waits {
			w.done <- err
		}
		b.mu.Lock()
	}
	b.flushing--
	b.mu.Unlock()
	return <-done
}

// conflict names the unique constraint an insert of row ran into, as
// one of coupon's sentinel errors; when it is the person's slot, it
// returns a free slot to try instead, or coupon.ErrLimit when none is
// left. Database failures are bot.ErrUnavailable.
func (s *Coupons) conflict(ctx context.Context, row couponClaimRow, alias bot.PersonID, perPerson int) (int, error) {
	type check struct {
		taken error
		where string
		args  []any
	}
	checks := []check{
		{coupon.ErrTriggerTaken, "trigger_hash = ?", []any{row.TriggerHash}},
		{coupon.ErrSeqTaken, "campaign = ? AND seq = ?", []any{row.Campaign, row.Seq}},
	}
	if row.Code != nil {
		checks = append(checks, check{coupon.ErrCodeTaken, "campaign = ? AND code = ?", []any{row.Campaign, *row.Code}})
	}
	for _, c := range checks {
		var n int64
		if err := s.db.gorm.WithContext(ctx).Model(&couponClaimRow{}).Where(c.where, c.args...).Count(&n).Error; err != nil {
			return 0, fmt.Errorf("%w: %w", bot.ErrUnavailable, err)
		}
		if n > 0 {
			return 0, c.taken
		}
	}
	// A free slot is free under every name of the claim.
	hashes := []string{row.PersonHash}
	if alias != "" {
		hashes = append(hashes, personHash(row.Campaign, alias))
	}
	var used, own []int
	err := s.db.gorm.WithContext(ctx).Model(&couponNameRow{}).
		Where("campaign = ? AND person_hash IN ?", row.Campaign, hashes).Pluck("slot", &used).Error
	if err != nil {
		return 0, fmt.Errorf("%w: %w", bot.ErrUnavailable, err)
	}
	err = s.db.gorm.WithContext(ctx).Model(&couponClaimRow{}).
		Where("campaign = ? AND person_hash = ?", row.Campaign, row.PersonHash).Pluck("slot", &own).Error
	if err != nil {
		return 0, fmt.Errorf("%w: %w", bot.ErrUnavailable, err)
	}
	used = append(used, own...)
	for slot := 1; slot <= perPerson; slot++ {
		if !containsInt(used, slot) {
			return slot, nil
		}
	}
	return 0, coupon.ErrLimit
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// isDuplicate reports a unique-constraint violation.
func isDuplicate(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	return errors.Is(err, gorm.ErrDuplicatedKey) || strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// isRetryable reports a deadlock or lock wait timeout: InnoDB rolled the
// transaction back and it may simply be run again.
func isRetryable(err error) bool {
	var me *mysqldrv.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

// ByTrigger implements coupon.Store.
func (s *Coupons) ByTrigger(ctx context.Context, campaign string, person bot.PersonID, trigger string) (coupon.Claim, bool, error) {
	var rows []couponClaimRow
	err := s.db.gorm.WithContext(ctx).Where("trigger_hash = ?", triggerHash(campaign, person, trigger)).Limit(1).Find(&rows).Error
	if err != nil {
		return coupon.Claim{}, false, fmt.Errorf("sqlstore.Coupons.ByTrigger: %w: %w", bot.ErrUnavailable, err)
	}
	if len(rows) == 0 {
		return coupon.Claim{}, false, nil
	}
	return rows[0].claim(), true, nil
}

// Get implements coupon.Store.
func (s *Coupons) Get(ctx context.Context, id string) (coupon.Claim, error) {
	var rows []couponClaimRow
	if err := s.db.gorm.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return coupon.Claim{}, fmt.Errorf("sqlstore.Coupons.Get: %w: %w", bot.ErrUnavailable, err)
	}
	if len(rows) == 0 {
		return coupon.Claim{}, fmt.Errorf("sqlstore.Coupons.Get %s: %w", bot.Fingerprint(id), bot.ErrNotFound)
	}
	return rows[0].claim(), nil
}

// SetCode implements coupon.Store: only a claim without a code gets one,
// so a second native issue cannot change what the person was sent.
func (s *Coupons) SetCode(ctx context.Context, id, code string) error {
	err := s.db.gorm.WithContext(ctx).Model(&couponClaimRow{}).Where("id = ? AND code IS NULL", id).Update("code", code).Error
	if err != nil {
		return fmt.Errorf("sqlstore.Coupons.SetCode: %w: %w", bot.ErrUnavailable, err)
	}
	return nil
}

// CodeAt implements coupon.Store.
func (s *Coupons) CodeAt(ctx context.Context, campaign string, seq int) (string, error) {
	var codes []string
	err := s.db.gorm.WithContext(ctx).Model(&couponCodeRow{}).Where("campaign = ? AND seq = ?", campaign, seq).Limit(1).Pluck("code", &codes).Error
	if err != nil {
		return "", fmt.Errorf("sqlstore.Coupons.CodeAt: %w: %w", bot.ErrUnavailable, err)
	}
	if len(codes) == 0 {
		return "", fmt.Errorf("sqlstore.Coupons.CodeAt %s #%d: %w", campaign, seq, bot.ErrNotFound)
	}
	return codes[0], nil
}

// Snapshot implements coupon.Store.
func (s *Coupons) Snapshot(ctx context.Context, campaign string) (coupon.Snapshot, error) {
	g := s.db.gorm.WithContext(ctx)
	snap := coupon.Snapshot{Persons: map[bot.PersonID]int{}}
	if err := g.Model(&couponClaimRow{}).Where("campaign = ?", campaign).Order("seq").Pluck("seq", &snap.Seqs).Error; err != nil {
		return coupon.Snapshot{}, fmt.Errorf("sqlstore.Coupons.Snapshot: %w: %w", bot.ErrUnavailable, err)
	}
	var persons []struct {
		Person string
		N      int
	}
	err := s.db.gorm.WithContext(ctx).Model(&couponNameRow{}).Select("person, COUNT(*) AS n").
		Where("campaign = ?", campaign).Group("person").Scan(&persons).Error
	if err != nil {
		return coupon.Snapshot{}, fmt.Errorf("sqlstore.Coupons.Snapshot: %w: %w", bot.ErrUnavailable, err)
	}
	for _, p := range persons {
		snap.Persons[bot.PersonID(p.Person)] = p.N
	}
	var codes int64
	if err := s.db.gorm.WithContext(ctx).Model(&couponCodeRow{}).Where("campaign = ?", campaign).Count(&codes).Error; err != nil {
		return coupon.Snapshot{}, fmt.Errorf("sqlstore.Coupons.Snapshot: %w: %w", bot.ErrUnavailable, err)
	}
	snap.Codes = int(codes)
	return snap, nil
}

// Issued implements coupon.Store.
func (s *Coupons) Issued(ctx context.Context, campaign string) (int, error) {
	var n int64
	if err := s.db.gorm.WithContext(ctx).Model(&couponClaimRow{}).Where("campaign = ?", campaign).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("sqlstore.Coupons.Issued: %w: %w", bot.ErrUnavailable, err)
	}
	return int(n), nil
}

// Held implements coupon.Store.
func (s *Coupons) Held(ctx context.Context, campaign string, persons ...bot.PersonID) (int, error) {
	hashes := make([]string, len(persons))
	for i, p := range persons {
		hashes[i] = personHash(campaign, p)
	}
	var n int64
	err := s.db.gorm.WithContext(ctx).Model(&couponNameRow{}).
		Where("campaign = ? AND person_hash IN ?", campaign, hashes).Distinct("claim_id").Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("sqlstore.Coupons.Held: %w: %w", bot.ErrUnavailable, err)
	}
	return int(n), nil
}

// CouponStats are a campaign's figures for staff.
type CouponStats = coupon.Stats

// Stats returns the figures of the given campaigns, by id.
func (s *Coupons) Stats(ctx context.Context, campaigns []string) (map[string]CouponStats, error) {
	out := make(map[string]CouponStats, len(campaigns))
	if len(campaigns) == 0 {
		return out, nil
	}
	for _, id := range campaigns {
		out[id] = CouponStats{PerChannel: map[string]int{}}
	}
	var rows []struct {
		Campaign string
		Channel  string
		N        int
	}
	err := s.db.gorm.WithContext(ctx).Model(&couponClaimRow{}).Select("campaign, channel, COUNT(*) AS n").
		Where("campaign IN ?", campaigns).Group("campaign, channel").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Coupons.Stats: %w: %w", bot.ErrUnavailable, err)
	}
	for _, r := range rows {
		st := out[r.Campaign]
		st.Issued += r.N
		st.PerChannel[r.Channel] += r.N
		out[r.Campaign] = st
	}
	var codes []struct {
		Campaign string
		N        int
	}
	err = s.db.gorm.WithContext(ctx).Model(&couponCodeRow{}).Select("campaign, COUNT(*) AS n").
		Where("campaign IN ?", campaigns).Group("campaign").Scan(&codes).Error
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Coupons.Stats: %w: %w", bot.ErrUnavailable, err)
	}
	for _, r := range codes {
		st := out[r.Campaign]
		st.Codes = r.N
		out[r.Campaign] = st
	}
	return out, nil
}

// Claims returns a campaign's newest claims, at most limit (capped at
// MaxListLimit).
func (s *Coupons) Claims(ctx context.Context, campaign string, limit int) ([]coupon.Claim, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	var rows []couponClaimRow
	// Both keys descending, so the (campaign, created_at) index, which
	// ends with the primary key id, is read backwards and stops at limit;
	// "created_at DESC, id" sorted all the campaign's claims
	// (BenchmarkConsoleQueries on MariaDB, 100k claims: 283 ms).
	err := s.db.gorm.WithContext(ctx).Where("campaign = ?", campaign).Order("created_at DESC, id DESC").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("sqlstore.Coupons.Claims: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]coupon.Claim, len(rows))
	for i, r := range rows {
		out[i] = r.claim()
	}
	return out, nil
}

// importBatch is how many codes one INSERT carries: 1,000 rows of four
// values stay far below MySQL's 65,535 placeholders and make 100,000
// codes a hundred statements.
const importBatch = 1000

// ImportCodes adds codes to a campaign, numbering the new ones after the
// campaign's last; codes the campaign has already are skipped, so
// importing a file again changes nothing. progress, when not nil, is told
// how many codes of the list were handled so far. It returns how many
// were added. Codes must be distinct and valid (see coupon.ParseCodes).
func (s *Coupons) ImportCodes(ctx context.Context, campaign string, codes []string, progress func(done int)) (int, error) {
	g := s.db.gorm.WithContext(ctx)
	var maxSeq sql.NullInt64
	if err := g.Model(&couponCodeRow{}).Where("campaign = ?", campaign).Select("MAX(seq)").Scan(&maxSeq).Error; err != nil {
		return 0, fmt.Errorf("sqlstore.Coupons.ImportCodes: %w: %w", bot.ErrUnavailable, err)
	}
	next := int(maxSeq.Int64) + 1
	added := 0
	now := dbTime(s.db.now())
	for start := 0; start < len(codes); start += importBatch {
		chunk := codes[start:min(start+importBatch, len(codes))]
		var have []string
		if err := g.Model(&couponCodeRow{}).Where("campaign = ? AND code IN ?", campaign, chunk).Pluck("code", &have).Error; err != nil {
			return added, fmt.Errorf("sqlstore.Coupons.ImportCodes: %w: %w", bot.ErrUnavailable, err)
		}
		known := make(map[string]bool, len(have))
		for _, c := range have {
			known[c] = true
		}
		rows := make([]couponCodeRow, 0, len(chunk))
		for _, c := range chunk {
			if known[c] {
				continue
			}
			rows = append(rows, couponCodeRow{Campaign: campaign, Seq: next, Code: c, CreatedAt: now})
			next++
		}
		if len(rows) > 0 {
			if err := g.Create(&rows).Error; err != nil {
				if isDuplicate(err) {
					return added, fmt.Errorf("sqlstore.Coupons.ImportCodes: another import of %s ran at the same time; run it again: %w", campaign, bot.ErrConflict)
				}
				return added, fmt.Errorf("sqlstore.Coupons.ImportCodes: %w: %w", bot.ErrUnavailable, err)
			}
			added += len(rows)
		}
		if progress != nil {
			progress(start + len(chunk))
		}
	}
	return added, nil
}
