package late

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// call is what the platform stores in these tests.
type call struct {
	Corp string `json:"corp"`
	Key  string `json:"key"`
	Text string `json:"text"`
}

// fakeOutbox records what is enqueued and fails with err.
type fakeOutbox struct {
	mu    sync.Mutex
	keys  []string
	items [][]bot.Action
	err   error
}

func (o *fakeOutbox) Enqueue(ctx context.Context, key string, actions []bot.Action) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	o.keys = append(o.keys, key)
	o.items = append(o.items, actions)
	return nil
}

type fixture struct {
	c    *Callbacks[call]
	out  *fakeOutbox
	logs *bytes.Buffer
	ran  []call
	run  error // what Run returns
}

// testNow is the tests' fixed clock.
func testNow() time.Time { return time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC) }

func newFixture(t *testing.T, p Policy) *fixture {
	t.Helper()
	f := &fixture{out: &fakeOutbox{}, logs: new(bytes.Buffer)}
	if p.Now == nil {
		p.Now = testNow
	}
	f.c = New(Spec[call]{
		Platform:  "test",
		Noun:      "callback",
		Renderer:  "test_late",
		KeyPrefix: "test-late:",
		Identity:  func(v call, _ []byte) string { return v.Corp + "\x00" + v.Key },
		To:        func(v call) bot.Target { return bot.Target{Platform: bot.WeCom, Account: bot.AccountID(v.Corp)} },
		Guarded:   func(v call) bool { return v.Key != "" },
		Attrs:     func(v call) []any { return []any{"key", v.Key} },
		Run: func(ctx context.Context, v call) error {
			f.ran = append(f.ran, v)
			return f.run
		},
	}, p, f.out, slog.New(slog.NewTextHandler(f.logs, nil)))
	return f
}

// TestPersist: a stored copy is one batch row per identity, due after
// Delay when guarded and ProcessTimeout + 30 s otherwise, holding the
// callback's JSON for this renderer.
func TestPersist(t *testing.T) {
	p := Policy{Delay: 10 * time.Second, ProcessTimeout: time.Minute}
	tests := []struct {
		name    string
		v       call
		wantDue time.Duration
	}{
		{name: "guarded", v: call{Corp: "c1", Key: "msg:1", Text: "你好"}, wantDue: 10 * time.Second},
		{name: "unguarded", v: call{Corp: "c1", Text: "入群"}, wantDue: 90 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, p)
			_ = f.c.Persist(t.Context(), tc.v)
			if len(f.out.items) != 1 || len(f.out.items[0]) != 1 || f.out.keys[0] != "" {
				t.Fatalf("enqueued %v under %q, want one action under no key", f.out.items, f.out.keys)
			}
			b, ok := f.out.items[0][0].(bot.Batched)
			if !ok {
				t.Fatalf("enqueued %T, want bot.Batched", f.out.items[0][0])
			}
			sum := sha256.Sum256([]byte(tc.v.Corp + "\x00" + tc.v.Key))
			if want := "test-late:" + hex.EncodeToString(sum[:16]); b.Key != want {
				t.Errorf("batch key = %q, want %q", b.Key, want)
			}
			if got := b.SendAt.Sub(testNow()); got != tc.wantDue {
				t.Errorf("due %v after now, want %v", got, tc.wantDue)
			}
			r, ok := b.Action.(bot.Render)
			if !ok || r.Renderer != "test_late" || r.To != (bot.Target{Platform: bot.WeCom, Account: "c1"}) {
				t.Fatalf("row action = %+v, want a test_late Render to the corp", b.Action)
			}
			var got call
			if err := json.Unmarshal([]byte(r.Key), &got); err != nil || got != tc.v {
				t.Errorf("stored copy = %+v, %v, want %+v", got, err, tc.v)
			}
		})
	}
}

// TestPersistSameIdentityOneRow: copies of one callback (a retry with
// another payload, another replica) get the same row key, so the outbox
// keeps one.
func TestPersistSameIdentityOneRow(t *testing.T) {
	f := newFixture(t, Policy{})
	for _, v := range []call{{Corp: "c1", Key: "msg:1", Text: "a"}, {Corp: "c1", Key: "msg:1", Text: "b"}, {Corp: "c2", Key: "msg:1", Text: "a"}} {
		if err := f.c.Persist(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
	key := func(i int) string { return f.out.items[i][0].(bot.Batched).Key }
	if key(0) != key(1) {
		t.Errorf("same identity: keys %q and %q, want equal", key(0), key(1))
	}
	if key(0) == key(2) {
		t.Errorf("other corp: key %q, want another", key(2))
	}
}

// TestPersistFailureLogged: a copy that cannot be stored is logged with
// the platform's words and attributes.
func TestPersistFailureLogged(t *testing.T) {
	f := newFixture(t, Policy{})
	f.out.err = fmt.Errorf("db down: %w", bot.ErrUnavailable)
	if err := f.c.Persist(t.Context(), call{Corp: "c1", Key: "msg:9"}); !errors.Is(err, bot.ErrUnavailable) {
		t.Errorf("Persist = %v, want the store's error, so the adapter refuses the callback", err)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "test: late callback not stored") || !strings.Contains(logs, "key=msg:9") || !strings.Contains(logs, "db down") {
		t.Errorf("logs = %q, want the failure with the callback's attributes", logs)
	}
}

// TestRender: a stored copy runs again through Spec.Run, whose error the
// outbox gets as it is; a placeholder renders nothing; an unreadable copy
// is refused.
func TestRender(t *testing.T) {
	stored := call{Corp: "c1", Key: "msg:1", Text: "你好"}
	data, _ := json.Marshal(stored)
	tests := []struct {
		name    string
		key     string
		run     error
		wantRan []call
		wantErr error
	}{
		{name: "stored copy", key: string(data), wantRan: []call{stored}},
		{name: "run fails", key: string(data), run: bot.ErrUnavailable, wantRan: []call{stored}, wantErr: bot.ErrUnavailable},
		{name: "placeholder", key: ""},
		{name: "unreadable", key: "{", wantErr: bot.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Policy{})
			f.run = tc.run
			a, err := f.c.Render(t.Context(), bot.Render{Renderer: "test_late", Key: tc.key})
			if a != nil {
				t.Errorf("Render = %v, want nothing to send", a)
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Render err = %v, want %v", err, tc.wantErr)
			}
			if len(f.ran) != len(tc.wantRan) || len(f.ran) > 0 && f.ran[0] != tc.wantRan[0] {
				t.Errorf("ran %+v, want %+v", f.ran, tc.wantRan)
			}
		})
	}
}

// TestPlaceholder: a placeholder is a Render of this renderer that
// renders nothing.
func TestPlaceholder(t *testing.T) {
	f := newFixture(t, Policy{})
	to := bot.Target{Platform: bot.WeChat, Account: "gh", User: "o1"}
	p, ok := f.c.Placeholder(to).(bot.Render)
	if !ok || p.Renderer != "test_late" || p.To != to {
		t.Fatalf("Placeholder = %+v, want a test_late Render to %v", p, to)
	}
	if a, err := f.c.Render(t.Context(), p); a != nil || err != nil || len(f.ran) != 0 {
		t.Errorf("Render(placeholder) = %v, %v after %d runs, want nothing", a, err, len(f.ran))
	}
}

// TestRetry: handling is repeated until it succeeds or is refused, then
// queueing until it succeeds (whatever its error).
func TestRetry(t *testing.T) {
	unavailable := fmt.Errorf("store down: %w", bot.ErrUnavailable)
	invalid := fmt.Errorf("bad event: %w", bot.ErrInvalid)
	tests := []struct {
		name       string
		first      error   // the first handling's outcome
		handles    []error // what each handle call returns
		queues     []error // what each queue call returns
		noQueue    bool    // handle queues too (WeCom)
		wantHandle int
		wantQueue  int
		wantLog    string
	}{
		{name: "handled, queued", queues: []error{nil}, wantQueue: 1},
		{name: "handled, handle queued", noQueue: true},
		{name: "failed, then handled and queued", first: unavailable, handles: []error{unavailable, nil}, queues: []error{nil},
			wantHandle: 2, wantQueue: 1, wantLog: "not delivered yet; retrying"},
		{name: "queueing retried", queues: []error{unavailable, invalid, nil}, wantQueue: 3, wantLog: "not delivered yet; retrying"},
		{name: "refused at once", first: invalid, wantLog: "test: late callback refused"},
		{name: "refused on retry", first: unavailable, handles: []error{invalid}, wantHandle: 1, wantLog: "test: late callback refused"},
		{name: "failed, handle queues", first: unavailable, handles: []error{nil}, noQueue: true, wantHandle: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Policy{RetryBackoff: time.Nanosecond})
			var handles, queues int
			// A call beyond the table succeeds, ending the retries; the
			// counts fail.
			handle := func(context.Context) error {
				if handles++; handles > len(tc.handles) {
					return nil
				}
				return tc.handles[handles-1]
			}
			queue := func(context.Context) error {
				if queues++; queues > len(tc.queues) {
					return nil
				}
				return tc.queues[queues-1]
			}
			if tc.noQueue {
				queue = nil
			}
			f.c.Retry(t.Context(), call{Key: "msg:1"}, tc.first, handle, queue)
			if handles != tc.wantHandle || queues != tc.wantQueue {
				t.Errorf("handled %d and queued %d times, want %d and %d", handles, queues, tc.wantHandle, tc.wantQueue)
			}
			if !strings.Contains(f.logs.String(), tc.wantLog) {
				t.Errorf("logs = %q, want %q", f.logs.String(), tc.wantLog)
			}
			if strings.Contains(f.logs.String(), "lost") {
				t.Errorf("logs = %q, want nothing lost", f.logs.String())
			}
		})
	}
}

// TestRetryGivesUp: once the caller's deadline has passed, Retry stops
// and logs the callback as lost.
func TestRetryGivesUp(t *testing.T) {
	f := newFixture(t, Policy{RetryBackoff: time.Hour}) // only ctx can end the wait
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	handles := 0
	f.c.Retry(ctx, call{Key: "msg:1"}, bot.ErrUnavailable, func(context.Context) error { handles++; return nil }, nil)
	if handles != 0 {
		t.Errorf("handled %d times after the deadline, want 0", handles)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "test: late callback lost") || !strings.Contains(logs, "key=msg:1") {
		t.Errorf("logs = %q, want the callback logged as lost", logs)
	}
}
