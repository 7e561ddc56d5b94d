// Package scripts holds the reply scripts shipped with siyu: the welcome
// texts, keyword rules, fallback and acquisition channels, in YAML files
// that the brand's staff edit (see README.md for the format). The files
// are compiled into the binary; a deployment that wants to edit them
// without a rebuild points siyu at a directory instead, and bot.Library
// reloads it when the files change.
package scripts

import "embed"

// FS holds every *.yaml file of this directory, for bot.LoadScripts and
// bot.NewLibrary.
//
//go:embed *.yaml
var FS embed.FS
