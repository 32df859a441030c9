// Command sweep compares cleanup.Sweeper with `find -type f -atime +7
// -delete` and `systemd-tmpfiles --clean` on the same generated trees (on a
// tmpfs and on the disk), a dry-run scan with `find -type f -atime +7`
// printing names, syscalls per file (strace -c -f) and peak RSS.
// TEND_BENCH_CPUPROFILE=FILE makes each tend run write a CPU profile there. It prints
// one line per comparison, `NAME ratio=X (tend A vs peer B)`, with medians.
//
// -full is the shape (300,000 files in 100,000 directories plus
// 30,000 symlinks, 3 runs each) and peak-RSS runs at 1,000,000 files; it
// takes about a quarter of an hour on 2 cores. The default (60,000 files)
// takes a few minutes; TEND_BENCH_SWEEP_FILES overrides -files.
//
// Tree shapes (-shapes for the speed runs, -rss-shapes for peak RSS):
// wide (files/3 directories three levels deep, plus symlinks), deep (10
// chains of 1,000 levels), flat (one directory), crash (3,000 directories
// under 40 top-level ones: the shape that crashed the parallel walk). Each
// holds half its files 30 days old. Peak RSS is measured for a dry run
// printing --json (streamed) and for a real run logging every deletion at
// info (JSON), beside find's scan of the same tree.
//
//	go run ./cmd/sweep [-files 60000] [-full] [-reps 3] [-fs tmpfs,disk] [-shapes wide,crash] [-rss-files N] [-rss-shapes wide,deep,flat]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/cleanup"
)

func main() {
	if len(os.Args) == 4 && os.Args[1] == "-child" {
		child(os.Args[2], os.Args[3])
		return
	}
	if len(os.Args) == 6 && os.Args[1] == "-generate" {
		n, err := strconv.Atoi(os.Args[3])
		must(err)
		generate(os.Args[2], n, os.Args[4], os.Args[5] == "empty")
		return
	}
	files := flag.Int("files", 60000, "files in the generated tree (half of them 30 days old)")
	full := flag.Bool("full", false, "the issue's full shape: 300,000 files")
	reps := flag.Int("reps", 3, "repetitions per measurement (medians are printed)")
	fss := flag.String("fs", "tmpfs,disk", "file systems to run on")
	doStrace := flag.Bool("strace", true, "count syscalls per file with strace -c -f")
	rssFiles := flag.Int("rss-files", 0, "files in the tree for the peak-RSS comparison (default: 1,000,000 with -full, else -files)")
	shapes := flag.String("shapes", "wide,crash", "tree shapes for the speed runs")
	rssShapes := flag.String("rss-shapes", "wide,deep,flat", "tree shapes for the peak-RSS runs")
	flag.Parse()
	if v := os.Getenv("TEND_BENCH_SWEEP_FILES"); v != "" {
		n, err := strconv.Atoi(v)
		must(err)
		*files = n
	}
	if *full {
		*files = 300000
		if *rssFiles == 0 {
			*rssFiles = 1000000
		}
	}
	if *rssFiles == 0 {
		*rssFiles = *files
	}
	fmt.Fprintf(os.Stderr, "sweep: %d files, medians of %d runs; the machine is shared, so figures are noisy\n", *files, *reps)
	for _, f := range strings.Split(*fss, ",") {
		dir, cleanup, err := workDir(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sweep: %s: %v (skipped)\n", f, err)
			continue
		}
		for _, shape := range strings.Split(*shapes, ",") {
			if shape != "" {
				run(f, dir, *files, *reps, shape)
			}
		}
		if *doStrace && f == "tmpfs" {
			syscallsPerFile(dir, min(*files, 20000))
		}
		if f == "tmpfs" && *rssShapes != "" {
			for _, shape := range strings.Split(*rssShapes, ",") {
				if shape != "" {
					peakRSS(dir, *rssFiles, shape)
				}
			}
		}
		cleanup()
	}
}

// workDir returns a fresh directory on the named file system.
func workDir(kind string) (string, func(), error) {
	switch kind {
	case "tmpfs":
		dir, err := os.MkdirTemp("", "tend-bench-tmpfs-")
		if err != nil {
			return "", nil, err
		}
		if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4g", "tmpfs", dir).Run(); err != nil {
			os.Remove(dir)
			dir, err = os.MkdirTemp("/dev/shm", "tend-bench-")
			return dir, func() { os.RemoveAll(dir) }, err
		}
		return dir, func() { exec.Command("umount", dir).Run(); os.Remove(dir) }, nil
	case "disk":
		dir, err := os.MkdirTemp("/var/tmp", "tend-bench-")
		return dir, func() { os.RemoveAll(dir) }, err
	}
	return "", nil, fmt.Errorf("unknown file system %q (tmpfs or disk)", kind)
}

// generate builds a tree of the given shape (see the package comment),
// files spread over its directories, half 30 days old; the wide shape
// adds files/10 symlinks (half old). Files hold up to 1 KiB unless empty
// (the peak-RSS trees: a sweep's memory does not depend on file sizes, and
// a million one-page files would take 4 GiB of tmpfs).
func generate(root string, files int, shape string, empty bool) {
	var dirs []string
	switch shape {
	case "wide":
		dirs = make([]string, max(files/3, 1))
		for i := range dirs {
			dirs[i] = filepath.Join(root, fmt.Sprintf("t%d", i%20), fmt.Sprintf("m%d", (i/20)%50), fmt.Sprintf("l%d", i))
		}
	case "deep":
		for c := range 10 {
			p := filepath.Join(root, fmt.Sprintf("c%d", c))
			for range 1000 {
				p = filepath.Join(p, "d")
				dirs = append(dirs, p)
			}
		}
	case "flat":
		dirs = []string{filepath.Join(root, "flat")}
	case "crash":
		for i := range 3000 {
			dirs = append(dirs, filepath.Join(root, fmt.Sprintf("top%d", i%40), fmt.Sprintf("d%d", i)))
		}
	default:
		must(fmt.Errorf("unknown shape %q (wide, deep, flat or crash)", shape))
	}
	for _, d := range dirs {
		must(os.MkdirAll(d, 0o755))
	}
	ndirs := len(dirs)
	old := time.Now().Add(-30 * 24 * time.Hour)
	data := make([]byte, 1024)
	var wg sync.WaitGroup
	workers := runtime.NumCPU()
	for w := range workers {
		wg.Go(func() {
			for i := w; i < files; i += workers {
				p := filepath.Join(dirs[i%ndirs], fmt.Sprintf("f%d", i))
				n := i % 1024
				if empty {
					n = 0
				}
				must(os.WriteFile(p, data[:n], 0o644))
				if i%2 == 0 {
					must(os.Chtimes(p, old, old))
				}
			}
		})
	}
	wg.Wait()
	for i := range files / 10 {
		if shape != "wide" {
			break
		}
		p := filepath.Join(dirs[(i*7)%ndirs], fmt.Sprintf("s%d", i))
		must(os.Symlink(fmt.Sprintf("f%d", i), p))
		if i%2 == 0 {
			ts := []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano())}
			must(unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
		}
	}
}

// child runs tend in its own process: "sweep" deletes, "sweep-info"
// deletes logging each deletion at info as JSON (to /dev/null), "plan"
// prints the names a sweep would delete, "plan-json" prints the dry run's
// report as JSON, streamed.
func child(mode, root string) {
	if out := os.Getenv("TEND_BENCH_CPUPROFILE"); out != "" {
		f, err := os.Create(out)
		must(err)
		must(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	s := &cleanup.Sweeper{Rules: []cleanup.Rule{{Root: root, OlderThan: 7 * 24 * time.Hour}}}
	if mode == "sweep-info" {
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		must(err)
		s.Logger = slog.New(slog.NewJSONHandler(devnull, nil))
	}
	rep, err := s.Sweep(context.Background(), mode == "plan" || mode == "plan-json")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if mode == "plan-json" {
		must(rep.WriteJSON(os.Stdout))
	}
	if mode == "plan" {
		w := bufio.NewWriterSize(os.Stdout, 1<<16)
		for it := range rep.AllItems() {
			w.WriteString(it.Path)
			w.WriteByte('\n')
		}
		w.Flush()
	}
}

type result struct {
	wall time.Duration
	rss  int64 // KiB
}

func timeCmd(name string, args ...string) result {
	cmd := exec.Command(name, args...)
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	defer devnull.Close()
	cmd.Stdout, cmd.Stderr = devnull, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "sweep: %s %v: %v\n", name, args, err)
	}
	r := result{wall: time.Since(start)}
	if cmd.ProcessState != nil {
		r.rss = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	}
	return r
}

func median(rs []result) result {
	slices.SortFunc(rs, func(a, b result) int { return int(a.wall - b.wall) })
	return rs[len(rs)/2]
}

func run(fsName, dir string, files, reps int, shape string) {
	self, _ := os.Executable()
	tmpfiles, tmpErr := exec.LookPath("systemd-tmpfiles")
	type peer struct {
		name string
		run  func(root string) result
	}
	peers := []peer{
		{"tend", func(root string) result { return timeCmd(self, "-child", "sweep", root) }},
		{"find", func(root string) result { return timeCmd("find", root, "-type", "f", "-atime", "+7", "-delete") }},
	}
	if tmpErr == nil {
		peers = append(peers, peer{"systemd-tmpfiles", func(root string) result {
			conf := root + ".conf"
			must(os.WriteFile(conf, []byte("d "+root+" - - - aA:7d\n"), 0o644))
			defer os.Remove(conf)
			return timeCmd(tmpfiles, "--clean", conf)
		}})
	}
	res := map[string][]result{}
	for rep := range reps {
		for _, p := range peers {
			root := filepath.Join(dir, fmt.Sprintf("%s-%d", p.name, rep))
			generateIn(root, files, shape, false)
			syncDisk()
			res[p.name] = append(res[p.name], p.run(root))
			os.RemoveAll(root)
		}
	}
	tend := median(res["tend"])
	fmt.Fprintf(os.Stderr, "sweep-%s-%s: %d files, %d reps; peak RSS tend %d KiB, find %d KiB\n", fsName, shape, files, reps, tend.rss, median(res["find"]).rss)
	for _, p := range peers[1:] {
		m := median(res[p.name])
		fmt.Printf("sweep-%s-%s-vs-%s ratio=%.2f (tend %.2fs vs peer %s %.2fs)\n", fsName, shape, p.name, tend.wall.Seconds()/m.wall.Seconds(), tend.wall.Seconds(), p.name, m.wall.Seconds())
	}
	if shape != "wide" {
		return
	}
	// Dry run: scan and print the names, against find printing them.
	root := filepath.Join(dir, "scan")
	generateIn(root, files, shape, false)
	syncDisk()
	timeCmd("find", root, "-type", "f", "-atime", "+7") // warm the caches for both
	var ts, fs []result
	for range reps {
		ts = append(ts, timeCmd(self, "-child", "plan", root))
		fs = append(fs, timeCmd("find", root, "-type", "f", "-atime", "+7"))
	}
	t, f := median(ts), median(fs)
	fmt.Printf("scan-%s ratio=%.2f (tend %.2fs vs peer find %.2fs)\n", fsName, t.wall.Seconds()/f.wall.Seconds(), t.wall.Seconds(), f.wall.Seconds())
	os.RemoveAll(root)
}

var straceTotal = regexp.MustCompile(`(?m)^\s*100\.00\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?total`)

// syscallsPerFile counts the syscalls of one real sweep with strace -c -f.
func syscallsPerFile(dir string, files int) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sweep: strace not found (apt-get install strace): syscall count skipped")
		return
	}
	self, _ := os.Executable()
	count := func(name string, args ...string) float64 {
		root := filepath.Join(dir, "strace-"+name)
		generateIn(root, files, "wide", false)
		for i, a := range args {
			args[i] = strings.ReplaceAll(a, "ROOT", root)
		}
		out, _ := exec.Command(strace, append([]string{"-c", "-f", "-o", "/dev/stdout", name}, args...)...).Output()
		os.RemoveAll(root)
		m := straceTotal.FindSubmatch(out)
		if m == nil {
			fmt.Fprintf(os.Stderr, "sweep: cannot read strace output:\n%s\n", out)
			return 0
		}
		n, _ := strconv.ParseFloat(string(m[1]), 64)
		return n / float64(files+files/10)
	}
	t := count(self, "-child", "sweep", "ROOT")
	f := count("find", "ROOT", "-type", "f", "-atime", "+7", "-delete")
	fmt.Printf("syscalls-per-entry ratio=%.2f (tend %.2f vs peer find %.2f)\n", t/f, t, f)
}

// peakRSS compares the peak resident memory of a dry run printing --json
// and of a real sweep logging every deletion at info with find's, on one
// tree of the given size and shape: find scans it first, then the dry
// run, then the real sweep deletes.
func peakRSS(dir string, files int, shape string) {
	self, _ := os.Executable()
	root := filepath.Join(dir, "rss-"+shape)
	generateIn(root, files, shape, true)
	f := timeCmd("find", root, "-type", "f", "-atime", "+7")
	j := timeCmd(self, "-child", "plan-json", root)
	s := timeCmd(self, "-child", "sweep-info", root)
	os.RemoveAll(root)
	mib := func(r result) float64 { return float64(r.rss) / 1024 }
	fmt.Printf("peak-rss-%s-%dk-dry-run-json ratio=%.2f (tend %.1fMiB vs peer find %.1fMiB)\n", shape, files/1000, mib(j)/mib(f), mib(j), mib(f))
	fmt.Printf("peak-rss-%s-%dk-sweep-info-log ratio=%.2f (tend %.1fMiB vs peer find %.1fMiB)\n", shape, files/1000, mib(s)/mib(f), mib(s), mib(f))
}

// generateIn builds the tree in a child process, so that this process
// stays small: a child started with vfork inherits its parent's peak RSS
// (ru_maxrss), which would otherwise inflate every measured peer.
func generateIn(root string, files int, shape string, empty bool) {
	self, _ := os.Executable()
	kind := "data"
	if empty {
		kind = "empty"
	}
	cmd := exec.Command(self, "-generate", root, strconv.Itoa(files), shape, kind)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	must(cmd.Run())
}

func syncDisk() { unix.Sync() }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "sweep:", err)
		os.Exit(1)
	}
}
