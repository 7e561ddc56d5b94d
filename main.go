// Command siyu is a bot for brands' private-domain customers on WeChat
// Official Accounts, WeCom and Douyin. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/siyu-bot/siyu/bot/nlp"
	"github.com/siyu-bot/siyu/handlers"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first SIGTERM or SIGINT starts the drain (serve); a second one
	// ends the process at once, for whoever will not wait. Handled here
	// rather than by restoring the default action after the first, which
	// would leave a moment where the second is swallowed.
	sigs := make(chan os.Signal, 2) // Notify drops what does not fit
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "siyu: second signal (%v): exiting without draining\n", sig)
		code := 1
		if s, ok := sig.(syscall.Signal); ok {
			code = 128 + int(s) // as a shell reports a process killed by s
		}
		os.Exit(code)
	}()
	if err := run(ctx, runEnv{args: os.Args[1:], getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}); err != nil {
		fmt.Fprintln(os.Stderr, "siyu:", err)
		os.Exit(1)
	}
}

// runEnv is everything run takes from the process, so tests can run siyu
// in-process.
type runEnv struct {
	args   []string
	getenv func(string) string
	stdin  io.Reader // siyu classify reads it
	stdout io.Writer
	stderr io.Writer
	// ready, when set, is told the server's address once it listens.
	ready func(addr string)
	// redisPrefix, when set, replaces redisstore.DefaultPrefix, so tests
	// on a shared Redis keep to keys of their own.
	redisPrefix string
	// drainWait, when set, replaces the wait of SIYU_SHUTDOWN_DELAY while
	// /readyz answers 503, so tests can look at a draining replica.
	drainWait func(d time.Duration)
}

const usage = `usage:
  siyu                         serve (configuration from the environment, see README.md)
  siyu check-scripts [dir]     validate reply scripts; exits 1 with file:line errors
  siyu simulate [flags] TEXT   post a signed, encrypted WeChat callback to a running siyu
                               and print the decrypted reply (siyu simulate -h for flags)
  siyu train                   train the intent model from knowledge/ and write it there
  siyu classify                read lines on stdin, write one JSON reading per line
  siyu coupons import|stats    load a campaign's codes from a CSV file; show a campaign's figures
  siyu staff add|passwd|role|brands|disable|enable|remove|list
                               staff accounts of the console (siyu staff for usage)
`

func run(ctx context.Context, env runEnv) error {
	cmd := ""
	if len(env.args) > 0 {
		cmd = env.args[0]
	}
	getenv, err := secretFiles(env.getenv, os.ReadFile)
	if err != nil {
		return err
	}
	env.getenv = getenv
	switch cmd {
	case "", "serve":
		return serve(ctx, env)
	case "check-scripts":
		return checkScripts(ctx, env)
	case "simulate":
		return simulate(ctx, env)
	case "train":
		return nlp.TrainCommand(ctx, env.args[1:], env.stdout, env.stderr, trainDatasets())
	case "classify":
		return cmdClassify(ctx, env)
	case "coupons":
		return cmdCoupons(ctx, env)
	case "staff":
		return cmdStaff(ctx, env)
	case "help", "-h", "--help":
		fmt.Fprint(env.stdout, usage)
		return nil
	}
	fmt.Fprint(env.stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// newLogger returns the process's logger: text for people, JSON
// (SIYU_LOG_FORMAT=json) for log pipelines, and every line logged with a
// request's context carries its request_id.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(handlers.LogRequestID(h))
}
