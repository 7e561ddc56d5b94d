package admin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/dnd"
)

// DryRunner runs one event through the engine's stack without doing
// anything: (*bot.Engine).Run with dryRun true.
type DryRunner interface {
	Run(ctx context.Context, ev bot.Event, dryRun bool) (*bot.Turn, error)
}

// DraftRunner runs one event over scripts that are not in force (an
// unsaved draft): (*bot.Engine).RunWith.
type DraftRunner interface {
	RunWith(ctx context.Context, ev bot.Event, s *bot.Scripts, dryRun bool) (*bot.Turn, error)
}

// HoldExplainer says which of a dry-run's proactive actions
// do-not-disturb would hold back, and why, recording and counting
// nothing. bot/dnd's Service implements it.
type HoldExplainer interface {
	ExplainHolds(ctx context.Context, actions []bot.Action, now time.Time) ([]Hold, error)
}

// Hold is one action do-not-disturb would hold back: its index into the
// actions given, the reason for staff ("quiet_hours", "opted_out", "cap",
// …) and when it would be tried again (zero: dropped for good).
type Hold = dnd.Hold

// Dry-run identities: the dry-run's customer and group are made up, so no
// real person's state (check-ins, claims, opt-outs) is read or touched.
const (
	dryRunAccount = "dry-run"
	dryRunSender  = "dry-run-staff"
	dryRunGroup   = "dry-run-group"
	maxDryRunText = 2000
)

// flexGroup accepts "group": true/false or a group id string (any
// non-empty string is a group).
type flexGroup bool

func (g *flexGroup) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*g = flexGroup(x)
	case string:
		*g = x != ""
	case nil:
		*g = false
	default:
		return fmt.Errorf("group: want true, false or a group id")
	}
	return nil
}

// actionView is one action as the console shows it.
type actionView struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Proactive bool            `json:"proactive"`
	Topic     string          `json:"topic,omitempty"`
	Group     bool            `json:"group"`
	Detail    json.RawMessage `json:"detail"`
	Reason    string          `json:"reason,omitempty"` // held_back only
	Until     time.Time       `json:"until,omitzero"`   // held_back only: when it would be tried again
}

func viewAction(a bot.Action) (actionView, error) {
	v := actionView{Proactive: bot.IsProactive(a), Group: a.Dest().Conversation.IsGroup()}
	if p, ok := a.(bot.Push); ok {
		v.Topic = p.Topic
	}
	inner := bot.Unwrap(a)
	raw, err := bot.MarshalAction(inner)
	if err != nil {
		return v, err
	}
	var env struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return v, err
	}
	v.Type, v.Detail = env.Type, env.Data
	switch x := inner.(type) {
	case bot.Reply:
		v.Text = x.Text
	case bot.Welcome:
		v.Text = x.Text
	case bot.StaffAlert:
		v.Text = x.Title + "：" + x.Text
	case bot.News:
		titles := make([]string, len(x.Articles))
		for i, ar := range x.Articles {
			titles[i] = ar.Title
		}
		v.Text = strings.Join(titles, " / ")
	case bot.Render:
		v.Text = "（发送时生成：" + x.Renderer + "）"
	}
	return v, nil
}

// dryRun answers POST /admin/api/dry-run: which stage, rule or intent
// would answer a message on a platform and conversation kind, with what,
// and what do-not-disturb would hold back. Nothing is sent or recorded.
func (h *Handler) dryRun(c echo.Context) error {
	if h.runner == nil {
		return echo.NewHTTPError(http.StatusNotFound, "试运行未启用")
	}
	var req struct {
		Text     string    `json:"text"`
		Platform string    `json:"platform"`
		Group    flexGroup `json:"group"`
		// Files are unsaved drafts to answer with, laid over the files
		// in force (as validate takes them).
		Files map[string]string `json:"files"`
		// Account names the configured account to answer as (its
		// platform, brand and scripts); "" is the environment's account
		// on Platform.
		Account string `json:"account"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, maxValidateBytes))
	if err := dec.Decode(&req); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "请求体应为 JSON：{\"text\",\"platform\",\"group\"}")
	}
	req.Text = strings.TrimSpace(req.Text)
	switch {
	case req.Text == "":
		return echo.NewHTTPError(http.StatusBadRequest, "text 不能为空")
	case utf8.RuneCountInString(req.Text) > maxDryRunText:
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("text 不能超过 %d 字", maxDryRunText))
	}
	platform := bot.Platform(req.Platform)
	switch platform {
	case "", bot.WeChat, bot.WeCom, bot.Douyin:
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "platform 只能是 wechat、wecom 或 douyin")
	}
	p := principalOf(c)
	if platform == "" && req.Account == "" {
		platform = bot.WeChat
	}
	acct, err := h.findAccount(c.Request().Context(), p, strings.TrimSpace(req.Account), platform)
	if err != nil {
		return err
	}
	for name := range req.Files {
		if !p.mayReadScript(name) {
			return scriptRefusal(p, name, false)
		}
	}
	now := h.now()
	// The account's platform and route, so the answer is the one its
	// customers get (its brand's scripts); the customer stays made up.
	ev := bot.Event{
		Platform: acct.Platform, Account: dryRunAccount, Route: acct.Route(), Kind: bot.KindMessage,
		Sender: dryRunSender, Text: req.Text, MessageID: "dry-run", DedupeKey: "dry-run", Time: now,
	}
	if req.Group {
		ev.Conversation = bot.Conversation{Group: dryRunGroup}
	}
	var t *bot.Turn
	if len(req.Files) > 0 {
		dr, ok := h.runner.(DraftRunner)
		if !ok {
			return echo.NewHTTPError(http.StatusNotFound, "试运行不支持草稿")
		}
		s, err := h.draftScripts(c.Request().Context(), req.Files, ev.Route)
		if err != nil {
			var de *detailedError
			if errors.As(err, &de) {
				de.details = visibleProblems(p, de.details)
			}
			return err
		}
		t, err = dr.RunWith(c.Request().Context(), ev, s, true)
		if err != nil {
			return fmt.Errorf("admin.dryRun: %w", err)
		}
	} else if t, err = h.runner.Run(c.Request().Context(), ev, true); err != nil {
		return fmt.Errorf("admin.dryRun: %w", err)
	}
	held := map[int]Hold{}
	if h.explainer != nil && slices.ContainsFunc(t.Actions, bot.IsProactive) {
		holds, err := h.explainer.ExplainHolds(c.Request().Context(), t.Actions, now)
		if err != nil {
			return fmt.Errorf("admin.dryRun: do-not-disturb: %w", err)
		}
		for _, hd := range holds {
			held[hd.Index] = hd
		}
	}
	actions := make([]actionView, 0, len(t.Actions))
	heldBack := make([]actionView, 0)
	for i, a := range t.Actions {
		v, err := viewAction(a)
		if err != nil {
			return fmt.Errorf("admin.dryRun: %w", err)
		}
		if hd, ok := held[i]; ok {
			v.Reason = hd.Reason
			if !hd.Until.IsZero() {
				v.Until = hd.Until
			}
			heldBack = append(heldBack, v)
			continue
		}
		actions = append(actions, v)
	}
	// The confidence meter is the intent's score, shown only when an
	// intent (or a FAQ entry) answered: a keyword rule's answer has no
	// score, whatever the classifier read.
	answeredByIntent := t.Answer.Stage == "intent" || t.Answer.Stage == "faq" || t.Answer.Intent != ""
	confidence := 0.0
	if answeredByIntent {
		confidence = max(t.Answer.Confidence, t.Confidence)
	}
	return c.JSON(http.StatusOK, map[string]any{
		"stage":       t.Answer.Stage,
		"rule":        t.Answer.Rule,
		"intent":      cmp.Or(t.Answer.Intent, t.Intent),
		"confidence":  confidence,
		"read_intent": map[string]any{"intent": t.Intent, "confidence": t.Confidence},
		"draft":       len(req.Files) > 0,
		"risks":       nonNilStrings(t.Risks),
		"platform":    acct.Platform,
		"account":     acct.Name,
		"brand":       acct.Brand,
		"group":       bool(req.Group),
		"actions":     actions,
		"held_back":   heldBack,
	})
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
