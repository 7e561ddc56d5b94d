package coupon_test

import (
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
)

const channels = `channels:
  - state: store-shanghai-01
    name: 上海静安门店
`

func load(t *testing.T, files map[string]string) (*coupon.Campaigns, []string) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	s, err := bot.LoadScripts(fsys, coupon.Section{})
	var errs []string
	for _, e := range bot.ScriptErrors(err) {
		errs = append(errs, e.Error())
	}
	if err != nil && len(errs) == 0 {
		t.Fatalf("LoadScripts: %v", err)
	}
	return coupon.From(s), errs
}

func TestSectionParses(t *testing.T) {
	cs, errs := load(t, map[string]string{"a.yaml": channels + `campaigns:
  - id: welcome-2026
    name: 新人专享券
    stock: 1000
    per_person: 2
    start: "2026-11-01T00:00:00+08:00"
    end: "2026-12-31T23:59:59+08:00"
    trigger:
      keywords: [领券, 优惠券]
      intent: coupon
      follow: true
      channels: [store-shanghai-01]
      checkin_streak: 7
    codes:
      generate: {prefix: SY, length: 12}
    replies:
      issued: "领取成功！您的券码 {{code}}，有效期至 {{end}}"
      out_of_stock: "来晚了，券已领完"
`})
	if errs != nil {
		t.Fatalf("errors = %q, want none", errs)
	}
	c, ok := cs.Get("welcome-2026")
	if !ok {
		t.Fatal("Get(welcome-2026) = false, want the campaign")
	}
	want := coupon.Trigger{Keywords: []string{"领券", "优惠券"}, Intent: "coupon", Follow: true, Channels: []string{"store-shanghai-01"}, CheckinStreak: 7}
	if !reflect.DeepEqual(c.Trigger, want) {
		t.Errorf("Trigger = %+v, want %+v", c.Trigger, want)
	}
	if c.Stock != 1000 || c.PerPerson != 2 || c.Codes.Prefix != "SY" || c.Codes.Length != 12 || c.Codes.Import {
		t.Errorf("campaign = %+v, want stock 1000, per_person 2, SY+12 generated", c)
	}
	if got, want := c.End, time.Date(2026, 12, 31, 15, 59, 59, 0, time.UTC); !got.Equal(want) {
		t.Errorf("End = %v, want %v", got, want)
	}
	if c.Replies.LimitReached != coupon.DefaultLimitReached {
		t.Errorf("LimitReached = %q, want the default %q", c.Replies.LimitReached, coupon.DefaultLimitReached)
	}
}

func TestSectionErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"no codes source", map[string]string{"a.yaml": "campaigns:\n  - id: a\n    stock: 1\n    trigger: {keywords: [领券]}\n"},
			[]string{`a.yaml:2: campaign "a": no codes source (want codes: {generate: {prefix, length}} or codes: {import: true})`}},
		{"empty codes", map[string]string{"a.yaml": "campaigns:\n  - id: a\n    stock: 1\n    trigger: {keywords: [领券]}\n    codes: {}\n"},
			[]string{`a.yaml:5: campaign "a": codes: no codes source (want generate: {prefix, length} or import: true)`}},
		{"end before start", map[string]string{"a.yaml": "campaigns:\n  - id: a\n    stock: 1\n    start: \"2026-12-01T00:00:00+08:00\"\n    end: \"2026-11-01T00:00:00+08:00\"\n    trigger: {keywords: [领券]}\n    codes: {import: true}\n"},
			[]string{`a.yaml:5: campaign "a": end 2026-11-01T00:00:00+08:00 is not after start 2026-12-01T00:00:00+08:00`}},
		{"unknown channel", map[string]string{"a.yaml": channels + "campaigns:\n  - id: a\n    stock: 1\n    trigger:\n      follow: true\n      channels: [store-beijing-09]\n    codes: {import: true}\n"},
			[]string{`a.yaml:9: campaign "a": trigger: unknown channel "store-beijing-09" (not in channels:)`}},
		{"stock below zero", map[string]string{"a.yaml": "campaigns:\n  - id: a\n    stock: -5\n    trigger: {keywords: [领券]}\n    codes: {import: true}\n"},
			[]string{`a.yaml:3: campaign "a": stock -5 is below zero`}},
		{"duplicate id across files", map[string]string{
			"a.yaml": "campaigns:\n  - id: a\n    stock: 1\n    trigger: {keywords: [领券]}\n    codes: {import: true}\n",
			"b.yaml": "\ncampaigns:\n  - id: a\n    stock: 1\n    trigger: {keywords: [领券]}\n    codes: {import: true}\n"},
			[]string{`b.yaml:3: campaign "a" already defined at a.yaml:2`}},
		{"unknown key", map[string]string{"a.yaml": "campaigns:\n  - id: a\n    stock: 1\n    stok: 2\n    trigger: {keywords: [领券]}\n    codes: {import: true}\n"},
			[]string{`a.yaml:4: campaign: unknown key "stok" (want id, name, stock, per_person, start, end, trigger, codes or replies)`}},
		{"issued without code", map[string]string{"a.yaml": "campaigns:\n  - id: a\n    stock: 1\n    trigger: {keywords: [领券]}\n    codes: {import: true}\n    replies: {issued: 领到了}\n"},
			[]string{`a.yaml:6: campaign "a": replies: issued: the reply must show {{code}}`}},
		{"short random part", map[string]string{"a.yaml": "campaigns:\n  - id: a\n    stock: 1\n    trigger: {keywords: [领券]}\n    codes: {generate: {prefix: SY, length: 4}}\n"},
			[]string{`a.yaml:5: campaign "a": codes: generate: length 4: want 8 to 64`}},
		{"nothing triggers", map[string]string{"a.yaml": "campaigns:\n  - id: a\n    stock: 1\n    codes: {import: true}\n"},
			[]string{`a.yaml:2: campaign "a": trigger: nothing claims it (want keywords, intent, follow or checkin_streak)`}},
		{"missing id", map[string]string{"a.yaml": "campaigns:\n  - stock: 1\n    trigger: {keywords: [领券]}\n    codes: {import: true}\n"},
			[]string{`a.yaml:2: campaign: missing id`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got := load(t, tc.files)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors = %q, want %q", got, tc.want)
			}
		})
	}
}
