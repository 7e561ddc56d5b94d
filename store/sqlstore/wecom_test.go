package sqlstore_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/store/sqlstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

const corp = "ww0123456789abcdef"

func mustWeCom(tb testing.TB) *sqlstore.WeCom {
	tb.Helper()
	s, err := sqlstore.NewWeCom(tb.Context(), storetest.SQL(tb))
	if err != nil {
		tb.Fatalf("NewWeCom: %v", err)
	}
	return s
}

func TestWeComNewTwiceMigrates(t *testing.T) {
	db := storetest.SQL(t)
	for i := range 2 { // a second replica starting on the same database
		if _, err := sqlstore.NewWeCom(t.Context(), db); err != nil {
			t.Fatalf("NewWeCom #%d: %v", i+1, err)
		}
	}
}

func TestWeComClaimContactOnce(t *testing.T) {
	s := mustWeCom(t)
	c := sqlstore.WeComContact{
		CorpID: corp, EventKey: "contact:add:zhangsan:wm-1:1700000000", ExternalUserID: "wm-1", UserID: "zhangsan",
		State: "store-01", ChannelName: "一号店", Tags: []string{"门店", "上海"}, AddedAt: t0,
	}
	// Ten claims at once, as retries reaching several replicas: one wins.
	var wins sync.WaitGroup
	results := make([]bool, 10)
	errs := make([]error, 10)
	for i := range results {
		wins.Add(1)
		go func() {
			defer wins.Done()
			results[i], errs[i] = s.ClaimContact(t.Context(), c)
		}()
	}
	wins.Wait()
	n := 0
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("ClaimContact: %v", errs[i])
		}
		if results[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("claims won = %d, want 1", n)
	}
	at := t0.Add(2 * time.Second)
	if err := s.FinishWelcome(t.Context(), corp, c.EventKey, sqlstore.WelcomeSent, "", at); err != nil {
		t.Fatal(err)
	}
	got, err := s.Contacts(t.Context(), corp, "", "store-01", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := c
	want.Outcome, want.WelcomeAt = sqlstore.WelcomeSent, at
	if len(got) != 1 || !contactEqual(got[0], want) {
		t.Fatalf("Contacts = %+v, want [%+v]", got, want)
	}
}

func contactEqual(a, b sqlstore.WeComContact) bool {
	return a.CorpID == b.CorpID && a.EventKey == b.EventKey && a.ExternalUserID == b.ExternalUserID && a.UserID == b.UserID &&
		a.State == b.State && a.ChannelName == b.ChannelName && slices.Equal(a.Tags, b.Tags) && a.Outcome == b.Outcome &&
		a.Error == b.Error && a.AddedAt.Equal(b.AddedAt) && a.WelcomeAt.Equal(b.WelcomeAt) &&
		a.TagsOutcome == b.TagsOutcome && a.TagError == b.TagError
}

// TestWeComFinishTags: the tag outcome is recorded beside the welcome's,
// whichever is recorded first, and neither overwrites the other.
func TestWeComFinishTags(t *testing.T) {
	s := mustWeCom(t)
	c := sqlstore.WeComContact{
		CorpID: corp, EventKey: "contact:tags", ExternalUserID: "wm-tags", UserID: "lisi", State: "store-01",
		Tags: []string{"门店", "上海"}, TagsOutcome: sqlstore.TagsPending, AddedAt: t0,
	}
	if ok, err := s.ClaimContact(t.Context(), c); err != nil || !ok {
		t.Fatalf("ClaimContact = %v, %v", ok, err)
	}
	long := strings.Repeat("错", 600)
	steps := []struct {
		name             string
		do               func() error
		wantWelcome      string
		wantTags, tagErr string
	}{
		{"claimed", func() error { return nil }, sqlstore.WelcomePending, sqlstore.TagsPending, ""},
		{"welcome sent", func() error { return s.FinishWelcome(t.Context(), corp, c.EventKey, sqlstore.WelcomeSent, "", t0) },
			sqlstore.WelcomeSent, sqlstore.TagsPending, ""},
		{"tags failed, long error kept short", func() error {
			return s.FinishTags(t.Context(), corp, c.EventKey, sqlstore.TagsFailed, long)
		}, sqlstore.WelcomeSent, sqlstore.TagsFailed, string([]rune(long)[:sqlstore.MaxLastErrorLen])},
		{"tags applied", func() error { return s.FinishTags(t.Context(), corp, c.EventKey, sqlstore.TagsApplied, "") },
			sqlstore.WelcomeSent, sqlstore.TagsApplied, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.do(); err != nil {
				t.Fatal(err)
			}
			got, err := s.Contacts(t.Context(), corp, "wm-tags", "", 10)
			if err != nil || len(got) != 1 {
				t.Fatalf("Contacts = %+v, %v", got, err)
			}
			if g := got[0]; g.Outcome != st.wantWelcome || g.TagsOutcome != st.wantTags || g.TagError != st.tagErr || !slices.Equal(g.Tags, c.Tags) {
				t.Fatalf("contact = welcome %q tags %q %q, want %q %q %q", g.Outcome, g.TagsOutcome, g.TagError, st.wantWelcome, st.wantTags, st.tagErr)
			}
		})
	}
	if err := s.FinishTags(t.Context(), corp, "unknown", sqlstore.TagsApplied, ""); !errors.Is(err, bot.ErrNotFound) {
		t.Fatalf("FinishTags(unknown) err = %v, want ErrNotFound", err)
	}
}

func TestWeComReleaseContact(t *testing.T) {
	s := mustWeCom(t)
	c := sqlstore.WeComContact{CorpID: corp, EventKey: "contact:release", ExternalUserID: "wm-3", AddedAt: t0}
	steps := []struct {
		name      string
		do        func() error
		wantClaim bool
	}{
		{"first claim", nil, true},
		{"held", nil, false},
		{"released while pending: claimable again", func() error { return s.ReleaseContact(t.Context(), corp, c.EventKey) }, true},
		{"settled: a release does nothing", func() error {
			if err := s.FinishWelcome(t.Context(), corp, c.EventKey, sqlstore.WelcomeSent, "", t0); err != nil {
				return err
			}
			return s.ReleaseContact(t.Context(), corp, c.EventKey)
		}, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.do != nil {
				if err := st.do(); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.ClaimContact(t.Context(), c)
			if err != nil || got != st.wantClaim {
				t.Fatalf("ClaimContact = %v, %v; want %v", got, err, st.wantClaim)
			}
		})
	}
}

func TestWeComClaimContactLongKey(t *testing.T) {
	s := mustWeCom(t)
	c := sqlstore.WeComContact{CorpID: corp, EventKey: strings.Repeat("k", 400), ExternalUserID: "wm-2", AddedAt: t0, Outcome: sqlstore.WelcomeNoCode}
	for i, want := range []bool{true, false} {
		got, err := s.ClaimContact(t.Context(), c)
		if err != nil || got != want {
			t.Fatalf("claim #%d = %v, %v; want %v", i+1, got, err, want)
		}
	}
	if err := s.FinishWelcome(t.Context(), corp, c.EventKey, sqlstore.WelcomeNoCode, "", t0); err != nil {
		t.Fatalf("FinishWelcome with a long key: %v", err)
	}
	if err := s.FinishWelcome(t.Context(), corp, "unknown", sqlstore.WelcomeSent, "", t0); !errors.Is(err, bot.ErrNotFound) {
		t.Fatalf("FinishWelcome(unknown) err = %v, want ErrNotFound", err)
	}
}

func TestWeComApplyGroupChange(t *testing.T) {
	s := mustWeCom(t)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	change := func(typ, detail string, sec int, members ...string) sqlstore.WeComGroupChange {
		return sqlstore.WeComGroupChange{CorpID: corp, ChatID: "wr-1", ChangeType: typ, UpdateDetail: detail, Members: members, JoinScene: 3, QuitScene: 1, At: at(sec)}
	}
	type member struct {
		id string
		in bool
	}
	tests := []struct {
		name        string
		change      sqlstore.WeComGroupChange
		wantStatus  string
		wantMembers []member
	}{
		{"create", change("create", "", 1), sqlstore.WeComGroupActive, nil},
		{"two join", change("update", "add_member", 2, "Jack", "Rose"), sqlstore.WeComGroupActive, []member{{"Jack", true}, {"Rose", true}}},
		{"retry of the join is harmless", change("update", "add_member", 2, "Rose", "Jack"), sqlstore.WeComGroupActive, []member{{"Jack", true}, {"Rose", true}}},
		{"Jack leaves", change("update", "del_member", 5, "Jack"), sqlstore.WeComGroupActive, []member{{"Jack", false}, {"Rose", true}}},
		{"a late copy of the join does not bring Jack back", change("update", "add_member", 2, "Jack"), sqlstore.WeComGroupActive, []member{{"Jack", false}, {"Rose", true}}},
		{"renamed", change("update", "change_name", 6), sqlstore.WeComGroupActive, []member{{"Jack", false}, {"Rose", true}}},
		{"dismissed", change("dismiss", "", 9), sqlstore.WeComGroupDismissed, []member{{"Jack", false}, {"Rose", true}}},
		{"a late update does not revive it", change("update", "change_name", 7), sqlstore.WeComGroupDismissed, []member{{"Jack", false}, {"Rose", true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.ApplyGroupChange(t.Context(), tc.change); err != nil {
				t.Fatal(err)
			}
			g, err := s.Group(t.Context(), corp, "wr-1")
			if err != nil {
				t.Fatal(err)
			}
			var got []member
			for _, m := range g.Members {
				got = append(got, member{m.MemberID, m.InGroup})
			}
			if g.Status != tc.wantStatus || !slices.Equal(got, tc.wantMembers) {
				t.Fatalf("group = %s %v, want %s %v", g.Status, got, tc.wantStatus, tc.wantMembers)
			}
		})
	}
	g, _ := s.Group(t.Context(), corp, "wr-1")
	if jack := g.Members[0]; jack.JoinScene != 3 || jack.QuitScene != 1 || !jack.JoinedAt.Equal(at(2)) || !jack.LeftAt.Equal(at(5)) {
		t.Fatalf("Jack = %+v, want joined at %v by QR code, left at %v removed", jack, at(2), at(5))
	}
	if _, err := s.Group(t.Context(), corp, "wr-unknown"); !errors.Is(err, bot.ErrNotFound) {
		t.Fatalf("Group(unknown) err = %v, want ErrNotFound", err)
	}
}

func TestWeComCursor(t *testing.T) {
	s := mustWeCom(t)
	steps := []struct {
		name, set, want string
	}{
		{"empty at first", "", ""},
		{"set", "c1", "c1"},
		{"replace", "c2", "c2"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.set != "" {
				if err := s.SetCursor(t.Context(), corp, "kf:wk-1", st.set); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Cursor(t.Context(), corp, "kf:wk-1")
			if err != nil || got != st.want {
				t.Fatalf("Cursor = %q, %v; want %q", got, err, st.want)
			}
		})
	}
	if got, _ := s.Cursor(t.Context(), corp, "kf:wk-2"); got != "" {
		t.Fatalf("another account's cursor = %q, want empty", got)
	}
}

func TestWeComKFReplies(t *testing.T) {
	s := mustWeCom(t)
	const window, max = 48 * time.Hour, 5
	reserve := func(now time.Time) error {
		return s.ReserveKFReply(t.Context(), corp, "wk-1", "wm-1", now, window, max)
	}
	if err := reserve(t0); !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("reserve before any message: %v, want ErrInvalid", err)
	}
	if err := s.TouchKFSession(t.Context(), corp, "wk-1", "wm-1", t0); err != nil {
		t.Fatal(err)
	}
	for i := range max {
		if err := reserve(t0.Add(time.Minute)); err != nil {
			t.Fatalf("reply %d: %v", i+1, err)
		}
	}
	if err := reserve(t0.Add(time.Minute)); !errors.Is(err, bot.ErrInvalid) || !strings.Contains(err.Error(), "5 replies") {
		t.Fatalf("sixth reply: %v, want ErrInvalid about 5 replies", err)
	}
	if err := s.ReleaseKFReply(t.Context(), corp, "wk-1", "wm-1"); err != nil {
		t.Fatal(err)
	}
	if err := reserve(t0.Add(time.Minute)); err != nil {
		t.Fatalf("reply after a release: %v", err)
	}
	// A re-pulled older message changes nothing; a new one restarts.
	if err := s.TouchKFSession(t.Context(), corp, "wk-1", "wm-1", t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := reserve(t0.Add(time.Minute)); !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("reply after an old message: %v, want ErrInvalid", err)
	}
	if err := s.TouchKFSession(t.Context(), corp, "wk-1", "wm-1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := reserve(t0.Add(time.Hour + window - time.Second)); err != nil {
		t.Fatalf("reply just inside the window: %v", err)
	}
	if err := reserve(t0.Add(time.Hour + window + time.Second)); !errors.Is(err, bot.ErrInvalid) || !strings.Contains(err.Error(), "older than") {
		t.Fatalf("reply after the window: %v, want ErrInvalid about the window", err)
	}
}

func TestWeComTemplates(t *testing.T) {
	s := mustWeCom(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutTemplate(t.Context(), corp, 0, "tpl-a", "欢迎 %NICKNAME%"))
	must(s.PutTemplate(t.Context(), corp, 1, "tpl-b", "第二条"))
	must(s.PutTemplate(t.Context(), corp, 0, "tpl-a", "欢迎新朋友 %NICKNAME%"))
	must(s.DeleteTemplate(t.Context(), corp, 1))
	got, err := s.Templates(t.Context(), corp)
	must(err)
	want := []sqlstore.WeComTemplate{{Slot: 0, TemplateID: "tpl-a", Text: "欢迎新朋友 %NICKNAME%"}}
	if !slices.Equal(got, want) {
		t.Fatalf("Templates = %+v, want %+v", got, want)
	}
	if err := s.PutTemplate(t.Context(), corp, 2, "tpl-c", strings.Repeat("长", 4001)); !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("PutTemplate(too long) = %v, want ErrInvalid", err)
	}
}
