package redisstore

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher sends commands that callers issue concurrently as one pipeline,
// so under load a replica pays one round trip and two syscalls for many
// callbacks' dedupe commands instead of one each. Written by hand because
// go-redis v9 has no automatic pipelining. With one caller at a time it
// costs one channel hand-off over a plain round trip.
type batcher struct {
	rdb  *redis.Client
	log  *slog.Logger
	ops  chan *batchOp
	stop chan struct{}
	wg   sync.WaitGroup
	pool sync.Pool
	// closing guards enqueueing against close: a command is either queued
	// while the workers still run, or refused with redis.ErrClosed.
	closing sync.RWMutex
	closed  bool
}

type batchOp struct {
	cmd  redis.Cmder
	done chan struct{} // nil for a command nobody waits for
}

const (
	// batchWorkers pipelines may be in flight at once. One: commands
	// queue while its pipeline is on the wire and all go in the next one
	// (with four idle workers most batches were of one command), and one
	// worker keeps commands in the order they were issued, so a Claim
	// after a queued Finish sees its result.
	batchWorkers = 1
	// maxBatch bounds one pipeline, so a burst does not build a huge
	// request and reply in memory.
	maxBatch = 128
	// batchTimeout bounds one pipeline's round trip; callers' contexts
	// cannot be merged, so the batch has its own.
	batchTimeout = 3 * time.Second
)

func newBatcher(rdb *redis.Client, log *slog.Logger) *batcher {
	b := &batcher{rdb: rdb, log: log, ops: make(chan *batchOp, maxBatch*batchWorkers), stop: make(chan struct{})}
	b.pool.New = func() any { return &batchOp{done: make(chan struct{}, 1)} }
	for range batchWorkers {
		b.wg.Add(1)
		go b.run()
	}
	return b
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

// enqueue hands op to the workers, unless the batcher is closed or ctx
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

// send queues cmd for the next pipeline without waiting for its reply;
// failures are logged by the worker. Use it for writes whose outcome the
// caller does not act on. It reports only a refusal to queue.
func (b *batcher) send(ctx context.Context, cmd redis.Cmder) error {
	return b.enqueue(ctx, &batchOp{cmd: cmd})
}

func (b *batcher) run() {
	defer b.wg.Done()
	batch := make([]*batchOp, 0, maxBatch)
	for {
		select {
		case op := <-b.ops:
			batch = append(batch[:0], op)
		case <-b.stop:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case op := <-b.ops:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		b.exec(batch)
	}
}

func (b *batcher) exec(batch []*batchOp) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if len(batch) == 1 {
		_ = b.rdb.Process(ctx, batch[0].cmd)
	} else {
		pipe := b.rdb.Pipeline()
		for _, op := range batch {
			_ = pipe.Process(ctx, op.cmd)
		}
		// Each command carries its own error; Exec's is the first of them.
		_, _ = pipe.Exec(ctx)
	}
	for _, op := range batch {
		if op.done != nil {
			op.done <- struct{}{}
		} else if err := op.cmd.Err(); err != nil {
			b.log.Warn("redisstore: unacknowledged write failed", "cmd", op.cmd.Name(), "err", err)
		}
	}
}

// close stops the workers after the pipelines in flight; later callers
// get redis.ErrClosed.
func (b *batcher) close() {
	// Waits for enqueuers in flight; the workers still drain meanwhile.
	b.closing.Lock()
	b.closed = true
	b.closing.Unlock()
	close(b.stop)
	b.wg.Wait()
	// Ops enqueued but not taken by a worker: fail them.
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
