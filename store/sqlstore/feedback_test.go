package sqlstore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/feedback"
	"github.com/siyu-bot/siyu/bot/risk"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func TestFeedbackLines(t *testing.T) {
	ctx := t.Context()
	s, err := sqlstore.NewFeedback(ctx, storetest.SQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	steps := []struct {
		name string
		put  feedback.Line
		// want is the risk dataset's lines afterwards, latest first, as
		// "label:text".
		want string
	}{
		{"a line", feedback.Line{Dataset: "risk", Label: "none", Text: "两件包邮吗", Key: "risk:1", At: t0}, "none:两件包邮吗"},
		{"another", feedback.Line{Dataset: "risk", Label: "fraud", Text: "兼职刷单", Key: "risk:2", At: t0.Add(time.Minute)}, "fraud:兼职刷单,none:两件包邮吗"},
		{"relabelled: the same key replaces its line and moves it first", feedback.Line{Dataset: "risk", Label: "ad_spam", Text: "两件包邮吗", Key: "risk:1", At: t0.Add(2 * time.Minute)},
			"ad_spam:两件包邮吗,fraud:兼职刷单"},
		{"another dataset's line is apart", feedback.Line{Dataset: "intents", Label: "other", Text: "那我不要了", Key: "intents:x", At: t0.Add(3 * time.Minute)},
			"ad_spam:两件包邮吗,fraud:兼职刷单"},
		{"a long text is cut to its column", feedback.Line{Dataset: "risk", Label: "none", Text: strings.Repeat("长", 600), Key: "risk:3", At: t0.Add(4 * time.Minute)},
			"none:" + strings.Repeat("长", 500) + ",ad_spam:两件包邮吗,fraud:兼职刷单"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := s.Put(ctx, st.put); err != nil {
				t.Fatal(err)
			}
			lines, err := s.Lines(ctx, "risk", 10)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range lines {
				got = append(got, l.Label+":"+l.Text)
			}
			if g := strings.Join(got, ","); g != st.want {
				t.Errorf("Lines = %s, want %s", g, st.want)
			}
		})
	}
	if lines, err := s.Lines(ctx, "risk", 1); err != nil || len(lines) != 1 {
		t.Errorf("Lines(limit 1) = %d lines, %v", len(lines), err)
	}
}

func TestRiskEvent(t *testing.T) {
	s := mustRisk(t)
	ctx := t.Context()
	id, _, err := s.Record(ctx, riskEvent("m#fraud", "u1", risk.Fraud, riskT0))
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.RiskEvent(ctx, id)
	if err != nil || e.ID != id || e.Category != risk.Fraud || e.TextMasked != "加 我 v 信 138****8000" {
		t.Errorf("RiskEvent = %+v, %v", e, err)
	}
	if _, err := s.RiskEvent(ctx, id+100); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("RiskEvent(unknown) = %v, want ErrNotFound", err)
	}
}
