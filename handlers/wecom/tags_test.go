package wecom

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestContactTags: a new contact gets its channel's tags in WeCom after
// the welcome: names found in the corp's library (any group) are used as
// they are, missing ones are created in the group "siyu 渠道", mark_tag
// gets every id for the staff member and the contact, and the outcome is
// recorded on the contact. A tag failure never touches the welcome.
func TestContactTags(t *testing.T) {
	tests := []struct {
		name        string
		state, code string
		seed        []string // tags already in the corp's library, in a staff-made group
		race        bool     // another replica creates the missing tags first
		markFail    []int64
		wantCalls   []string // 客户联系 endpoints, in order
		wantAdded   []string // names add_corp_tag creates in "siyu 渠道"
		wantMark    []string // names whose ids mark_tag gets; nil: no mark_tag
		wantWelcome string
		wantTags    string
		wantTagErr  string
	}{
		{"one tag exists, the other is created", "store-shanghai-01", "C-TAG-NEW", []string{"门店"}, false, nil,
			[]string{"send_welcome_msg", "get_corp_tag_list", "add_corp_tag", "mark_tag"}, []string{"上海"}, []string{"门店", "上海"},
			OutcomeSent, TagsApplied, ""},
		{"every tag exists", "store-shanghai-01", "C-TAG-ALL", []string{"上海", "门店"}, false, nil,
			[]string{"send_welcome_msg", "get_corp_tag_list", "mark_tag"}, nil, []string{"门店", "上海"},
			OutcomeSent, TagsApplied, ""},
		{"no tag exists", "store-shanghai-01", "C-TAG-NONE", nil, false, nil,
			[]string{"send_welcome_msg", "get_corp_tag_list", "add_corp_tag", "mark_tag"}, []string{"门店", "上海"}, []string{"门店", "上海"},
			OutcomeSent, TagsApplied, ""},
		{"created meanwhile by another replica (40071)", "store-shanghai-01", "C-TAG-RACE", []string{"门店"}, true, nil,
			[]string{"send_welcome_msg", "get_corp_tag_list", "add_corp_tag", "get_corp_tag_list", "mark_tag"}, []string{"上海"}, []string{"门店", "上海"},
			OutcomeSent, TagsApplied, ""},
		{"channel without tags", "store-beijing-01", "C-TAG-BJ", []string{"门店"}, false, nil,
			[]string{"send_welcome_msg"}, nil, nil, OutcomeSent, "", ""},
		{"unknown channel", "no-such-channel", "C-TAG-UNKNOWN", nil, false, nil,
			[]string{"send_welcome_msg"}, nil, nil, OutcomeSent, "", ""},
		{"mark_tag refused: the welcome stands", "store-shanghai-01", "C-TAG-FAIL", []string{"门店"}, false, []int64{84061},
			[]string{"send_welcome_msg", "get_corp_tag_list", "add_corp_tag", "mark_tag"}, []string{"上海"}, []string{"门店", "上海"},
			OutcomeSent, TagsFailed, "84061"},
		{"no welcome code: tags all the same", "store-shanghai-01", "", []string{"门店", "上海"}, false, nil,
			[]string{"get_corp_tag_list", "mark_tag"}, nil, []string{"门店", "上海"},
			OutcomeNoCode, TagsApplied, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			if len(tc.seed) > 0 {
				api.seedTags("客户类型", tc.seed...)
			}
			api.mu.Lock()
			api.tagRace = tc.race
			api.mu.Unlock()
			api.failMarks(tc.markFail...)
			b := newBackends(t)
			r := newReplica(t, b, newRecorder(t), replicaOpts{})
			external := "wm-tags-" + strconv.Itoa(i)
			if got := r.post(t, contactXML(time.Now().Unix(), "lisi", external, tc.state, tc.code)); got != http.StatusOK {
				t.Fatalf("status = %d, want 200", got)
			}
			r.wait()

			if got := api.gotContactCalls(); !slices.Equal(got, tc.wantCalls) {
				t.Fatalf("客户联系 calls = %v, want %v", got, tc.wantCalls)
			}
			added := api.gotAddedTags()
			switch {
			case tc.wantAdded == nil && len(added) != 0:
				t.Fatalf("add_corp_tag got %+v, want no call", added)
			case tc.wantAdded != nil && (len(added) != 1 || added[0].GroupName != TagGroupName || !slices.Equal(added[0].Names, tc.wantAdded)):
				t.Fatalf("add_corp_tag got %+v, want %v in %q", added, tc.wantAdded, TagGroupName)
			}
			marks := api.gotMarks()
			if tc.wantMark == nil {
				if len(marks) != 0 {
					t.Fatalf("mark_tag got %+v, want no call", marks)
				}
			} else {
				wantIDs := api.tagIDs(tc.wantMark...)
				if len(marks) != 1 || marks[0].UserID != "lisi" || marks[0].ExternalUserID != external || !slices.Equal(marks[0].AddTag, wantIDs) {
					t.Fatalf("mark_tag got %+v, want lisi's %s tagged %v (%v)", marks, external, wantIDs, tc.wantMark)
				}
			}
			if tc.wantWelcome == OutcomeSent {
				if w := api.gotWelcomes(); len(w) != 1 || w[0].Code != tc.code {
					t.Fatalf("welcomes = %+v, want one with %s", w, tc.code)
				}
			}
			contacts, err := b.store.Contacts(t.Context(), testCorp, external, "", 10)
			if err != nil || len(contacts) != 1 {
				t.Fatalf("contacts = %+v, %v; want one", contacts, err)
			}
			c := contacts[0]
			if c.Outcome != tc.wantWelcome || c.Error != "" || c.WelcomeAt.IsZero() {
				t.Fatalf("welcome outcome = %q error %q, want %q", c.Outcome, c.Error, tc.wantWelcome)
			}
			if c.TagsOutcome != tc.wantTags || !strings.Contains(c.TagError, tc.wantTagErr) || (tc.wantTagErr == "") != (c.TagError == "") {
				t.Fatalf("tags outcome = %q error %q, want %q with an error containing %q", c.TagsOutcome, c.TagError, tc.wantTags, tc.wantTagErr)
			}
		})
	}
}

// TestContactTagsTokenRevoked: a revoked 客户联系 token is refreshed once,
// and the tags still go on.
func TestContactTagsTokenRevoked(t *testing.T) {
	api := newFakeAPI(t)
	api.seedTags("客户类型", "门店", "上海")
	b := newBackends(t)
	r := newReplica(t, b, newRecorder(t), replicaOpts{})
	if got := r.post(t, contactXML(time.Now().Unix(), "lisi", "wm-tags-revoked", "store-shanghai-01", "")); got != http.StatusOK {
		t.Fatalf("status = %d, want 200", got)
	}
	r.wait()
	api.revoke(testContactSecret)
	if got := r.post(t, contactXML(time.Now().Unix()+1, "lisi", "wm-tags-revoked-2", "store-shanghai-01", "")); got != http.StatusOK {
		t.Fatalf("status = %d, want 200", got)
	}
	r.wait()
	if n := len(api.gotMarks()); n != 2 {
		t.Fatalf("mark_tag calls = %d, want 2", n)
	}
	contacts, err := b.store.Contacts(t.Context(), testCorp, "wm-tags-revoked-2", "", 10)
	if err != nil || len(contacts) != 1 || contacts[0].TagsOutcome != TagsApplied {
		t.Fatalf("contacts = %+v, %v; want tags applied after the token refresh", contacts, err)
	}
}
