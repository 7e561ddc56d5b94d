package redisstore

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterReloadEvery bounds how long a cluster client keeps its slot map
// when nothing tells it the map changed: go-redis v9.22 raised its
// default from 10 s to 60 s.
const clusterReloadEvery = 10 * time.Second

// newClusterClient is a Redis Cluster client that follows a failover as
// soon as the cluster has promoted a replica. go-redis reads the slot map
// again on a MOVED or READONLY answer, which a dead master never gives:
// it keeps dialling the dead address for its slots until the map is
// clusterReloadEvery old (go-redis issue 3979). So each node's client
// asks for a reload whenever its node does not answer; go-redis runs one
// reload at a time, at most one every 200 ms.
func newClusterClient(o *redis.ClusterOptions) *redis.ClusterClient {
	o.ClusterStateReloadInterval = clusterReloadEvery
	cc := redis.NewClusterClient(o)
	// Node clients are made on first use, after this.
	cc.OnNewNode(func(node *redis.Client) {
		node.AddHook(followFailover{reload: func() { cc.ReloadState(context.Background()) }})
	})
	return cc
}

// followFailover is a node client's hook calling reload when a
// connection to the node cannot be made, or a command or pipeline fails
// without the node answering. The dial is the first to know: go-redis
// tries a refused dial five times before the command fails.
type followFailover struct{ reload func() }

func (f followFailover) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil && !errors.Is(err, context.Canceled) {
			f.reload()
		}
		return conn, err
	}
}

func (f followFailover) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if nodeUnreachable(err) {
			f.reload()
		}
		return err
	}
}

func (f followFailover) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if nodeUnreachable(err) {
			f.reload()
		}
		return err
	}
}

// nodeUnreachable reports whether err says the node did not answer
// (refused, reset, timed out), rather than answering with an error, the
// caller giving up, or the client being closed.
func nodeUnreachable(err error) bool {
	return connFailed(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, redis.ErrClosed)
}
