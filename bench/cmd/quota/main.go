// Command quota measures `tend-compose --check` on large specs against the
// targets of issue 15 (there is no peer that validates quota specs):
//
//   - a valid spec of 105,000 users (host by hand with 4096 CPUs and 1024
//     GPUs; 1024 users take a GPU by count, 2048 pin CPUs with cpuset:
//     auto): at most 2 s and 256 MiB;
//   - a spec with 16,000 problems (one unknown key per user): at most 1 s,
//     every problem printed;
//   - for information, `--format k8s` and `--format compose` of the valid
//     spec.
//
// It builds tend-compose, runs each case -reps times as a child process
// and prints the median wall time and the median peak RSS (getrusage of
// the child), one line per case: `NAME ratio=X (tend A vs target B)`.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	reps := flag.Int("reps", 5, "repetitions (medians are printed)")
	users := flag.Int("users", 105000, "users in the valid spec")
	problems := flag.Int("problems", 16000, "problems in the bad spec")
	bin := flag.String("bin", "", "a built tend-compose to measure (default: build it)")
	render := flag.Bool("render", true, "also time --format k8s and compose (no target)")
	flag.Parse()
	if err := run(*reps, *users, *problems, *bin, *render); err != nil {
		fmt.Fprintln(os.Stderr, "quota bench:", err)
		os.Exit(1)
	}
}

func validSpec(n int) []byte {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	fmt.Fprintf(w, "host:\n  memory: 1000TiB\n  cpus: 4096\n  gpus: [")
	for i := range 1024 {
		if i > 0 {
			w.WriteString(", ")
		}
		fmt.Fprintf(w, "%q", fmt.Sprint(i))
	}
	w.WriteString("]\nheadroom: 95%\ndefaults:\n  image: registry.example.com/team/jupyter:2.8\n  memory: 4GiB\n  memory_swap: 4GiB\n  shm_size: 1GiB\n  pids_limit: 4096\n  ulimits: {stack: 67108864}\nusers:\n")
	for i := range n {
		fmt.Fprintf(w, "  - name: user-%06d\n    cpus: 2\n", i)
		switch {
		case i < 1024:
			w.WriteString("    gpus: 1\n")
		case i < 3072:
			w.WriteString("    cpuset: auto\n")
		}
		if i%10 == 0 {
			fmt.Fprintf(w, "    workspace: /data/user-%06d\n    env: {PROJECT: p%d}\n", i, i)
		}
	}
	w.Flush()
	return b.Bytes()
}

func badSpec(n int) []byte {
	var b bytes.Buffer
	b.WriteString("host: {memory: 100TiB, cpus: 64}\ndefaults: {image: busybox, memory: 1GiB, memory_swap: 1GiB}\nusers:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: user-%06d, memroy: 1g}\n", i)
	}
	return b.Bytes()
}

type result struct {
	wall   time.Duration
	cpu    time.Duration // user + system time of the child
	rssKiB int64
	stderr []byte
	code   int
}

func runOnce(bin string, args ...string) (result, error) {
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{wall: time.Since(start), stderr: stderr.Bytes(), code: cmd.ProcessState.ExitCode()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rssKiB = ru.Maxrss
		r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		return r, err
	}
	return r, nil
}

func medians(rs []result) (wall, cpu time.Duration, rss int64) {
	ws := make([]time.Duration, len(rs))
	cs := make([]time.Duration, len(rs))
	ms := make([]int64, len(rs))
	for i, r := range rs {
		ws[i], cs[i], ms[i] = r.wall, r.cpu, r.rssKiB
	}
	slices.Sort(ws)
	slices.Sort(cs)
	slices.Sort(ms)
	return ws[len(ws)/2], cs[len(cs)/2], ms[len(ms)/2]
}

func run(reps, users, problems int, prebuilt string, render bool) error {
	dir, err := os.MkdirTemp("", "tend-bench-quota-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := prebuilt
	if bin == "" {
		bin = filepath.Join(dir, "tend-compose")
		if err := build(bin); err != nil {
			return err
		}
	}
	valid := filepath.Join(dir, "valid.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	vs := validSpec(users)
	if err := os.WriteFile(valid, vs, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(bad, badSpec(problems), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "valid spec: %d users, %.1f MB; bad spec: %d problems\n", users, float64(len(vs))/1e6, problems)
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantLines  int
		targetWall time.Duration
		targetMiB  int64
	}{
		{"quota_check_valid", []string{"--spec", valid, "--check"}, 0, 1, 2 * time.Second, 256},
		{"quota_check_problems", []string{"--spec", bad, "--check"}, 2, problems, time.Second, 0},
		{"quota_k8s_valid", []string{"--spec", valid, "--format", "k8s"}, 0, 0, 0, 0},
		{"quota_compose_valid", []string{"--spec", valid, "--format", "compose"}, 0, 0, 0, 0},
	}
	if !render {
		cases = cases[:2]
	}
	for _, c := range cases {
		var rs []result
		for range reps {
			r, err := runOnce(bin, c.args...)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if r.code != c.wantCode {
				return fmt.Errorf("%s: exit %d, want %d: %.500s", c.name, r.code, c.wantCode, r.stderr)
			}
			if n := bytes.Count(r.stderr, []byte("\n")); c.wantLines > 0 && n != c.wantLines {
				return fmt.Errorf("%s: %d lines on stderr, want %d: %.300s", c.name, n, c.wantLines, r.stderr)
			}
			rs = append(rs, r)
		}
		wall, cpu, rss := medians(rs)
		var all []string
		for _, r := range rs {
			all = append(all, fmt.Sprintf("%.0fms(cpu %.0fms)/%dMiB", float64(r.wall.Microseconds())/1000, float64(r.cpu.Microseconds())/1000, r.rssKiB/1024))
		}
		fmt.Fprintf(os.Stderr, "%s: runs %s\n", c.name, strings.Join(all, " "))
		tend := fmt.Sprintf("%.0fms (cpu %.0fms) %dMiB", float64(wall.Microseconds())/1000, float64(cpu.Microseconds())/1000, rss/1024)
		switch {
		case c.targetWall > 0 && c.targetMiB > 0:
			fmt.Printf("%s ratio=%.3g (tend %s vs target %s; memory %.3g of %dMiB)\n", c.name, wall.Seconds()/c.targetWall.Seconds(), tend, c.targetWall, float64(rss)/1024/float64(c.targetMiB), c.targetMiB)
		case c.targetWall > 0:
			fmt.Printf("%s ratio=%.3g (tend %s vs target %s)\n", c.name, wall.Seconds()/c.targetWall.Seconds(), tend, c.targetWall)
		default:
			fmt.Printf("%s (tend %s; no target)\n", c.name, tend)
		}
	}
	return nil
}

// build builds tend-compose in tend's own module (the bench module's
// go.sum lacks its dependencies).
func build(bin string) error {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tendkit/tend").Output()
	if err != nil {
		return fmt.Errorf("find tend's module: %w", err)
	}
	cmd := exec.Command("go", "build", "-o", bin, "./adapters/tend-compose")
	cmd.Dir = strings.TrimSpace(string(root))
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build tend-compose: %w", err)
	}
	return nil
}
