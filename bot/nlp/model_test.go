package nlp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nlpodyssey/spago/ag"
	"github.com/nlpodyssey/spago/mat"

	"github.com/siyu-bot/siyu/bot"
)

var tinyExamples = []Example{
	{"签到", "checkin"}, {"我要签到", "checkin"}, {"今日打卡", "checkin"}, {"打卡签到", "checkin"},
	{"有优惠券吗", "coupon"}, {"求一张代金券", "coupon"}, {"能便宜点不", "coupon"}, {"有折扣吗", "coupon"},
	{"今天天气真好", "other"}, {"哈哈哈", "other"}, {"谢谢", "other"}, {"[图片]", "other"},
}

func TestTrainTiny(t *testing.T) {
	m, err := Train(t.Context(), tinyExamples, TrainConfig{Epochs: 30, Seed: 7, FeatureDropout: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Labels(), []string{"checkin", "coupon", "other"}; !slices.Equal(got, want) {
		t.Fatalf("Labels() = %v, want %v", got, want)
	}
	for _, e := range tinyExamples {
		if got, _ := m.Classify(Canonical(e.Text)); got != e.Label {
			t.Errorf("Classify(%q) = %s, want %s (a training line)", e.Text, got, e.Label)
		}
	}
}

func TestTrainRefuses(t *testing.T) {
	tests := []struct {
		name string
		ex   []Example
		cfg  TrainConfig
	}{
		{"one label", []Example{{"a", "x"}, {"b", "x"}}, TrainConfig{}},
		{"dimension too large", tinyExamples, TrainConfig{Dim: maxStack + 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Train(t.Context(), tc.ex, tc.cfg); !errors.Is(err, bot.ErrInvalid) {
				t.Errorf("Train err = %v, want ErrInvalid", err)
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Train(ctx, tinyExamples, TrainConfig{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Train on a cancelled context err = %v, want context.Canceled", err)
	}
}

// TestInferenceMatchesGraph checks that the hand-written float32 path
// computes what spago's graph computes, with and without a hidden layer.
func TestInferenceMatchesGraph(t *testing.T) {
	for _, hidden := range []int{0, 8} {
		rng := rand.New(rand.NewPCG(1, 2))
		texts := []string{"有优惠券吗", "签到", "hello world 1234567", "谢谢😊"}
		rowOf := map[uint32]int{}
		var feats []uint32
		var rows [][]int
		for _, s := range texts {
			var r []int
			for _, f := range appendFeatures(nil, Canonical(s)) {
				if _, ok := rowOf[f]; !ok {
					rowOf[f] = len(feats)
					feats = append(feats, f)
				}
				r = append(r, rowOf[f])
			}
			rows = append(rows, r)
		}
		net := newNetwork(rng, len(feats), 16, hidden, 3)
		labels := []string{"a", "b", "c"}
		m := net.model(labels, feats, TrainConfig{Dim: 16, Hidden: hidden})
		for i, s := range texts {
			logits := net.forward(rows[i]).Value().(mat.Matrix).Data().F32()
			probs := ag.Softmax(mat.NewDense[float32](mat.WithBacking(logits))).Value().(mat.Matrix).Data().F32()
			best := 0
			for j := range probs {
				if probs[j] > probs[best] {
					best = j
				}
			}
			label, conf := m.Classify(Canonical(s))
			if label != labels[best] || math.Abs(conf-float64(probs[best])) > 1e-4 {
				t.Errorf("hidden %d: Classify(%q) = %s %.5f, graph says %s %.5f", hidden, s, label, conf, labels[best], probs[best])
			}
		}
	}
}

func TestSaveLoad(t *testing.T) {
	for _, hidden := range []int{0, 4} {
		t.Run(fmt.Sprintf("hidden %d", hidden), func(t *testing.T) { testSaveLoad(t, hidden) })
	}
}

func testSaveLoad(t *testing.T, hidden int) {
	trained, err := Train(t.Context(), tinyExamples, TrainConfig{Epochs: 5, Seed: 1, Hidden: hidden})
	if err != nil {
		t.Fatal(err)
	}
	m := trained.WithTemperature(2.5)
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	got, err := LoadModel(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got.Features() != m.Features() || !slices.Equal(got.Labels(), m.Labels()) {
		t.Fatalf("loaded %d features %v, want %d %v", got.Features(), got.Labels(), m.Features(), m.Labels())
	}
	if got.Temperature() != 2.5 {
		t.Errorf("loaded temperature %v, want 2.5", got.Temperature())
	}
	for _, e := range append(tinyExamples, Example{Text: "没见过的话"}) {
		l1, c1 := m.Classify(Canonical(e.Text))
		l2, c2 := got.Classify(Canonical(e.Text))
		if l1 != l2 || math.Abs(c1-c2) > 0.01 {
			t.Errorf("%q: saved model says %s %.4f, loaded %s %.4f (int8 rounding only)", e.Text, l1, c1, l2, c2)
		}
	}
	var again bytes.Buffer
	if err := got.Save(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), data) {
		t.Errorf("a loaded model saved again: %d bytes differ from the %d it was loaded from", len(again.Bytes()), len(data))
	}
	labels, err := ReadLabels(bytes.NewReader(data))
	if err != nil || !slices.Equal(labels, m.Labels()) {
		t.Errorf("ReadLabels = %v, %v, want %v", labels, err, m.Labels())
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not a model", []byte("hello world, not a model")},
		{"truncated", data[:len(data)/2]},
		{"short by one byte", data[:len(data)-1]},
		{"trailing bytes", append(bytes.Clone(data), 0)},
		{"version 9", append([]byte("SIYUNLP\x09"), data[len(modelMagic):]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := LoadModel(bytes.NewReader(tc.data)); !errors.Is(err, bot.ErrInvalid) {
				t.Errorf("LoadModel err = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestVersion5Folded checks that a linear model written as version 5
// (rows folded through the output layer) answers exactly as the same
// model written as version 4 (int8 embeddings) answers once loaded, that
// the version 4 model saved again gives the version 5 file byte for
// byte, and that the folded file is the smaller one.
func TestVersion5Folded(t *testing.T) {
	m, err := Train(t.Context(), tinyExamples, TrainConfig{Epochs: 5, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	m = m.WithTemperature(1.7).WithSureThresholds(map[string]float64{"checkin": 0.8})
	var v4, v5 bytes.Buffer
	if err := m.save(&v4, 4); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(&v5); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(v4.Bytes(), []byte(modelMagicV4)) || !bytes.HasPrefix(v5.Bytes(), []byte(modelMagic)) {
		t.Fatalf("magics %q and %q, want version 4 and 5", v4.Bytes()[:8], v5.Bytes()[:8])
	}
	if v5.Len() >= v4.Len() {
		t.Errorf("version 5 file %d bytes, version 4 %d: want smaller (3 labels, dim 64)", v5.Len(), v4.Len())
	}
	old, err := LoadModel(bytes.NewReader(v4.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	folded, err := LoadModel(bytes.NewReader(v5.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append(tinyExamples, Example{Text: "没见过的话"}, Example{Text: "签到有优惠券吗 hello 12345678"}) {
		l1, c1 := old.Classify(Canonical(e.Text))
		l2, c2 := folded.Classify(Canonical(e.Text))
		o1, p1 := old.ClassifyOther(Canonical(e.Text), "other")
		o2, p2 := folded.ClassifyOther(Canonical(e.Text), "other")
		if l1 != l2 || c1 != c2 || o1 != o2 || p1 != p2 {
			t.Errorf("%q: version 4 says %s %v (%s %v), version 5 %s %v (%s %v); want the same to the bit", e.Text, l1, c1, o1, p1, l2, c2, o2, p2)
		}
	}
	var again bytes.Buffer
	if err := old.Save(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), v5.Bytes()) {
		t.Error("the version 4 model saved again differs from the version 5 file of the same model")
	}
	if err := old.save(&again, 4); err == nil {
		t.Error("a loaded linear model wrote version 4 without its embeddings, want an error")
	}
}

// TestFoldedMatchesDense checks that a linear model's folded rows give
// the logits of the dense computation (mean of the embedding rows, then
// the output layer) to float32 rounding.
func TestFoldedMatchesDense(t *testing.T) {
	m, err := Train(t.Context(), tinyExamples, TrainConfig{Epochs: 5, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if m.folded == nil || m.emb == nil {
		t.Fatal("a trained linear model has no folded rows or no embeddings")
	}
	dense := *m
	dense.folded = nil
	for _, e := range append(tinyExamples, Example{Text: "没见过的话"}, Example{Text: ""}) {
		var zf, zd [3]float32
		m.logits(Canonical(e.Text), zf[:])
		dense.logits(Canonical(e.Text), zd[:])
		for i := range zf {
			if math.Abs(float64(zf[i]-zd[i])) > 1e-5*max(1, math.Abs(float64(zd[i]))) {
				t.Errorf("%q: folded logits %v, dense %v", e.Text, zf, zd)
				break
			}
		}
	}
}

func TestCheckLabels(t *testing.T) {
	m := &Model{labels: []string{"checkin", "coupon", "other"}}
	if err := m.CheckLabels([]string{"other", "coupon", "checkin"}); err != nil {
		t.Errorf("same labels in another order: %v, want nil", err)
	}
	err := m.CheckLabels([]string{"checkin", "coupon", "other", "price"})
	if !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("a dataset with a new label: err = %v, want ErrInvalid", err)
	}
	if want := "model lacks [price]"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("err = %q, want it to say %q", err, want)
	}
}

func TestSmoothedCrossEntropy(t *testing.T) {
	logits := []float32{2, 0.5, -1}
	x := mat.NewDense[float32](mat.WithBacking(logits))
	var z float64
	for _, v := range logits {
		z += math.Exp(float64(v))
	}
	logp := func(i int) float64 { return float64(logits[i]) - math.Log(z) }
	tests := []struct {
		eps  float64
		want float64
	}{
		{0, -logp(0)},
		{0.3, -(0.7*logp(0) + 0.1*(logp(0)+logp(1)+logp(2)))},
	}
	for _, tc := range tests {
		got := smoothedCrossEntropy(x, 0, 3, tc.eps).Value().Item().F64()
		if math.Abs(got-tc.want) > 1e-5 {
			t.Errorf("eps %v: loss %.6f, want %.6f", tc.eps, got, tc.want)
		}
	}
}

// TestLoadVersion2 checks that a model file written before calibration
// (version 2: no temperature) still loads, as uncalibrated.
func TestLoadVersion2(t *testing.T) {
	m, err := Train(t.Context(), tinyExamples, TrainConfig{Epochs: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.WithTemperature(3).save(&buf, 4); err != nil {
		t.Fatal(err)
	}
	// Version 3 writes the temperature's four bytes right after the
	// uvarints of dim and hidden (one byte each here); version 4 then the
	// count of sure thresholds (0 here: one byte).
	data := buf.Bytes()
	hdr := len(modelMagic) + 1
	for _, l := range m.Labels() {
		hdr += 1 + len(l)
	}
	hdr += 2
	v2 := append(append([]byte(modelMagicV2), data[len(modelMagic):hdr]...), data[hdr+4+1:]...)
	got, err := LoadModel(bytes.NewReader(v2))
	if err != nil {
		t.Fatalf("LoadModel(version 2) err = %v, want nil", err)
	}
	if got.Temperature() != 1 {
		t.Errorf("version 2 temperature %v, want 1", got.Temperature())
	}
	for _, e := range tinyExamples {
		l1, c1 := m.Classify(Canonical(e.Text))
		l2, c2 := got.Classify(Canonical(e.Text))
		if l1 != l2 || math.Abs(c1-c2) > 0.01 {
			t.Errorf("%q: version 2 file says %s %.4f, want %s %.4f", e.Text, l2, c2, l1, c1)
		}
	}
}

// TestSureThresholds checks that a model's sure thresholds survive Save
// and LoadModel, that a label without one is never sure, and that a
// version 3 file (before thresholds) loads with none.
func TestSureThresholds(t *testing.T) {
	m, err := Train(t.Context(), tinyExamples, TrainConfig{Epochs: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m = m.WithTemperature(2).WithSureThresholds(map[string]float64{"checkin": 0.9, "coupon": 0.75})
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := LoadModel(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		label string
		conf  float64
		want  bool
	}{
		{name: "above", label: "checkin", conf: 0.95, want: true},
		{name: "at", label: "coupon", conf: 0.75, want: true},
		{name: "below", label: "checkin", conf: 0.89, want: false},
		{name: "no threshold", label: "other", conf: 1, want: false},
		{name: "unknown label", label: "refund", conf: 1, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if g := got.IsSure(tc.label, tc.conf); g != tc.want {
				t.Errorf("IsSure(%s, %v) = %v, want %v", tc.label, tc.conf, g, tc.want)
			}
		})
	}
	if th, ok := got.SureThreshold("checkin"); !ok || math.Abs(th-0.9) > 1e-6 {
		t.Errorf("SureThreshold(checkin) = %v, %v; want 0.9, true", th, ok)
	}
	// Version 3: the same model's version 4 file without the thresholds
	// (count and four floats of three labels) and with the old magic.
	buf.Reset()
	if err := m.save(&buf, 4); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	hdr := len(modelMagic) + 1
	for _, l := range m.Labels() {
		hdr += 1 + len(l)
	}
	hdr += 2 + 4
	v3 := append(append([]byte(modelMagicV3), data[len(modelMagic):hdr]...), data[hdr+1+4*len(m.Labels()):]...)
	old, err := LoadModel(bytes.NewReader(v3))
	if err != nil {
		t.Fatalf("LoadModel(version 3) err = %v, want nil", err)
	}
	if _, ok := old.SureThreshold("checkin"); ok || old.Temperature() != 2 {
		t.Errorf("version 3: threshold %v, temperature %v; want none, 2", ok, old.Temperature())
	}
}

// TestTrainMinCount checks that MinCount drops the features of fewer
// training lines than it, and that the model still reads its lines.
func TestTrainMinCount(t *testing.T) {
	all, err := Train(t.Context(), tinyExamples, TrainConfig{Epochs: 30, Seed: 7, FeatureDropout: -1})
	if err != nil {
		t.Fatal(err)
	}
	pruned, err := Train(t.Context(), tinyExamples, TrainConfig{Epochs: 30, Seed: 7, FeatureDropout: -1, MinCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	if pruned.Features() >= all.Features() || pruned.Features() == 0 {
		t.Errorf("features: %d with MinCount 2, %d without; want fewer, not none", pruned.Features(), all.Features())
	}
	if got, _ := pruned.Classify(Canonical("我要签到")); got != "checkin" {
		t.Errorf("Classify(我要签到) = %s with MinCount 2, want checkin", got)
	}
}
