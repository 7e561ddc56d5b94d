package redisstore

import (
	"strings"
	"testing"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/checkin"
	"github.com/siyu-bot/siyu/bot/dnd"
	"github.com/siyu-bot/siyu/bot/handover"
)

// slot is Redis Cluster's HASH_SLOT of key (the cluster spec's keyHashSlot):
// CRC16 (XMODEM) of the hash tag when the key has a non-empty one, else of
// the whole key, mod 16384.
func slot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	return int(crc16(key)) % 16384
}

// crc16 is CRC16-XMODEM, the cluster's key hash.
func crc16(key string) uint16 {
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// TestSlot checks slot against what Redis answers to CLUSTER KEYSLOT.
func TestSlot(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want int
	}{
		// Values from CLUSTER KEYSLOT on Redis 7.0; CRC16 of 123456789 is
		// 0x31C3 (the spec's check value).
		{"plain", "123456789", 12739},
		{"tag", "{user1000}.following", 3443},
		{"first tag only", "foo{bar}{zap}", 5061},
		{"empty tag hashes the whole key", "foo{}{bar}", 8363},
		{"tag after an unclosed brace", "foo{{bar}}zap", 4015},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slot(tt.key); got != tt.want {
				t.Errorf("slot(%q) = %d, want %d", tt.key, got, tt.want)
			}
		})
	}
}

// TestScriptKeysShareASlot: every script and multi-key command gets keys
// in one cluster slot, whatever the ids in them, so it runs on a Redis
// Cluster (CROSSSLOT otherwise) and on a proxy-based cloud cluster.
func TestScriptKeysShareASlot(t *testing.T) {
	ids := []string{"g1", "douyin:acct:g1", "", "a}b", "}", "{x}", "中文"}
	for _, prefix := range []string{DefaultPrefix, "siyu:t:0a1b2c:", "{siyu}:"} {
		c := &Client{prefix: prefix}
		boards := NewCheckinBoards(c)
		dy := &DouyinState{c: c}
		for _, id := range ids {
			groups := map[string][]string{}
			// check-in: Add's eight keys, and Top's three.
			var add []string
			for _, p := range checkin.Periods() {
				pts, st, _ := boards.keys(id, p, 20261126)
				add = append(add, pts, st)
			}
			groups["checkin add"] = append(add, boards.order(id, 20261126), boards.marker(id))
			pts, st, _ := boards.keys(id, checkin.Week, 20261126)
			groups["checkin top"] = []string{pts, st, boards.marker(id)}
			// coupons: one script and one transaction on three keys. Their
			// {campaign} tag predates the others'; campaign ids are never
			// empty and hold no braces (bot/coupon checks them).
			if id != "" && !strings.ContainsAny(id, "{}") {
				groups["coupon"] = NewCouponCounter(c).keys(id)
			}
			// Douyin: Reserve's conversation with the message replied to.
			acct := bot.AccountID(id)
			groups["douyin"] = []string{dy.convKey(acct, "u1"), dy.recalledKey(acct, "m1"), dy.msgKey(acct, "m1"), dy.convKey(acct, "u2")}
			// do-not-disturb: one Take counts a person's, a group's and a
			// platform account's caps.
			d := NewDNDCounters(c)
			var counts []string
			for _, k := range []dnd.Counter{{Key: "pd:" + id + ":20261126"}, {Key: "gm:wechat:gh:" + id + ":1"}, {Key: "dy:" + id + ":20261126"}} {
				counts = append(counts, d.counter+k.Key)
			}
			groups["dnd"] = counts
			// staff console sessions: a session and its staff member's set
			// in one transaction; all of a member's in one DEL.
			as := NewAdminSessions(c)
			groups["admin sessions"] = []string{as.sessionKey(id), as.ofKey(id), as.sessionKey("d2"), as.ofKey("otto")}
			// hand-overs: Start and End change a pause and the index.
			h := NewHandovers(c)
			groups["handover"] = []string{h.index, h.key(handover.Conv(id)), h.key("wechat:gh:o2")}
			for name, keys := range groups {
				for _, k := range keys[1:] {
					if slot(k) != slot(keys[0]) {
						t.Errorf("prefix %q, id %q, %s: %q in slot %d, %q in slot %d", prefix, id, name, keys[0], slot(keys[0]), k, slot(k))
					}
				}
			}
		}
	}
}
