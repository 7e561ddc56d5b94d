//go:build !(msgaudit && linux && cgo)

package wecom

import (
	"errors"
	"fmt"

	"github.com/siyu-bot/siyu/bot"
)

// OpenArchive fails: this binary was built without the chat archive.
func OpenArchive(corpID, secret, privateKey string) (src ArchiveSource, close func(), err error) {
	return nil, nil, fmt.Errorf("wecom.OpenArchive: %w: %w", errors.New("built without the chat archive: rebuild with CGO_ENABLED=1 go build -tags msgaudit on Linux"), bot.ErrInvalid)
}
