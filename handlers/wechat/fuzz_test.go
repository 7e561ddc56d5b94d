package wechat

import (
	"testing"

	"github.com/siyu-bot/siyu/bot"
)

// Fuzz targets for everything WeChat sends siyu that siyu parses: the
// callback query and the decrypted message (the safe-mode envelope is
// fuzzed where it is opened, in wxcrypt). Each
// must refuse bad input with an error, never panic, and never turn
// garbage into an event with no sender. The seeds run in every `go test`;
// `go test -fuzz FuzzX -fuzztime 60s ./handlers/wechat/` explores
// (README: Fuzzing).

func FuzzCallbackQuery(f *testing.F) {
	for _, s := range []string{
		"signature=a&timestamp=1&nonce=2",
		"signature=a&timestamp=1&nonce=2&encrypt_type=aes&msg_signature=b&openid=o",
		"echostr=%E4%BD%A0+%2B&timestamp=1&timestamp=2",
		"&&=&a=%zz&nonce",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q := parseCallbackQuery(raw)
		_ = q
	})
}

func FuzzInbound(f *testing.F) {
	for _, s := range []string{
		"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[营业时间]]></Content><MsgId>1234567890123456</MsgId></xml>",
		"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket></xml>",
		`{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":1,"MsgType":"event","Event":"CLICK","EventKey":"MENU"}`,
		"<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><CreateTime>x</CreateTime></xml>",
		"<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><Content><![CDATA[a]]]]><![CDATA[>]]></Content></xml>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseInbound(body)
		if err != nil {
			return
		}
		if m.FromUserName == "" || m.MsgType == "" {
			t.Fatalf("parseInbound(%q) = %+v without sender or type", body, m)
		}
		ev, ok := toEvent("acct", m)
		if !ok {
			return
		}
		if ev.Sender == "" || ev.DedupeKey == "" || ev.Platform != bot.WeChat {
			t.Fatalf("toEvent(%+v) = %+v: an event needs a sender and a dedupe key", m, ev)
		}
	})
}
