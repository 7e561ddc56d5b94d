// Package bot is siyu's domain: the platform-neutral Event that every
// platform adapter produces, the Actions the engine answers with, the
// dialog engine itself, reply scripts, and the small interfaces the engine
// needs from storage and senders.
//
// Data flows one way: a handler turns a platform callback into an Event, a
// Handler (the Engine wrapped in middleware) turns it into Actions, and a
// Sender delivers them. Package bot imports only the standard library (and
// a YAML parser for scripts); adapters live in handlers/* and store/*.
package bot
