package main

import (
	"bufio"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/siyu-bot/siyu/bot/nlp"
	"github.com/siyu-bot/siyu/bot/risk"
	"github.com/siyu-bot/siyu/knowledge"
)

// TestRiskQualityWithModel measures the shipped scanner (lexicons,
// detectors and the risk model, as siyu runs it) on knowledge/risk/heldout,
// text written apart from the lexicons and the training lines: the share
// of risky lines flagged with their category, overall and per category,
// and the share of ordinary chat flagged at all. The thresholds guard
// against regressions; the figures are in the test's log (-v).
func TestRiskQualityWithModel(t *testing.T) {
	model, err := loadRiskModel()
	if err != nil {
		t.Fatal(err)
	}
	s, err := newRiskScanner(model)
	if err != nil {
		t.Fatal(err)
	}
	words, err := newRiskScanner(nil)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []string {
		f, err := knowledge.FS.Open("risk/heldout/" + name + ".txt")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var lines []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		return lines
	}
	has := func(hits []risk.Hit, c risk.Category) bool {
		return slices.ContainsFunc(hits, func(h risk.Hit) bool { return h.Category == c })
	}
	var flagged, total, wordsFlagged int
	var report strings.Builder
	for _, c := range risk.Categories() {
		lines := read(string(c))
		n, w := 0, 0
		for _, l := range lines {
			if has(s.Scan(l), c) {
				n++
			}
			if has(words.Scan(l), c) {
				w++
			}
		}
		flagged, total, wordsFlagged = flagged+n, total+len(lines), wordsFlagged+w
		rate := float64(n) / float64(len(lines))
		fmt.Fprintf(&report, "%-10s %3d lines  flagged %.1f%%  (lexicons and detectors alone %.1f%%)\n", c, len(lines), 100*rate, 100*float64(w)/float64(len(lines)))
		// 0.90 before issue 24. The model is now calibrated for sources
		// it never saw (temperature 6.82, threshold 0.97, both fitted on
		// held-out sources' fit lines): on the seed's own lines it adds
		// little to the lexicons (abuse 80.6%, ad_spam 82.3%, fraud 83.9%
		// measured). A guard against regressions, not a target.
		if rate < 0.80 {
			t.Errorf("%s: %.1f%% of held-out lines flagged, want at least 80%%", c, 100*rate)
		}
	}
	ordinary := read("none")
	alarms := 0
	for _, l := range ordinary {
		if len(s.Scan(l)) > 0 {
			alarms++
		}
	}
	overall, falseRate := float64(flagged)/float64(total), float64(alarms)/float64(len(ordinary))
	fmt.Fprintf(&report, "overall    %3d lines  flagged %.1f%% (alone %.1f%%); ordinary chat flagged %.1f%% of %d", total, 100*overall, 100*float64(wordsFlagged)/float64(total), 100*falseRate, len(ordinary))
	// Customers' ordinary messages to the brand (the intents' held-out
	// lines, written apart from both training sets; after_sales left out,
	// it may carry complaints) must not be flagged either: 1:1 chat is
	// mostly these. Measured: 6 of 383 (1.6%); 20 (5.2%) before.
	customer, err := nlp.ReadDataset(knowledge.FS, "intents/heldout")
	if err != nil {
		t.Fatal(err)
	}
	custAlarms, custTotal := 0, 0
	for _, e := range customer {
		if e.Label == "after_sales" {
			continue
		}
		custTotal++
		if len(s.Scan(e.Text)) > 0 {
			custAlarms++
		}
	}
	custRate := float64(custAlarms) / float64(custTotal)
	fmt.Fprintf(&report, "\ncustomer messages (intents/heldout but after_sales) flagged %.1f%% of %d", 100*custRate, custTotal)
	if custRate > 0.02 {
		t.Errorf("customer messages: %.1f%% flagged, want ≤ 2%%", 100*custRate)
	}
	t.Log("\n" + report.String())
	// Measured with the model of issue 24 at the default 0.97: 87.4%
	// flagged, 0.0% of ordinary chat, 0.5% of customer messages (before:
	// 95.5%, 1.8%, 1.6% with a model and threshold chosen on these very
	// lines). Leave-one-source-out figures are in docs/risk.md.
	if overall < 0.85 || falseRate > 0.02 {
		t.Errorf("overall %.1f%% flagged (want ≥ 85%%), ordinary %.1f%% flagged (want ≤ 2%%)", 100*overall, 100*falseRate)
	}
}

// TestRiskModelCalibrated checks the shipped risk model's confidences on
// knowledge/risk/heldout (pii left out: patterns find it, the model does
// not learn it): the temperature siyu train fitted on knowledge/risk/calib
// brings the expected calibration error down and the log-likelihood up.
func TestRiskModelCalibrated(t *testing.T) {
	f, err := knowledge.FS.Open("risk.model")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := nlp.LoadModel(f)
	if err != nil {
		t.Fatal(err)
	}
	all, err := nlp.ReadDataset(knowledge.FS, "risk/heldout")
	if err != nil {
		t.Fatal(err)
	}
	var held []nlp.Example
	for _, e := range all {
		if slices.Contains(m.Labels(), e.Label) {
			held = append(held, e)
		}
	}
	measure := func(m *nlp.Model) nlp.Calibration {
		return nlp.MeasureCalibration(held, len(m.Labels()), nil, func(s string) (string, float64) { return m.Classify(nlp.Canonical(s)) })
	}
	raw, cal := measure(m.WithTemperature(1)), measure(m)
	var b strings.Builder
	b.WriteString("temperature 1:\n")
	raw.Write(&b)
	fmt.Fprintf(&b, "temperature %.3f:\n", m.Temperature())
	cal.Write(&b)
	t.Log("\n" + b.String())
	// The temperature (6.82) is fitted on sources each fold never saw, so
	// on the seed's own held-out lines the model is under-confident: ECE
	// 0.131 against 0.098 uncalibrated, while the likelihood improves
	// (NLL 0.511 against 0.937). Hold the likelihood, bound the ECE.
	if cal.ECE > 0.15 {
		t.Errorf("ECE %.3f calibrated, want ≤ 0.15", cal.ECE)
	}
	if cal.NLL >= raw.NLL {
		t.Errorf("NLL %.3f calibrated, %.3f at temperature 1: want lower", cal.NLL, raw.NLL)
	}
}

// BenchmarkRiskScanShipped is one message through the scanner as siyu
// runs it: folding, the shipped lexicons, the detectors and the
// calibrated risk model (ClassifyOther against none).
func BenchmarkRiskScanShipped(b *testing.B) {
	model, err := loadRiskModel()
	if err != nil {
		b.Fatal(err)
	}
	s, err := newRiskScanner(model)
	if err != nil {
		b.Fatal(err)
	}
	texts := []string{"今天的拿铁真好喝", "加我v信，内部价更便宜", "我的订单号 2024112612345678 还没发货", "再不退款我就打12315", "在家动动手指日赚三百"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Scan(texts[i%len(texts)])
	}
}

// TestCalibrationSetsApart checks that each dataset's calib/ lines (what
// siyu train fits the temperature on) are neither training lines nor
// held-out lines: the temperature is fitted on text the model never
// learned from and the held-out set never saw.
func TestCalibrationSetsApart(t *testing.T) {
	for _, ds := range []string{"intents", "risk"} {
		set := func(dir string) map[string]bool {
			es, err := nlp.ReadDataset(knowledge.FS, ds+"/"+dir)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]bool{}
			for _, e := range es {
				m[e.Text] = true
			}
			return m
		}
		train, held, calib := set("train"), set("heldout"), set("calib")
		for line := range calib {
			if train[line] || held[line] {
				t.Errorf("%s/calib: a line is also in train/ (%v) or heldout/ (%v)", ds, train[line], held[line])
			}
		}
	}
}

// BenchmarkUnderstand is what siyu does with every message before any
// rule: the intent model's Classify and the risk scan (folding,
// lexicons, detectors, the risk model on the message and, when long, on
// each clause). The issue asks for a median under 10 µs at 20
// characters and under 50 µs at 200, and bounded time at 64 KiB.
func BenchmarkUnderstand(b *testing.B) {
	intents, err := nlp.LoadDatasetModel(knowledge.FS, intentsDataset)
	if err != nil {
		b.Fatal(err)
	}
	model, err := loadRiskModel()
	if err != nil {
		b.Fatal(err)
	}
	s, err := newRiskScanner(model)
	if err != nil {
		b.Fatal(err)
	}
	short := "你好，我的拿铁怎么还没到呀，急"                                                                                  // 15
	clause := "我上周在你们小程序下单买了两杯拿铁和一个三明治，到现在还没有收到，客服一直说在处理，"                                                      // ~42
	long := strings.Repeat(clause, 4) + "如果今天再不给我退款我就去12315投诉你们。"                                               // ~190
	huge := strings.Repeat(clause+"加我v信13800138000日结兼职，", 64<<10/len(clause+"加我v信13800138000日结兼职，")+1)[:64<<10] // 64 KiB
	// About as long (188) without a repeated clause: the model reads
	// each clause (a long message of repeats reads a clause once).
	distinct := "你好，我上周六在你们小程序上下单买了两杯燕麦拿铁和一个火腿三明治，订单显示已经送达，但是我根本没有收到，打了骑手电话也一直没人接。" +
		"客服说会帮我核实，可是三天过去了还是没有任何回复。我每天都在你们家买咖啡，这次真的很失望，麻烦尽快给我一个说法。" +
		"另外上次买的咖啡豆包装也是破的，豆子撒了一半，拍了照片发给你们也没人理，退款也一直没到账。如果今天再不处理我就只能去12315投诉了。"
	for _, tc := range []struct {
		name string
		text string
	}{{"20chars", short + "！！！！"}, {"200chars", long}, {"200distinct", distinct}, {"64KiB", strings.ToValidUTF8(huge, "")}} {
		for _, part := range []struct {
			name string
			run  func(text string)
		}{
			{"classify", func(text string) { intents.Classify(nlp.Canonical(text)) }},
			{"scan", func(text string) { s.Scan(text) }},
			{"both", func(text string) { intents.Classify(nlp.Canonical(text)); s.Scan(text) }},
		} {
			b.Run(tc.name+"/"+part.name, func(b *testing.B) {
				b.ReportAllocs()
				// CPU time per message too: on a shared machine ns/op is
				// mostly time spent waiting for a core.
				before := cpuTime()
				for b.Loop() {
					part.run(tc.text)
				}
				b.ReportMetric(float64(cpuTime()-before)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// cpuTime returns the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
