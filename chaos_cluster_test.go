//go:build chaos

package main_test

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterNodeTimeout is the cluster's cluster-node-timeout: a master
// that does not answer for this long is failed over.
const clusterNodeTimeout = 2 * time.Second

// masterDownFor is how long a killed master stays down. Long enough
// that clients must find the promoted replica on their own: a server
// that answers again redirects them (MOVED), which would hide a client
// that keeps knocking on the dead one.
const masterDownFor = 20 * time.Second

// redisCluster is a Redis Cluster of the run's own (-redis cluster):
// three masters, each with one replica, six redis-servers on loopback.
// Killing one harms nobody else.
type redisCluster struct {
	nodes []*redisProc
}

// startCluster starts the six servers and makes them a cluster with
// redis-cli, then waits until every master has its slots and a replica
// in sync.
func startCluster(ctx context.Context, dir string) (*redisCluster, error) {
	ports, err := clusterPorts(6)
	if err != nil {
		return nil, err
	}
	c := &redisCluster{}
	addrs := make([]string, len(ports))
	for i, port := range ports {
		addrs[i] = "127.0.0.1:" + strconv.Itoa(port)
		nd := filepath.Join(dir, "redis-"+strconv.Itoa(port))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			c.stop()
			return nil, err
		}
		n := &redisProc{addr: addrs[i], dir: nd, args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout.Milliseconds()))}}
		if err := n.start(); err != nil {
			c.stop()
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		c.stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	if _, err := c.waitHealthy(ctx, time.Minute); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// clusterPorts picks n free loopback ports whose cluster bus ports (port
// + 10000) are free and valid too.
func clusterPorts(n int) ([]int, error) {
	free := func(p int) bool {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		ln.Close()
		return true
	}
	var out []int
	for range 2000 {
		if len(out) == n {
			return out, nil
		}
		p := 20000 + mrand.IntN(20000)
		if slices.Contains(out, p) || slices.Contains(out, p+10000) || slices.Contains(out, p-10000) {
			continue
		}
		if free(p) && free(p+10000) {
			out = append(out, p)
		}
	}
	return nil, errors.New("no free ports for the Redis Cluster")
}

// url is REDIS_URL for siyu with REDIS_CLUSTER=1: every node.
func (c *redisCluster) url() string {
	var b strings.Builder
	b.WriteString("redis://" + c.nodes[0].addr)
	for i, n := range c.nodes[1:] {
		if i == 0 {
			b.WriteString("?addr=" + n.addr)
		} else {
			b.WriteString("&addr=" + n.addr)
		}
	}
	return b.String()
}

func (c *redisCluster) stop() {
	for _, n := range c.nodes {
		n.stop()
	}
}

func (c *redisCluster) node(addr string) *redisProc {
	for _, n := range c.nodes {
		if n.addr == addr {
			return n
		}
	}
	return nil
}

func (n *redisProc) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// nodeClient talks to one node only, failing fast: the harness polls.
func nodeClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond, MaxRetries: -1, PoolSize: 1})
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr, masterID string
	master, failed     bool
	slots              int
}

// topology is the cluster as the first running node that answers sees
// it.
func (c *redisCluster) topology(ctx context.Context) ([]clusterNode, error) {
	var last error
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		cl := nodeClient(n.addr)
		raw, err := cl.ClusterNodes(ctx).Result()
		cl.Close()
		if err != nil {
			last = err
			continue
		}
		return parseClusterNodes(raw), nil
	}
	return nil, fmt.Errorf("no cluster node answers: %v", last)
}

func parseClusterNodes(raw string) []clusterNode {
	var out []clusterNode
	for line := range strings.SplitSeq(strings.TrimSpace(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		flags := strings.Split(f[2], ",")
		n := clusterNode{id: f[0], addr: addr, masterID: f[3], master: slices.Contains(flags, "master"), failed: slices.Contains(flags, "fail")}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue // a slot being migrated
			}
			lo, hi, isRange := strings.Cut(r, "-")
			a, _ := strconv.Atoi(lo)
			b := a
			if isRange {
				b, _ = strconv.Atoi(hi)
			}
			n.slots += b - a + 1
		}
		out = append(out, n)
	}
	return out
}

// info reads one field of INFO section from the node at addr.
func nodeInfo(ctx context.Context, addr, section, field string) string {
	cl := nodeClient(addr)
	defer cl.Close()
	raw, err := cl.Info(ctx, section).Result()
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(raw, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

func clusterState(ctx context.Context, addr string) string {
	cl := nodeClient(addr)
	defer cl.Close()
	raw, err := cl.ClusterInfo(ctx).Result()
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(raw, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster_state:"); ok {
			return v
		}
	}
	return ""
}

// healthy reports whether every running node says the cluster is ok and
// each of three masters, holding every slot, has a replica in sync.
func (c *redisCluster) healthy(ctx context.Context) bool {
	for _, n := range c.nodes {
		if n.running() && clusterState(ctx, n.addr) != "ok" {
			return false
		}
	}
	topo, err := c.topology(ctx)
	if err != nil {
		return false
	}
	masters, slots := 0, 0
	for _, m := range topo {
		if !m.master || m.failed || m.slots == 0 {
			continue
		}
		masters++
		slots += m.slots
		synced := false
		for _, r := range topo {
			if !r.master && !r.failed && r.masterID == m.id && nodeInfo(ctx, r.addr, "replication", "master_link_status") == "up" {
				synced = true
			}
		}
		if !synced {
			return false
		}
	}
	return masters == 3 && slots == 16384
}

// waitHealthy waits until the cluster is healthy, for up to limit, and
// says how long that took.
func (c *redisCluster) waitHealthy(ctx context.Context, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < limit {
		if c.healthy(ctx) {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("the Redis Cluster is not healthy within %s", limit)
}

// masterKill is the redis-master-kill fault: SIGKILL the master holding
// the most keys, time the cluster's failover to its replica, then start
// the killed server again, which rejoins as the new master's replica.
type masterKill struct {
	lasts time.Duration // from the kill until every node says the cluster is ok again
	note  string
	// rejoined is closed once the killed server is back as a replica in
	// sync (or failed to be); rejoin says how that went.
	rejoined  chan struct{}
	rejoin    string
	rejoinErr error
}

func (k *masterKill) result() (time.Duration, string) { return k.lasts, k.note }

// settle waits for the killed server's restart, which runs behind the
// faults that follow, and says how it went.
func (k *masterKill) settle(ctx context.Context) (string, error) {
	if k.rejoined == nil {
		return "", nil
	}
	select {
	case <-k.rejoined:
		return k.rejoin, k.rejoinErr
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (k *masterKill) run(ctx context.Context, c *redisCluster) error {
	if c == nil {
		return errors.New("no Redis Cluster (-redis cluster)")
	}
	topo, err := c.topology(ctx)
	if err != nil {
		return err
	}
	var victim, heir clusterNode
	most := int64(-1)
	for _, n := range topo {
		if !n.master || n.failed || n.slots == 0 {
			continue
		}
		cl := nodeClient(n.addr)
		keys, err := cl.DBSize(ctx).Result()
		cl.Close()
		if err == nil && keys > most {
			victim, most = n, keys
		}
	}
	for _, n := range topo {
		if !n.master && !n.failed && n.masterID == victim.id {
			heir = n
		}
	}
	proc := c.node(victim.addr)
	if victim.id == "" || heir.id == "" || proc == nil {
		return errors.New("no master with slots and a replica to kill")
	}
	t0 := time.Now()
	proc.stop() // SIGKILL, and wait for it to be gone
	var detected, promoted, ok time.Duration
	for ok == 0 {
		if time.Since(t0) > time.Minute {
			return fmt.Errorf("master %s killed: no failover within a minute (failure detected after %s, replica promoted after %s)", victim.addr, detected, promoted)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if detected == 0 {
			if hv, err := c.topology(ctx); err == nil {
				for _, n := range hv {
					if n.id == victim.id && n.failed {
						detected = time.Since(t0)
					}
				}
			}
		}
		if promoted == 0 && nodeInfo(ctx, heir.addr, "replication", "role") == "master" {
			promoted = time.Since(t0)
		}
		if promoted != 0 {
			all := true
			for _, n := range c.nodes {
				if n.running() && clusterState(ctx, n.addr) != "ok" {
					all = false
				}
			}
			if all {
				ok = time.Since(t0)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	k.lasts = ok
	k.note = fmt.Sprintf("master %s (%d slots, %d keys) killed; failure detected after %s, replica %s promoted after %s, every node ok after %s",
		victim.addr, victim.slots, most, detected.Round(10*time.Millisecond), heir.addr, promoted.Round(10*time.Millisecond), ok.Round(10*time.Millisecond))
	// The killed server comes back empty (no persistence) and, knowing
	// from nodes.conf which cluster it is in, rejoins as a replica: behind
	// the next faults, which need not wait for it.
	k.rejoined = make(chan struct{})
	go func() {
		defer close(k.rejoined)
		select {
		case <-ctx.Done():
			k.rejoinErr = ctx.Err()
			return
		case <-time.After(time.Until(t0.Add(masterDownFor))):
		}
		if err := proc.start(); err != nil {
			k.rejoinErr = fmt.Errorf("restarting the killed master: %w", err)
			return
		}
		back, err := c.waitHealthy(ctx, time.Minute)
		if err != nil {
			k.rejoinErr = fmt.Errorf("after the killed master's restart: %w", err)
			return
		}
		k.rejoin = fmt.Sprintf("; restarted %s after the kill, back as a replica in sync %s later", masterDownFor, back.Round(100*time.Millisecond))
	}()
	return nil
}
