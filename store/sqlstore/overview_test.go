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
	alerts, err := ov.OpenAlerts(ctx)
	if err != nil || alerts["high"] != 2 || alerts["medium"] != 1 || alerts["low"] != 1 {
		t.Errorf("OpenAlerts = %v, %v, want high 2, medium 1, low 1", alerts, err)
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
