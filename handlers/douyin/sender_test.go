package douyin

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/bottest"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/storetest"
)

func reply(user, text string) bot.Action {
	return bot.Reply{To: bot.Target{Platform: bot.Douyin, Account: testAccount, User: bot.UserID(user)}, Text: text}
}

// replyTo is a reply naming the customer message it answers.
func replyTo(user, text, messageID string) bot.Action {
	r := reply(user, text).(bot.Reply)
	r.InReplyTo = messageID
	return r
}

// TestSenderLimits drives the Sender against conversation state recorded
// as webhooks record it, step by step on one clock.
func TestSenderLimits(t *testing.T) {
	type step struct {
		name    string
		do      func(s *redisstore.DouyinState, clk *bottest.Clock, user bot.UserID) error // nil: send a reply to user
		answers string                                                                     // the reply's InReplyTo
		wantErr string                                                                     // "" : delivered
		scene   string
		replyTo string
	}
	ctx := t.Context()
	// Cases share Redis, and Douyin's message ids are unique across
	// customers (recalls are kept per id): qualify each case's ids.
	qid := func(user bot.UserID, id string) string {
		if id == "" {
			return ""
		}
		return id + "-" + string(user)
	}
	msg := func(id string, ago time.Duration) func(*redisstore.DouyinState, *bottest.Clock, bot.UserID) error {
		return func(s *redisstore.DouyinState, clk *bottest.Clock, user bot.UserID) error {
			return s.RecordMessage(ctx, testAccount, user, conversationOf(string(user)), qid(user, id), clk.Now().Add(-ago))
		}
	}
	enter := func(id string) func(*redisstore.DouyinState, *bottest.Clock, bot.UserID) error {
		return func(s *redisstore.DouyinState, clk *bottest.Clock, user bot.UserID) error {
			return s.RecordEnter(ctx, testAccount, user, conversationOf(string(user)), qid(user, id), clk.Now())
		}
	}
	wait := func(d time.Duration) func(*redisstore.DouyinState, *bottest.Clock, bot.UserID) error {
		return func(_ *redisstore.DouyinState, clk *bottest.Clock, _ bot.UserID) error { clk.Add(d); return nil }
	}
	recalled := func(id string) func(*redisstore.DouyinState, *bottest.Clock, bot.UserID) error {
		return func(s *redisstore.DouyinState, _ *bottest.Clock, user bot.UserID) error {
			return s.MarkRecalled(ctx, testAccount, user, qid(user, id))
		}
	}
	sendOK := func(n int, replyTo string) []step {
		var out []step
		for i := range n {
			out = append(out, step{name: "reply " + string(rune('1'+i)), scene: SceneReply, replyTo: replyTo})
		}
		return out
	}
	// answerOK is n replies naming id, each answering it.
	answerOK := func(n int, id string) []step {
		out := sendOK(n, id)
		for i := range out {
			out[i].answers = id
		}
		return out
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"nothing to reply to", []step{{name: "proactive", wantErr: "proactive message needs the customer's authorization"}}},
		{"six replies per customer message", append(append([]step{{name: "message", do: msg("@m1", 0)}}, sendOK(6, "@m1")...),
			step{name: "seventh", wantErr: "reply quota used: 6"},
			step{name: "customer writes again", do: msg("@m2", 0)},
			step{name: "answerable again", scene: SceneReply, replyTo: "@m2"},
		)},
		{"24-hour window", []step{
			{name: "message 23h59m ago", do: msg("@m1", 23*time.Hour+59*time.Minute)},
			{name: "still open", scene: SceneReply, replyTo: "@m1"},
			{name: "a minute later", do: wait(2 * time.Minute)},
			{name: "closed", wantErr: "outside the reply window"},
		}},
		{"an older message arriving late does not reopen the window", []step{
			{name: "new message", do: msg("@new", 0)},
			{name: "older message delivered late", do: msg("@old", time.Hour)},
			{name: "reply answers the newer", scene: SceneReply, replyTo: "@new"},
		}},
		{"enter window: 3 messages in 30 s", []step{
			{name: "opened the chat", do: enter("@e1")},
			{name: "first", scene: SceneEnter, replyTo: "@e1"},
			{name: "second", scene: SceneEnter, replyTo: "@e1"},
			{name: "third", scene: SceneEnter, replyTo: "@e1"},
			{name: "fourth", wantErr: "messages allowed after opening the chat are used"},
		}},
		{"enter window closes after 30 s", []step{
			{name: "opened the chat", do: enter("@e1")},
			{name: "31 s later", do: wait(31 * time.Second)},
			{name: "closed", wantErr: "outside the reply window"},
		}},
		{"a message wins over an opened chat", []step{
			{name: "opened the chat", do: enter("@e1")},
			{name: "then wrote", do: msg("@m1", 0)},
			{name: "reply scene", scene: SceneReply, replyTo: "@m1"},
		}},
		{"recalled", []step{
			{name: "message", do: msg("@m1", 0)},
			{name: "recalled", do: recalled("@m1")},
			{name: "refused", wantErr: "recalled"},
		}},
		{"recall of an older message does not block the newer", []step{
			{name: "first", do: msg("@m1", time.Minute)},
			{name: "second", do: msg("@m2", 0)},
			{name: "first recalled", do: recalled("@m1")},
			{name: "reply answers the second", scene: SceneReply, replyTo: "@m2"},
		}},
		{"a reply answers the earlier message it names", []step{
			{name: "first", do: msg("@m1", time.Minute)},
			{name: "second", do: msg("@m2", 0)},
			{name: "reply to the first", answers: "@m1", scene: SceneReply, replyTo: "@m1"},
			{name: "reply to the second", answers: "@m2", scene: SceneReply, replyTo: "@m2"},
		}},
		{"a reply to a recalled earlier message is refused, the newer still answered", []step{
			{name: "first", do: msg("@m1", time.Minute)},
			{name: "second", do: msg("@m2", 0)},
			{name: "first recalled", do: recalled("@m1")},
			{name: "reply to the first", answers: "@m1", wantErr: "recalled"},
			{name: "reply to the second", answers: "@m2", scene: SceneReply, replyTo: "@m2"},
		}},
		{"a recall arriving before its message still refuses the reply", []step{
			{name: "recall first", do: recalled("@m1")},
			{name: "second", do: msg("@m2", 0)},
			{name: "first delivered late", do: msg("@m1", time.Minute)},
			{name: "reply to the first", answers: "@m1", wantErr: "recalled"},
		}},
		{"a recalled latest message does not stop a reply to an earlier one", []step{
			{name: "first", do: msg("@m1", time.Minute)},
			{name: "second", do: msg("@m2", 0)},
			{name: "second recalled", do: recalled("@m2")},
			{name: "reply to the first", answers: "@m1", scene: SceneReply, replyTo: "@m1"},
			{name: "reply to the second", answers: "@m2", wantErr: "recalled"},
			{name: "reply naming nothing", wantErr: "recalled"},
		}},
		{"an earlier message past its window: the reply answers the latest", []step{
			{name: "first, 23h59m ago", do: msg("@m1", 23*time.Hour+59*time.Minute)},
			{name: "second", do: msg("@m2", 0)},
			{name: "two minutes later", do: wait(2 * time.Minute)},
			{name: "reply to the first", answers: "@m1", scene: SceneReply, replyTo: "@m2"},
		}},
		{"an unrecorded message: the reply answers the latest", []step{
			{name: "message", do: msg("@m2", 0)},
			{name: "reply to an unknown id", answers: "@unknown", scene: SceneReply, replyTo: "@m2"},
		}},
		{"replies to an earlier message count against the latest", append(append(append([]step{
			{name: "first", do: msg("@m1", time.Minute)},
			{name: "second", do: msg("@m2", 0)}},
			answerOK(3, "@m1")...),
			answerOK(3, "@m2")...),
			step{name: "seventh, to the first", answers: "@m1", wantErr: "reply quota used: 6"},
		)},
	}
	rdb := storetest.Redis(t) // shared; each case has its own customer
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			clk := newClock()
			s, state := newTestSender(t, rdb, api, clk)
			user := bot.UserID(fmt.Sprintf("u-limits-%d", i))
			for _, st := range tc.steps {
				if st.do != nil {
					if err := st.do(state, clk, user); err != nil {
						t.Fatalf("%s: %v", st.name, err)
					}
					continue
				}
				_, before := api.counts()
				err := s.Send(t.Context(), replyTo(string(user), "您好", qid(user, st.answers)))
				if st.wantErr != "" {
					if !errors.Is(err, bot.ErrInvalid) || !strings.Contains(err.Error(), st.wantErr) {
						t.Fatalf("%s: err = %v, want ErrInvalid containing %q", st.name, err, st.wantErr)
					}
					if _, after := api.counts(); after != before {
						t.Fatalf("%s: a refused message reached the API", st.name)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				got := api.messages()
				last := got[len(got)-1]
				if last.Scene != st.scene || last.ReplyTo != qid(user, st.replyTo) || last.ConversationID != conversationOf(string(user)) || last.To != string(user) {
					t.Fatalf("%s: sent %+v, want scene %s answering %s", st.name, last, st.scene, st.replyTo)
				}
			}
		})
	}
}

// TestSenderPlatformErrors: permanent refusals are ErrInvalid, transient
// ones plain errors, and a failed send does not count against the quota.
func TestSenderPlatformErrors(t *testing.T) {
	tests := []struct {
		name        string
		failure     int64 // 0: the token fetch fails instead
		wantInvalid bool
	}{
		{"window closed on Douyin's side", 28003081, true},
		{"not authorized", 28001012, true},
		{"busy", 28001005, false},
		{"unknown code", 12345, false},
		{"HTTP 500", httpFailure, false},
		{"no token to be had", 0, false},
		{"network failure", networkFailure, false},
	}
	rdb := storetest.Redis(t) // shared; each case has its own customer
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			clk := newClock()
			s, state := newTestSender(t, rdb, api, clk)
			user := fmt.Sprintf("u-errors-%d", i)
			if err := state.RecordMessage(t.Context(), testAccount, bot.UserID(user), conversationOf(user), "@m1", clk.Now()); err != nil {
				t.Fatal(err)
			}
			if tc.failure == 0 {
				// Another case cached a token in the shared Redis: drop it.
				if err := redisstore.NewTokenCache(rdb).DeleteContext(t.Context(), "douyin_client_token_"+testClientKey); err != nil {
					t.Fatal(err)
				}
				api.failTokenNext(1)
			} else {
				api.failNext(tc.failure)
			}
			err := s.Send(t.Context(), reply(user, "您好"))
			if err == nil || errors.Is(err, bot.ErrInvalid) != tc.wantInvalid {
				t.Fatalf("err = %v, want ErrInvalid %v", err, tc.wantInvalid)
			}
			// The failed send does not count: all 6 replies are left.
			for i := range 6 {
				if err := s.Send(t.Context(), reply(user, "您好")); err != nil {
					t.Fatalf("reply %d after the failure: %v", i+1, err)
				}
			}
		})
	}
}

// TestSenderReleasesWhatItCounted: a failed reply to an earlier message
// gives back the quota of the latest message, which it was counted
// against.
func TestSenderReleasesWhatItCounted(t *testing.T) {
	api := newFakeAPI(t)
	clk := newClock()
	s, state := newTestSender(t, storetest.Redis(t), api, clk)
	const user = "u-release"
	for _, m := range []struct {
		id  string
		ago time.Duration
	}{{"@m1", time.Minute}, {"@m2", 0}} {
		if err := state.RecordMessage(t.Context(), testAccount, user, conversationOf(user), m.id, clk.Now().Add(-m.ago)); err != nil {
			t.Fatal(err)
		}
	}
	api.failNext(28001005)
	if err := s.Send(t.Context(), replyTo(user, "您好", "@m1")); err == nil || errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	for i := range 6 {
		if err := s.Send(t.Context(), replyTo(user, "您好", "@m1")); err != nil {
			t.Fatalf("reply %d after the failure: %v", i+1, err)
		}
	}
	if err := s.Send(t.Context(), replyTo(user, "您好", "@m1")); !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("seventh reply: err = %v, want the quota refusal", err)
	}
}

func TestSenderRefusesWhatDouyinCannotCarry(t *testing.T) {
	api := newFakeAPI(t)
	s, _ := newTestSender(t, storetest.Redis(t), api, newClock())
	to := bot.Target{Platform: bot.Douyin, Account: testAccount, User: "u-1"}
	tests := []struct {
		name string
		a    bot.Action
	}{
		{"news", bot.News{To: to, Articles: []bot.Article{{Title: "t", URL: "https://example.com"}}}},
		{"other platform", bot.Reply{To: bot.Target{Platform: bot.WeChat, Account: testAccount, User: "u-1"}, Text: "hi"}},
		{"no account", bot.Reply{To: bot.Target{Platform: bot.Douyin, User: "u-1"}, Text: "hi"}},
		{"no customer", bot.Reply{To: bot.Target{Platform: bot.Douyin, Account: testAccount}, Text: "hi"}},
		{"empty text", bot.Reply{To: to}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Send(t.Context(), tc.a); !errors.Is(err, bot.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if _, attempts := api.counts(); attempts != 0 {
		t.Fatalf("%d refused actions reached the API", attempts)
	}
}

// TestSenderHandover: Douyin has no staff tool to hand a conversation
// to; a hand-over's steps send nothing and succeed (staff answer from
// siyu's inbox).
func TestSenderHandover(t *testing.T) {
	api := newFakeAPI(t)
	s, _ := newTestSender(t, storetest.Redis(t), api, newClock())
	to := bot.Target{Platform: bot.Douyin, Account: testAccount, User: "u-1"}
	for _, step := range []bot.HandoverStep{bot.HandoverStart, bot.HandoverForward, bot.HandoverEnd} {
		if err := s.Send(t.Context(), bot.Handover{To: to, Step: step}); err != nil {
			t.Errorf("%s: %v, want nothing to do", step, err)
		}
	}
	if _, attempts := api.counts(); attempts != 0 {
		t.Fatalf("%d hand-over steps reached the API", attempts)
	}
}

// TestSenderRefreshesRejectedToken: a token Douyin rejects is dropped from
// the shared cache and fetched again once; another replica then uses the
// cached token.
func TestSenderRefreshesRejectedToken(t *testing.T) {
	api := newFakeAPI(t)
	rdb := storetest.Redis(t)
	clk := newClock()
	s, state := newTestSender(t, rdb, api, clk)
	if err := state.RecordMessage(t.Context(), testAccount, "u-1", conversationOf("u-1"), "@m1", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), reply("u-1", "一")); err != nil {
		t.Fatal(err)
	}
	api.revoke("clt.token-2")
	if err := s.Send(t.Context(), reply("u-1", "二")); err != nil {
		t.Fatalf("Send after revocation = %v, want success after a refresh", err)
	}
	if tokens, _ := api.counts(); tokens != 2 {
		t.Fatalf("token fetched %d times, want 2", tokens)
	}
	other, _ := newTestSender(t, rdb, api, clk)
	if err := other.Send(t.Context(), reply("u-1", "三")); err != nil {
		t.Fatal(err)
	}
	if tokens, _ := api.counts(); tokens != 2 {
		t.Fatalf("second replica fetched its own token: %d fetches, want 2", tokens)
	}
	if got := len(api.messages()); got != 3 {
		t.Fatalf("delivered %d messages, want 3", got)
	}
}

// TestTokenFetchedOnceByConcurrentReplicas: replicas needing a token at
// the same moment fetch it once, under the shared lock.
func TestTokenFetchedOnceByConcurrentReplicas(t *testing.T) {
	api := newFakeAPI(t)
	rdb := storetest.Redis(t)
	clk := newClock()
	const replicas = 8
	errs := make(chan error, replicas)
	for range replicas {
		s, _ := newTestSender(t, rdb, api, clk)
		go func() { _, err := s.tokens.Token(t.Context()); errs <- err }()
	}
	for range replicas {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if tokens, _ := api.counts(); tokens != 1 {
		t.Fatalf("token fetched %d times by %d replicas at once, want 1", tokens, replicas)
	}
}
