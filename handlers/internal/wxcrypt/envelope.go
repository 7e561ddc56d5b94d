package wxcrypt

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrStale means a callback's signed timestamp is outside the replay
// window: a captured callback replayed later, or a badly wrong clock.
var ErrStale = errors.New("wxcrypt: timestamp outside the replay window")

// CheckTimestamp checks a callback's signed timestamp against now. It
// returns how old the callback is, ErrMalformed if the timestamp is not a
// number, or ErrStale if it is further than window from now either way.
// Timestamps are parsed as 64-bit, so they keep working after 2038.
func CheckTimestamp(timestamp string, now time.Time, window time.Duration) (time.Duration, error) {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: timestamp %q", ErrMalformed, timestamp)
	}
	age := now.Sub(time.Unix(ts, 0))
	if age > window || age < -window {
		return age, ErrStale
	}
	return age, nil
}

// IsJSON reports whether a callback body is JSON rather than XML: both
// platforms send either, the envelope and the message alike.
func IsJSON(body []byte) bool {
	body = bytes.TrimLeft(body, " \t\r\n")
	return len(body) > 0 && body[0] == '{'
}
