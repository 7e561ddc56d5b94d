package main

import (
	"log/slog"

	"github.com/labstack/echo/v4"

	"github.com/siyu-bot/siyu/bot"
	"github.com/siyu-bot/siyu/bot/identity"
	"github.com/siyu-bot/siyu/store/redisstore"
	"github.com/siyu-bot/siyu/store/sqlstore"
)

// wiring is what each platform's wiring function (wire_<platform>.go) gets
// from serve: shared stores, the engine behind its middleware, the outbox
// to register a sender with, and the route group to mount callbacks on.
// A wiring function registers its sender before the outbox runs and may
// start background work bound to the context it is given.
type wiring struct {
	cfg     config
	getenv  func(string) string
	logger  *slog.Logger
	db      *sqlstore.DB
	rdb     *redisstore.Client
	tokens  *redisstore.TokenCache
	handler bot.Handler
	outbox  *bot.Outbox
	group   *echo.Group
	// library is the reply scripts in force, reloaded when files change.
	library *bot.Library
	// drains collects waits for work that callbacks start and that
	// outlives them; serve runs them at shutdown, after the last callback
	// was answered and before the outbox stops.
	drains *[]func()
	// identity learns new WeCom contacts' unionids (wire_identity.go).
	identity *identity.Service
}
