//go:build msgaudit && linux && cgo

package wecom

import (
	"context"
	"fmt"
	"time"

	workConfig "github.com/silenceper/wechat/v2/work/config"
	"github.com/silenceper/wechat/v2/work/msgaudit"

	"github.com/siyu-bot/siyu/bot"
)

// sdkArchiveTimeout bounds one GetChatData call, in seconds (the C
// library takes no context).
const sdkArchiveTimeout = 10

// sdkArchive reads the chat archive through the SDK's msgaudit client.
type sdkArchive struct {
	c *msgaudit.Client
}

// OpenArchive opens the chat archive of a corp with its 会话内容存档
// secret and the RSA private key matching the public key configured in
// the admin console. close frees the C library's handle.
func OpenArchive(corpID, secret, privateKey string) (src ArchiveSource, close func(), err error) {
	c, err := msgaudit.NewClient(&workConfig.Config{CorpID: corpID, CorpSecret: secret, RasPrivateKey: privateKey})
	if err != nil {
		return nil, nil, fmt.Errorf("wecom.OpenArchive: %w: %w", bot.ErrUnavailable, err)
	}
	return &sdkArchive{c: c}, c.Free, nil
}

// Fetch implements ArchiveSource. A message that cannot be decrypted is
// returned without content (Type "undecryptable") so that the poller
// moves past it.
func (a *sdkArchive) Fetch(ctx context.Context, seq uint64, limit int) ([]ArchivedMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := a.c.GetChatData(seq, uint64(limit), "", "", sdkArchiveTimeout)
	if err != nil {
		return nil, fmt.Errorf("wecom.sdkArchive.Fetch: %w: %w", bot.ErrUnavailable, err)
	}
	out := make([]ArchivedMessage, 0, len(data))
	for _, d := range data {
		m := ArchivedMessage{Seq: d.Seq, MsgID: d.MsgID, Type: "undecryptable"}
		msg, err := a.c.DecryptData(d.EncryptRandomKey, d.EncryptChatMsg)
		if err == nil {
			m.Action, m.Type, m.From = msg.Action, msg.Type, msg.From
			// TextMessage embeds the fields every type has (room, time).
			if t, err := msg.GetTextMessage(); err == nil {
				m.RoomID, m.Time = t.RoomID, time.UnixMilli(t.MsgTime)
				if msg.Type == ArchiveText {
					m.Text = t.Text.Content
				}
			}
		}
		out = append(out, m)
	}
	return out, nil
}
