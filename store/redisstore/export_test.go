package redisstore

import "time"

// SetIdle sets how long l's Listen waits for a message before it pings.
func SetIdle(l *IdentityLinks, d time.Duration) { l.ch.idle = d }

// WithLuaScripts makes an embedded counter run its Lua scripts as on a
// real server, so a test can hold the Go path up against them.
func WithLuaScripts(k *CouponCounter) *CouponCounter { k.mini = nil; return k }
