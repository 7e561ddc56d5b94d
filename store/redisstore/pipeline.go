package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher sends commands that callers issue concurrently as one pipeline,
// so under load a replica pays one round trip and two syscalls for many
// callbacks' dedupe commands instead of one each. With one caller at a
// time it costs one channel hand-off over a plain round trip. Written by
// hand although go-redis v9.23 has an experimental AutoPipeliner: with 64
// callers claiming and finishing, it spent 23-31 µs of client CPU per
// callback against this batcher's 5-7 µs (both faces, same benchmark as
// BenchmarkDedupeClaimFinishParallel, on a 2-vCPU VM).
//
// Writes nobody waits for (send) do not start a pipeline of their own:
// they ride with the next awaited command, or go out after deferFor. A
// pipeline costs tens of microseconds of syscalls and wake-ups on both
// ends (measured on a 2-core VM), far more than the commands in it.
type batcher struct {
	rdb  redis.UniversalClient
	log  *slog.Logger
	ops  chan *batchOp
	kick chan struct{} // deferred writes are due
	stop chan struct{}
	wg   sync.WaitGroup
	pool sync.Pool
	// closing guards enqueueing against close: a command is either
	// queued while the worker still runs, or refused with redis.ErrClosed.
	closing sync.RWMutex
	closed  bool
	// mu guards deferred and the timer.
	mu       sync.Mutex
	deferred []*batchOp
	timer    *time.Timer
	// conn is the worker's own connection, kept from one pipeline to the
	// next: taking one from the pool costs a health-check syscall each
	// time. Only the worker touches it; it is replaced after a failure.
	// It stays nil on a cluster, whose pipelines go to several nodes.
	conn *redis.Conn
	// single is rdb when it is one server's client (a plain one or
	// Sentinel's), nil on a cluster.
	single *redis.Client
}

type batchOp struct {
	cmd  redis.Cmder
	done chan struct{} // nil for a command nobody waits for
	// ctx is the caller's context of a command nobody waits for, whose
	// failure is logged with it (the request id); only its values are
	// used.
	ctx context.Context
}

const (
	// maxBatch bounds the awaited and the deferred commands in one
	// pipeline, so a burst does not build a huge request in memory.
	maxBatch = 128
	// batchTimeout bounds one pipeline's round trip; callers' contexts
	// cannot be merged, so the batch has its own.
	batchTimeout = 3 * time.Second
	// deferFor bounds how long an unawaited write waits for company. A
	// duplicate callback that claims meanwhile polls until the result is
	// there (bot.DedupeConfig.Poll), and the platform retries seconds later.
	deferFor = 2 * time.Millisecond
)

// One worker: commands queue while its pipeline is on the wire and all go
// in the next one (with several workers most batches held one command),
// and one worker keeps commands in the order they were issued, so a Claim
// after a queued Finish sees its result.
func newBatcher(rdb redis.UniversalClient, log *slog.Logger) *batcher {
	single, _ := rdb.(*redis.Client)
	b := &batcher{
		rdb:    rdb,
		single: single,
		log:    log,
		ops:    make(chan *batchOp, maxBatch),
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	b.pool.New = func() any { return &batchOp{done: make(chan struct{}, 1)} }
	b.timer = time.AfterFunc(time.Hour, b.wake)
	b.timer.Stop()
	b.wg.Add(1)
	go b.run()
	return b
}

func (b *batcher) wake() {
	select {
	case b.kick <- struct{}{}:
	default: // a kick is pending already
	}
}

// do runs cmd in the next pipeline and waits for its reply; the result is
// in cmd as after rdb.Process.
func (b *batcher) do(ctx context.Context, cmd redis.Cmder) {
	op := b.pool.Get().(*batchOp)
	op.cmd = cmd
	if err := b.enqueue(ctx, op); err != nil {
		cmd.SetErr(err)
	} else {
		<-op.done // the op is ours again only once the worker is done with it
	}
	op.cmd = nil
	b.pool.Put(op)
}

// enqueue hands op to the worker, unless the batcher is closed or ctx
// ends first.
func (b *batcher) enqueue(ctx context.Context, op *batchOp) error {
	b.closing.RLock()
	defer b.closing.RUnlock()
	if b.closed {
		return redis.ErrClosed
	}
	select {
	case b.ops <- op:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send queues cmd to go out with the next pipeline, within deferFor,
// without waiting for its reply; failures are logged by the worker. Use it
// for writes whose outcome the caller does not act on. It reports only a
// refusal to queue. ctx is for the log line of a failure; it does not
// bound the write.
func (b *batcher) send(ctx context.Context, cmd redis.Cmder) error {
	b.closing.RLock()
	defer b.closing.RUnlock()
	if b.closed {
		return redis.ErrClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deferred = append(b.deferred, &batchOp{cmd: cmd, ctx: ctx})
	switch len(b.deferred) {
	case 1:
		b.timer.Reset(deferFor)
	case maxBatch:
		b.wake()
	}
	return nil
}

// takeDeferred appends the deferred writes to batch. They were issued
// before any awaited command the worker has not yet received, so they go
// first.
func (b *batcher) takeDeferred(batch []*batchOp) []*batchOp {
	b.mu.Lock()
	defer b.mu.Unlock()
	batch = append(batch, b.deferred...)
	clear(b.deferred)
	b.deferred = b.deferred[:0]
	b.timer.Stop()
	return batch
}

func (b *batcher) run() {
	defer b.wg.Done()
	batch := make([]*batchOp, 0, 2*maxBatch)
	for {
		var first *batchOp
		select {
		case first = <-b.ops:
		case <-b.kick:
		case <-b.stop:
			// What was accepted before close still goes out.
			if batch = b.takeDeferred(batch[:0]); len(batch) > 0 {
				b.exec(batch)
			}
			return
		}
		// Let the goroutines that are ready to run issue their commands
		// first: under load they are many, and each pipeline saved is
		// worth far more than the yield; when idle it returns at once.
		runtime.Gosched()
		batch = b.takeDeferred(batch[:0])
		if first != nil {
			batch = append(batch, first)
		}
	drain:
		for len(batch) < 2*maxBatch {
			select {
			case op := <-b.ops:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		if len(batch) > 0 {
			b.exec(batch)
		}
	}
}

func (b *batcher) exec(batch []*batchOp) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	// A cluster client sends each command to its slot's node (a pipeline
	// to each node at once) and follows MOVED and ASK redirections.
	var via interface {
		Process(context.Context, redis.Cmder) error
		Pipeline() redis.Pipeliner
	} = b.rdb
	if b.single != nil {
		if b.conn == nil {
			b.conn = b.single.Conn()
		}
		via = b.conn
	}
	if len(batch) == 1 {
		_ = via.Process(ctx, batch[0].cmd)
	} else {
		pipe := via.Pipeline()
		for _, op := range batch {
			_ = pipe.Process(ctx, op.cmd)
		}
		// Each command carries its own error; Exec's is the first of them.
		_, _ = pipe.Exec(ctx)
	}
	broken := false
	for _, op := range batch {
		err := op.cmd.Err()
		broken = broken || connFailed(err)
		if op.done != nil {
			op.done <- struct{}{}
		} else if err != nil {
			b.log.WarnContext(op.ctx, "redisstore: unacknowledged write failed", "cmd", op.cmd.Name(), "err", err)
		}
	}
	if broken && b.conn != nil {
		// The connection may hold half a reply, or lead to a server that
		// is no longer the master; the next pipeline dials.
		_ = b.conn.Close()
		b.conn = nil
	}
}

// connFailed reports whether err leaves the connection unusable: anything
// but a nil reply or an error reply from the server, and the READONLY
// error reply of a master demoted to a replica (a Sentinel failover): the
// Sentinel client dials the new master, but only for a new connection.
func connFailed(err error) bool {
	// The nil and redis.Nil checks come first so that the common case does
	// not allocate: errors.As makes reply escape to the heap.
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	var reply redis.Error
	return !errors.As(err, &reply) || redis.HasErrorPrefix(err, "READONLY")
}

// close stops the worker after the pipeline in flight and the deferred
// writes; later callers get redis.ErrClosed.
func (b *batcher) close() {
	// Waits for enqueuers in flight; the worker still drains meanwhile.
	b.closing.Lock()
	if b.closed {
		b.closing.Unlock()
		return
	}
	b.closed = true
	b.closing.Unlock()
	close(b.stop)
	b.wg.Wait()
	if b.conn != nil {
		_ = b.conn.Close()
	}
	// Awaited ops the worker did not take: fail them.
	for {
		select {
		case op := <-b.ops:
			op.cmd.SetErr(redis.ErrClosed)
			if op.done != nil {
				op.done <- struct{}{}
			}
		default:
			return
		}
	}
}

// runScript is s.Run as one command of the replica's shared pipeline
// (the batcher) instead of a round trip of its own: EVALSHA, then, when
// the server does not know the script yet (NOSCRIPT: it restarted), the
// script itself.
func (c *Client) runScript(ctx context.Context, s *redis.Script, keys []string, args ...any) *redis.Cmd {
	all := make([]any, 0, 3+len(keys)+len(args))
	all = append(all, "evalsha", s.Hash(), len(keys))
	for _, k := range keys {
		all = append(all, k)
	}
	all = append(all, args...)
	cmd := redis.NewCmd(ctx, all...)
	c.batch.do(ctx, cmd)
	if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		return s.Run(ctx, c.rdb, keys, args...)
	}
	return cmd
}
