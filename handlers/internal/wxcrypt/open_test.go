package wxcrypt

import (
	"errors"
	"strings"
	"testing"
)

// TestOpenPublishedBodies opens every published encrypted body, XML and
// JSON, OA and WeCom, with the published msg_signature.
func TestOpenPublishedBodies(t *testing.T) {
	n := 0
	for _, v := range loadVectors(t) {
		if v.Kind != "message_decrypt" || v.PostBody == "" {
			continue
		}
		n++
		t.Run(v.ID, func(t *testing.T) {
			c, err := New(v.Token, v.EncodingAESKey, v.ReceiveID)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Open(v.MsgSignature, v.Timestamp, v.Nonce, []byte(v.PostBody))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if string(got) != v.Plaintext {
				t.Fatalf("Open = %q, want %q", got, v.Plaintext)
			}
		})
	}
	if n < 5 {
		t.Fatalf("%d published bodies opened, want at least 5", n)
	}
}

// TestOpenRefuses: only the signed ciphertext is believed.
func TestOpenRefuses(t *testing.T) {
	const token, key, appID, ts, nonce = "tok", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxb11529c136998cb6", "1700000000", "42"
	c, err := New(token, key, appID)
	if err != nil {
		t.Fatal(err)
	}
	msg := "<xml><Content><![CDATA[real]]></Content></xml>"
	enc, err := c.Encrypt(nil, []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	sig := Sign(token, ts, nonce, enc)
	forged, err := c.Encrypt(nil, []byte("<xml><Content><![CDATA[forged]]></Content></xml>"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		sig     string
		body    string
		want    string
		wantErr error
	}{
		{"safe mode", sig, "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>", msg, nil},
		{"compatibility mode: plaintext beside it is ignored", sig, "<xml><Content><![CDATA[forged]]></Content><MsgType>text</MsgType><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>", msg, nil},
		{"text without CDATA, newlines", sig, "<xml>\n<Encrypt>" + enc + "</Encrypt>\n</xml>", msg, nil},
		{"a decoy Encrypt quoted in a field first", sig, "<xml><Content><![CDATA[<Encrypt>" + forged + "</Encrypt>]]></Content><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>", msg, nil},
		{"JSON", sig, `{"ToUserName":"gh_1","Encrypt":"` + enc + `"}`, msg, nil},
		{"JSON, lower case", sig, `{"tousername":"gh_1","encrypt":"` + enc + `","agentid":1}`, msg, nil},
		{"another ciphertext under the signature", sig, "<xml><Encrypt><![CDATA[" + forged + "]]></Encrypt></xml>", "", ErrSignature},
		{"no signature", "", "<xml><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>", "", ErrSignature},
		{"no Encrypt", sig, "<xml><Content>hi</Content></xml>", "", ErrMalformed},
		{"unclosed Encrypt", sig, "<xml><Encrypt>" + enc, "", ErrMalformed},
		{"empty", sig, "", "", ErrMalformed},
		{"bad JSON", sig, `{"Encrypt":`, "", ErrMalformed},
		{"signed ciphertext that is not AES", Sign(token, ts, nonce, "bm90IGNpcGhlcnRleHQ="), "<xml><Encrypt>bm90IGNpcGhlcnRleHQ=</Encrypt></xml>", "", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Open(tc.sig, ts, nonce, []byte(tc.body))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Open err = %v, want %v", err, tc.wantErr)
			}
			if string(got) != tc.want {
				t.Fatalf("Open = %q, want %q", got, tc.want)
			}
		})
	}
}

// BenchmarkOpenRefusesLargeBody is the cost of refusing a forged body of
// the largest accepted size (64 KiB) that is not flat XML: the work an
// unauthenticated client can make siyu do.
func BenchmarkOpenRefusesLargeBody(b *testing.B) {
	c, err := New("tok", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx1")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte("<xml><a><b x='1'>" + strings.Repeat("<c>junk</c>", (64<<10)/11-4) + "</b></a><Encrypt>AAAA</Encrypt></xml>")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Open(strings.Repeat("0", 40), "1700000000", "1", body); !errors.Is(err, ErrSignature) {
			b.Fatal(err)
		}
	}
}
