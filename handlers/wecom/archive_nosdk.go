//go:build !(msgaudit && linux && cgo)

package wecom

import (
	"errors"
	"fmt"

	"github.com/siyu-bot/siyu/bot"
)

// ArchiveBuilt reports whether this binary can read the chat archive: it
// was built with -tags msgaudit on Linux with cgo, linking Tencent's
// libWeWorkFinanceSdk_C.so. This one was not.
const ArchiveBuilt = false

// OpenArchive fails: this binary was built without the chat archive.
func OpenArchive(corpID, secret, privateKey string) (src ArchiveSource, close func(), err error) {
	return nil, nil, fmt.Errorf("wecom.OpenArchive: %w: %w", errors.New("built without the chat archive: rebuild with CGO_ENABLED=1 go build -tags msgaudit on Linux"), bot.ErrInvalid)
}
