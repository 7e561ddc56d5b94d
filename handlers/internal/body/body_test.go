package body

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// chunked hides a reader's length, so the request has no Content-Length.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestRead(t *testing.T) {
	small := bytes.Repeat([]byte("x"), 3000)
	big := bytes.Repeat([]byte("x"), Limit+1)
	tests := []struct {
		name     string
		body     io.Reader
		length   int64 // -1: unknown (chunked)
		want     []byte
		wantCode int // 0: no error
	}{
		{"small, declared", bytes.NewReader(small), int64(len(small)), small, 0},
		{"small, chunked", chunked{bytes.NewReader(small)}, -1, small, 0},
		{"exactly the limit", bytes.NewReader(big[:Limit]), Limit, big[:Limit], 0},
		{"over the limit, declared", bytes.NewReader(big), int64(len(big)), nil, http.StatusRequestEntityTooLarge},
		{"over the limit, chunked", chunked{bytes.NewReader(big)}, -1, nil, http.StatusRequestEntityTooLarge},
		{"over the limit, declared short", bytes.NewReader(big), 10, big[:10], 0},
		{"unreadable", failing{}, -1, nil, http.StatusBadRequest},
		{"BodyLimit middleware", chunked{errReader{echo.ErrStatusRequestEntityTooLarge}}, -1, nil, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/cb", tc.body)
			r.ContentLength = tc.length
			got, err := Read(r)
			var he *echo.HTTPError
			switch {
			case tc.wantCode == 0 && err != nil:
				t.Fatalf("Read: %v", err)
			case tc.wantCode != 0 && (!errors.As(err, &he) || he.Code != tc.wantCode):
				t.Fatalf("Read err = %v, want HTTP %d", err, tc.wantCode)
			case !bytes.Equal(got, tc.want):
				t.Fatalf("Read = %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
