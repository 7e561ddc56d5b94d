package douyin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// TokenSource gives the sender an OpenAPI access token.
type TokenSource interface {
	// Token returns a valid token. Errors wrap bot.ErrUnavailable when
	// the token could not be had now (retry later).
	Token(ctx context.Context) (string, error)
	// Invalidate forgets token after the platform rejected it, unless
	// another replica has already replaced it.
	Invalidate(ctx context.Context, token string) error
}

// TokenStore is a shared string cache with expiry;
// redisstore.TokenCache is one.
type TokenStore interface {
	GetContext(ctx context.Context, key string) any
	SetContext(ctx context.Context, key string, val any, timeout time.Duration) error
	DeleteContext(ctx context.Context, key string) error
}

// Locker takes a lock shared by all replicas; (*redisstore.Client).Lock
// is one. release is never nil when ok.
type Locker func(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)

// Token timing.
const (
	// tokenMargin is how long before its expiry a client token is
	// replaced. Douyin's client tokens live 2 h; replacing them 10 min
	// early means no send starts with a token about to lapse, and the
	// previous token stays valid 5 min after a new fetch, covering
	// replicas that still hold it.
	tokenMargin = 10 * time.Minute
	// tokenLockTTL bounds one fetch: above the HTTP client's 10-second
	// timeout, so the lock outlives a slow fetch but not a dead replica.
	tokenLockTTL = 15 * time.Second
	// tokenWait is how long a replica waits for another's fetch before
	// giving up for this attempt (the outbox retries).
	tokenWait = 5 * time.Second
	// tokenPoll is how often a waiting replica looks at the cache.
	tokenPoll = 50 * time.Millisecond
)

// ClientTokens is a TokenSource of client tokens (grant_type
// client_credential) cached in a store shared by all replicas. One
// replica at a time fetches, under a shared lock, because each fetch
// shortens the life of the previous token.
type ClientTokens struct {
	api   *Client
	store TokenStore
	lock  Locker
	key   string
}

// Interface guard.
var _ TokenSource = (*ClientTokens)(nil)

// NewClientTokens returns a TokenSource for api's application.
func NewClientTokens(api *Client, store TokenStore, lock Locker) *ClientTokens {
	return &ClientTokens{api: api, store: store, lock: lock, key: "douyin_client_token_" + api.key}
}

// Token implements TokenSource.
func (t *ClientTokens) Token(ctx context.Context) (string, error) {
	if tok := t.cached(ctx); tok != "" {
		return tok, nil
	}
	deadline := time.Now().Add(tokenWait)
	for {
		release, ok, err := t.lock(ctx, t.key, tokenLockTTL)
		if err != nil {
			return "", fmt.Errorf("douyin.Token: lock: %w", err)
		}
		if ok {
			defer release()
			return t.fetch(ctx)
		}
		// Another replica is fetching; its token lands in the cache.
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("douyin.Token: %w: %w", bot.ErrUnavailable, ctx.Err())
		case <-time.After(tokenPoll):
		}
		if tok := t.cached(ctx); tok != "" {
			return tok, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("douyin.Token: another replica's fetch did not finish: %w", bot.ErrUnavailable)
		}
	}
}

// fetch gets a new token under the lock, unless a replica that held the
// lock before has just stored one.
func (t *ClientTokens) fetch(ctx context.Context) (string, error) {
	if tok := t.cached(ctx); tok != "" {
		return tok, nil
	}
	tok, life, err := t.api.FetchClientToken(ctx)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Permanent() {
			return "", fmt.Errorf("douyin.Token: %w: %w", bot.ErrInvalid, err)
		}
		return "", fmt.Errorf("douyin.Token: %w: %w", bot.ErrUnavailable, err)
	}
	ttl := life - tokenMargin
	if ttl < life/2 {
		ttl = life / 2 // a short-lived token: still refresh before it lapses
	}
	// A failed store only stops sharing the token; it is good to use.
	_ = t.store.SetContext(ctx, t.key, tok, ttl)
	return tok, nil
}

func (t *ClientTokens) cached(ctx context.Context) string {
	s, _ := t.store.GetContext(ctx, t.key).(string)
	return s
}

// Invalidate implements TokenSource. Comparing first keeps a replica
// holding a stale token from deleting the fresh one another replica just
// stored; a race between the two steps costs at most one extra fetch.
func (t *ClientTokens) Invalidate(ctx context.Context, token string) error {
	if t.cached(ctx) != token {
		return nil
	}
	if err := t.store.DeleteContext(ctx, t.key); err != nil {
		return fmt.Errorf("douyin.Invalidate: %w", err)
	}
	return nil
}
