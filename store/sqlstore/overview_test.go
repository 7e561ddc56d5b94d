package sqlstore_test

import (
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/risk"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func TestOverview(t *testing.T) {
	ctx := t.Context()
	db := storetest.SQL(t)
	rs, err := sqlstore.NewRisk(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	dnds, err := sqlstore.NewDND(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ov, err := sqlstore.NewOverview(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ob := sqlstore.NewOutbox(db)
	now := time.Now().UTC()
	for i, sev := range []risk.Severity{risk.High, risk.High, risk.Low, risk.Medium} {
		e := risk.Event{Key: "k" + string(rune('a'+i)), Category: risk.Fraud, Severity: sev, Platform: bot.WeChat, Scope: "s", Status: risk.StatusOpen, Count: 1, CreatedAt: now}
		if _, _, err := rs.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	id, _, _ := rs.Record(ctx, risk.Event{Key: "done", Category: risk.Fraud, Severity: risk.High, Platform: bot.WeChat, Scope: "s", Status: risk.StatusOpen, Count: 1, CreatedAt: now})
	if err := rs.SetRiskStatus(ctx, id, risk.StatusAcknowledged); err != nil {
		t.Fatal(err)
	}
	counts, err := ov.OpenAlerts(ctx)
	alerts := map[string]int{}
	for _, c := range counts {
		if c.Category != "fraud" {
			t.Errorf("OpenAlerts category %q, want fraud", c.Category)
		}
		alerts[c.Severity] += c.Count
	}
	if err != nil || alerts["high"] != 2 || alerts["medium"] != 1 || alerts["low"] != 1 {
		t.Errorf("OpenAlerts = %v, %v, want high 2, medium 1, low 1", counts, err)
	}

	var items []bot.OutboxItem
	for i := range 5 {
		items = append(items, bot.OutboxItem{Key: "o" + string(rune('a'+i)), Platform: bot.WeChat, Payload: []byte(`{}`), NextAt: now.Add(-2 * time.Hour)})
	}
	if err := ob.Enqueue(ctx, items); err != nil {
		t.Fatal(err)
	}
	rows, err := ob.List(ctx, bot.OutboxPending, 10)
	if err != nil || len(rows) != 5 {
		t.Fatalf("List = %d, %v", len(rows), err)
	}
	errs := []string{"errcode=45015", "errcode=45015", "errcode=45015", "WECHAT_APPSECRET is not set"}
	for i, e := range errs {
		if err := ob.Fail(ctx, rows[i].ID, e, now, true); err != nil {
			t.Fatal(err)
		}
	}
	reasons, err := ov.DeadReasons(ctx, 5)
	if err != nil || len(reasons) != 2 || reasons[0].Reason != "errcode=45015" || reasons[0].Count != 3 || reasons[1].Count != 1 || reasons[0].Platform != "wechat" {
		t.Errorf("DeadReasons = %+v, %v, want 45015 ×3 then APPSECRET ×1", reasons, err)
	}
	if n, err := ov.StuckPending(ctx, now.Add(-time.Hour)); err != nil || n != 1 {
		t.Errorf("StuckPending = %d, %v, want the one pending row 2 hours late", n, err)
	}

	midnight := now.Truncate(24 * time.Hour)
	for i, p := range []bot.PersonID{"wechat:gh:a", "wechat:gh:b", "wechat:gh:c"} {
		at := now
		if i == 0 {
			at = midnight.Add(-time.Hour) // yesterday
		}
		if _, err := dnds.SetOptOut(ctx, p, true, at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dnds.SetOptOut(ctx, "wechat:gh:c", false, now); err != nil { // back in
		t.Fatal(err)
	}
	if n, err := ov.OptOutsSince(ctx, midnight); err != nil || n != 1 {
		t.Errorf("OptOutsSince = %d, %v, want 1 (b: a was yesterday, c opted back in)", n, err)
	}
}

func TestConsolePages(t *testing.T) {
	ctx := t.Context()
	db := storetest.SQL(t)
	ob := sqlstore.NewOutbox(db)
	ov, err := sqlstore.NewOverview(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	dnds, err := sqlstore.NewDND(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var items []bot.OutboxItem
	for i := range 5 {
		items = append(items, bot.OutboxItem{Key: "p" + string(rune('a'+i)), Platform: bot.WeChat, Payload: []byte(`{"type":"reply"}`), NextAt: now})
	}
	if err := ob.Enqueue(ctx, items); err != nil {
		t.Fatal(err)
	}
	page1, err := ob.ListBefore(ctx, bot.OutboxPending, 0, 3)
	if err != nil || len(page1) != 3 {
		t.Fatalf("ListBefore page 1 = %d, %v", len(page1), err)
	}
	page2, err := ob.ListBefore(ctx, bot.OutboxPending, page1[2].ID, 3)
	if err != nil || len(page2) != 2 || page2[0].ID >= page1[2].ID {
		t.Fatalf("ListBefore page 2 = %+v, %v, want the 2 older rows", page2, err)
	}
	for _, it := range page1[:2] {
		if err := ob.Fail(ctx, it.ID, "errcode=45015", now, true); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := ov.DeadIDs(ctx, "errcode=45015", "wechat", 10)
	if err != nil || len(ids) != 2 {
		t.Errorf("DeadIDs = %v, %v, want the 2 dead rows", ids, err)
	}

	base := now.Add(-time.Hour).Truncate(time.Second)
	for i := range 5 {
		if _, err := dnds.SetOptOut(ctx, bot.PersonID("wechat:gh:p"+string(rune('a'+i))), true, base.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	first, err := dnds.OptedOut(ctx, "", 3)
	if err != nil || len(first) != 3 || first[0].Person != "wechat:gh:pe" {
		t.Fatalf("OptedOut page 1 = %+v, %v, want the newest (pe) first", first, err)
	}
	last := first[2]
	second, err := dnds.OptedOut(ctx, last.Since.Format(time.RFC3339Nano)+"|"+last.Person, 3)
	if err != nil || len(second) != 2 || second[0].Person != "wechat:gh:pb" {
		t.Fatalf("OptedOut page 2 = %+v, %v, want pb then pa", second, err)
	}
	total, recent, err := dnds.CountOptedOut(ctx, base.Add(150*time.Second))
	if err != nil || total != 5 || recent != 2 {
		t.Errorf("CountOptedOut = %d, %d, %v, want 5 and 2", total, recent, err)
	}
}
