package risk

import (
	"testing"
	"time"
)

func testNow() time.Time { return time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC) }

// TestPII checks every personal-data detector with valid numbers, numbers
// whose checksum or shape is wrong, and ordinary numbers of chat.
func TestPII(t *testing.T) {
	s := NewScanner(nil, ScannerConfig{Now: testNow})
	tests := []struct {
		name     string
		text     string
		kind     string // "" for no pii hit
		evidence string
	}{
		{name: "mobile", text: "我电话13800138000", kind: KindMobile, evidence: "138****8000"},
		{name: "mobile spaced", text: "打 138 0013 8000 找我", kind: KindMobile, evidence: "138****8000"},
		{name: "mobile dashed", text: "138-0013-8000", kind: KindMobile, evidence: "138****8000"},
		{name: "mobile chinese numerals", text: "电话一三八零零一三八零零零", kind: KindMobile, evidence: "138****8000"},
		{name: "mobile mixed numerals", text: "幺三八 ⓪⓪①③ 8〇〇〇", kind: KindMobile, evidence: "138****8000"},
		{name: "mobile full width", text: "１３８００１３８０００", kind: KindMobile, evidence: "138****8000"},
		{name: "mobile +86", text: "+86 138 0013 8000", kind: KindMobile, evidence: "138****8000"},
		{name: "mobile bad prefix", text: "12800138000", kind: ""},
		{name: "mobile too long", text: "138001380001", kind: ""},
		{name: "mobile too short", text: "1380013800", kind: ""},
		{name: "price then mobile", text: "29，13800138000", kind: KindMobile, evidence: "138****8000"},
		{name: "room then mobile", text: "加我薇信 房间3 13812345678", kind: KindMobile, evidence: "138****5678"},
		{name: "room then mobile spaced", text: "房间 3 138 1234 5678", kind: KindMobile, evidence: "138****5678"},
		{name: "mobile then quantity", text: "13812345678 2杯", kind: KindMobile, evidence: "138****5678"},
		{name: "two numbers joined", text: "3 13812345678 6", kind: KindMobile, evidence: "138****5678"},
		{name: "order word then joined", text: "订单 3 13800138000", kind: ""},
		{name: "date and time joined", text: "2026 11 26 14 30", kind: ""},
		{name: "landline beijing", text: "座机010-62345678", kind: KindLandline, evidence: "010******78"},
		{name: "landline 4-digit area", text: "0571 8765432", kind: KindLandline, evidence: "057******32"},
		{name: "landline bad subscriber", text: "010-12345678", kind: ""},
		{name: "id card", text: "身份证11010519491231002X", kind: KindIDCard, evidence: "110*************2x"},
		{name: "id card spaced", text: "310115 19900307 1239", kind: KindIDCard, evidence: "310*************39"},
		{name: "id card bad checksum", text: "310115199003071238", kind: ""},
		{name: "id card bad date", text: "310115199002301236", kind: ""},
		{name: "id card future birth", text: "310115209003071230", kind: ""},
		{name: "id card bad province", text: "990115199003071239", kind: ""},
		{name: "bank card unionpay 19", text: "卡号6222021234567890128", kind: KindBankCard, evidence: "6222***********0128"},
		{name: "bank card 16 spaced", text: "6217 0000 1234 5670", kind: KindBankCard, evidence: "6217********5670"},
		{name: "bank card 95", text: "9558801234567890128", kind: KindBankCard, evidence: "9558***********0128"},
		{name: "visa", text: "4111 1111 1111 1111", kind: KindBankCard, evidence: "4111********1111"},
		{name: "bank card bad luhn", text: "6222021234567890127", kind: ""},
		{name: "bank card unknown issuer", text: "3222021234567890126", kind: ""},
		{name: "email", text: "发我邮箱 Zhang.San@QQ.com 谢谢", kind: KindEmail, evidence: "z***@qq.com"},
		{name: "email full-width at", text: "abc＠163.com", kind: KindEmail, evidence: "a***@163.com"},
		{name: "not an email", text: "@小王 你好", kind: ""},
		{name: "not an email no tld", text: "a@b", kind: ""},
		{name: "passport", text: "护照E12345678", kind: KindPassport, evidence: "e1*****78"},
		{name: "passport EA", text: "护照号 EA1234567", kind: KindPassport, evidence: "ea*****67"},
		{name: "passport G", text: "G12345678", kind: KindPassport, evidence: "g1*****78"},
		{name: "passport too short", text: "E1234567", kind: ""},
		{name: "product code", text: "型号XE12345678", kind: ""},
		{name: "order number", text: "订单号：2024091800123456789", kind: ""},
		{name: "order number luhn-valid 62", text: "订单号 6222021234567890128", kind: ""},
		{name: "order number 11 digits", text: "单号13800138000", kind: ""},
		{name: "price", text: "这杯38元，两杯66", kind: ""},
		{name: "phone model", text: "我用iPhone 15 Pro Max 256G", kind: ""},
		{name: "delivery", text: "快递 SF1234567890123 到了吗", kind: ""},
		{name: "date and time", text: "2026-11-26 14:30 到店", kind: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got *Hit
			for _, h := range s.Scan(tc.text) {
				if h.Category == PII {
					got = &h
					break
				}
			}
			switch {
			case tc.kind == "" && got != nil:
				t.Errorf("Scan(%q) found %s %q, want none", tc.text, got.Kind, got.Evidence)
			case tc.kind != "" && got == nil:
				t.Errorf("Scan(%q) found no pii, want %s", tc.text, tc.kind)
			case got != nil && (got.Kind != tc.kind || got.Evidence != tc.evidence):
				t.Errorf("Scan(%q) = %s %q, want %s %q", tc.text, got.Kind, got.Evidence, tc.kind, tc.evidence)
			}
		})
	}
}

// TestMaskText checks that stored text keeps no personal number.
func TestMaskText(t *testing.T) {
	s := NewScanner(nil, ScannerConfig{Now: testNow})
	text := "电话 138 0013 8000，身份证11010519491231002x"
	got := MaskText(text, s.Scan(text))
	want := "电话 138****8000，身份证110*************2x"
	if got != want {
		t.Errorf("MaskText = %q, want %q", got, want)
	}
}

// TestMaskNumbers: whatever the detectors made of a message, no run of 7
// or more digits reaches stored text, however the customer wrote it.
func TestMaskNumbers(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"unknown 13-digit number", "我的号 3138123456789", "我的号 *************"},
		{"number the detectors skip", "订单号 2024091800123456789 到了吗", "订单号 ******************* 到了吗"},
		{"separators kept", "138-0013-8000", "***-****-****"},
		{"chinese digits", "一三八零零一三八零零零", "***********"},
		{"seven digits", "分机 1234567", "分机 *******"},
		{"six digits stay", "验证码 123456", "验证码 123456"},
		{"prices stay", "这杯38元，两杯66", "这杯38元，两杯66"},
		{"clause punctuation ends a run", "29，1380013", "29，*******"},
		{"masked evidence stays", "138****8000", "138****8000"},
		{"one rune, several digits", "⑩⑩⑩⑩", "****"},
		{"no digits", "你好", "你好"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MaskNumbers(tc.text); got != tc.want {
				t.Errorf("MaskNumbers(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

// TestMaskTextJoinedNumber: the message, a room number and a phone
// joined by folding, is stored masked.
func TestMaskTextJoinedNumber(t *testing.T) {
	s := NewScanner(nil, ScannerConfig{Now: testNow})
	for _, tc := range []struct{ text, want string }{
		{"加我薇信 房间3 13812345678", "加我薇信 房间3 138****5678"},
		{"加我薇信 房间313812345678", "加我薇信 房间************"},
	} {
		if got := MaskText(tc.text, s.Scan(tc.text)); got != tc.want {
			t.Errorf("MaskText(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}
