//go:build failover

// Built only with -tags failover (.ci/run): the test fails a Redis
// master over, so it never runs in a plain `go test ./...`, where a
// skipped test would prove nothing.

package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siyu-bot/siyu/store/redisstore"
)

// TestClusterFailover: when a Redis Cluster master dies and the cluster
// promotes its replica, a Client reaches the promoted replica for the
// dead master's slots within moments: the dedupe batcher's pipelines,
// scripts and plain commands, and what was written before the kill is
// there. go-redis alone kept dialling the dead master until its slot map
// was a minute old (go-redis issue 3979), and the chaos run's callbacks
// failed all that while.
//
// It starts a cluster of its own (three masters, each with a replica;
// redis-server and redis-cli on PATH) and kills a master, so it runs
// only when SIYU_TEST_CLUSTER_FAILOVER=1 asks for it (.ci/run does).
func TestClusterFailover(t *testing.T) {
	if os.Getenv("SIYU_TEST_CLUSTER_FAILOVER") != "1" {
		t.Fatal("needs SIYU_TEST_CLUSTER_FAILOVER=1, redis-server and redis-cli (it starts a Redis Cluster of its own)")
	}
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
	}
	ctx := t.Context()
	cl := startTestCluster(t)
	url := "redis://" + cl.addrs[0] + "?addr=" + strings.Join(cl.addrs[1:], "&addr=")
	const prefix = "siyu:t:failover:"
	c, err := redisstore.Open(ctx, url, nil, redisstore.Cluster(), redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cc := c.Redis().(*redis.ClusterClient)
	d := redisstore.NewDeduper(c)

	// A result stored before the kill, on the master that will die.
	if first, _, err := d.Claim(ctx, "before", "tok", time.Hour); err != nil || !first {
		t.Fatalf("Claim before the kill = %v, %v", first, err)
	}
	if err := d.Finish(ctx, "before", []byte("answer"), time.Hour); err != nil {
		t.Fatal(err)
	}
	waitResult(t, d, "before", "answer")
	master, err := cc.MasterForKey(ctx, prefix+"dedupe:before")
	if err != nil {
		t.Fatal(err)
	}
	victim := master.Options().Addr
	if err := master.Do(ctx, "wait", 1, 5000).Err(); err != nil { // the replica has it
		t.Fatal(err)
	}
	// Names whose keys live on the victim's slots too.
	onVictim := func(ns string) string {
		t.Helper()
		for i := range 10000 {
			name := "after-" + strconv.Itoa(i)
			if m, err := cc.MasterForKey(ctx, prefix+ns+name); err == nil && m.Options().Addr == victim {
				return name
			}
		}
		t.Fatalf("no %s key on %s", ns, victim)
		return ""
	}
	claimName, lockName := onVictim("dedupe:"), onVictim("lock:")
	heir := cl.replicaOf(t, victim)

	cl.kill(t, victim)
	killed := time.Now()
	for role(ctx, heir) != "master" {
		if time.Since(killed) > hangGuard {
			t.Fatalf("%s not promoted within %v of killing %s", heir, hangGuard, victim)
		}
		time.Sleep(20 * time.Millisecond)
	}
	promoted := time.Now()
	t.Logf("killed master %s; replica %s promoted after %v", victim, heir, promoted.Sub(killed).Round(time.Millisecond))

	// Within a few seconds of the promotion, well before go-redis's own
	// reload, each kind of command reaches it.
	const within = 3 * time.Second
	reach := func(name string, do func(context.Context) error) {
		t.Helper()
		var err error
		for time.Since(promoted) < within {
			if err = do(ctx); err == nil {
				t.Logf("%s reached the promoted replica %v after the promotion", name, time.Since(promoted).Round(time.Millisecond))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s on the dead master's slots still failing %v after its replica was promoted: %v", name, within, err)
	}
	reach("batched claim", func(ctx context.Context) error {
		_, _, err := d.Claim(ctx, claimName, "tok", time.Hour)
		return err
	})
	reach("script", func(ctx context.Context) error {
		release, _, err := c.Lock(ctx, lockName, time.Minute)
		if err == nil {
			release()
		}
		return err
	})
	reach("plain command", func(ctx context.Context) error {
		return c.Redis().Get(ctx, prefix+"dedupe:before").Err()
	})
	if _, result, err := d.Claim(ctx, "before", "tok", time.Hour); err != nil || string(result) != "answer" {
		t.Errorf("result written before the kill = %q, %v; want answer", result, err)
	}
}

// testCluster is a Redis Cluster of a test's own: three masters, each
// with one replica, killed when the test ends.
type testCluster struct {
	addrs []string
	procs map[string]*exec.Cmd
}

func startTestCluster(t *testing.T) *testCluster {
	t.Helper()
	dir := t.TempDir()
	cl := &testCluster{procs: map[string]*exec.Cmd{}}
	t.Cleanup(func() {
		for _, p := range cl.procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	})
	for _, port := range clusterPorts(t, 6) {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		nd := filepath.Join(dir, strconv.Itoa(port))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			t.Fatal(err)
		}
		// A short node timeout: the failover comes about a second after
		// the kill.
		p := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", nd, "--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000")
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		cl.procs[addr] = p
		cl.addrs = append(cl.addrs, addr)
	}
	for _, a := range cl.addrs {
		waitFor(t, "redis-server at "+a, func() bool { return role(t.Context(), a) != "" })
	}
	args := append(append([]string{"--cluster", "create"}, cl.addrs...), "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.CommandContext(t.Context(), "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	waitFor(t, "the cluster with every replica in sync", func() bool {
		synced := 0
		for _, a := range cl.addrs {
			n := redis.NewClient(&redis.Options{Addr: a})
			info, _ := n.ClusterInfo(t.Context()).Result()
			repl, _ := n.Info(t.Context(), "replication").Result()
			n.Close()
			if !strings.Contains(info, "cluster_state:ok") {
				return false
			}
			if strings.Contains(repl, "master_link_status:up") {
				synced++
			}
		}
		return synced == 3
	})
	return cl
}

// replicaOf is the address of master's replica.
func (cl *testCluster) replicaOf(t *testing.T, master string) string {
	t.Helper()
	n := redis.NewClient(&redis.Options{Addr: master})
	defer n.Close()
	id, err := n.Do(t.Context(), "cluster", "myid").Text()
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := n.ClusterNodes(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[3] == id && strings.Contains(f[2], "slave") {
			addr, _, _ := strings.Cut(f[1], "@")
			return addr
		}
	}
	t.Fatalf("no replica of %s in\n%s", master, nodes)
	return ""
}

func (cl *testCluster) kill(t *testing.T, addr string) {
	t.Helper()
	p := cl.procs[addr]
	if err := p.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.Wait()
	delete(cl.procs, addr)
}

// role is the node's replication role, "" when it does not answer.
func role(ctx context.Context, addr string) string {
	n := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, MaxRetries: -1})
	defer n.Close()
	info, err := n.Info(ctx, "replication").Result()
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "role:"); ok {
			return v
		}
	}
	return ""
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(hangGuard); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("no %s within %v", what, hangGuard)
}

// clusterPorts picks n free loopback ports whose cluster bus ports (port
// + 10000) are free and valid too.
func clusterPorts(t *testing.T, n int) []int {
	t.Helper()
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
			return out
		}
		p := 20000 + rand.IntN(20000)
		if slices.Contains(out, p) || slices.Contains(out, p+10000) || slices.Contains(out, p-10000) || !free(p) || !free(p+10000) {
			continue
		}
		out = append(out, p)
	}
	t.Fatal(fmt.Sprintf("no %d free port pairs for a cluster", n))
	return nil
}
