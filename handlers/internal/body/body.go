// Package body reads platform callbacks' request bodies within a small
// bound, before anything in them is verified.
package body

import (
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Limit is the most a callback body may hold: 64 KiB. The platforms send a
// few KB (a 2048-character WeChat text is under 8 KB in plain mode and
// about twice that encrypted beside its plaintext in compatibility mode).
// Bodies are read whole before their signature can be checked, so the
// bound is what an unauthenticated client can make siyu read and scan.
const Limit = 64 << 10

// ErrTooLarge is inside the answer to a body over Limit, declared or not
// (a chunked body without Content-Length is cut off after Limit bytes).
var ErrTooLarge = errors.New("body: too large")

// tooLarge is the 413 for a body over Limit. A fresh *echo.HTTPError each
// time: a shared one could be changed by whoever handles it.
func tooLarge() error {
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body too large").SetInternal(ErrTooLarge)
}

// Read reads r's whole body, at most Limit bytes, in one allocation when
// its length is declared. Errors are *echo.HTTPError: 413 for a body over
// Limit (or over the BodyLimit middleware's bound), 400 for a body that
// cannot be read.
func Read(r *http.Request) ([]byte, error) {
	if r.ContentLength > Limit {
		return nil, tooLarge()
	}
	if n := r.ContentLength; n > 0 {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, readError(err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, Limit+1))
	if err != nil {
		return nil, readError(err)
	}
	if len(b) > Limit {
		return nil, tooLarge()
	}
	return b, nil
}

func readError(err error) error {
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge:
		return tooLarge() // the BodyLimit middleware's bound
	case errors.As(err, &mbe):
		return tooLarge()
	}
	return echo.NewHTTPError(http.StatusBadRequest, "cannot read body")
}
