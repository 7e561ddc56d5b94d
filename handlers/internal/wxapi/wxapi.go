// Package wxapi holds what calling WeChat's and WeCom's APIs shares:
// which errcodes mean the access token was refused, retrying with a fresh
// one, and keeping secrets and tokens out of error text.
package wxapi

import (
	"errors"
	"net/url"
	"strings"

	"github.com/silenceper/wechat/v2/util"
)

// TokenRejected reports whether errcode means the access token itself
// was refused (invalid, malformed, expired), so a fresh one may succeed.
// WeChat and WeCom use the same codes.
func TokenRejected(errcode int64) bool {
	return errcode == 40001 || errcode == 40014 || errcode == 42001
}

// WithFreshToken runs post, and once more after drop when the platform
// refused the access token: the SDK keeps a revoked token until its TTL
// runs out, so drop must remove it from the cache. An error from drop is
// returned as is.
func WithFreshToken(post, drop func() error) error {
	err := post()
	var ce *util.CommonError
	if errors.As(err, &ce) && TokenRejected(ce.ErrCode) {
		if derr := drop(); derr != nil {
			return derr
		}
		err = post()
	}
	return err
}

// Redact returns err with every non-empty secret, raw or query-escaped,
// replaced by "***". net/http's errors quote the request URL, which
// carries the access token (and, for WeCom's gettoken, the secret), so
// they must not reach logs or outbox rows as they are. err is returned
// unchanged when it quotes none of them; errors.Is and errors.As see
// through the result.
func Redact(err error, secrets ...string) error {
	orig := err.Error()
	msg := orig
	for _, s := range secrets {
		if s == "" {
			continue
		}
		msg = strings.ReplaceAll(msg, s, "***")
		msg = strings.ReplaceAll(msg, url.QueryEscape(s), "***")
	}
	if msg == orig {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
