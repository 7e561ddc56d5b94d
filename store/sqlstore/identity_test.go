package sqlstore_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/identity"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

// TestIdentities: links saved by one replica are read by another; a
// unionid once known survives a later answer without one; "no unionid"
// answers are stored as such; bad ids are refused.
func TestIdentities(t *testing.T) {
	db := storetest.SQL(t)
	ctx := t.Context()
	a, err := sqlstore.NewIdentities(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sqlstore.NewIdentities(ctx, db) // a second replica
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	oa := identity.Link{Platform: bot.WeChat, Account: "gh_brand", User: "o-1"}
	wc := identity.Link{Platform: bot.WeCom, Account: "corp", User: "wm-1"}

	steps := []struct {
		name      string
		save      *identity.Link // saved through replica a first, when set
		look      identity.Link  // then looked up through replica b
		wantFound bool
		wantUnion string
	}{
		{name: "unknown user", look: oa, wantFound: false},
		{name: "no unionid is stored as such", save: &identity.Link{Platform: oa.Platform, Account: oa.Account, User: oa.User, CheckedAt: t0}, look: oa, wantFound: true},
		{name: "a unionid replaces none", save: &identity.Link{Platform: oa.Platform, Account: oa.Account, User: oa.User, UnionID: "un-1", CheckedAt: t0}, look: oa, wantFound: true, wantUnion: "un-1"},
		{name: "a later answer without one keeps it", save: &identity.Link{Platform: oa.Platform, Account: oa.Account, User: oa.User, CheckedAt: t0.Add(time.Hour)}, look: oa, wantFound: true, wantUnion: "un-1"},
		{name: "the WeCom contact of the same person", save: &identity.Link{Platform: wc.Platform, Account: wc.Account, User: wc.User, UnionID: "un-1", CheckedAt: t0}, look: wc, wantFound: true, wantUnion: "un-1"},
		{name: "same user id on another account is someone else", look: identity.Link{Platform: bot.WeChat, Account: "gh_other", User: "o-1"}, wantFound: false},
	}
	for _, st := range steps {
		if st.save != nil {
			if err := a.Save(ctx, *st.save); err != nil {
				t.Fatalf("%s: Save: %v", st.name, err)
			}
		}
		got, found, err := b.Lookup(ctx, st.look.Platform, st.look.Account, st.look.User)
		if err != nil {
			t.Fatalf("%s: Lookup: %v", st.name, err)
		}
		if found != st.wantFound || got.UnionID != st.wantUnion {
			t.Errorf("%s: Lookup = (%q, %v), want (%q, %v)", st.name, got.UnionID, found, st.wantUnion, st.wantFound)
		}
	}

	bad := []struct {
		name string
		l    identity.Link
	}{
		{"no user", identity.Link{Platform: bot.WeChat, Account: "gh"}},
		{"user too long", identity.Link{Platform: bot.WeChat, Account: "gh", User: bot.UserID(strings.Repeat("x", 97))}},
	}
	for _, tc := range bad {
		if err := a.Save(ctx, tc.l); !errors.Is(err, bot.ErrInvalid) {
			t.Errorf("%s: Save = %v, want bot.ErrInvalid", tc.name, err)
		}
	}
}

// TestIdentitiesLinked: Linked reads every linked user, across batches,
// and no user stored without a unionid.
func TestIdentitiesLinked(t *testing.T) {
	ctx := t.Context()
	s, err := sqlstore.NewIdentities(ctx, storetest.SQL(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var want []string
	for i := range 7 {
		l := identity.Link{Platform: bot.WeChat, Account: "gh", User: bot.UserID(fmt.Sprintf("o-%d", i)), CheckedAt: now}
		if i%3 != 0 {
			l.UnionID = fmt.Sprintf("un-%d", i)
			want = append(want, "wechat/gh/"+string(l.User))
		}
		if err := s.Save(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	for _, batch := range []int{1, 2, 3, 100} {
		var got []string
		err := sqlstore.LinkedInBatches(s, batch)(ctx, func(p bot.Platform, a bot.AccountID, u bot.UserID) {
			got = append(got, string(p)+"/"+string(a)+"/"+string(u))
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("batches of %d: linked %q, want %q", batch, got, want)
		}
	}
}

// BenchmarkIdentitiesLookup: one indexed query, for a linked and an
// unlinked customer. bot/identity's cache spares most events it.
func BenchmarkIdentitiesLookup(b *testing.B) {
	s, err := sqlstore.NewIdentities(b.Context(), storetest.SQL(b))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	if err := s.Save(b.Context(), identity.Link{Platform: bot.WeChat, Account: "gh", User: "o-linked", UnionID: "un-1", CheckedAt: now}); err != nil {
		b.Fatal(err)
	}
	if err := s.Save(b.Context(), identity.Link{Platform: bot.WeChat, Account: "gh", User: "o-alone", CheckedAt: now}); err != nil {
		b.Fatal(err)
	}
	for _, user := range []bot.UserID{"o-linked", "o-alone"} {
		b.Run(string(user), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, found, err := s.Lookup(b.Context(), bot.WeChat, "gh", user); err != nil || !found {
					b.Fatal(found, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}
