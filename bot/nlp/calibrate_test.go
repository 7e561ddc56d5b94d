package nlp

import (
	"math"
	"testing"
)

func TestWithTemperature(t *testing.T) {
	m, err := Train(t.Context(), tinyExamples, TrainConfig{Epochs: 30, Seed: 7, FeatureDropout: -1})
	if err != nil {
		t.Fatal(err)
	}
	text := Canonical("我要签到")
	l1, c1 := m.Classify(text)
	l2, c2 := m.WithTemperature(4).Classify(text)
	l3, c3 := m.WithTemperature(0.25).Classify(text)
	if l1 != l2 || l1 != l3 {
		t.Errorf("labels %s %s %s, want one label at every temperature", l1, l2, l3)
	}
	if !(c2 < c1 && c1 < c3) {
		t.Errorf("confidences at T=4, 1, 0.25: %.4f %.4f %.4f, want increasing", c2, c1, c3)
	}
	if got := m.WithTemperature(-1).Temperature(); got != 1 {
		t.Errorf("WithTemperature(-1).Temperature() = %v, want 1", got)
	}
	if got := m.Temperature(); got != 1 {
		t.Errorf("a trained model's temperature %v, want 1", got)
	}
}

func TestFitTemperature(t *testing.T) {
	m, err := Train(t.Context(), tinyExamples, TrainConfig{Epochs: 30, Seed: 7, FeatureDropout: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Lines it is sure of and right about: a sharper softmax fits them
	// better (T < 1). Half of them mislabelled: it must soften (T > 1).
	wrong := []Example{}
	for i, e := range tinyExamples {
		if i%2 == 0 {
			e.Label = map[string]string{"checkin": "coupon", "coupon": "other", "other": "checkin"}[e.Label]
		}
		wrong = append(wrong, e)
	}
	tests := []struct {
		name     string
		examples []Example
		check    func(float64) bool
		want     string
	}{
		{"right and sure", tinyExamples, func(t float64) bool { return t < 1 }, "< 1"},
		{"half wrong", wrong, func(t float64) bool { return t > 2 }, "> 2"},
		{"no known label", []Example{{"x", "nope"}}, func(t float64) bool { return t == 1 }, "= 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FitTemperature(m, tc.examples); !tc.check(got) {
				t.Errorf("FitTemperature = %.3f, want %s", got, tc.want)
			}
		})
	}
	// The fitted temperature is where the likelihood is best.
	zs, gold := [][]float32{{2, 0}, {2, 0}, {2, 0}, {0, 2}}, []int{0, 0, 0, 0}
	best := math.Exp(goldenMin(func(x float64) float64 { return meanNLL(zs, gold, math.Exp(x)) }, -3, 4))
	for _, other := range []float64{best * 0.8, best * 1.25} {
		if meanNLL(zs, gold, other) < meanNLL(zs, gold, best) {
			t.Errorf("NLL at T=%.3f below the fitted T=%.3f's", other, best)
		}
	}
}

func TestMeasureCalibration(t *testing.T) {
	// Four lines at 0.95 (three right), four at 0.65 (two right).
	ex := []Example{{"a", "x"}, {"b", "x"}, {"c", "x"}, {"d", "x"}, {"e", "x"}, {"f", "x"}, {"g", "x"}, {"h", "x"}}
	answer := map[string]struct {
		label string
		conf  float64
	}{
		"a": {"x", 0.95}, "b": {"x", 0.95}, "c": {"x", 0.95}, "d": {"y", 0.95},
		"e": {"x", 0.65}, "f": {"x", 0.65}, "g": {"y", 0.65}, "h": {"y", 0.65},
	}
	c := MeasureCalibration(ex, 2, []float64{0.5, 0.9}, func(s string) (string, float64) { return answer[s].label, answer[s].conf })
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if !near(c.Accuracy, 5.0/8) {
		t.Errorf("accuracy %v, want 0.625", c.Accuracy)
	}
	// |0.95-0.75|/2 + |0.65-0.5|/2
	if want := 0.1 + 0.075; !near(c.ECE, want) {
		t.Errorf("ECE %v, want %v", c.ECE, want)
	}
	if b := c.Bins[9]; b.N != 4 || !near(b.Accuracy, 0.75) || !near(b.Confidence, 0.95) {
		t.Errorf("bin [0.9, 1]: %+v, want 4 lines at 0.95, accuracy 0.75", b)
	}
	want := []CoveragePoint{{0.5, 1, 5.0 / 8}, {0.9, 0.5, 0.75}}
	for i, w := range want {
		if g := c.Coverage[i]; g.Threshold != w.Threshold || !near(g.Answered, w.Answered) || !near(g.Accuracy, w.Accuracy) {
			t.Errorf("coverage %d: %+v, want %+v", i, g, w)
		}
	}
}

func TestClassifyOther(t *testing.T) {
	m, err := Train(t.Context(), tinyExamples, TrainConfig{Epochs: 30, Seed: 7, FeatureDropout: -1})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, text, background, wantLabel string
		check                             func(conf, otherConf float64) bool
	}{
		// A coupon line: not "other" almost surely; Classify agrees.
		{"risky line", "有优惠券吗", "other", "coupon", func(c, oc float64) bool { return c >= oc && c > 0.5 }},
		// A chit-chat line: the best non-background label, unlikely.
		{"background line", "哈哈哈", "other", "", func(c, oc float64) bool { return c < 0.5 }},
		{"unknown background", "签到", "nope", "checkin", func(c, oc float64) bool { return c == oc }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := Canonical(tc.text)
			label, conf := m.ClassifyOther(text, tc.background)
			best, bestConf := m.Classify(text)
			if label == tc.background {
				t.Errorf("ClassifyOther(%q) = %s, want a label other than the background", tc.text, label)
			}
			if tc.wantLabel != "" && label != tc.wantLabel {
				t.Errorf("ClassifyOther(%q) = %s, want %s", tc.text, label, tc.wantLabel)
			}
			if !tc.check(conf, bestConf) {
				t.Errorf("ClassifyOther(%q) confidence %.4f (Classify: %s %.4f): not what %s wants", tc.text, conf, best, bestConf, tc.name)
			}
		})
	}
	// The confidence is one minus the background's probability.
	text := Canonical("今天天气真好")
	_, c := m.ClassifyOther(text, "other")
	if l, p := m.Classify(text); l == "other" && math.Abs(c-(1-p)) > 1e-6 {
		t.Errorf("ClassifyOther confidence %.6f, want 1 - P(other) = %.6f", c, 1-p)
	}
}

func BenchmarkClassifyOther(b *testing.B) {
	m := shippedModel(b)
	text := Canonical("我的外卖怎么还没到，等了40分钟了")
	b.ReportAllocs()
	for b.Loop() {
		m.ClassifyOther(text, "other")
	}
}
