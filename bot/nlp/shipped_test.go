package nlp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// The shipped model (knowledge/intents.model, trained by `siyu train`)
// measured on knowledge/intents/heldout, lines written apart from the
// training examples and never trained on.

func shippedModel(tb testing.TB) *Model {
	tb.Helper()
	f, err := os.Open("../../knowledge/intents.model")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	m, err := LoadModel(f)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func heldout(tb testing.TB) []Example {
	tb.Helper()
	es, err := ReadDataset(os.DirFS("../../knowledge/intents"), "heldout")
	if err != nil {
		tb.Fatal(err)
	}
	return es
}

// keywordBaseline is the naive keyword table the model is compared
// with: the first intent with a keyword the message contains, else other.
var keywordBaseline = []struct {
	intent   string
	keywords []string
}{
	{"unsubscribe", []string{"退订", "td", "取消订阅", "别发", "不要再发", "推送", "打扰"}},
	{"human_agent", []string{"人工", "客服", "真人", "店长", "经理"}},
	{"after_sales", []string{"退款", "退货", "换货", "投诉", "发票", "洒了", "送错", "少送", "坏了"}},
	{"order_status", []string{"订单", "外卖", "快递", "物流", "发货", "到哪", "送到", "催"}},
	{"checkin", []string{"签到", "打卡"}},
	{"coupon", []string{"优惠", "券", "折扣", "打折", "活动", "便宜", "半价"}},
	{"price", []string{"多少钱", "价格", "价钱", "几块", "怎么卖", "多少"}},
	{"product_info", []string{"推荐", "菜单", "新品", "有没有", "营业", "门店", "几点", "是什么", "热量"}},
	{"greeting", []string{"你好", "您好", "在吗", "hello", "hi", "哈喽", "早上好", "晚上好", "有人"}},
}

func keywordIntent(text string) string {
	s := Canonical(text)
	for _, row := range keywordBaseline {
		for _, k := range row.keywords {
			if strings.Contains(s, k) {
				return row.intent
			}
		}
	}
	return "other"
}

func TestShippedModelOnHeldout(t *testing.T) {
	m := shippedModel(t)
	held := heldout(t)
	if err := m.CheckLabels(labelSet(held)); err != nil {
		t.Fatal(err)
	}
	model := Evaluate(m.Labels(), held, func(s string) string { l, _ := m.Classify(Canonical(s)); return l })
	base := Evaluate(m.Labels(), held, keywordIntent)
	var b bytes.Buffer
	model.Write(&b)
	b.WriteString("keyword baseline:\n")
	base.Write(&b)
	b.WriteString("per intent F1: model vs keywords\n")
	for i, s := range model.PerLabel {
		b.WriteString(s.Label + "\t" + f3(s.F1) + "\t" + f3(base.PerLabel[i].F1) + "\t" + f3(s.F1-base.PerLabel[i].F1) + "\n")
	}
	t.Log("\n" + b.String())
	if model.Accuracy < 0.92 || model.MacroF1 < 0.90 {
		t.Errorf("held-out accuracy %.3f macro-F1 %.3f, want ≥ 0.92 and ≥ 0.90", model.Accuracy, model.MacroF1)
	}
	if model.Accuracy <= base.Accuracy+0.1 {
		t.Errorf("model accuracy %.3f does not beat the keyword table's %.3f by 0.1", model.Accuracy, base.Accuracy)
	}
}

// TestShippedModelCalibrated checks that the shipped model's confidences
// mean something on the held-out lines: its temperature (fitted by siyu
// train on knowledge/intents/calib, never on heldout/) lowers the
// negative log-likelihood, and a min_confidence filters: at 0.9 the
// answers are nearly always right, at 0.7 most lines are still answered.
func TestShippedModelCalibrated(t *testing.T) {
	m := shippedModel(t)
	held := heldout(t)
	if m.Temperature() <= 1 {
		t.Fatalf("temperature %.3f, want > 1 (a model trained on template lines is over-confident on new text)", m.Temperature())
	}
	measure := func(m *Model) Calibration {
		return MeasureCalibration(held, len(m.Labels()), nil, func(s string) (string, float64) { return m.Classify(Canonical(s)) })
	}
	raw, cal := measure(m.WithTemperature(1)), measure(m)
	var b bytes.Buffer
	b.WriteString("temperature 1:\n")
	raw.Write(&b)
	fmt.Fprintf(&b, "temperature %.3f:\n", m.Temperature())
	cal.Write(&b)
	t.Log("\n" + b.String())
	if cal.NLL >= raw.NLL {
		t.Errorf("NLL %.3f calibrated, %.3f at temperature 1: want lower", cal.NLL, raw.NLL)
	}
	if cal.ECE > 0.06 {
		t.Errorf("ECE %.3f, want ≤ 0.06", cal.ECE)
	}
	tests := []struct {
		threshold, minAnswered, minAccuracy float64
	}{
		// The temperature is now fitted on lines of sources the folds
		// never learned from (4.87, was 3.40 on the seed's calib/), so
		// the model is more modest on the seed's own held-out lines:
		// measured 88.5% answered at 97.3% (0.7), 69.9% at 99.0% (0.9).
		{0.7, 0.85, 0.96},
		{0.9, 0.65, 0.985},
	}
	for _, tc := range tests {
		i := slices.Index(CalibrationThresholds(), tc.threshold)
		got := cal.Coverage[i]
		if got.Answered < tc.minAnswered || got.Accuracy < tc.minAccuracy {
			t.Errorf("min_confidence %.2f answers %.3f at accuracy %.3f, want ≥ %.2f at ≥ %.2f", tc.threshold, got.Answered, got.Accuracy, tc.minAnswered, tc.minAccuracy)
		}
	}
}

// TestTrainHeldoutThreshold trains a small model on a fixed seed, in a
// few seconds, and checks its quality on the held-out lines: the
// trainer, not a file, is what this test holds to a threshold.
func TestTrainHeldoutThreshold(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	all, err := ReadDataset(os.DirFS("../../knowledge/intents"), "train")
	if err != nil {
		t.Fatal(err)
	}
	// A third of the examples, three epochs: fast, and still well above
	// the keyword table.
	small, _ := Split(all, 0.66, 3)
	m, err := Train(t.Context(), small, TrainConfig{Epochs: 3, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	r := Evaluate(m.Labels(), heldout(t), func(s string) string { l, _ := m.Classify(Canonical(s)); return l })
	if r.Accuracy < 0.85 || r.MacroF1 < 0.85 {
		t.Errorf("held-out accuracy %.3f macro-F1 %.3f after a short training, want ≥ 0.85 both", r.Accuracy, r.MacroF1)
	}
}

func TestShippedModelLoadsFast(t *testing.T) {
	data, err := os.ReadFile("../../knowledge/intents.model")
	if err != nil {
		t.Fatal(err)
	}
	// 101k features since the sources and the synthetic long lines (was
	// 25k): 7.1 MB as int8 embeddings (format 4), 4.3 MB folded through
	// the output layer (format 5, ten float32 a feature).
	if len(data) > 5<<20 {
		t.Errorf("model file is %d bytes, want at most 5 MB", len(data))
	}
	_ = time.Second // load time is measured by BenchmarkLoadModel, not asserted
}

func labelSet(es []Example) []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range es {
		if !seen[e.Label] {
			seen[e.Label] = true
			out = append(out, e.Label)
		}
	}
	return out
}

func f3(v float64) string {
	s := []byte("+0.000")
	if v < 0 {
		s[0] = '-'
		v = -v
	}
	n := int(v*1000 + 0.5)
	s[1] = byte('0' + n/1000%10)
	s[3] = byte('0' + n/100%10)
	s[4] = byte('0' + n/10%10)
	s[5] = byte('0' + n%10)
	return string(s)
}

func BenchmarkClassify(b *testing.B) {
	m := shippedModel(b)
	texts := []string{"有优惠券吗", "我要签到", "生椰拿铁多少钱一杯", "我的外卖怎么还没到，等了40分钟了", "轉人工", "今天天气真好哈哈哈", "在吗", "hello 有没有 coupon"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.Classify(Canonical(texts[i%len(texts)]))
	}
}

func BenchmarkCanonical(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Canonical("請問有沒有優惠券？？")
	}
}

func BenchmarkLoadModel(b *testing.B) {
	data, err := os.ReadFile("../../knowledge/intents.model")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ReportMetric(float64(len(data)), "file-bytes")
	for b.Loop() {
		if _, err := LoadModel(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGraphForward is the same computation through spago's graph,
// for comparison with BenchmarkClassify (the reason inference does not use
// the graph).
func BenchmarkGraphForward(b *testing.B) {
	text := Canonical("我的外卖怎么还没到，等了40分钟了")
	feats := appendFeatures(nil, text)
	rows := make([]int, len(feats))
	for i := range rows {
		rows[i] = i
	}
	net := newNetwork(rand.New(rand.NewPCG(1, 1)), len(feats), 64, 0, 10)
	b.ReportAllocs()
	for b.Loop() {
		net.forward(rows).Value()
	}
}
