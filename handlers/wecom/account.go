package wecom

import (
	"strings"

	"github.com/siyu-bot/siyu/bot"
)

// How WeCom conversations map onto bot.Event and bot.Target. bot.Event has
// no field for a 微信客服 account or for the app a staff member wrote to,
// and the sender needs both to answer, so they are part of the account:
//
//	"<corpid>"                  external contacts and customer groups
//	                            (Sender = external_userid, Group = chat id)
//	"<corpid>/kf/<open_kfid>"   a 微信客服 account's 1:1 chats
//	                            (Sender = the customer's external_userid)
//	"<corpid>/app/<agentid>"    the self-built app's chats with staff
//	                            (Sender = the member's userid)
//
// The customer's id stays the bare external_userid in every form, so a
// customer is the same bot.UserID whether met as a contact, in a group or
// through 微信客服. Corp ids, open_kfids and agent ids contain no "/".
const (
	kindCorp = ""
	kindKF   = "kf"
	kindApp  = "app"
)

// KFAccount is the account of a 微信客服 account's chats.
func KFAccount(corpID, openKfID string) bot.AccountID {
	return bot.AccountID(corpID + "/" + kindKF + "/" + openKfID)
}

// AppAccount is the account of the self-built app's chats with staff.
func AppAccount(corpID, agentID string) bot.AccountID {
	return bot.AccountID(corpID + "/" + kindApp + "/" + agentID)
}

// ParseAccount splits an account into the corp id, the kind ("" for the
// corp itself, "kf" or "app") and the 微信客服 account or agent id. ok is
// false for a form it does not know.
func ParseAccount(a bot.AccountID) (corpID, kind, id string, ok bool) {
	corpID, rest, found := strings.Cut(string(a), "/")
	if !found {
		return corpID, kindCorp, "", corpID != ""
	}
	kind, id, found = strings.Cut(rest, "/")
	if !found || id == "" || corpID == "" || (kind != kindKF && kind != kindApp) {
		return "", "", "", false
	}
	return corpID, kind, id, true
}
