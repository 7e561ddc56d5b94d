package wechat

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/silenceper/wechat/v2/officialaccount"
	offConfig "github.com/silenceper/wechat/v2/officialaccount/config"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/redisstore"
)

// TestUsersUnionID asks the fake API's user/info about followers: the
// unionid when the account is bound to Open Platform, none when not, a
// refused openid as bot.ErrInvalid, and a rejected token fetched anew.
func TestUsersUnionID(t *testing.T) {
	api := newFakeAPI(t)
	api.unions = map[string]string{"o-bound": "un-1", "o-unbound": ""}
	b := newBackends(t)
	tokens := redisstore.NewTokenCache(b.rdb)
	oa := officialaccount.NewOfficialAccount(&offConfig.Config{AppID: testAppID, AppSecret: testSecret, Token: testToken, EncodingAESKey: testAESKey, Cache: tokens, UseStableAK: true})
	users := NewUsers(oa, tokens, testAppID)

	tests := []struct {
		name        string
		openID      bot.UserID
		rotate      bool // WeChat rotates the token first: the cached one is rejected
		want        string
		wantInvalid bool
		// wantUnavailable: a failure that may pass, whose text quotes
		// neither the token nor the openid (it is logged).
		wantUnavailable bool
	}{
		{name: "bound account", openID: "o-bound", want: "un-1"},
		{name: "not bound: no unionid", openID: "o-unbound", want: ""},
		{name: "unknown openid", openID: "o-nobody", wantInvalid: true},
		{name: "rejected token is fetched anew", openID: "o-bound", rotate: true, want: "un-1"},
		{name: "WeChat unreachable: unavailable, no ids in the error", openID: "o-http-500", wantUnavailable: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rotate {
				api.mu.Lock()
				api.token = "TOKEN-2"
				api.mu.Unlock()
			}
			got, err := users.UnionID(t.Context(), testAppID, tc.openID)
			if tc.wantUnavailable {
				if !errors.Is(err, bot.ErrUnavailable) || strings.Contains(err.Error(), string(tc.openID)) || strings.Contains(err.Error(), "TOKEN-") {
					t.Fatalf("UnionID(%s) = %q, %v; want bot.ErrUnavailable quoting no ids", tc.openID, got, err)
				}
				return
			}
			if tc.wantInvalid {
				if !errors.Is(err, bot.ErrInvalid) {
					t.Fatalf("UnionID(%s) = %q, %v; want bot.ErrInvalid", tc.openID, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("UnionID(%s) = %q, %v; want %q", tc.openID, got, err, tc.want)
			}
		})
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if want := []string{"o-bound", "o-unbound", "o-nobody", "o-bound", "o-http-500"}; !slices.Equal(api.userInfoCalls, want) {
		t.Errorf("user/info asked about %q, want %q", api.userInfoCalls, want)
	}
}
