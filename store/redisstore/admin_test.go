package redisstore_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func TestAdminSessions(t *testing.T) {
	ctx := t.Context()
	s := redisstore.NewAdminSessions(storetest.Redis(t))
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	a1 := redisstore.AdminSession{ID: "d1", Name: "amy", Role: "admin", CSRF: "c1", Expires: exp}
	a2 := redisstore.AdminSession{ID: "d2", Name: "amy", Role: "admin", CSRF: "c2", Expires: exp}
	o1 := redisstore.AdminSession{ID: "d3", Name: "otto", Role: "operator", CSRF: "c3", Expires: exp}
	for _, ss := range []redisstore.AdminSession{a1, a2, o1} {
		if err := s.PutSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Session(ctx, "d1")
	if err != nil || got.Name != "amy" || got.CSRF != "c1" || !got.Expires.Equal(exp) {
		t.Fatalf("Session(d1) = %+v, %v, want a1", got, err)
	}
	if err := s.DeleteSessionsOf(ctx, "amy"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"d1", "d2"} {
		if _, err := s.Session(ctx, id); !errors.Is(err, bot.ErrNotFound) {
			t.Errorf("Session(%s) after DeleteSessionsOf = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := s.Session(ctx, "d3"); err != nil {
		t.Errorf("otto's session = %v, want it kept", err)
	}
	if err := s.DeleteSession(ctx, "d3"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "d3"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("Session(d3) after DeleteSession = %v, want ErrNotFound", err)
	}
	if err := s.PutSession(ctx, redisstore.AdminSession{ID: "old", Expires: time.Now().Add(-time.Hour)}); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("PutSession(expired) = %v, want ErrInvalid", err)
	}
}

// TestAdminSessionBrands: a session keeps its member's brands, and one
// without brands reads as every brand (nil).
func TestAdminSessionBrands(t *testing.T) {
	ctx := t.Context()
	c := storetest.Redis(t)
	s := redisstore.NewAdminSessions(c)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	for _, tc := range []struct {
		id     string
		brands []string
	}{{"limited", []string{"other", "shancha"}}, {"every", nil}} {
		if err := s.PutSession(ctx, redisstore.AdminSession{ID: tc.id, Name: "otto", Role: "operator", Brands: tc.brands, CSRF: "c", Expires: exp}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Session(ctx, tc.id)
		if err != nil || !slices.Equal(got.Brands, tc.brands) {
			t.Errorf("Session(%s).Brands = %#v, %v, want %#v", tc.id, got.Brands, err, tc.brands)
		}
	}
}

func TestSignInLimiter(t *testing.T) {
	ctx := t.Context()
	l := redisstore.NewSignInLimiter(storetest.Redis(t))
	if n, err := l.Failures(ctx, "name:amy"); err != nil || n != 0 {
		t.Fatalf("Failures before = %d, %v", n, err)
	}
	for want := 1; want <= 3; want++ {
		if n, err := l.Fail(ctx, "name:amy", time.Minute); err != nil || n != want {
			t.Fatalf("Fail #%d = %d, %v", want, n, err)
		}
	}
	if n, _ := l.Failures(ctx, "name:amy"); n != 3 {
		t.Errorf("Failures = %d, want 3", n)
	}
	if n, _ := l.Failures(ctx, "name:otto"); n != 0 {
		t.Errorf("another key's failures = %d, want 0", n)
	}
}
