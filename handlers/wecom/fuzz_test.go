package wecom

import (
	"testing"
)

// FuzzInbound feeds arbitrary decrypted bodies to the WeCom message
// parser (XML and JSON): errors, never panics; an accepted message has a
// type and an event always has a dedupe key. `go test -fuzz FuzzInbound -fuzztime 60s ./handlers/wecom/`
// explores (README: Fuzzing).
func FuzzInbound(f *testing.F) {
	for _, s := range []string{
		"<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA]]></ExternalUserID><State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>",
		"<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[CHAT_ID]]></ChatId><ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail><JoinScene>1</JoinScene><MemChangeCnt>2</MemChangeCnt><MemChangeList><Item>Jack</Item><Item>Rose</Item></MemChangeList></xml>",
		`{"ToUserName":"ww1","FromUserName":"u","CreateTime":1,"MsgType":"text","Content":"hi","MsgId":"1","AgentID":1}`,
		`{"MsgType":"event","Event":"change_external_chat","MemChangeList":{"Item":["a"]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseInbound(body)
		if err != nil {
			return
		}
		if m.MsgType == "" {
			t.Fatalf("parseInbound(%q) accepted no MsgType", body)
		}
		ev, ok := toEvent("corp", "1", m)
		if ok && ev.DedupeKey == "" {
			t.Fatalf("toEvent(%+v) = %+v without a dedupe key", m, ev)
		}
	})
}
