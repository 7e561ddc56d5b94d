package wecom

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/siyu-bot/siyu/bot"
)

// TagGroupName is the tag group in the corp's tag library (企业客户标签)
// where siyu creates the channel tags (channels[].tags in the scripts)
// that the library lacks. A tag is looked up by name in every group
// first, so tags staff made themselves, in any group, are used as they
// are.
const TagGroupName = "siyu 渠道"

// tagTimeout bounds applying one contact's tags: three calls at most,
// each with one token refresh.
const tagTimeout = 30 * time.Second

// TagAPI manages the corp's customer tags and tags external contacts;
// Client implements it, with the 客户联系 secret. Errors carry WeCom's
// errcode (ErrCode) when it answered with one.
type TagAPI interface {
	// CorpTags lists every group of the corp's tags.
	CorpTags(ctx context.Context) ([]CorpTagGroup, error)
	// AddCorpTags creates tags in the group named groupName (created if
	// missing) and returns the group with the new tags.
	AddCorpTags(ctx context.Context, groupName string, names []string) (CorpTagGroup, error)
	// MarkTags adds tags to an external contact of the staff member userID.
	MarkTags(ctx context.Context, userID, externalUserID string, tagIDs []string) error
}

// applyTags adds the tags called names to the external contact of the
// staff member userID. The names are resolved to ids in the corp's tag
// library each time (a new contact is rare, and staff may rename or
// delete tags in the admin console at any moment); the missing ones are
// created in TagGroupName. One attempt: the caller records a failure.
func applyTags(ctx context.Context, api TagAPI, userID, externalUserID string, names []string) error {
	names = tagNames(names)
	if len(names) == 0 {
		return nil
	}
	if userID == "" || externalUserID == "" {
		return fmt.Errorf("wecom: tags: no staff member or no external contact: %w", bot.ErrInvalid)
	}
	ids, missing, err := lookupTags(ctx, api, names)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		group, err := api.AddCorpTags(ctx, TagGroupName, missing)
		if code, _ := ErrCode(err); code == codeTagExists {
			// Created since the lookup, by another replica or by staff.
			if ids, missing, err = lookupTags(ctx, api, names); err == nil && len(missing) > 0 {
				err = fmt.Errorf("wecom: tags %q: WeCom says they exist but does not list them: %w", missing, bot.ErrUnavailable)
			}
		} else if err == nil {
			for _, t := range group.Tag {
				if _, ok := ids[t.Name]; !ok && t.ID != "" {
					ids[t.Name] = t.ID
				}
			}
		}
		if err != nil {
			return err
		}
	}
	tagIDs := make([]string, 0, len(names))
	for _, n := range names {
		id, ok := ids[n]
		if !ok {
			return fmt.Errorf("wecom: tag %q: not created: %w", n, bot.ErrUnavailable)
		}
		tagIDs = append(tagIDs, id)
	}
	return api.MarkTags(ctx, userID, externalUserID, tagIDs)
}

// tagNames returns names trimmed, without empty ones and repeats.
func tagNames(names []string) []string {
	out := make([]string, 0, len(names))
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// lookupTags finds names in the corp's tag library, in any group: the
// ids of those it has, and those it lacks in order.
func lookupTags(ctx context.Context, api TagAPI, names []string) (map[string]string, []string, error) {
	groups, err := api.CorpTags(ctx)
	if err != nil {
		return nil, nil, err
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	ids := make(map[string]string, len(names))
	for _, g := range groups {
		for _, t := range g.Tag {
			if _, seen := ids[t.Name]; want[t.Name] && !seen && !t.Deleted && t.ID != "" {
				ids[t.Name] = t.ID
			}
		}
	}
	var missing []string
	for _, n := range names {
		if _, ok := ids[n]; !ok {
			missing = append(missing, n)
		}
	}
	return ids, missing, nil
}

// startTags applies a claimed contact's channel tags in the background.
func (h *Handler) startTags(ctx context.Context, rec ContactRecord) {
	if rec.TagsOutcome != TagsPending { // the channel has no tags
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.tagContact(ctx, rec)
	}()
}

// tagContact applies a claimed contact's channel tags in WeCom and records
// the outcome on the contact. It never fails the welcome: it runs once the
// welcome's outcome is known, and a failure is recorded and logged (the
// channel, never the customer).
func (h *Handler) tagContact(ctx context.Context, rec ContactRecord) {
	if rec.TagsOutcome != TagsPending { // the channel has no tags
		return
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tagTimeout)
	defer cancel()
	err := errors.New("wecom: tags: no 客户联系 client configured")
	if h.d.Tags != nil {
		err = applyTags(tctx, h.d.Tags, rec.UserID, rec.ExternalUserID, rec.Tags)
	}
	outcome, errText := TagsApplied, ""
	if err != nil {
		outcome, errText = TagsFailed, err.Error()
		h.log.WarnContext(ctx, "wecom: channel tags not applied", "state", rec.State, "err", err)
	} else {
		h.log.InfoContext(ctx, "wecom: channel tags applied", "state", rec.State, "tags", len(rec.Tags))
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	if ferr := h.d.Contacts.FinishTags(rctx, rec.CorpID, rec.EventKey, outcome, errText); ferr != nil {
		h.log.ErrorContext(ctx, "wecom: tag outcome not recorded", "state", rec.State, "tags", outcome, "err", ferr)
	}
}
