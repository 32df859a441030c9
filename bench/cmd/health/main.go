// Command health compares tend-health with seed-style shell scripts doing
// the same checks, side by side in one run (interleaved, so both see the
// same machine load), and prints medians as ratios:
//
//	health-readiness    a full readiness exec probe (disk free space and
//	                    inodes, cgroup memory, TCP, HTTP, an SSH banner,
//	                    deleted-open files) vs the seed's health_check.sh
//	health-liveness     the exec liveness probe (disk, memory, deleted-open;
//	                    with -gpu also the NVML GPU state) vs df + cat
//	                    (+ nvidia-smi --query-gpu=count); target <= 50ms
//	health-from         tend-health --from answering from a resident
//	                    tend-health --serve vs curl (or bash's /dev/tcp) on
//	                    the same URL; target <= 5ms
//	health-serve-rss    the resident tend-health's RSS after it has idled
//	                    (checks on their intervals, no requests) vs the
//	                    peak RSS of the seed's script; target <= 20MiB
//
// -bin uses a tend-health built elsewhere (a machine without Go); otherwise
// it is built here, with cgo when -gpu is given, and, where a C compiler
// is present, the other build too, whose --from is measured as
// health-from-cgo (or -static). Medians of wall time go to stdout, of CPU
// time (user+sys, less sensitive to load) to stderr.
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
	bin := flag.String("bin", "", "a prebuilt tend-health (default: build one)")
	other := flag.String("other-bin", "", "a prebuilt tend-health of the other build (cgo when -bin is static), for health-from (default: build one when a C compiler is present)")
	gpu := flag.Bool("gpu", false, "add the NVML GPU check to liveness (needs a cgo build and a GPU)")
	idle := flag.Duration("idle", 20*time.Second, "how long the resident tend-health idles before its RSS is read")
	flag.Parse()
	if err := run(*n, *bin, *other, *gpu, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "health:", err)
		os.Exit(1)
	}
}

func run(n int, bin, other string, gpu bool, idle time.Duration) error {
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

	if bin == "" {
		bin = filepath.Join(dir, "tend-health")
		if err := build(bin, gpu); err != nil {
			return err
		}
		if _, err := exec.LookPath("cc"); err == nil && other == "" {
			// The other build, for health-from: both pay for starting.
			other = filepath.Join(dir, "tend-health-other")
			if err := build(other, !gpu); err != nil {
				return err
			}
		}
	}
	gpuCheck := ""
	if gpu {
		gpuCheck = "    gpu: {min_count: 1}\n"
	}
	cfg := filepath.Join(dir, "tend.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `health:
  timeout: 10s
  checks:
%s    disk: [{path: /, min_free: 1GiB, min_free_inodes: 1000}]
    memory: {optional: true}
    tcp: [{name: app, addr: "127.0.0.1:%d"}]
    http: [{name: jupyter, url: "http://127.0.0.1:%d/api/status"}]
    ssh: [{addr: "127.0.0.1:%d"}]
    deleted_open: {}
`, gpuCheck, port(httpL), port(httpL), port(sshL)), 0o644)
	sh := filepath.Join(dir, "health_check.sh")
	os.WriteFile(sh, []byte(script), 0o755)
	live := filepath.Join(dir, "liveness.sh")
	liveScript := livenessScript
	if gpu {
		liveScript = strings.Replace(liveScript, "#GPU", gpuLine, 1)
	}
	os.WriteFile(live, []byte(liveScript), 0o755)
	env := append(os.Environ(), fmt.Sprintf("TCP_PORT=%d", port(httpL)), fmt.Sprintf("HTTP_PORT=%d", port(httpL)), fmt.Sprintf("SSH_PORT=%d", port(sshL)))

	var rssPeer int64
	_, errCurl := exec.LookPath("curl")
	_, errSS := exec.LookPath("ss")
	if errCurl == nil && errSS == nil {
		rssPeer, err = compare("health-readiness", n, env, []string{bin, "--config", cfg, "--profile", "readiness"}, []string{"/bin/bash", sh}, 0)
		if err != nil {
			return err
		}
	} else {
		fmt.Fprintln(os.Stderr, "health-readiness: skipped, the peer script needs curl and ss")
	}
	rssLive, err := compare("health-liveness", n, env, []string{bin, "--config", cfg, "--profile", "liveness"}, []string{"/bin/bash", live}, 50*time.Millisecond)
	if err != nil {
		return err
	}
	if rssPeer == 0 {
		rssPeer = rssLive
	}

	// The resident one: intervals as a real deployment would set them.
	serveCfg := filepath.Join(dir, "serve.yaml")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(serveCfg, append(b, "  serve: {liveness_interval: 10s, readiness_interval: 30s}\n"...), 0o644)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	srv := exec.Command(bin, "--config", serveCfg, "--serve", addr)
	srv.Env = env
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() }()
	url := "http://" + addr
	from := []string{bin, "--from", url, "--profile", "readiness"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, _, err := measure(from, env); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tend-health --serve never became ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	peer := []string{"/bin/bash", "-c", `exec 3<>/dev/tcp/${1%:*}/${1##*:} && printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && head -1 <&3 | grep -q " 200 "`, "peer", addr}
	if curl, err := exec.LookPath("curl"); err == nil {
		peer = []string{curl, "-sf", "-o", "/dev/null", url + "/readyz"}
	}
	if _, err := compare("health-from", n, env, from, peer, 5*time.Millisecond); err != nil {
		return err
	}
	if other != "" {
		fromOther := append([]string{other}, from[1:]...)
		if _, err := compare("health-from-"+buildName(!gpu), n, env, fromOther, peer, 5*time.Millisecond); err != nil {
			return err
		}
	}
	time.Sleep(idle)
	rss := statusKiB(srv.Process.Pid, "VmRSS") << 10
	fmt.Printf("health-serve-rss ratio=%.2f (tend %.1fMiB resident after %s idle vs peer shell %.1fMiB peak)\n",
		float64(rss)/float64(rssPeer), mib(rss), idle, mib(rssPeer))
	fmt.Fprintf(os.Stderr, "health-serve-rss: target <= 20MiB (%v); VmHWM %.1fMiB; %s\n", rss <= 20<<20, mib(statusKiB(srv.Process.Pid, "VmHWM")<<10), smaps(srv.Process.Pid))
	return nil
}

// build builds tend-health into bin, with cgo (and so NVML) or without.
// It builds in the root module (bench/run runs from bench/), whose go.sum
// covers tend-health's dependencies.
func build(bin string, cgo bool) error {
	b := exec.Command("go", "build", "-o", bin, "./adapters/tend-health")
	b.Dir = ".."
	b.Env = append(os.Environ(), "CGO_ENABLED=0")
	if cgo {
		b.Env = append(os.Environ(), "CGO_ENABLED=1")
	}
	if out, err := b.CombinedOutput(); err != nil {
		return fmt.Errorf("build tend-health (%s): %v: %s", buildName(cgo), err, out)
	}
	return nil
}

func buildName(cgo bool) string {
	if cgo {
		return "cgo"
	}
	return "static"
}

// compare runs tend and peer n times each, interleaved, after one warm-up
// each (both must pass: a broken side would be fast), prints the ratio of
// the wall-time medians and returns the peer's median peak RSS.
func compare(name string, n int, env, tend, peer []string, target time.Duration) (int64, error) {
	for _, argv := range [][]string{tend, peer} {
		if _, _, out, err := measure(argv, env); err != nil {
			return 0, fmt.Errorf("%s: %s: %v: %s", name, argv[0], err, out)
		}
	}
	var tw, pw, tc, pc []time.Duration
	var tr, pr []int64
	for range n {
		d, rss, out, err := measure(tend, env)
		if err != nil {
			return 0, fmt.Errorf("%s: tend-health: %v: %s", name, err, out)
		}
		tw, tr, tc = append(tw, d.wall), append(tr, rss), append(tc, d.cpu)
		d, rss, out, err = measure(peer, env)
		if err != nil {
			return 0, fmt.Errorf("%s: peer: %v: %s", name, err, out)
		}
		pw, pr, pc = append(pw, d.wall), append(pr, rss), append(pc, d.cpu)
	}
	mt, mp := median(tw), median(pw)
	rt, rp := median(tr), median(pr)
	fmt.Printf("%s ratio=%.2f (tend %s vs peer shell %s)\n", name, float64(mt)/float64(mp), ms(mt), ms(mp))
	fmt.Fprintf(os.Stderr, "%s: CPU user+sys median tend %s vs peer %s\n", name, ms(median(tc)), ms(median(pc)))
	fmt.Printf("%s-rss ratio=%.2f (tend %.1fMiB vs peer shell %.1fMiB)\n", name, float64(rt)/float64(rp), mib(rt), mib(rp))
	if target > 0 {
		fmt.Fprintf(os.Stderr, "%s: %d runs each; target wall <= %s (%v)\n", name, n, target, mt <= target)
	}
	return rp, nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// statusKiB reads a "Name: N kB" line of /proc/PID/status.
func statusKiB(pid int, name string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			var k int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &k)
			return k
		}
	}
	return 0
}

// smaps summarises where the resident memory is (anonymous or file pages).
func smaps(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	var parts []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, k := range []string{"Anonymous:", "Pss_File:"} {
			if strings.HasPrefix(l, k) {
				parts = append(parts, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	return strings.Join(parts, ", ")
}

const livenessScript = `#!/bin/bash
# seed-style liveness: free space and inodes on /, cgroup memory
set -u
avail=$(df --output=avail -B1 / | tail -1)
[ "$avail" -gt 1073741824 ] || { echo "ERROR: low disk"; exit 1; }
iavail=$(df --output=iavail / | tail -1)
[ "$iavail" -gt 1000 ] || { echo "ERROR: low inodes"; exit 1; }
if [ -f /sys/fs/cgroup/memory.current ]; then cat /sys/fs/cgroup/memory.current; fi
#GPU
exit 0
`

const gpuLine = `n=$(nvidia-smi --query-gpu=count --format=csv,noheader,nounits | head -1); [ "$n" -ge 1 ] || { echo "ERROR: no GPU"; exit 1; }`

// times is one run's wall-clock and CPU (user+sys) time.
type times struct{ wall, cpu time.Duration }

// measure runs argv once and returns its times and peak RSS in bytes
// (the largest of the process and the children it waited for).
func measure(argv, env []string) (times, int64, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	t := times{wall: d}
	var rss int64
	if cmd.ProcessState == nil {
		return t, 0, out.String(), err
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10
		t.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return t, rss, out.String(), err
}

func median[T int64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }
