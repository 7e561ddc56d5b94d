//go:build chaos

package main_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/siyu-bot/siyu/handlers/wechat"
)

// chaosAccount is one platform account the run serves: its callback
// path, the credentials the load signs its callbacks with, and the ones
// the fake platform APIs hand out and check access tokens for.
type chaosAccount struct {
	name     string // "" for the environment's account (no -accounts)
	platform string // "wechat", "wecom" or "douyin"
	brand    string
	path     string // callback path

	appID, origID                   string // WeChat
	corpID, agentID                 string // WeCom
	token, aesKey, secret           string // WeChat and WeCom; secret is the appsecret or the app's secret
	clientKey, clientSecret, openID string // Douyin
	secretFile                      bool   // the secret is given as KEY_file in the accounts file

	sim *wechat.Simulator // WeChat and WeCom: signs and encrypts its callbacks
}

// label names the account in the report.
func (a *chaosAccount) label() string {
	if a.name == "" {
		return a.platform + " (environment)"
	}
	return a.name
}

// accessToken is the token the fake platform hands this account, its
// own, so a send shows whose credentials it went out with.
func (a *chaosAccount) accessToken() string {
	switch a.platform {
	case "wechat":
		return "at-wx-" + a.appID
	case "wecom":
		return "at-wc-" + a.corpID + "-" + a.agentID
	}
	return "at-dy-" + a.clientKey
}

// envAccounts are the environment's three accounts (WECHAT_*, WECOM_*,
// DOUYIN_*), as the run had before -accounts, and their variables.
func envAccounts(apiURL string) ([]*chaosAccount, []string) {
	accts := []*chaosAccount{
		{platform: "wechat", path: "/wechat/callback", appID: wxAppID, origID: wxOrigID, token: wxToken, aesKey: wxAESKey, secret: "chaos-secret"},
		{platform: "wecom", path: "/wecom/callback", corpID: wcCorpID, agentID: wcAgentID, token: wcToken, aesKey: wcAESKey, secret: "chaos-wecom-secret"},
		{platform: "douyin", path: "/douyin/webhook", clientKey: dyKey, clientSecret: dySecret, openID: dyAccount},
	}
	env := []string{
		"WECHAT_APPID=" + wxAppID, "WECHAT_APPSECRET=chaos-secret", "WECHAT_TOKEN=" + wxToken, "WECHAT_AES_KEY=" + wxAESKey,
		"DOUYIN_CLIENT_KEY=" + dyKey, "DOUYIN_CLIENT_SECRET=" + dySecret, "DOUYIN_API_BASE=" + apiURL,
		"DOUYIN_ACCOUNT_OPEN_ID=" + dyAccount,
		"WECOM_CORPID=" + wcCorpID, "WECOM_TOKEN=" + wcToken, "WECOM_AES_KEY=" + wcAESKey,
		"WECOM_AGENTID=" + wcAgentID, "WECOM_SECRET=chaos-wecom-secret",
	}
	return accts, env
}

// accountBrands are the brands the accounts file spreads its accounts
// over.
var accountBrands = []string{"shancha", "mingyue", "qingshan", "yunhai"}

// fileAccounts makes n accounts (n >= 3) over the three platforms, three
// tenths each WeCom and Douyin and the rest WeChat (20: 8, 6, 6), over a
// few brands, each with credentials of its own. WeCom's apps share two
// corps, as a company's apps do: their access tokens differ by app.
func fileAccounts(n int) []*chaosAccount {
	wc, dy := max(1, n*3/10), max(1, n*3/10)
	wx := n - wc - dy
	var out []*chaosAccount
	add := func(platform string, count int) {
		for i := range count {
			k := len(out)
			a := &chaosAccount{platform: platform, brand: accountBrands[k%len(accountBrands)], secretFile: k%5 == 0}
			switch platform {
			case "wechat":
				a.name = fmt.Sprintf("oa-%02d", i)
				a.path = "/wechat/" + a.name + "/callback"
				a.appID = fmt.Sprintf("wxchaos%010d", i)
				a.origID = fmt.Sprintf("gh_chaos%04d", i)
				a.token, a.aesKey, a.secret = "tok-"+a.name+"-"+randHex(4), newAESKey(), "sec-"+a.name+"-"+randHex(4)
			case "wecom":
				a.name = fmt.Sprintf("wc-%02d", i)
				a.path = "/wecom/" + a.name + "/callback"
				a.corpID = fmt.Sprintf("wwchaoscorp%05d", i%2)
				a.agentID = fmt.Sprintf("%d", 1000100+i)
				a.token, a.aesKey, a.secret = "tok-"+a.name+"-"+randHex(4), newAESKey(), "sec-"+a.name+"-"+randHex(4)
			default:
				a.name = fmt.Sprintf("dy-%02d", i)
				a.path = "/douyin/" + a.name + "/webhook"
				a.clientKey = "ck-" + a.name + "-" + randHex(4)
				a.clientSecret = "cs-" + a.name + "-" + randHex(4)
				a.openID = "acct-" + a.name
			}
			out = append(out, a)
		}
	}
	add("wechat", wx)
	add("wecom", wc)
	add("douyin", dy)
	return out
}

// newAESKey is a random EncodingAESKey: 43 characters of base64.
func newAESKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)[:43]
}

// writeAccountsFile writes the accounts file siyu serves accts from;
// Douyin's API base is the fake's. Some secrets go in files of their
// own (KEY_file), as mounted secrets do.
func writeAccountsFile(dir string, accts []*chaosAccount, apiURL string) (string, error) {
	var b strings.Builder
	b.WriteString("accounts:\n")
	secret := func(a *chaosAccount, key, value string) error {
		if !a.secretFile {
			fmt.Fprintf(&b, "    %s: %q\n", key, value)
			return nil
		}
		name := a.name + "." + key
		fmt.Fprintf(&b, "    %s_file: %s\n", key, name)
		return os.WriteFile(filepath.Join(dir, name), []byte(value+"\n"), 0o600)
	}
	for _, a := range accts {
		fmt.Fprintf(&b, "  - name: %s\n    platform: %s\n    brand: %s\n", a.name, a.platform, a.brand)
		var err error
		switch a.platform {
		case "wechat":
			fmt.Fprintf(&b, "    appid: %s\n    token: %q\n    aes_key: %s\n", a.appID, a.token, a.aesKey)
			err = secret(a, "appsecret", a.secret)
		case "wecom":
			fmt.Fprintf(&b, "    corpid: %s\n    agentid: %q\n    token: %q\n    aes_key: %s\n", a.corpID, a.agentID, a.token, a.aesKey)
			err = secret(a, "secret", a.secret)
		default:
			fmt.Fprintf(&b, "    client_key: %q\n    account_open_id: %q\n    api_base: %q\n", a.clientKey, a.openID, apiURL)
			err = secret(a, "client_secret", a.clientSecret)
		}
		if err != nil {
			return "", err
		}
	}
	path := filepath.Join(dir, "accounts.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// attachSimulators gives each WeChat and WeCom account the simulator
// that signs and encrypts its callbacks at its path (WeCom's receive id
// is the corp id).
func attachSimulators(accts []*chaosAccount, proxyURL string, client *http.Client) {
	for _, a := range accts {
		switch a.platform {
		case "wechat":
			a.sim = &wechat.Simulator{URL: proxyURL + a.path, Token: a.token, EncodingAESKey: a.aesKey, AppID: a.appID, OriginalID: a.origID, Client: client}
		case "wecom":
			a.sim = &wechat.Simulator{URL: proxyURL + a.path, Token: a.token, EncodingAESKey: a.aesKey, AppID: a.corpID, OriginalID: a.corpID, Client: client}
		}
	}
}

// accountIndex finds accounts by what the platforms' token endpoints
// and send APIs are given.
type accountIndex struct {
	byToken  map[string]*chaosAccount // access token → account
	byAppID  map[string]*chaosAccount
	byCorp   map[string]*chaosAccount // corp id + "\x00" + secret
	byClient map[string]*chaosAccount
}

func newAccountIndex(accts []*chaosAccount) *accountIndex {
	x := &accountIndex{byToken: map[string]*chaosAccount{}, byAppID: map[string]*chaosAccount{}, byCorp: map[string]*chaosAccount{}, byClient: map[string]*chaosAccount{}}
	for _, a := range accts {
		x.byToken[a.accessToken()] = a
		switch a.platform {
		case "wechat":
			x.byAppID[a.appID] = a
		case "wecom":
			x.byCorp[a.corpID+"\x00"+a.secret] = a
		default:
			x.byClient[a.clientKey] = a
		}
	}
	return x
}
