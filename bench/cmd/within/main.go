// Command within measures the default's .ipynb_checkpoints rule (a rule
// with within, rooted at the home directory) on a generated home of
// 150,000 files: a dry run reading directory listings only (tend now),
// the same plan describing every file (a listing without d_type, as tend
// did before), and find's `-path '*/.ipynb_checkpoints/*' -type f -mtime
// +7` as the peer. It prints the stat calls of each (strace -c -f for
// find), median wall and CPU (user+sys) times, and the load.
//
//	go run ./cmd/within [-files 150000] [-reps 5] [-dir /var/tmp]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tendkit/tend/cleanup"
)

func main() {
	files := flag.Int("files", 150000, "files in the generated home, besides the checkpoints")
	reps := flag.Int("reps", 5, "repetitions per measurement (medians are printed)")
	dir := flag.String("dir", "/var/tmp", "where to generate the home")
	flag.Parse()
	home, err := os.MkdirTemp(*dir, "tend-bench-within-")
	must(err)
	defer os.RemoveAll(home)
	dirs := generate(home, *files)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("home %s: %d files in %d directories, 30 files in 3 .ipynb_checkpoints; load %s", home, *files, dirs, load)

	for _, m := range []struct {
		name    string
		untyped bool
	}{{"tend (listings only)", false}, {"tend (a stat per file, as before)", true}} {
		var walls, cpus []time.Duration
		var stats int64
		var planned int
		for range *reps {
			fsys := &countFS{untyped: m.untyped}
			s := &cleanup.Sweeper{FS: fsys, Home: home, Rules: []cleanup.Rule{{Root: home, Within: []string{".ipynb_checkpoints"}, OlderThan: 7 * 24 * time.Hour, Age: cleanup.AgeBasisMtime}}}
			c0, t0 := cpu(syscall.RUSAGE_SELF), time.Now()
			rep, err := s.Plan(context.Background())
			walls, cpus = append(walls, time.Since(t0)), append(cpus, cpu(syscall.RUSAGE_SELF)-c0)
			must(err)
			stats, planned = fsys.stats.Load(), rep.Deleted
		}
		fmt.Printf("%-36s stats=%-7d planned=%d wall=%v cpu=%v\n", m.name, stats, planned, median(walls), median(cpus))
	}

	args := []string{home, "-path", "*/.ipynb_checkpoints/*", "-type", "f", "-mtime", "+7"}
	var walls, cpus []time.Duration
	found := 0
	for range *reps {
		cmd := exec.Command("find", args...)
		t0 := time.Now()
		out, err := cmd.Output()
		must(err)
		walls = append(walls, time.Since(t0))
		u := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpus = append(cpus, time.Duration(u.Utime.Nano()+u.Stime.Nano()))
		found = len(regexp.MustCompile(`\n`).FindAll(out, -1))
	}
	fmt.Printf("%-36s stats=%-7s planned=%d wall=%v cpu=%v\n", "find (peer)", findStats(args), found, median(walls), median(cpus))
}

// generate writes files empty files in directories of 100, two levels deep
// (as a Go module cache or a dataset), and three .ipynb_checkpoints of 10
// files, half of them 30 days old; it returns the directories made.
func generate(home string, files int) int {
	dirs := 0
	for i := 0; i < files; i++ {
		d := filepath.Join(home, fmt.Sprintf("p%03d", i/10000), fmt.Sprintf("d%03d", i/100%100))
		if i%100 == 0 {
			must(os.MkdirAll(d, 0o755))
			dirs++
		}
		f, err := os.Create(filepath.Join(d, fmt.Sprintf("f%02d", i%100)))
		must(err)
		f.Close()
	}
	old := time.Now().Add(-30 * 24 * time.Hour)
	for _, p := range []string{"p000", "p001/d005", "nb"} {
		cp := filepath.Join(home, p, ".ipynb_checkpoints")
		must(os.MkdirAll(cp, 0o755))
		for j := range 10 {
			f := filepath.Join(cp, fmt.Sprintf("n%d-checkpoint.ipynb", j))
			must(os.WriteFile(f, []byte("{}"), 0o644))
			if j%2 == 0 {
				must(os.Chtimes(f, old, old))
			}
		}
	}
	return dirs
}

// findStats counts find's stat calls with strace -c -f ("-" without strace).
func findStats(args []string) string {
	if _, err := exec.LookPath("strace"); err != nil {
		return "-"
	}
	out, err := exec.Command("strace", append([]string{"-f", "-c", "-e", "trace=stat,lstat,fstat,newfstatat,statx", "-o", "/dev/stderr", "find"}, args...)...).CombinedOutput()
	if err != nil {
		return "-"
	}
	m := regexp.MustCompile(`(?m)^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?total$`).FindSubmatch(out)
	if m == nil {
		return "-"
	}
	return string(m[1])
}

func cpu(who int) time.Duration {
	var u syscall.Rusage
	must(syscall.Getrusage(who, &u))
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2].Round(time.Millisecond)
}

// countFS is the real file system, counting every description it makes;
// untyped drops the listings' d_type (every entry is then described).
type countFS struct {
	untyped bool
	stats   atomic.Int64
}

type countDir struct {
	cleanup.Dir
	fs *countFS
}

func (f *countFS) OpenRoot(p string) (cleanup.Dir, error) {
	d, err := cleanup.OS().OpenRoot(p)
	if err != nil {
		return nil, err
	}
	return &countDir{d, f}, nil
}

func (f *countFS) Lstat(p string) (cleanup.Info, error) {
	f.stats.Add(1)
	return cleanup.OS().Lstat(p)
}

func (d *countDir) Lstat(name string) (cleanup.Info, error) {
	d.fs.stats.Add(1)
	return d.Dir.Lstat(name)
}

func (d *countDir) Stat() (cleanup.Info, error) {
	d.fs.stats.Add(1)
	return d.Dir.Stat()
}

func (d *countDir) OpenDir(name string) (cleanup.Dir, error) {
	s, err := d.Dir.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &countDir{s, d.fs}, nil
}

func (d *countDir) ReadEntries() ([]cleanup.DirEntry, error) {
	ents, err := d.Dir.(cleanup.EntryLister).ReadEntries()
	for i := range ents {
		ents[i].Typed = ents[i].Typed && !d.fs.untyped
	}
	return ents, err
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "within:", err)
		os.Exit(1)
	}
}
