package nlp

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/siyu-bot/siyu/bot"
)

func sourcesFS() fstest.MapFS {
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	return fstest.MapFS{
		"intents/train/checkin.txt":       f("签到\n我要签到\n打卡\n"),
		"intents/train/other.txt":         f("哈哈\n# a comment\n今天天气不错\n"),
		"intents/calib/checkin.txt":       f("签个到\n"),
		"intents/calib/other.txt":         f("好的\n"),
		"intents/heldout/checkin.txt":     f("打个卡\n"),
		"intents/heldout/other.txt":       f("嗯嗯\n"),
		"intents/sources/w1/checkin.txt":  f("每日打卡\n今天签到了吗\n签到签到\n打卡打卡\n"),
		"intents/sources/w1/other.txt":    f("吃了吗\n下雨了\n"),
		"intents/sources/w1/README.md":    f("not lines"),
		"intents/sources/brand/other.txt": f("# exported by staff\n"),
		"intents/sources/lccc/other.txt":  f("坐等反弹\n新年快乐\n"),
	}
}

// TestReadSources checks the seed source and the sources/ folders: the
// seed's parts come from train/, calib/ and heldout/; another source's
// lines are all training lines and split between Fit and Report, neither
// overlapping nor losing one; an empty brand folder is no source.
func TestReadSources(t *testing.T) {
	srcs, err := ReadSources(sourcesFS(), "intents")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range srcs {
		names = append(names, s.Name)
	}
	if want := []string{"seed", "lccc", "w1"}; !slices.Equal(names, want) {
		t.Fatalf("sources %v, want %v", names, want)
	}
	seed := srcs[0]
	if len(seed.Train) != 5 || len(seed.Fit) != 2 || len(seed.Report) != 2 {
		t.Errorf("seed: train %d fit %d report %d, want 5 2 2", len(seed.Train), len(seed.Fit), len(seed.Report))
	}
	w1 := srcs[2]
	if len(w1.Train) != 6 || len(w1.Fit)+len(w1.Report) != 6 {
		t.Errorf("w1: train %d, fit+report %d, want 6 and 6", len(w1.Train), len(w1.Fit)+len(w1.Report))
	}
	for _, e := range w1.Fit {
		if slices.Contains(w1.Report, e) {
			t.Errorf("w1: %q is in Fit and Report", e.Text)
		}
	}
}

// TestReadSourcesRefuses checks the errors: a label the dataset does not
// have, and an unmasked number in the brand's exported lines.
func TestReadSourcesRefuses(t *testing.T) {
	tests := []struct {
		name, file, data, want string
	}{
		{name: "unknown label", file: "intents/sources/w2/refund.txt", data: "我要退款\n", want: `"refund" is not a label`},
		{name: "unmasked brand line", file: "intents/sources/brand/other.txt", data: "我电话13800138000\n", want: "mask personal data"},
		{name: "bad source name", file: "intents/sources/W-2/other.txt", data: "好\n", want: "source names"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := sourcesFS()
			fsys[tc.file] = &fstest.MapFile{Data: []byte(tc.data)}
			_, err := ReadSources(fsys, "intents")
			if !errors.Is(err, bot.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalid saying %q", err, tc.want)
			}
		})
	}
	t.Run("writer's number kept", func(t *testing.T) {
		fsys := sourcesFS()
		fsys["intents/sources/w2/other.txt"] = &fstest.MapFile{Data: []byte("加我13800138000\n")}
		if _, err := ReadSources(fsys, "intents"); err != nil {
			t.Errorf("err = %v, want nil: only the brand's export must be masked", err)
		}
	})
}

// TestAugment checks the synthetic long lines: each keeps the label of
// the line it was built around and contains it, a background line is
// joined with background fillers only, and the result is the same for a
// seed.
func TestAugment(t *testing.T) {
	ex := []Example{
		{"你好", "greeting"}, {"在吗", "greeting"},
		{"哈哈", "other"}, {"今天下雨", "other"},
		{"我的外卖怎么还没到", "order_status"}, {"有优惠券吗", "coupon"},
	}
	got := Augment(ex, "other", []string{"greeting", "other"}, 200, 3)
	if len(got) == 0 {
		t.Fatal("no lines")
	}
	for _, e := range got {
		switch e.Label {
		case "order_status", "coupon":
		case "other":
			if strings.Contains(e.Text, "你好") || strings.Contains(e.Text, "在吗") {
				t.Errorf("%q: a background line joined with a greeting", e.Text)
			}
		default:
			t.Errorf("%q labelled %s: fillers' own labels are no base but background", e.Text, e.Label)
		}
		base := map[string]string{"order_status": "我的外卖怎么还没到", "coupon": "有优惠券吗"}[e.Label]
		if base != "" && !strings.Contains(e.Text, base) {
			t.Errorf("%q labelled %s does not contain its line", e.Text, e.Label)
		}
	}
	if again := Augment(ex, "other", []string{"greeting", "other"}, 200, 3); !slices.Equal(got, again) {
		t.Error("not deterministic for a seed")
	}
}

// TestFitSureThresholds checks the walk from the most confident answer
// down: the threshold stops before the share right falls under 99%, and
// a label with too few answers gets none.
func TestFitSureThresholds(t *testing.T) {
	var rs []Reading
	add := func(label, gold string, conf float64) {
		rs = append(rs, Reading{Example: Example{Text: "x", Label: gold}, Label: label, Confidence: conf})
	}
	for i := range 100 {
		add("checkin", "checkin", 0.99-float64(i)*0.001) // 0.99 … 0.891, all right
	}
	add("checkin", "other", 0.885) // a wrong one: 100/101 is still 99%
	add("checkin", "other", 0.88)  // 100/102 is not
	for i := range 50 {
		add("checkin", "checkin", 0.87-float64(i)*0.001)
	}
	for i := range 10 {
		add("coupon", "coupon", 0.99-float64(i)*0.01)
	}
	got := FitSureThresholds(rs, 30)
	if th, ok := got["checkin"]; !ok || th != 0.885 {
		t.Errorf("checkin threshold %v (%v), want 0.885", th, ok)
	}
	if th, ok := got["coupon"]; ok {
		t.Errorf("coupon threshold %v over 10 lines, want none", th)
	}
}

// TestLeaveOneSourceOut trains tiny folds and checks that every source
// with lines to measure is held out once, that the table names them
// with the worst first, and that thresholds come out only from Fit
// lines.
func TestLeaveOneSourceOut(t *testing.T) {
	srcs, err := ReadSources(sourcesFS(), "intents")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := LeaveOneSourceOut(t.Context(), srcs, SourceConfig{
		Train: TrainConfig{Epochs: 20, Seed: 1}, Background: "other", Fillers: []string{"other"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Folds) != 3 {
		t.Fatalf("%d folds, want 3 (seed, lccc, w1)", len(ev.Folds))
	}
	var b bytes.Buffer
	if err := ev.Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range []string{"seed", "lccc", "w1", "all", "temperature"} {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q:\n%s", s, out)
		}
	}
	if ev.Temperature <= 0 {
		t.Errorf("temperature %v", ev.Temperature)
	}
}

// TestLoadRetrained checks the loader of a brand's retrained model: it
// loads a model that knows every intent the scripts use and refuses one
// that lacks any, naming it.
func TestLoadRetrained(t *testing.T) {
	m, err := Train(t.Context(), tinyExamples, TrainConfig{Epochs: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"intents.model": &fstest.MapFile{Data: buf.Bytes()}}
	if _, err := LoadRetrained(fsys, "intents.model", []string{"checkin", "coupon"}); err != nil {
		t.Errorf("err = %v, want nil", err)
	}
	_, err = LoadRetrained(fsys, "intents.model", []string{"checkin", "human_agent", "unsubscribe"})
	if !errors.Is(err, bot.ErrInvalid) || !strings.Contains(err.Error(), "human_agent, unsubscribe") {
		t.Errorf("err = %v, want ErrInvalid naming human_agent, unsubscribe", err)
	}
	if _, err := LoadRetrained(fsys, "missing.model", nil); err == nil {
		t.Error("a missing file loaded")
	}
}

// TestLeaveOneSourceOutDetector checks a detector's evaluation: every
// threshold is tried on the Fit lines, false alarms fall as the
// threshold rises, and the one kept is the least at which the model adds
// no more than the limit to the false alarms without it.
func TestLeaveOneSourceOutDetector(t *testing.T) {
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	fsys := fstest.MapFS{
		"risk/train/ad_spam.txt":        f("加微信领红包\n日结兼职加v\n免费领取加群\n代开发票联系我\n"),
		"risk/train/none.txt":           f("拿铁多少钱\n我的外卖到哪了\n谢谢\n好的\n"),
		"risk/heldout/ad_spam.txt":      f("加v领福利\n"),
		"risk/heldout/none.txt":         f("几点关门\n"),
		"risk/sources/w1/ad_spam.txt":   f("兼职日结加微信\n加群领红包\n免费送加v\n低价代开发票\n刷单返现加群\n"),
		"risk/sources/w1/none.txt":      f("今天下雨了\n有燕麦奶吗\n发票怎么开\n在吗\n快递到了\n拿铁好喝\n"),
		"risk/sources/cold/none.txt":    f("坐等反弹\n新年快乐\n吃了吗\n"),
		"risk/sources/cold/ad_spam.txt": f("加微信看片\n"),
	}
	srcs, err := ReadSources(fsys, "risk")
	if err != nil {
		t.Fatal(err)
	}
	ths := []float64{0.3, 0.5, 0.7, 0.9, 0.99}
	ev, err := LeaveOneSourceOut(t.Context(), srcs, SourceConfig{
		Train: TrainConfig{Epochs: 20, Seed: 1}, Background: "none", Fillers: []string{"none"},
		DetectThresholds: ths, MaxFalseAlarms: 0.2,
		Detect: func(m *Model, min float64) func(string) []string {
			return func(text string) []string {
				if l, c := m.ClassifyOther(Canonical(text), "none"); c >= min {
					return []string{l}
				}
				return nil
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Sweep) != len(ths) {
		t.Fatalf("%d sweep points, want %d", len(ev.Sweep), len(ths))
	}
	for i := 1; i < len(ev.Sweep); i++ {
		if ev.Sweep[i].FalseAlarm > ev.Sweep[i-1].FalseAlarm {
			t.Errorf("false alarms rise from %v to %v", ev.Sweep[i-1], ev.Sweep[i])
		}
	}
	for _, p := range ev.Sweep {
		if p.FalseAlarm <= ev.SweepBase.FalseAlarm+0.2 {
			if p.MinConfidence != ev.DetectThreshold {
				t.Errorf("threshold %v kept, want %v, the least within the limit", ev.DetectThreshold, p.MinConfidence)
			}
			break
		}
	}
	var b bytes.Buffer
	if err := ev.Write(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "false alarms") || !strings.Contains(b.String(), "detector threshold") {
		t.Errorf("report:\n%s", b.String())
	}
}

// TestWithdrawSure checks the gate on the Report lines: a threshold right
// less than 99% of the time there is withdrawn and said so, one that
// holds stays.
func TestWithdrawSure(t *testing.T) {
	ev := &SourceEval{Sure: map[string]float64{"checkin": 0.7, "coupon": 0.8}}
	var rs []Reading
	for i := range 50 {
		gold := "checkin"
		if i%10 == 0 {
			gold = "other" // 45 of 50 right: 90%
		}
		rs = append(rs, Reading{Example: Example{Label: gold}, Label: "checkin", Confidence: 0.9})
		rs = append(rs, Reading{Example: Example{Label: "coupon"}, Label: "coupon", Confidence: 0.95})
		rs = append(rs, Reading{Example: Example{Label: "coupon"}, Label: "coupon", Confidence: 0.5}) // below: not counted
	}
	ev.Folds = []Fold{{Source: "w1", Report: rs}}
	got := ev.withdraw()
	if _, ok := ev.Sure["checkin"]; ok || !strings.Contains(got["checkin"], "45 of 50") {
		t.Errorf("checkin: sure %v, withdrawn %q; want withdrawn, 45 of 50 right", ev.Sure, got["checkin"])
	}
	if _, ok := ev.Sure["coupon"]; !ok {
		t.Errorf("coupon withdrawn (%q), want kept: all its sure answers are right", got["coupon"])
	}
}
