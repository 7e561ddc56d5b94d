package coupontest_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

const outcomeCampaigns = `welcome:
  follow: 欢迎关注
campaigns:
  - id: open
    name: 首杯券
    stock: 1
    end: "2026-12-31T23:59:59+08:00"
    trigger: {keywords: [领券]}
    codes: {generate: {prefix: OP, length: 8}}
    replies:
      issued: "券码 {{code}}，有效期至 {{end}}"
      out_of_stock: 券领完了
      limit_reached: 已经领过了
  - id: soon
    stock: 10
    start: "2027-01-01T00:00:00+08:00"
    trigger: {keywords: [预告券]}
    codes: {generate: {prefix: SO, length: 8}}
    replies: {not_started: 还没开始}
  - id: over
    stock: 10
    start: "2025-01-01T00:00:00+08:00"
    end: "2025-12-31T23:59:59+08:00"
    trigger: {keywords: [旧券]}
    codes: {generate: {prefix: OV, length: 8}}
    replies: {ended: 已经结束}
  - id: shop
    stock: 10
    trigger: {keywords: [门店券], follow: true, channels: [store-shanghai-01]}
    codes: {generate: {prefix: SH, length: 8}}
  - id: fans
    stock: 10
    trigger: {follow: true, intent: coupon}
    codes: {generate: {prefix: FA, length: 8}}
    replies: {issued: "关注礼 {{code}}"}
  - id: dry
    stock: 5
    trigger: {keywords: [试券]}
    codes: {generate: {prefix: DR, length: 8}}
    replies: {issued: "试券 {{code}}"}
  - id: streak
    stock: 1
    trigger: {checkin_streak: 7}
    codes: {generate: {prefix: ST, length: 8}}
    replies: {issued: "签到奖励 {{code}}", out_of_stock: 奖励券发完了}
`

type staticScripts struct{ s *bot.Scripts }

func (s staticScripts) Scripts() *bot.Scripts { return s.s }

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func message(user, text, id string) bot.Event {
	return bot.Event{Platform: bot.WeChat, Account: "gh_test", Kind: bot.KindMessage, Sender: bot.UserID(user), Text: text,
		MessageID: id, DedupeKey: id, Time: testNow}
}

// render sends an action the way the outbox does: a Batched's inner
// action, a Push's, and a Render through the service.
func render(t *testing.T, svc *coupon.Service, a bot.Action) string {
	t.Helper()
	inner := bot.Unwrap(a)
	if r, ok := inner.(bot.Render); ok {
		out, err := svc.Render(context.Background(), r)
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		inner = out
	}
	text, _ := bot.TextOf(inner)
	return text
}

// TestOutcomeReplies: each outcome has its own reply; an issued coupon
// is the claim's message under its outbox key; retries get the same.
func TestOutcomeReplies(t *testing.T) {
	ctx := context.Background()
	r := newReplicas(t, 1, outcomeCampaigns, func() time.Time { return testNow }, nil)
	svc := r.svcs[0]
	engine := bot.NewEngine(bot.EngineConfig{Scripts: staticScripts{r.scripts},
		Commands: []bot.Stage{svc}, Now: func() time.Time { return testNow }, Pick: func(int) int { return 0 }})

	var issuedKey string
	tests := []struct {
		name     string
		ev       bot.Event
		dryRun   bool
		want     []string // texts of the actions, in order
		wantKind []string // "batched" (the claim's message as sent) or "reply"/"push"/"welcome"
	}{
		{"issued", message("a", "领券", "m1"), false, []string{"券码 OP"}, []string{"reply"}},
		{"retried callback gets the same coupon", message("a", "领券", "m1"), false, []string{"券码 OP"}, []string{"reply"}},
		{"limit reached", message("a", "领券！", "m2"), false, []string{"已经领过了"}, []string{"reply"}},
		{"out of stock", message("b", "领券", "m3"), false, []string{"券领完了"}, []string{"reply"}},
		{"not started", message("b", "预告券", "m4"), false, []string{"还没开始"}, []string{"reply"}},
		{"ended", message("b", "旧券", "m5"), false, []string{"已经结束"}, []string{"reply"}},
		{"not eligible: a channel's campaign asked by message", message("b", "门店券", "m6"), false, []string{coupon.DefaultNotEligible}, []string{"reply"}},
		{"dry run claims nothing", message("c", "预告券", "m7"), true, []string{"还没开始"}, []string{"reply"}},
		{"follow gets the welcome and the follow coupon", bot.Event{Platform: bot.WeChat, Account: "gh_test", Kind: bot.KindFollow, Sender: "d", DedupeKey: "f1", Time: testNow},
			false, []string{"关注礼 FA", "欢迎关注"}, []string{"batched", "welcome"}},
		{"follow through the shop's channel gets both coupons", bot.Event{Platform: bot.WeChat, Account: "gh_test", Kind: bot.KindFollow, Sender: "e", Channel: "store-shanghai-01", DedupeKey: "f2", Time: testNow},
			false, []string{"领取成功！您的券码 SH", "关注礼 FA", "欢迎关注"}, []string{"batched", "batched", "welcome"}},
		{"dry run of an issuing claim shows the reply and claims nothing", message("c", "试券", "m8"), true, []string{"试券 " + coupon.DryRunCode}, []string{"reply"}},
		{"dry run past the stock says so", message("c", "领券", "m10"), true, []string{"券领完了"}, []string{"reply"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			turn, err := engine.Run(ctx, tc.ev, tc.dryRun)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tc.want == nil {
				return
			}
			if len(turn.Actions) != len(tc.want) {
				t.Fatalf("actions = %d (%+v), want %d", len(turn.Actions), turn.Actions, len(tc.want))
			}
			for i, a := range turn.Actions {
				got := render(t, svc, a)
				if !strings.HasPrefix(got, tc.want[i]) {
					t.Errorf("action %d text = %q, want it to start with %q", i, got, tc.want[i])
				}
				kind := ""
				switch a := a.(type) {
				case bot.Batched:
					kind = "batched"
					if tc.name == "issued" {
						issuedKey = a.Key
					}
					if tc.name == "retried callback gets the same coupon" && a.Key != issuedKey {
						t.Errorf("retry's key = %q, want the first claim's %q", a.Key, issuedKey)
					}
					if tc.ev.Kind == bot.KindFollow && !bot.IsProactive(a) {
						t.Errorf("follow coupon is not proactive")
					}
					if _, ok := a.Action.(bot.Push); tc.ev.Kind == bot.KindFollow && !ok {
						t.Errorf("follow coupon = %T, want a Push inside", a.Action)
					}
				case bot.Reply:
					kind = "reply"
					// An issued coupon's reply carries its code and the
					// claim's outbox key, so queueing it sends the claim's
					// row, not a second message.
					if tc.name == "issued" {
						issuedKey = a.OutboxKey
						if !strings.HasPrefix(a.OutboxKey, "batch:coupon:") {
							t.Errorf("issued reply's outbox key = %q, want the claim's row", a.OutboxKey)
						}
					}
					if tc.name == "retried callback gets the same coupon" && a.OutboxKey != issuedKey {
						t.Errorf("retry's key = %q, want the first claim's %q", a.OutboxKey, issuedKey)
					}
				case bot.Welcome:
					kind = "welcome"
				}
				if kind != tc.wantKind[i] {
					t.Errorf("action %d = %T, want %s", i, a, tc.wantKind[i])
				}
			}
		})
	}
	if n, _ := r.stores[0].Issued(ctx, "dry"); n != 0 {
		t.Errorf("the dry run claimed: %d claims of dry", n)
	}
	if !strings.HasSuffix(render(t, svc, mustAction(t, engine, message("a", "领券", "m1"))), "有效期至 2026-12-31") {
		t.Errorf("issued reply does not end with the campaign's end date")
	}

	// The intent, as the classifier of bot/nlp sets it, when it is sure
	// (TestCouponAsksUnlessSure: when it is not).
	intent := bot.NewEngine(bot.EngineConfig{Scripts: staticScripts{r.scripts}, Commands: []bot.Stage{svc},
		Understand: []bot.Analyzer{bot.AnalyzerFunc(func(_ context.Context, t *bot.Turn) error {
			t.Intent, t.Confidence, t.Sure = "coupon", 0.9, true
			return nil
		})}})
	turn, err := intent.Run(ctx, message("g", "有没有什么优惠", "m9"), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(turn.Actions) != 1 || !strings.HasPrefix(render(t, svc, turn.Actions[0]), "关注礼 FA") || turn.Answer.Stage != "command:coupon" {
		t.Errorf("intent coupon: actions %+v, answer %+v; want the fans coupon from command:coupon", turn.Actions, turn.Answer)
	}
}

func mustAction(t *testing.T, e *bot.Engine, ev bot.Event) bot.Action {
	t.Helper()
	turn, err := e.Run(context.Background(), ev, false)
	if err != nil || len(turn.Actions) == 0 {
		t.Fatalf("Run = %+v, %v", turn, err)
	}
	return turn.Actions[0]
}

// TestClaimReward: check-in's milestone claim is idempotent on its
// trigger, goes 1:1 as a Push even from a group, and says when stock is
// gone.
func TestClaimReward(t *testing.T) {
	ctx := context.Background()
	r := newReplicas(t, 1, outcomeCampaigns, func() time.Time { return testNow }, nil)
	svc := r.svcs[0]
	group := bot.Event{Platform: bot.WeCom, Account: "corp", Kind: bot.KindMessage, Sender: "wm-a", Conversation: bot.Conversation{Group: "g1"}, Text: "签到", Time: testNow}

	first, err := svc.ClaimReward(ctx, "streak", group, "streak7:2026-11-26")
	if err != nil {
		t.Fatal(err)
	}
	again, err := svc.ClaimReward(ctx, "streak", group, "streak7:2026-11-26")
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || len(again) != 1 {
		t.Fatalf("actions = %d and %d, want 1 each", len(first), len(again))
	}
	b1, ok1 := first[0].(bot.Batched)
	b2, ok2 := again[0].(bot.Batched)
	if !ok1 || !ok2 || b1.Key != b2.Key {
		t.Errorf("replayed milestone = %+v, want the first claim's %+v", again[0], first[0])
	}
	if p, ok := b1.Action.(bot.Push); !ok || p.Topic != "coupon" {
		t.Errorf("reward = %T, want Push{Topic: coupon}", b1.Action)
	}
	if to := first[0].Dest(); to.Conversation.IsGroup() || to.User != "wm-a" {
		t.Errorf("reward goes to %+v, want the person 1:1", to)
	}
	if got := render(t, svc, first[0]); !strings.HasPrefix(got, "签到奖励 ST") {
		t.Errorf("reward text = %q", got)
	}
	other := group
	other.Sender = "wm-b"
	gone, err := svc.ClaimReward(ctx, "streak", other, "streak7:2026-11-26")
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 || render(t, svc, gone[0]) != "奖励券发完了" || !bot.IsProactive(gone[0]) {
		t.Errorf("reward past the stock = %+v, want a Push saying 奖励券发完了", gone)
	}
	if _, err := svc.ClaimReward(ctx, "nope", group, "x"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown campaign: err = %v, want ErrNotFound", err)
	}
}

// fakeWeChatPay is a native issuer idempotent on out_request_no, as
// WeChat Pay's send-coupon is.
type fakeWeChatPay struct {
	mu     sync.Mutex
	calls  int
	issued map[string]string // out_request_no → coupon id
	fail   bool
}

func (f *fakeWeChatPay) Issue(_ context.Context, _ *coupon.Campaign, claimID string, _ bot.Target) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail {
		return "", errors.New("wechatpay: SYSTEM_ERROR")
	}
	if id, ok := f.issued[claimID]; ok {
		return id, nil
	}
	id := "WXP" + claimID[:10]
	f.issued[claimID] = id
	return id, nil
}

// TestNativeCoupon: a platform coupon is issued when the message is
// sent; a failed issue is retried by the outbox and issues once.
func TestNativeCoupon(t *testing.T) {
	ctx := context.Background()
	pay := &fakeWeChatPay{issued: map[string]string{}, fail: true}
	r := newReplicas(t, 1, outcomeCampaigns, func() time.Time { return testNow }, map[string]coupon.NativeIssuer{"fans": pay})
	svc := r.svcs[0]
	follow := bot.Event{Platform: bot.WeChat, Account: "gh_test", Kind: bot.KindFollow, Sender: "n", DedupeKey: "f9", Time: testNow}

	// The outbox, with a sender that records what it sends.
	var sent []string
	var mu sync.Mutex
	ob := bot.NewOutbox(sqlstore.NewOutbox(r.dbs[0]), map[bot.Platform]bot.Sender{bot.WeChat: bot.SenderFunc(func(_ context.Context, a bot.Action) error {
		mu.Lock()
		defer mu.Unlock()
		text, _ := bot.TextOf(a)
		sent = append(sent, text)
		return nil
	})}, bot.OutboxConfig{Renderers: map[string]bot.Renderer{coupon.RendererName: svc}, Now: func() time.Time { return testNow }, Backoff: time.Nanosecond})

	res, err := svc.Claim(ctx, r.campaign(t, "fans"), coupon.Request{Person: follow.Person(), Trigger: coupon.EventTrigger(&follow), To: follow.ReplyTarget(), Proactive: true})
	if err != nil || res.Outcome != coupon.Issued || res.Claim.Code != "" {
		t.Fatalf("Claim = %+v, %v; want issued without a code yet", res, err)
	}
	// WeChat Pay fails: the message waits, nothing is sent.
	if n, err := ob.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v; want the claim's message tried", n, err)
	}
	if len(sent) != 0 {
		t.Fatalf("sent %q while the coupon could not be issued", sent)
	}
	pay.fail = false
	// Due again after the backoff; the outbox's clock does not move, so
	// move the row's time by asking at a later now.
	ob2 := bot.NewOutbox(sqlstore.NewOutbox(r.dbs[0]), map[bot.Platform]bot.Sender{bot.WeChat: bot.SenderFunc(func(_ context.Context, a bot.Action) error {
		text, _ := bot.TextOf(a)
		sent = append(sent, text)
		return nil
	})}, bot.OutboxConfig{Renderers: map[string]bot.Renderer{coupon.RendererName: svc}, Now: func() time.Time { return testNow.Add(time.Hour) }})
	if n, err := ob2.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("second RunOnce = %d, %v", n, err)
	}
	if len(sent) != 1 || !strings.HasPrefix(sent[0], "关注礼 WXP") {
		t.Fatalf("sent = %q, want one message with the WeChat Pay coupon", sent)
	}
	got, err := r.stores[0].Get(ctx, res.Claim.ID)
	if err != nil || got.Code != pay.issued[res.Claim.ID] || len(pay.issued) != 1 {
		t.Errorf("stored code %q, issued %v; want the one WeChat Pay coupon", got.Code, pay.issued)
	}
	// A retried follow gets the same claim; no second coupon.
	again, err := svc.Claim(ctx, r.campaign(t, "fans"), coupon.Request{Person: follow.Person(), Trigger: coupon.EventTrigger(&follow), To: follow.ReplyTarget(), Proactive: true})
	if err != nil || again.Claim.ID != res.Claim.ID {
		t.Errorf("retry = %+v, %v; want claim %s", again, err, res.Claim.ID)
	}
}

// TestLimitAcrossPlatforms: an Official Account follower and a WeCom
// contact with one unionid are one person for per_person.
func TestLimitAcrossPlatforms(t *testing.T) {
	ctx := context.Background()
	r := newReplicas(t, 1, outcomeCampaigns, func() time.Time { return testNow }, nil)
	svc := r.svcs[0]
	engine := bot.NewEngine(bot.EngineConfig{Scripts: staticScripts{r.scripts}, Commands: []bot.Stage{svc}})
	oa := bot.Event{Platform: bot.WeChat, Account: "gh_test", Kind: bot.KindMessage, Sender: "o-1", UnionID: "u-1", Text: "试券", DedupeKey: "a", Time: testNow}
	wecom := bot.Event{Platform: bot.WeCom, Account: "corp", Kind: bot.KindMessage, Sender: "wm-1", UnionID: "u-1", Text: "试券", DedupeKey: "b", Time: testNow}
	stranger := wecom
	stranger.Sender, stranger.UnionID, stranger.DedupeKey = "wm-2", "", "c"
	tests := []struct {
		name string
		ev   bot.Event
		want string
	}{
		{"on the Official Account", oa, "试券 DR"},
		{"the same person on WeCom", wecom, coupon.DefaultLimitReached},
		{"someone else on WeCom", stranger, "试券 DR"},
	}
	for _, tc := range tests {
		turn, err := engine.Run(ctx, tc.ev, false)
		if err != nil || len(turn.Actions) != 1 {
			t.Fatalf("%s: Run = %+v, %v", tc.name, turn, err)
		}
		if got := render(t, svc, turn.Actions[0]); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: reply %q, want %q", tc.name, got, tc.want)
		}
	}
}
