// Command health compares a full tend-health readiness probe (without the
// torch check) with a seed-style shell script doing the same checks: disk
// free space and inodes on /, cgroup memory, TCP connect, HTTP GET to a
// local server, an SSH-2.0- banner read from a local listener, and files
// deleted but held open. nvidia-smi is left out of both (no GPU here; it
// alone takes hundreds of ms in the seed's script). It prints
//
//	health-readiness ratio=X (tend A vs peer shell B)
//	health-readiness-rss ratio=X (tend A vs peer shell B)
//
// with wall-time medians and peak RSS medians over -n runs of each.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

const script = `#!/bin/bash
# seed-style health_check.sh: the same checks as tend-health's readiness probe
set -u
fail=0
avail=$(df --output=avail -B1 / | tail -1)
if [ "$avail" -lt 1073741824 ]; then echo "ERROR: low disk"; fail=1; fi
iavail=$(df --output=iavail / | tail -1)
if [ "$iavail" -lt 1000 ]; then echo "ERROR: low inodes"; fail=1; fi
if [ -f /sys/fs/cgroup/memory.current ]; then used=$(cat /sys/fs/cgroup/memory.current)
else used=$(cat /sys/fs/cgroup/memory/memory.usage_in_bytes 2>/dev/null || echo 0); fi
echo "memory used: $used"
if ss -tln | grep -q ":$TCP_PORT "; then echo "tcp $TCP_PORT listening"; else echo "ERROR: tcp"; fail=1; fi
if ! (exec 3<>/dev/tcp/127.0.0.1/$TCP_PORT) 2>/dev/null; then echo "ERROR: tcp connect"; fail=1; fi
if curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$HTTP_PORT/api/status"; then echo "http ok"; else echo "ERROR: http"; fail=1; fi
if timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SSH_PORT; head -1 <&3" | grep -q '^SSH-2.0-'; then echo "ssh ok"; else echo "ERROR: ssh"; fail=1; fi
deleted=$(find /proc/[0-9]*/fd -lname '*(deleted)' 2>/dev/null | wc -l)
echo "deleted-open files: $deleted"
exit $fail
`

func main() {
	n := flag.Int("n", 20, "runs of each side")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "health:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	dir, err := os.MkdirTemp("", "tend-bench-health-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	httpL, _ := net.Listen("tcp", "127.0.0.1:0")
	defer httpL.Close()
	go http.Serve(httpL, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"started":"now"}`)) }))
	sshL, _ := net.Listen("tcp", "127.0.0.1:0")
	defer sshL.Close()
	go func() {
		for {
			c, err := sshL.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 bench\r\n"))
			c.Close()
		}
	}()
	port := func(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }

	bin := filepath.Join(dir, "tend-health")
	// Built in the root module (bench/run runs from bench/), whose go.sum
	// covers tend-health's dependencies.
	build := exec.Command("go", "build", "-o", bin, "./adapters/tend-health")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build tend-health: %v: %s", err, out)
	}
	cfg := filepath.Join(dir, "tend.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `health:
  timeout: 10s
  checks:
    disk: [{path: /, min_free: 1GiB, min_free_inodes: 1000}]
    memory: {}
    tcp: [{name: app, addr: "127.0.0.1:%d"}]
    http: [{name: jupyter, url: "http://127.0.0.1:%d/api/status"}]
    ssh: [{addr: "127.0.0.1:%d"}]
    deleted_open: {}
`, port(httpL), port(httpL), port(sshL)), 0o644)
	sh := filepath.Join(dir, "health_check.sh")
	os.WriteFile(sh, []byte(script), 0o755)
	env := append(os.Environ(), fmt.Sprintf("TCP_PORT=%d", port(httpL)), fmt.Sprintf("HTTP_PORT=%d", port(httpL)), fmt.Sprintf("SSH_PORT=%d", port(sshL)))

	tend := []string{bin, "--config", cfg, "--profile", "readiness"}
	peer := []string{"/bin/bash", sh}
	// One warm-up each, and both must pass: a broken side would be fast.
	for _, argv := range [][]string{tend, peer} {
		if _, _, out, err := measure(argv, env); err != nil {
			return fmt.Errorf("%s: %v: %s", argv[0], err, out)
		}
	}
	var tw, pw []time.Duration
	var tr, pr []int64
	for range n { // interleaved, so both sides see the same machine load
		d, rss, out, err := measure(tend, env)
		if err != nil {
			return fmt.Errorf("tend-health: %v: %s", err, out)
		}
		tw, tr = append(tw, d), append(tr, rss)
		d, rss, out, err = measure(peer, env)
		if err != nil {
			return fmt.Errorf("peer script: %v: %s", err, out)
		}
		pw, pr = append(pw, d), append(pr, rss)
	}
	mt, mp := median(tw), median(pw)
	rt, rp := median(tr), median(pr)
	fmt.Printf("health-readiness ratio=%.2f (tend %s vs peer shell %s)\n", float64(mt)/float64(mp), ms(mt), ms(mp))
	fmt.Printf("health-readiness-rss ratio=%.2f (tend %.1fMiB vs peer shell %.1fMiB)\n", float64(rt)/float64(rp), mib(rt), mib(rp))
	fmt.Fprintf(os.Stderr, "health: %d runs each; targets: wall <= 50ms (%v), peak RSS <= 20MiB (%v); nvidia-smi left out of both (no GPU here)\n",
		n, mt <= 50*time.Millisecond, rt <= 20<<20)
	return nil
}

// measure runs argv once and returns its wall time and peak RSS in bytes
// (the largest of the process and the children it waited for).
func measure(argv, env []string) (time.Duration, int64, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10
	}
	return d, rss, out.String(), err
}

func median[T int64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }
