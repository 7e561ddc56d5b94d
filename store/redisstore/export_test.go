package redisstore

import "time"

// SetIdle sets how long l's Listen waits for a message before it pings.
func SetIdle(l *IdentityLinks, d time.Duration) { l.ch.idle = d }
