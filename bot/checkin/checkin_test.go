package checkin_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/bot/checkin"
)

const testYAML = `
checkin:
  keywords: [签到, 打卡]
  points: 10
  streak_bonus: {3: 5, 7: 20}
  rewards:
    - streak: 7
      message: "连续 {{streak}} 天，送券！"
      coupon: weekly-7
  reply: "签到成功！连续 {{streak}} 天，积分 +{{points}}，总积分 {{total}}，今日第 {{rank}} 位"
  board_keywords: [排行榜]
  digest_window: 30s
rules:
  - name: member-points
    match: {contains: [积分, 签到]}
    reply: 会员积分说明
`

type staticScripts struct{ s *bot.Scripts }

func (s staticScripts) Scripts() *bot.Scripts { return s.s }

func mustScripts(t testing.TB, yaml string) *bot.Scripts {
	t.Helper()
	s, err := bot.LoadScripts(fstest.MapFS{"checkin.yaml": {Data: []byte(yaml)}}, checkin.Section{})
	if err != nil {
		t.Fatalf("LoadScripts: %v", err)
	}
	return s
}

type rig struct {
	store   *memStore
	coupons *fakeCoupons
	clock   *bottest.Clock
	svc     *checkin.Service
	engine  *bot.Engine
}

func newRig(t testing.TB, yaml string) *rig {
	t.Helper()
	r := &rig{store: newMemStore(), coupons: &fakeCoupons{}, clock: &bottest.Clock{}}
	r.svc = checkin.New(checkin.Options{Store: r.store, Coupons: r.coupons, Now: r.clock.Now})
	r.engine = bot.NewEngine(bot.EngineConfig{Scripts: staticScripts{mustScripts(t, yaml)}, Observe: []bot.Stage{r.svc.Observer()}, Commands: []bot.Stage{r.svc}, Now: r.clock.Now})
	return r
}

func dm(user, text string) bot.Event {
	return bot.Event{Platform: bot.WeChat, Account: "gh_test", Kind: bot.KindMessage, Sender: bot.UserID(user), Text: text, Time: time.Unix(1, 0)}
}

func (r *rig) run(t testing.TB, ev bot.Event) *bot.Turn {
	t.Helper()
	turn, err := r.engine.Run(context.Background(), ev, false)
	if err != nil {
		t.Fatalf("Run(%q): %v", ev.Text, err)
	}
	return turn
}

func texts(actions []bot.Action) []string {
	var out []string
	for _, a := range actions {
		if s, ok := bot.TextOf(a); ok {
			out = append(out, s)
		}
	}
	return out
}

func shanghai(s string) time.Time {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCheckinDays(t *testing.T) {
	type step struct {
		at      time.Time
		text    string
		already bool
		streak  int
		points  int // earned by this step (0 when already)
		total   int
	}
	utc := func(s string) time.Time { t, _ := time.Parse("2006-01-02 15:04", s); return t }
	tests := []struct {
		name  string
		zone  string // "" for the default Asia/Shanghai
		steps []step
	}{
		{"23:59 and 00:00 Shanghai are two days while UTC is one", "", []step{
			{at: shanghai("2026-11-26 23:59"), text: "签到", streak: 1, points: 10, total: 10},
			{at: shanghai("2026-11-27 00:00"), text: "打卡", streak: 2, points: 10, total: 20},
		}},
		{"the same two instants are one day in UTC", "UTC", []step{
			{at: utc("2026-11-26 15:59"), text: "签到", streak: 1, points: 10, total: 10},
			{at: utc("2026-11-26 16:00"), text: "打卡", already: true, streak: 1, total: 10},
		}},
		{"UTC's new day at 08:00 Shanghai is not a new day", "", []step{
			{at: shanghai("2026-11-27 07:59"), text: "签到", streak: 1, points: 10, total: 10},
			{at: shanghai("2026-11-27 08:00"), text: "签到", already: true, streak: 1, total: 10},
		}},
		{"a repeat the same day earns nothing", "", []step{
			{at: shanghai("2026-11-26 09:00"), text: "签到", streak: 1, points: 10, total: 10},
			{at: shanghai("2026-11-26 09:01"), text: "签到", already: true, streak: 1, total: 10},
			{at: shanghai("2026-11-26 21:00"), text: "打卡", already: true, streak: 1, total: 10},
		}},
		{"a missed day resets the streak", "", []step{
			{at: shanghai("2026-11-24 09:00"), text: "签到", streak: 1, points: 10, total: 10},
			{at: shanghai("2026-11-25 09:00"), text: "签到", streak: 2, points: 10, total: 20},
			{at: shanghai("2026-11-27 09:00"), text: "签到", streak: 1, points: 10, total: 30},
		}},
		{"month end", "", []step{
			{at: shanghai("2026-01-31 09:00"), text: "签到", streak: 1, points: 10, total: 10},
			{at: shanghai("2026-02-01 09:00"), text: "签到", streak: 2, points: 10, total: 20},
		}},
		{"february end in a common year", "", []step{
			{at: shanghai("2026-02-28 23:30"), text: "签到", streak: 1, points: 10, total: 10},
			{at: shanghai("2026-03-01 00:10"), text: "签到", streak: 2, points: 10, total: 20},
		}},
		{"february end in a leap year", "", []step{
			{at: shanghai("2028-02-28 09:00"), text: "签到", streak: 1, points: 10, total: 10},
			{at: shanghai("2028-03-01 09:00"), text: "签到", streak: 1, points: 10, total: 20},
		}},
		{"year end, bonus on the third day", "", []step{
			{at: shanghai("2026-12-30 09:00"), text: "签到", streak: 1, points: 10, total: 10},
			{at: shanghai("2026-12-31 23:59"), text: "签到", streak: 2, points: 10, total: 20},
			{at: shanghai("2027-01-01 00:00"), text: "签到", streak: 3, points: 15, total: 35},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := testYAML
			if tc.zone != "" {
				yaml = strings.Replace(yaml, "  points: 10\n", "  points: 10\n  timezone: "+tc.zone+"\n", 1)
			}
			r := newRig(t, yaml)
			for i, s := range tc.steps {
				r.clock.Set(s.at)
				turn := r.run(t, dm("u1", s.text))
				if turn.Answer.Stage != "command:checkin" {
					t.Fatalf("step %d: answered by %q, want command:checkin", i, turn.Answer.Stage)
				}
				got := texts(turn.Actions)
				if len(got) != 1 {
					t.Fatalf("step %d: replies = %q, want one", i, got)
				}
				var want string
				if s.already {
					want = fmt.Sprintf("今天已签到过啦，明天再来～ 连续 %d 天，总积分 %d", s.streak, s.total)
				} else {
					want = fmt.Sprintf("签到成功！连续 %d 天，积分 +%d，总积分 %d，今日第 1 位", s.streak, s.points, s.total)
				}
				if got[0] != want {
					t.Errorf("step %d at %v: reply = %q, want %q", i, s.at, got[0], want)
				}
			}
			wantRows := 0
			for _, s := range tc.steps {
				if !s.already {
					wantRows++
				}
			}
			if r.store.inserts != wantRows {
				t.Errorf("check-ins recorded = %d, want %d", r.store.inserts, wantRows)
			}
		})
	}
}

func TestMilestonesOnce(t *testing.T) {
	r := newRig(t, testYAML)
	rewardTexts := 0
	start := shanghai("2026-11-01 09:00")
	// Seven days, a repeat on the seventh, a missed day, and seven more.
	days := []int{0, 1, 2, 3, 4, 5, 6, 6, 8, 9, 10, 11, 12, 13, 14, 14}
	for _, d := range days {
		r.clock.Set(start.AddDate(0, 0, d))
		turn := r.run(t, dm("u1", "签到"))
		for _, s := range texts(turn.Actions) {
			if strings.HasPrefix(s, "连续 7 天，送券") {
				rewardTexts++
			}
		}
	}
	if rewardTexts != 2 {
		t.Errorf("reward messages = %d, want 2 (once per streak of 7)", rewardTexts)
	}
	if got := r.coupons.count(); got != 2 {
		t.Errorf("coupons issued = %d, want 2", got)
	}
	for trigger, n := range r.coupons.claims {
		if n != 1 {
			t.Errorf("claims of %s = %d, want 1", trigger, n)
		}
	}
	// Day 7 earned the 7-day bonus: 10 + 20.
	r.clock.Set(start.AddDate(0, 0, 6))
	ev := dm("u1", "")
	c, err := r.store.Latest(context.Background(), checkin.ScopeOf(ev), checkin.PersonKey(ev.Person()), checkin.DayOf(r.clock.Now(), r.svc.Location()))
	if err != nil || c.Streak != 7 || c.Points != 30 {
		t.Errorf("day 7 = streak %d points %d (%v), want 7 and 30", c.Streak, c.Points, err)
	}
}

func TestRankAndPersonsApart(t *testing.T) {
	r := newRig(t, testYAML)
	r.clock.Set(shanghai("2026-11-26 09:00"))
	for i, user := range []string{"a", "b", "c"} {
		got := texts(r.run(t, dm(user, "签到")).Actions)
		want := fmt.Sprintf("今日第 %d 位", i+1)
		if len(got) != 1 || !strings.HasSuffix(got[0], want) {
			t.Errorf("%s: reply = %q, want ending %q", user, got, want)
		}
	}
}

func TestCommandsBeforeKeywordRules(t *testing.T) {
	r := newRig(t, testYAML)
	r.clock.Set(shanghai("2026-11-26 09:00"))
	tests := []struct {
		name, text, wantStage string
	}{
		{"签到 is a check-in", "签到！", "command:checkin"},
		{"打卡 is a check-in", "打卡", "command:checkin"},
		{"a question about 签到 is the FAQ's", "签到有什么用", "rule"},
		{"the board", "排行榜", "command:checkin"},
		{"other chatter", "你好", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.run(t, dm("u9", tc.text)).Answer.Stage; got != tc.wantStage {
				t.Errorf("stage = %q, want %q", got, tc.wantStage)
			}
		})
	}
}

// TestCheckinIntent: the checkin intent alone records nothing unless the
// reading is sure: a courier who needs a signature (签收, read checkin at
// 0.99 on real text) is asked at most, and only a keyword, the answer,
// or a sure reading checks in. Spam, fraud and poaching earn no points.
func TestCheckinIntent(t *testing.T) {
	tests := []struct {
		name       string
		text       string
		intent     string
		confidence float64
		sure       bool
		risks      []string
		group      bool
		observed   bool
		yaml       string // appended to the checkin: section
		wantStage  string
		wantReply  string
		wantIns    int
	}{
		{name: "a courier needing a signature is asked, not checked in", text: "快递员说要本人签收，需要签字", intent: "checkin", confidence: 0.99,
			wantStage: "ask:checkin", wantReply: "要签到吗？回复「签到」打卡～"},
		{name: "the keyword checks in", text: "签到", wantStage: "command:checkin", wantIns: 1},
		{name: "a sure reading checks in", text: "今天来报到", intent: "checkin", confidence: 0.95, sure: true, wantStage: "command:checkin", wantIns: 1},
		{name: "the brand's sure_confidence checks in", text: "今天来报到", intent: "checkin", confidence: 0.95, yaml: "  sure_confidence: 0.9\n",
			wantStage: "command:checkin", wantIns: 1},
		{name: "below it, asks in the brand's words", text: "今天来报到", intent: "checkin", confidence: 0.85, yaml: "  sure_confidence: 0.9\n  confirm_reply: 打卡请回复 签到\n",
			wantStage: "ask:checkin", wantReply: "打卡请回复 签到"},
		{name: "unsure and low: nothing", text: "今天来报到", intent: "checkin", confidence: 0.5},
		{name: "another intent", text: "今天来报到", intent: "refund", confidence: 0.99},
		{name: "in a group nobody is asked", text: "快递员说要本人签收", intent: "checkin", confidence: 0.99, group: true},
		{name: "seen after the fact, nobody is asked", text: "快递员说要本人签收", intent: "checkin", confidence: 0.99, group: true, observed: true},
		{name: "a message flagged as ad spam earns no points", text: "签到", risks: []string{"ad_spam"}},
		{name: "nor as poaching, even sure", text: "今天来报到", intent: "checkin", confidence: 0.99, sure: true, risks: []string{"pii", "poaching"}},
		{name: "abuse alone still checks in", text: "签到", risks: []string{"abuse"}, wantStage: "command:checkin", wantIns: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.Replace(testYAML, "  digest_window: 30s\n", "  digest_window: 30s\n"+tc.yaml, 1)
			r := newRig(t, yaml)
			r.clock.Set(shanghai("2026-11-26 09:00"))
			ev := dm("u1", tc.text)
			if tc.group {
				ev.Conversation.Group = "g1"
			}
			ev.Observe = tc.observed
			turn := &bot.Turn{Event: ev, Scripts: mustScripts(t, yaml), Text: bot.Normalize(tc.text), Intent: tc.intent, Confidence: tc.confidence, Sure: tc.sure, Risks: tc.risks}
			var err error
			if tc.observed {
				_, err = r.svc.Observer().HandleTurn(context.Background(), turn)
			} else {
				_, err = r.svc.HandleTurn(context.Background(), turn)
			}
			if err != nil {
				t.Fatal(err)
			}
			if turn.Answer.Stage != tc.wantStage {
				t.Errorf("stage = %q, want %q", turn.Answer.Stage, tc.wantStage)
			}
			if tc.wantReply != "" {
				if got := texts(turn.Actions); len(got) != 1 || got[0] != tc.wantReply {
					t.Errorf("replies = %q, want [%q]", got, tc.wantReply)
				}
			}
			if r.store.inserts != tc.wantIns {
				t.Errorf("check-ins recorded = %d, want %d", r.store.inserts, tc.wantIns)
			}
		})
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	r := newRig(t, testYAML)
	r.clock.Set(shanghai("2026-11-26 09:00"))
	for range 2 {
		turn, err := r.engine.Run(context.Background(), dm("u1", "签到"), true)
		if err != nil {
			t.Fatal(err)
		}
		if got := texts(turn.Actions); len(got) != 1 || !strings.Contains(got[0], "连续 1 天") {
			t.Errorf("dry run = %q, want what a first check-in would say", got)
		}
	}
	if r.store.inserts != 0 {
		t.Errorf("dry run recorded %d check-ins, want 0", r.store.inserts)
	}
}

func TestStoreFailureIsRetried(t *testing.T) {
	r := newRig(t, testYAML)
	r.clock.Set(shanghai("2026-11-26 09:00"))
	r.store.failNext = fmt.Errorf("db down: %w", bot.ErrUnavailable)
	_, err := r.engine.Run(context.Background(), dm("u1", "签到"), false)
	if !errors.Is(err, bot.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable so the platform retries", err)
	}
	if got := texts(r.run(t, dm("u1", "签到")).Actions); len(got) != 1 || !strings.HasPrefix(got[0], "签到成功") {
		t.Errorf("retry = %q, want a first check-in", got)
	}
}

func group(platform bot.Platform, user string) bot.Event {
	ev := dm(user, "签到")
	ev.Platform, ev.Conversation = platform, bot.Conversation{Group: "g1"}
	return ev
}

func TestGroupDigest(t *testing.T) {
	r := newRig(t, testYAML)
	r.clock.Set(shanghai("2026-11-26 09:00"))
	keys := map[string]bot.Batched{}
	const n = 200
	for i := range n {
		r.clock.Set(shanghai("2026-11-26 09:00").Add(time.Duration(i) * 100 * time.Millisecond))
		turn := r.run(t, group(bot.Douyin, fmt.Sprintf("u%03d", i)))
		if len(turn.Actions) != 1 {
			t.Fatalf("check-in %d: actions = %v, want one batched digest", i, turn.Actions)
		}
		b, ok := turn.Actions[0].(bot.Batched)
		if !ok {
			t.Fatalf("check-in %d: action %T, want bot.Batched", i, turn.Actions[0])
		}
		keys[b.Key] = b
	}
	if len(keys) != 1 {
		t.Fatalf("digest keys = %d, want 1 for a burst within one window", len(keys))
	}
	for _, b := range keys {
		p, ok := b.Action.(bot.Push)
		if !ok || p.Topic != "checkin_digest" {
			t.Fatalf("batched action = %#v, want a checkin_digest push", b.Action)
		}
		rd, ok := p.Action.(bot.Render)
		if !ok || rd.Renderer != checkin.DigestRenderer || rd.To.Conversation.Group != "g1" || rd.To.User != "" {
			t.Fatalf("push action = %#v, want a render to the group", p.Action)
		}
		if want := shanghai("2026-11-26 09:00").Add(30 * time.Second); !b.SendAt.Equal(want) {
			t.Errorf("SendAt = %v, want the window's end %v", b.SendAt, want)
		}
		a, err := r.svc.Render(context.Background(), rd)
		if err != nil {
			t.Fatal(err)
		}
		text, _ := bot.TextOf(a)
		if !strings.HasPrefix(text, "今日签到：") || !strings.Contains(text, fmt.Sprintf("共 %d 人", n)) {
			t.Errorf("digest = %q, want 今日签到 … 共 %d 人", text, n)
		}
		if got := strings.Count(text, "连续1天"); got != checkin.DigestNames {
			t.Errorf("digest names %d people, want the first %d then a count", got, checkin.DigestNames)
		}
	}
}

func TestWeComGroupDigestUnsent(t *testing.T) {
	r := newRig(t, testYAML)
	r.clock.Set(shanghai("2026-11-26 09:00"))
	for _, u := range []string{"a", "b", "c"} {
		if turn := r.run(t, group(bot.WeCom, u)); len(turn.Actions) != 0 {
			t.Errorf("actions = %v, want none: a bot cannot post in a WeCom customer group", turn.Actions)
		}
	}
	if r.store.inserts != 3 {
		t.Errorf("check-ins = %d, want 3: they count anyway", r.store.inserts)
	}
	if len(r.store.unsent) != 1 || r.store.unsent[0].Reason == "" {
		t.Errorf("unsent digests = %+v, want one with its reason", r.store.unsent)
	}
}

func TestBoardReply(t *testing.T) {
	r := newRig(t, testYAML)
	for d := range 3 {
		r.clock.Set(shanghai("2026-11-24 09:00").AddDate(0, 0, d))
		r.run(t, dm("a", "签到"))
	}
	r.run(t, dm("b", "签到"))
	got := texts(r.run(t, dm("b", "排行榜")).Actions)
	if len(got) != 1 {
		t.Fatalf("board replies = %q, want one", got)
	}
	for _, want := range []string{"【今日积分榜】", "【本周积分榜】", "【总积分榜】", "1. 用户", "35分", "你：积分第 2 名（10分）"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("board = %q, want it to contain %q", got[0], want)
		}
	}
}

func TestGroupAlreadyOncePerDay(t *testing.T) {
	tests := []struct {
		name      string
		platform  bot.Platform
		wantReply bool
	}{
		{"a group the bot can post in", bot.Douyin, true},
		{"a WeCom customer group", bot.WeCom, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, testYAML)
			r.clock.Set(shanghai("2026-11-26 09:00"))
			r.run(t, group(tc.platform, "u1"))
			keys := map[string]bool{}
			for range 3 {
				for _, a := range r.run(t, group(tc.platform, "u1")).Actions {
					b, ok := a.(bot.Batched)
					if !ok {
						t.Fatalf("already in a group = %T, want a Batched reply", a)
					}
					if text, _ := bot.TextOf(b); !strings.Contains(text, "已签到") {
						t.Errorf("already = %q", text)
					}
					if len(b.Key) > 180 {
						t.Errorf("batch key of %d bytes, want it within the outbox's bound", len(b.Key))
					}
					keys[b.Key] = true
				}
			}
			if got := len(keys) == 1; got != tc.wantReply {
				t.Errorf("already replies under one key = %v (%d keys), want %v", got, len(keys), tc.wantReply)
			}
		})
	}
}

func TestDigestAcrossMidnight(t *testing.T) {
	r := newRig(t, strings.Replace(testYAML, "digest_window: 30s", "digest_window: 7m", 1))
	// A 7-minute window does not start at midnight: find a midnight
	// inside one, so one window spans two days.
	midnight := shanghai("2026-11-27 00:00")
	for midnight.Add(-time.Second).Truncate(7*time.Minute) != midnight.Add(time.Second).Truncate(7*time.Minute) {
		midnight = midnight.AddDate(0, 0, 1)
	}
	refs := map[string]bot.Render{}
	for i, at := range []time.Time{midnight.Add(-time.Second), midnight.Add(time.Second)} {
		r.clock.Set(at)
		turn := r.run(t, group(bot.Douyin, fmt.Sprintf("u%d", i)))
		b := turn.Actions[0].(bot.Batched)
		refs[b.Key] = b.Action.(bot.Push).Action.(bot.Render)
	}
	if len(refs) != 2 {
		t.Fatalf("digests = %d, want one per day", len(refs))
	}
	for _, rd := range refs {
		a, err := r.svc.Render(context.Background(), rd)
		if err != nil {
			t.Fatal(err)
		}
		if text, _ := bot.TextOf(a); !strings.Contains(text, "共 1 人") {
			t.Errorf("digest = %q, want its day's one check-in", text)
		}
	}
}

// TestObservedWeComGroup: WeCom customer groups reach siyu through the
// chat archive (observed events). Their check-ins count, nothing is said
// in the group, the unsent digest is recorded, and a milestone's reward
// goes to the person 1:1.
func TestObservedWeComGroup(t *testing.T) {
	r := newRig(t, testYAML)
	start := shanghai("2026-11-01 09:00")
	for d := range 7 {
		r.clock.Set(start.AddDate(0, 0, d))
		for range 2 { // the second is a repeat
			ev := group(bot.WeCom, "ext-1")
			ev.Observe = true
			turn := r.run(t, ev)
			for _, a := range turn.Actions {
				if a.Dest().Conversation.IsGroup() {
					t.Fatalf("day %d: action %T into the group, want none", d+1, a)
				}
			}
			if d == 6 && len(turn.Actions) > 0 {
				p, ok := turn.Actions[0].(bot.Push)
				if !ok || p.Topic != "checkin_reward" || p.Action.Dest().User != "ext-1" {
					t.Errorf("day 7: actions = %#v, want the reward pushed 1:1", turn.Actions)
				}
			}
		}
	}
	if r.store.inserts != 7 {
		t.Errorf("check-ins = %d, want 7", r.store.inserts)
	}
	if len(r.store.unsent) != 7 {
		t.Errorf("unsent digests = %d, want one per window", len(r.store.unsent))
	}
	if got := r.coupons.count(); got != 1 {
		t.Errorf("coupons = %d, want 1", got)
	}
}

// TestRankSharesTies: equal values share a rank and the next value's
// rank skips past them; a person's own entry says the shared rank.
func TestRankSharesTies(t *testing.T) {
	scores := []checkin.Score{
		{Person: "a", Points: 30, Streak: 2}, {Person: "b", Points: 50, Streak: 2},
		{Person: "c", Points: 30, Streak: 5}, {Person: "d", Points: 10, Streak: 1},
	}
	tests := []struct {
		name, by, me string
		want         []int
		wantMe       int
	}{
		{name: "points", by: "points", me: "a", want: []int{1, 2, 2, 4}, wantMe: 2},
		{name: "streak", by: "streak", me: "b", want: []int{1, 2, 2, 4}, wantMe: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			top, me := checkin.Rank(scores, tc.by, 10, tc.me)
			var got []int
			for _, e := range top {
				got = append(got, e.Rank)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("ranks = %v, want %v", got, tc.want)
			}
			if me.Rank != tc.wantMe {
				t.Errorf("%s's rank = %d, want %d", tc.me, me.Rank, tc.wantMe)
			}
			entries := make([]checkin.Entry, len(top))
			for i, e := range top {
				entries[i] = checkin.Entry{Rank: i + 1, Points: e.Points, Streak: e.Streak}
			}
			checkin.ShareTies(entries, tc.by)
			for i, e := range entries {
				if e.Rank != tc.want[i] {
					t.Errorf("ShareTies #%d = %d, want %d", i+1, e.Rank, tc.want[i])
				}
			}
		})
	}
}
