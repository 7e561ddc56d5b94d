package wechat

import (
	"net/url"

	"github.com/siyu-bot/siyu/handlers/internal/wxcrypt"
)

func signWith(parts ...string) string { return wxcrypt.Sign(parts...) }

func newCryptoForBench() (*wxcrypt.Crypto, error) {
	return wxcrypt.New(testToken, testAESKey, testAppID)
}

func parseQuery(raw string) (map[string]string, error) {
	v, err := url.ParseQuery(raw)
	m := map[string]string{}
	for k := range v {
		m[k] = v.Get(k)
	}
	return m, err
}
