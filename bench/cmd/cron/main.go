// Command cron compares one `tend-cron --once` run (sweep + rotate) with
// what the seed articles' cron job runs: `find -type f -atime +7 -delete`,
// `find -type d -empty -delete` and `logrotate` (size, copytruncate,
// compress), on the same generated cache tree and log, process start-up
// included. It also reports the idle resident memory of tend-cron as an
// entrypoint wrapper next to that of cron (the daemon the seeds start), or
// busybox crond where Debian's cron is not installed.
// One line per comparison, `NAME ratio=X (tend A vs peer B)`, with medians.
//
//	go run ./cmd/cron [-files 20000] [-log 64MiB] [-reps 3]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	files := flag.Int("files", 20000, "files in the cache tree (half of them 30 days old)")
	logMiB := flag.Int("log", 64, "size of the log to rotate, in MiB")
	reps := flag.Int("reps", 3, "repetitions (medians are printed)")
	flag.Parse()
	for _, p := range []string{"find", "logrotate"} {
		if _, err := exec.LookPath(p); err != nil {
			fmt.Fprintf(os.Stderr, "cron: %s not installed (skipped)\n", p)
			return
		}
	}
	work, err := os.MkdirTemp("", "tend-bench-cron-")
	check(err)
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "tend-cron")
	build := exec.Command("go", "build", "-o", bin, "./adapters/tend-cron")
	build.Dir = ".." // the root module
	out, err := build.CombinedOutput()
	check(err, string(out))

	var tend, peer []time.Duration
	for range *reps {
		tend = append(tend, once(work, *files, *logMiB, func(cache, log, state string) []string {
			cfg := filepath.Join(state, "tend.yaml")
			check(os.WriteFile(cfg, []byte(fmt.Sprintf(`sweep:
  rules:
    - path: %s
      older_than: 7d
rotate:
  state: %s/rotate.json
  files:
    - path: %s
      size: 10MiB
      keep: 7
      compress: gzip
      method: copytruncate
`, cache, state, log)), 0o644))
			return []string{bin, "--config", cfg, "--once", "--log-level", "warn"}
		}))
		peer = append(peer, once(work, *files, *logMiB, func(cache, log, state string) []string {
			conf := filepath.Join(state, "logrotate.conf")
			check(os.WriteFile(conf, []byte(log+" {\n  rotate 7\n  size 10M\n  compress\n  copytruncate\n  missingok\n}\n"), 0o644))
			script := fmt.Sprintf("find %[1]s -type f -atime +7 -delete && find %[1]s -mindepth 1 -type d -empty -delete && logrotate -s %[2]s/status %[3]s",
				cache, state, conf)
			return []string{"sh", "-c", script}
		}))
	}
	t, p := median(tend), median(peer)
	fmt.Fprintf(os.Stderr, "cron: %d files, %d MiB log, %d reps: tend %v, peer %v\n", *files, *logMiB, *reps, tend, peer)
	fmt.Printf("cron-once ratio=%.2f (tend %s vs peer %s)\n", t.Seconds()/p.Seconds(), t.Round(time.Millisecond), p.Round(time.Millisecond))

	// Idle memory of the resident scheduler: tend-cron wrapping a child
	// against the cron daemon the seeds start (Debian's cron, or busybox
	// crond where that is what is installed), each with nothing due.
	peerCron, peerName := cronDaemon(work)
	if peerCron == nil {
		fmt.Fprintln(os.Stderr, "cron: neither cron nor busybox installed, idle memory not compared")
		return
	}
	var tr, cr []int
	for range *reps {
		tr = append(tr, idleRSS(bin, "--config", writeIdleConfig(work), "--", "sleep", "30"))
		cr = append(cr, idleRSS(peerCron...))
	}
	t2, p2 := medianInt(tr), medianInt(cr)
	fmt.Fprintf(os.Stderr, "cron: idle RSS KiB: tend %v, %s %v\n", tr, peerName, cr)
	fmt.Printf("cron-idle-rss ratio=%.2f (tend %d KiB vs peer %s %d KiB)\n", float64(t2)/float64(p2), t2, peerName, p2)

	// As PID 1 tend-cron is two processes (a reaper and a worker) whose
	// binary pages are shared: PSS, summed over both, is what they cost.
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "cron: unshare or root missing: PID-1 memory not measured")
		return
	}
	var tp, cp []int
	for range *reps {
		tp = append(tp, treePSS("tend-cron", unshare, "--pid", "--fork", "--mount-proc", bin, "--config", writeIdleConfig(work), "--", "sleep", "30"))
		cp = append(cp, treePSS(filepath.Base(peerCron[0]), peerCron...))
	}
	t3, p3 := medianInt(tp), medianInt(cp)
	fmt.Fprintf(os.Stderr, "cron: idle PSS KiB as PID 1 (both processes): tend %v, %s %v\n", tp, peerName, cp)
	fmt.Printf("cron-pid1-idle-pss ratio=%.2f (tend reaper+worker %d KiB vs peer %s %d KiB)\n", float64(t3)/float64(p3), t3, peerName, p3)
}

// treePSS starts argv, waits a second and sums the Pss (KiB) of the
// processes named comm in its process tree.
func treePSS(comm string, argv ...string) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	check(cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(time.Second)
	total := 0
	var walk func(pid string)
	walk = func(pid string) {
		name, _ := os.ReadFile("/proc/" + pid + "/comm")
		if strings.TrimSpace(string(name)) == comm {
			rollup, _ := os.ReadFile("/proc/" + pid + "/smaps_rollup")
			for _, l := range strings.Split(string(rollup), "\n") {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "Pss:" {
					n, _ := strconv.Atoi(f[1])
					total += n
				}
			}
		}
		// Each thread lists the children it forked.
		tasks, _ := os.ReadDir("/proc/" + pid + "/task")
		for _, task := range tasks {
			kids, _ := os.ReadFile("/proc/" + pid + "/task/" + task.Name() + "/children")
			for _, k := range strings.Fields(string(kids)) {
				walk(k)
			}
		}
	}
	walk(strconv.Itoa(cmd.Process.Pid))
	return total
}

// cronDaemon returns the command line of a foreground cron daemon with an
// empty crontab directory, and its name.
func cronDaemon(work string) ([]string, string) {
	if cron, err := exec.LookPath("cron"); err == nil {
		return []string{cron, "-f"}, "cron"
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return nil, ""
	}
	tabs := filepath.Join(work, "crontabs")
	check(os.MkdirAll(tabs, 0o755))
	return []string{bb, "crond", "-f", "-c", tabs}, "busybox-crond"
}

func medianInt(v []int) int {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// once builds fresh data, runs the command cmd returns and times it.
func once(work string, files, logMiB int, cmd func(cache, log, state string) []string) time.Duration {
	dir, err := os.MkdirTemp(work, "run-")
	check(err)
	defer os.RemoveAll(dir)
	cache, state := filepath.Join(dir, "cache"), filepath.Join(dir, "state")
	check(os.MkdirAll(state, 0o755))
	old := time.Now().Add(-30 * 24 * time.Hour)
	for i := range files {
		d := filepath.Join(cache, fmt.Sprintf("d%03d", i%200))
		if i < 200 {
			check(os.MkdirAll(d, 0o755))
		}
		f := filepath.Join(d, fmt.Sprintf("f%06d", i))
		check(os.WriteFile(f, []byte("cached bytes\n"), 0o644))
		if (i/200)%2 == 0 { // half the files, spread over every directory
			check(os.Chtimes(f, old, old))
		}
	}
	log := filepath.Join(dir, "app.log")
	var b bytes.Buffer
	for i := 0; b.Len() < logMiB<<20; i++ {
		fmt.Fprintf(&b, "2026-11-23T12:00:00Z INFO step=%d loss=0.%06d lr=3e-4 throughput=%d samples/s\n", i, i%999983, 1000+i%97)
	}
	check(os.WriteFile(log, b.Bytes(), 0o644))
	exec.Command("sync").Run()

	argv := cmd(cache, log, state)
	start := time.Now()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	took := time.Since(start)
	check(err, string(out))
	left := 0
	filepath.WalkDir(cache, func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			left++
		}
		return nil
	})
	rotated, _ := filepath.Glob(log + ".1*")
	if left != files/2 || len(rotated) != 1 {
		fmt.Fprintf(os.Stderr, "cron: %s left %d of %d files and %d backups\n", argv[0], left, files, len(rotated))
		os.Exit(1)
	}
	return took
}

func writeIdleConfig(work string) string {
	p := filepath.Join(work, "idle.yaml")
	check(os.WriteFile(p, []byte("sweep:\n  rules: [{path: "+work+"/none, older_than: 7d, missing_ok: true}]\n"), 0o644))
	return p
}

// idleRSS starts argv, waits a second and reads its VmRSS in KiB.
func idleRSS(argv ...string) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	check(cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(time.Second)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	check(err)
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func check(err error, context ...string) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "cron:", err, strings.Join(context, " "))
		os.Exit(1)
	}
}
