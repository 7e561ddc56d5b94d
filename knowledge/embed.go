// Package knowledge holds what siyu's NLP features learn from: FAQ,
// intent examples, lexicons and trained models, as files built into the
// binary. Staff and engineers edit the files; the engine reads them
// through an fs.FS and never touches the disk.
package knowledge

import "embed"

// FS is the knowledge folder. An embed.FS is read-only.
//
//go:embed *
var FS embed.FS
