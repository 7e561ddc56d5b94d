package coupontest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/coupon"
	"github.com/siyu-bot/siyu/bot/identity"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// TestLimitAcrossLinkedPlatforms is TestLimitAcrossPlatforms with events
// as the adapters make them, without a unionid: the identity middleware
// links them through the stored links (sqlstore.Identities) and the
// platforms' answers (fake fetchers), so the Official Account follower
// and the WeCom 微信客服 customer with one unionid claim as one person.
func TestLimitAcrossLinkedPlatforms(t *testing.T) {
	ctx := context.Background()
	r := newReplicas(t, 1, outcomeCampaigns, func() time.Time { return testNow }, nil)
	svc := r.svcs[0]
	links, err := sqlstore.NewIdentities(ctx, r.dbs[0])
	if err != nil {
		t.Fatal(err)
	}
	// The WeCom contact was learnt when it was added.
	if err := links.Save(ctx, identity.Link{Platform: bot.WeCom, Account: "corp", User: "wm-1", UnionID: "u-1", CheckedAt: testNow}); err != nil {
		t.Fatal(err)
	}
	// The follower is asked about on follow; the platform answers.
	followers := identity.FetcherFunc(func(_ context.Context, _ bot.AccountID, u bot.UserID) (string, error) {
		if u == "o-1" {
			return "u-1", nil
		}
		return "", nil
	})
	contacts := identity.FetcherFunc(func(context.Context, bot.AccountID, bot.UserID) (string, error) { return "", nil })
	ids := identity.New(identity.Config{
		Store: links, Fetchers: map[bot.Platform]identity.Fetcher{bot.WeChat: followers, bot.WeCom: contacts},
		Scope: func(p bot.Platform, a bot.AccountID) bot.AccountID {
			if p == bot.WeCom {
				corp, _, _ := strings.Cut(string(a), "/")
				return bot.AccountID(corp)
			}
			return a
		},
		FollowWait: time.Minute, Now: func() time.Time { return testNow },
	})
	engine := bot.NewEngine(bot.EngineConfig{Scripts: staticScripts{r.scripts}, Commands: []bot.Stage{svc}})
	var last []bot.Action
	h := bot.Chain(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) ([]bot.Action, error) {
		turn, err := engine.Run(ctx, ev, false)
		last = turn.Actions
		return turn.Actions, err
	}), ids.Middleware())

	follow := bot.Event{Platform: bot.WeChat, Account: "gh_test", Kind: bot.KindFollow, Sender: "o-1", DedupeKey: "f", Time: testNow}
	oa := bot.Event{Platform: bot.WeChat, Account: "gh_test", Kind: bot.KindMessage, Sender: "o-1", Text: "试券", DedupeKey: "a", Time: testNow}
	kf := bot.Event{Platform: bot.WeCom, Account: "corp/kf/wk1", Kind: bot.KindMessage, Sender: "wm-1", Text: "试券", DedupeKey: "b", Time: testNow}
	stranger := kf
	stranger.Sender, stranger.DedupeKey = "wm-2", "c"
	if _, err := h.HandleEvent(ctx, follow); err != nil { // learns o-1's unionid
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ev   bot.Event
		want string
	}{
		{"on the Official Account", oa, "试券 DR"},
		{"the same person on WeCom 微信客服", kf, coupon.DefaultLimitReached},
		{"someone else on WeCom", stranger, "试券 DR"},
	}
	for _, tc := range tests {
		if _, err := h.HandleEvent(ctx, tc.ev); err != nil || len(last) != 1 {
			t.Fatalf("%s: HandleEvent = %+v, %v", tc.name, last, err)
		}
		if got := render(t, svc, last[0]); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: reply %q, want %q", tc.name, got, tc.want)
		}
	}
	ids.Wait()
}
