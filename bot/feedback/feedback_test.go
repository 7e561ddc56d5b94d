package feedback_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/feedback"
)

// memStore is an in-memory feedback.Store.
type memStore struct {
	mu    sync.Mutex
	lines []feedback.Line // oldest first; Put of a known key moves it last
}

func (m *memStore) Put(_ context.Context, l feedback.Line) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lines = slices.DeleteFunc(m.lines, func(o feedback.Line) bool { return o.Key == l.Key })
	m.lines = append(m.lines, l)
	return nil
}

func (m *memStore) Lines(_ context.Context, dataset string, limit int) ([]feedback.Line, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []feedback.Line
	for i := len(m.lines) - 1; i >= 0 && len(out) < limit; i-- {
		if m.lines[i].Dataset == dataset {
			out = append(out, m.lines[i])
		}
	}
	return out, nil
}

var labels = map[string][]string{
	"intents": {"after_sales", "checkin", "coupon", "other", "unsubscribe"},
	"risk":    {"abuse", "ad_spam", "complaint", "fraud", "none", "poaching"},
}

func newService(store feedback.Store, mask func(string) string) *feedback.Service {
	clock := bottest.NewClock(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	return feedback.New(feedback.Config{Store: store, Labels: labels, Mask: mask, Now: clock.Now})
}

func TestMask(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a phone number", "我的电话13800138000快点发货", "我的电话[号码]快点发货"},
		{"spaced and dashed", "打 138 0013 8000 或 010-8888-6666", "打 [号码] 或 [号码]"},
		{"full-width digits", "单号１２３４５６７８９", "单号[号码]"},
		{"an ID card with X", "身份证11010519491231002X", "身份证[号码]"},
		{"short numbers stay: prices, 12315, times", "两件99元，不退我就打12315，下午3:15到", "两件99元，不退我就打12315，下午3:15到"},
		{"risk's masked number stays masked", "请加我 138****8000", "请加我 138****8000"},
		{"e-mail", "发票发到 zhang.san@example.com 谢谢", "发票发到 [邮箱] 谢谢"},
		{"a link", "看这个 https://t.cn/A6xyz?id=42 便宜", "看这个 [链接] 便宜"},
		{"an @-mention", "@小王 你的券到了", "@某人 你的券到了"},
		{"a written name", "收件人：李小明，电话13800138000", "收件人：[姓名]，电话[号码]"},
		{"an address (and the words just before it)", "送到朝阳路88号3栋502室", "[地址]"},
		{"a building and room", "放3栋2单元502室门口", "放[地址]门口"},
		{"one line", "第一行\n第二行\t  第三行", "第一行 第二行 第三行"},
		{"a leading # is not a comment", "#话题# 抽奖", "＃话题# 抽奖"},
		{"no personal data", "那我不要了", "那我不要了"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := feedback.Mask(tc.in); got != tc.want {
				t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	long := strings.Repeat("好", feedback.MaxRunes+20)
	if got := feedback.Mask(long); len([]rune(got)) != feedback.MaxRunes {
		t.Errorf("Mask of %d runes keeps %d, want %d", feedback.MaxRunes+20, len([]rune(got)), feedback.MaxRunes)
	}
}

// TestMaskLeavesNoLongNumber: whatever the text, no run of 11 digits
// survives (siyu train refuses such a brand line).
func TestMaskLeavesNoLongNumber(t *testing.T) {
	digits := regexp.MustCompile(`[0-9]{7,}`)
	for _, in := range []string{
		"13800138000", "1 3 8 0 0 1 3 8 0 0 0", "6222021234567890123", "订单2026112612345678，电话13912345678",
		"a13800138000b", "１３８００１３８０００",
	} {
		if got := feedback.Mask(in); digits.MatchString(got) {
			t.Errorf("Mask(%q) = %q: a long number is left", in, got)
		}
	}
}

func TestLearn(t *testing.T) {
	upper := func(s string) string { return strings.ReplaceAll(s, "秘密", "**") }
	tests := []struct {
		name    string
		l       bot.Labelled
		wantErr error
		want    string // the kept text
	}{
		{"a dismissed risk event", bot.Labelled{Dataset: "risk", Label: "none", Text: "两件包邮吗，电话13800138000", Source: bot.SourceRiskDismissed, Key: "risk:1"}, nil, "两件包邮吗，电话[号码]"},
		{"the configured mask runs first", bot.Labelled{Dataset: "risk", Label: "fraud", Text: "秘密兼职", Key: "risk:2"}, nil, "**兼职"},
		{"an unknown dataset", bot.Labelled{Dataset: "faq", Label: "none", Text: "x"}, bot.ErrInvalid, ""},
		{"a label the dataset lacks", bot.Labelled{Dataset: "intents", Label: "refund", Text: "退款"}, bot.ErrInvalid, ""},
		{"an empty text", bot.Labelled{Dataset: "intents", Label: "other", Text: " \n "}, bot.ErrInvalid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := &memStore{}
			err := newService(store, upper).Learn(t.Context(), tc.l)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("Learn = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if len(store.lines) != 0 {
					t.Errorf("kept %d lines after an error", len(store.lines))
				}
				return
			}
			if len(store.lines) != 1 || store.lines[0].Text != tc.want || store.lines[0].Label != tc.l.Label {
				t.Errorf("kept %+v, want one %s line %q", store.lines, tc.l.Label, tc.want)
			}
		})
	}
	if err := feedback.New(feedback.Config{Labels: labels}).Learn(t.Context(), bot.Labelled{Dataset: "risk", Label: "none", Text: "x"}); !errors.Is(err, bot.ErrUnavailable) {
		t.Errorf("Learn without a store = %v, want ErrUnavailable", err)
	}
}

// TestExport: one file per label, the format knowledge/ reads; a message
// labelled twice is exported once, under its latest label, but for risk
// a confirmed category beats none.
func TestExport(t *testing.T) {
	store := &memStore{}
	svc := newService(store, nil)
	ctx := t.Context()
	learn := func(dataset, label, text, key string) {
		t.Helper()
		if err := svc.Learn(ctx, bot.Labelled{Dataset: dataset, Label: label, Text: text, Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	learn("risk", "none", "两件包邮吗", "risk:1")
	learn("risk", "abuse", "你们这是骗子吧 价格这么贵", "risk:2")
	learn("risk", "none", "你们这是骗子吧 价格这么贵", "risk:3") // the same message's fraud event dismissed
	learn("risk", "fraud", "订单异常请加我退款 13800138000", "risk:4")
	learn("risk", "fraud", "两件包邮吗", "risk:5") // relabelled from another event: confirmed beats none
	learn("intents", "unsubscribe", "那我不要了", "")
	if _, err := svc.Correct(ctx, "那我不要了", "after_sales", "unsubscribe"); err != nil {
		t.Fatal(err)
	}
	line, err := svc.Correct(ctx, "快递员说要本人签收 13800138000", "other", "checkin")
	if err != nil {
		t.Fatal(err)
	}
	if line.Text != "快递员说要本人签收 [号码]" || line.Label != "other" || line.Source != bot.SourceIntentCorrected {
		t.Errorf("Correct = %+v, want the masked line labelled other", line)
	}
	if _, err := svc.Correct(ctx, "随便", "refund", ""); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("Correct to an unknown intent = %v, want ErrInvalid", err)
	}

	tests := []struct {
		dataset string
		want    map[string][]string
	}{
		{"risk", map[string][]string{
			"risk/sources/brand/abuse.txt": {"你们这是骗子吧 价格这么贵"},
			"risk/sources/brand/fraud.txt": {"两件包邮吗", "订单异常请加我退款 [号码]"}, // in the order first labelled
		}},
		{"intents", map[string][]string{
			"intents/sources/brand/after_sales.txt": {"那我不要了"},
			"intents/sources/brand/other.txt":       {"快递员说要本人签收 [号码]"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.dataset, func(t *testing.T) {
			files, err := svc.Export(ctx, tc.dataset)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, f := range files {
				lines := strings.Split(strings.TrimSuffix(string(f.Data), "\n"), "\n")
				if !strings.HasPrefix(lines[0], "# ") {
					t.Errorf("%s starts with %q, want a # comment", f.Path, lines[0])
				}
				got[f.Path] = lines[1:]
				if f.Lines != len(lines)-1 {
					t.Errorf("%s: Lines = %d, want %d", f.Path, f.Lines, len(lines)-1)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("files = %v, want %v", got, tc.want)
			}
			for path, want := range tc.want {
				if !slices.Equal(got[path], want) {
					t.Errorf("%s = %q, want %q", path, got[path], want)
				}
			}
		})
	}
	if _, err := svc.Export(ctx, "faq"); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("Export(faq) = %v, want ErrInvalid", err)
	}

	files, _ := svc.Export(ctx, "risk")
	z, err := feedback.Zip(files, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if !strings.Contains(string(b), "\n") {
			t.Errorf("%s is empty in the zip", f.Name)
		}
	}
	if want := []string{"risk/sources/brand/abuse.txt", "risk/sources/brand/fraud.txt"}; !slices.Equal(names, want) {
		t.Errorf("zip holds %v, want %v", names, want)
	}
}
