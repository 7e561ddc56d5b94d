package wecom

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// learnSpy is the identity service as the adapter sees it: it asks
// externalcontact/get at once (the real one does it in the background)
// and records what it learnt.
type learnSpy struct {
	contact *Client
	mu      sync.Mutex
	learnt  map[bot.UserID]string
	errs    []error
}

func (s *learnSpy) Learn(ctx context.Context, p bot.Platform, account bot.AccountID, user bot.UserID) {
	if p != bot.WeCom || account != testCorp {
		s.mu.Lock()
		s.errs = append(s.errs, errors.New("learn asked for "+string(p)+" "+string(account)))
		s.mu.Unlock()
		return
	}
	union, err := s.contact.UnionID(ctx, account, user)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs = append(s.errs, err)
		return
	}
	s.learnt[user] = union
}

// TestNewContactLearnsUnionID: a new contact's unionid is asked for with
// externalcontact/get (the 客户联系 token, a GET with the external_userid)
// only after the welcome went out, and whether or not there is a
// welcome; a corp not bound to Open Platform gives none.
func TestNewContactLearnsUnionID(t *testing.T) {
	tests := []struct {
		name      string
		external  string
		code      string
		union     string
		wantCalls []string
	}{
		{"welcome first, then the unionid", "wm-union", "C-UNION", "un-1", []string{"send_welcome_msg", "get", "mark_tag"}},
		{"no welcome code: the unionid all the same", "wm-nocode", "", "un-2", []string{"get", "mark_tag"}},
		{"corp not bound: no unionid", "wm-unbound", "C-UNBOUND", "", []string{"send_welcome_msg", "get", "mark_tag"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			api.unions = map[string]string{tc.external: tc.union}
			b := newBackends(t)
			spy := &learnSpy{learnt: map[bot.UserID]string{}}
			r := newReplica(t, b, newRecorder(t), replicaOpts{identity: func(c *Client) IdentityLearner { spy.contact = c; return spy }})
			if got := r.post(t, contactXML(time.Now().Unix(), "zhangsan", tc.external, "store-shanghai-01", tc.code)); got != http.StatusOK {
				t.Fatalf("status = %d, want 200", got)
			}
			r.wait()
			calls := slices.DeleteFunc(api.gotContactCalls(), func(c string) bool { return c == "get_corp_tag_list" || c == "add_corp_tag" })
			if !slices.Equal(calls, tc.wantCalls) {
				t.Errorf("客户联系 calls = %q, want %q", calls, tc.wantCalls)
			}
			spy.mu.Lock()
			defer spy.mu.Unlock()
			if len(spy.errs) > 0 {
				t.Fatalf("learn: %v", spy.errs)
			}
			if got, ok := spy.learnt[bot.UserID(tc.external)]; !ok || got != tc.union {
				t.Errorf("learnt %q (%v), want %q", got, ok, tc.union)
			}
		})
	}
}

// TestExternalContactRefused: an id WeCom does not know as a contact is
// bot.ErrInvalid (asking again cannot help); WeCom unreachable is
// bot.ErrUnavailable.
func TestExternalContactRefused(t *testing.T) {
	api := newFakeAPI(t)
	api.unions = map[string]string{}
	b := newBackends(t)
	var contact *Client
	newReplica(t, b, newRecorder(t), replicaOpts{identity: func(c *Client) IdentityLearner { contact = c; return nil }})
	if _, err := contact.UnionID(t.Context(), testCorp, "wm-stranger"); !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("UnionID(stranger) = %v, want bot.ErrInvalid", err)
	}
	// WeCom unreachable: a failure that may pass, whose text (it is
	// logged) quotes neither the token nor the customer.
	_, err := contact.UnionID(t.Context(), testCorp, "wm-http-500")
	if !errors.Is(err, bot.ErrUnavailable) || strings.Contains(err.Error(), "wm-http-500") || strings.Contains(err.Error(), "TOKEN-") {
		t.Fatalf("UnionID(unreachable) = %v, want bot.ErrUnavailable quoting no ids", err)
	}
}
