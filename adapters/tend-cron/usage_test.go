package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/internal/testenv"
)

func TestUsageFlags(t *testing.T) {
	c := newCommand(&strings.Builder{}, &strings.Builder{})
	f, stop, _ := c.parseFlags([]string{"--usage"})
	require.False(t, stop)
	assert.True(t, f.once && f.dryRun, "--usage implies --once --dry-run")
	assert.Equal(t, "sweep", f.only)
	f, stop, _ = c.parseFlags([]string{"--once", "--only", "sweep", "--dry-run", "--usage", "--json"})
	require.False(t, stop)
	assert.True(t, f.usage && f.JSON)
	for _, args := range [][]string{
		{"--usage", "--only", "rotate"},
		{"--usage", "--check"},
		{"--usage", "--metrics-file", "/tmp/x.prom"},
		{"--usage", "--", "sleep", "1"},
	} {
		var stderr strings.Builder
		c := newCommand(&strings.Builder{}, &stderr)
		_, stop, code := c.parseFlags(args)
		assert.True(t, stop, "%v", args)
		assert.Equal(t, 2, code, "%v", args)
		assert.Contains(t, stderr.String(), "--usage", "%v: the error names the flag", args)
	}
}

// TestSweepRootGauges: each root of the last real sweep has its bytes held
// and planned; a root no longer swept drops out; the names pass
// Prometheus' lint (unit last, help given).
func TestSweepRootGauges(t *testing.T) {
	m := newMetrics("")
	t0 := time.Unix(1700000000, 0)
	rep := &cleanup.Report{Roots: []cleanup.RootReport{
		{Root: "/data/hf/hub", HeldBytes: 5 << 30, Bytes: 1 << 30},
		{Root: "/root/.cache/torch", HeldBytes: 4096},
		{Root: "/gone", Missing: true},
	}}
	m.add(runRecord{Task: "sweep", OK: true, Started: t0, Report: rep}, t0)
	out, err := m.render()
	require.NoError(t, err)
	text := string(out)
	assert.Contains(t, text, `tend_sweep_root_bytes{root="/data/hf/hub"} 5.36870912e+09`)
	assert.Contains(t, text, `tend_sweep_root_planned_bytes{root="/data/hf/hub"} 1.073741824e+09`)
	assert.Contains(t, text, `tend_sweep_root_bytes{root="/root/.cache/torch"} 4096`)
	assert.NotContains(t, text, `"/gone"`, "a missing root has no gauge")
	assert.Contains(t, text, "# HELP tend_sweep_root_bytes Bytes on disk")
	for _, n := range []string{"tend_sweep_root_bytes", "tend_sweep_root_planned_bytes"} {
		assert.Contains(t, text, "# TYPE "+n+" gauge\n", "a gauge, its unit last, no _total")
	}

	// The next run sweeps one root (a reloaded config) through the left-out
	// wrapper: the other root's gauges go.
	m.add(runRecord{Task: "sweep", OK: true, Started: t0, Report: &sweepReport{Report: &cleanup.Report{Roots: rep.Roots[1:2]}}}, t0)
	out, err = m.render()
	require.NoError(t, err)
	assert.NotContains(t, string(out), "/data/hf/hub")
	assert.Contains(t, string(out), `tend_sweep_root_bytes{root="/root/.cache/torch"} 4096`)

	// A dry run changes no gauge.
	m.add(runRecord{Task: "sweep", OK: true, DryRun: true, Started: t0, Report: rep}, t0)
	out, _ = m.render()
	assert.NotContains(t, string(out), "/data/hf/hub")
}

// allocated is what the regular files under root allocate on disk, each
// inode once, read here with lstat, independently of tend.
func allocated(t *testing.T, root string) (bytes, files int64) {
	seen := map[uint64]bool{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		require.NoError(t, err)
		if !d.Type().IsRegular() {
			return nil
		}
		var st syscall.Stat_t
		require.NoError(t, syscall.Lstat(p, &st))
		if !seen[st.Ino] {
			seen[st.Ino] = true
			bytes += st.Blocks * 512
			files++
		}
		return nil
	}))
	return bytes, files
}

// runLimited runs tend-cron with env under prlimit (memory, descriptors)
// and a deadline, and returns stdout, stderr and the exit code.
func runLimited(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	prlimit := testenv.LookPath(t, "prlimit", "util-linux")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prlimit, append([]string{"--data=1000000000", "--nofile=1024", tendCron(t)}, args...)...)
	cmd.Env = env
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return so.String(), se.String(), code
}

// TestBinaryUsage runs the real binary's --usage on a synthetic Hugging
// Face hub, a torch cache and a Triton cache (layout entries: each kernel
// hash one unit), all moved by their variables, with a rule
// under ~ left out (HOME unset): the text lists the roots and entries
// largest first, the JSON carries the same numbers (those of `du`, each
// file once) and the rule left out.
func TestBinaryUsage(t *testing.T) {
	dir := t.TempDir()
	hub := filepath.Join(dir, "hf", "hub")
	old := time.Now().Add(-30 * 24 * time.Hour)
	file := func(p string, size int, tm time.Time) {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, make([]byte, size), 0o644))
		require.NoError(t, os.Chtimes(p, tm, tm))
	}
	repo := func(name, blob string, size int, tm time.Time) {
		file(filepath.Join(hub, name, "blobs", blob), size, tm)
		link := filepath.Join(hub, name, "snapshots", "rev1", "model.safetensors")
		require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
		require.NoError(t, os.Symlink("../../blobs/"+blob, link))
		file(filepath.Join(hub, name, "refs", "main"), 0, tm)
		require.NoError(t, os.WriteFile(filepath.Join(hub, name, "refs", "main"), []byte("rev1"), 0o644))
	}
	repo("models--org--llama", "aaa", 3<<20, time.Now())
	repo("models--org--old", "bbb", 1<<20, old)
	repo("datasets--org--small", "ccc", 64<<10, time.Now())
	torch := filepath.Join(dir, "torch")
	file(filepath.Join(torch, "hub", "checkpoints", "resnet.pth"), 2<<20, old)
	file(filepath.Join(torch, "kernels", "k.bin"), 8<<10, time.Now())
	require.NoError(t, os.Link(filepath.Join(torch, "hub", "checkpoints", "resnet.pth"), filepath.Join(torch, "kernels", "same.pth")))
	// Triton: one directory per kernel hash, aged as a unit; oldhash is
	// idle, newhash's kernel was used now (its metadata is old).
	triton := filepath.Join(dir, "triton")
	file(filepath.Join(triton, "oldhash", "kernel.cubin"), 512<<10, old)
	file(filepath.Join(triton, "oldhash", "kernel.json"), 300, old)
	file(filepath.Join(triton, "newhash", "kernel.cubin"), 768<<10, time.Now())
	file(filepath.Join(triton, "newhash", "kernel.json"), 300, old)
	for _, d := range []string{"oldhash", "newhash"} {
		require.NoError(t, os.Chtimes(filepath.Join(triton, d), old, old))
	}
	cfg := filepath.Join(dir, "tend.yaml")
	writeConfig(t, cfg, `sweep:
  rules:
    - cache: huggingface-hub
      older_than: 7d
    - cache: torch
      older_than: 7d
    - path: ~/.cache/mine
      older_than: 7d
    - cache: triton
      older_than: 7d
`)
	hubBytes, hubFiles := allocated(t, hub)
	torchBytes, torchFiles := allocated(t, torch)
	tritonBytes, tritonFiles := allocated(t, triton)
	env := []string{"PATH=" + os.Getenv("PATH"), "HF_HOME=" + filepath.Join(dir, "hf"), "TORCH_HOME=" + torch, "TRITON_CACHE_DIR=" + triton}

	stdout, stderr, code := runLimited(t, env, "--config", cfg, "--usage")
	require.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	assert.Contains(t, stdout, "nothing is changed", "--usage is a dry run")
	assert.NotContains(t, stdout, "plan (in order)")
	lines := strings.Split(stdout, "\n")
	at := func(re string) int {
		for i, l := range lines {
			if regexp.MustCompile(re).MatchString(l) {
				return i
			}
		}
		t.Errorf("no line matches %s in\n%s", re, stdout)
		return -1
	}
	hubLine := at(`^\s+` + regexp.QuoteMeta(hub) + `: \S+ in 6 files, last use \d{4}-\d\d-\d\d; the plan frees 1\.0MiB \(\d+ items\)$`)
	torchLine := at(`^\s+` + regexp.QuoteMeta(torch) + `: \S+ in 2 files, last use .*; the plan frees 2\.0MiB \(2 items\)$`)
	llama := at(`^ +3\.0MiB +2 files  used \d{4}-\d\d-\d\d  frees +0B  models--org--llama$`)
	oldRepo := at(`^ +1\.0MiB +2 files  used \d{4}-\d\d-\d\d  frees +1\.0MiB  models--org--old$`)
	tritonLine := at(`^\s+` + regexp.QuoteMeta(triton) + `: \S+ in 4 files, last use \d{4}-\d\d-\d\d; the plan frees 512\.3KiB \(3 items\)$`)
	newHash := at(`^ +7\d\d\.\dKiB +2 files  used \d{4}-\d\d-\d\d  frees +0B  newhash$`)
	oldHash := at(`^ +51\d\.\dKiB +2 files  used \d{4}-\d\d-\d\d  frees +512\.3KiB  oldhash$`)
	assert.Less(t, hubLine, torchLine, "the bigger root first")
	assert.Less(t, torchLine, tritonLine)
	assert.Less(t, tritonLine, newHash)
	assert.Less(t, newHash, oldHash, "the bigger entry first")
	assert.Less(t, hubLine, llama)
	assert.Less(t, llama, oldRepo, "the bigger entry first")
	assert.Contains(t, stdout, `left out 1 rules: HOME is unset: the home directory is unknown: sweep.rules[2] (~/.cache/mine)`)

	stdout, stderr, code = runLimited(t, env, "--config", cfg, "--usage", "--json")
	require.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	var doc struct {
		DryRun bool `json:"dry_run"`
		Tasks  []struct {
			Task   string `json:"task"`
			Report struct {
				LeftOut []struct{ Field, Rule, Reason string } `json:"left_out"`
				Roots   []cleanup.RootReport                   `json:"roots"`
				Items   []cleanup.Item                         `json:"items"`
			} `json:"report"`
		} `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc), stdout)
	assert.True(t, doc.DryRun)
	require.Len(t, doc.Tasks, 1)
	r := doc.Tasks[0].Report
	require.Len(t, r.LeftOut, 1)
	assert.Equal(t, "sweep.rules[2]", r.LeftOut[0].Field)
	assert.Equal(t, "~/.cache/mine", r.LeftOut[0].Rule)
	assert.Contains(t, r.LeftOut[0].Reason, "HOME is unset")
	require.Len(t, r.Roots, 3)
	assert.Equal(t, hubBytes, r.Roots[0].HeldBytes)
	assert.Equal(t, hubFiles, r.Roots[0].HeldFiles)
	assert.Equal(t, torchBytes, r.Roots[1].HeldBytes, "the hard link counts once")
	assert.Equal(t, torchFiles, r.Roots[1].HeldFiles)
	names := []string{}
	for _, e := range r.Roots[0].Entries {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{"models--org--llama", "models--org--old", "datasets--org--small"}, names)
	// Each entry's planned bytes are the plan's items in it; the hard link
	// counts in the first of its entries by name (hub), the last use in both.
	for _, root := range r.Roots {
		var bytes int64
		for _, e := range root.Entries {
			var want int64
			for _, it := range r.Items {
				if strings.HasPrefix(it.Path, root.Root+"/"+e.Name+"/") {
					want += it.Bytes
				}
			}
			assert.Equal(t, want, e.PlannedBytes, "%s/%s", root.Root, e.Name)
			bytes += e.Bytes
		}
		assert.Equal(t, root.HeldBytes, bytes, "%s: the entries add up to the root", root.Root)
	}
	require.Len(t, r.Roots[1].Entries, 2)
	assert.Equal(t, []string{"hub", "kernels"}, []string{r.Roots[1].Entries[0].Name, r.Roots[1].Entries[1].Name})
	assert.Equal(t, int64(1), r.Roots[1].Entries[1].Files, "kernels: k.bin; same.pth counts in hub")
	assert.Positive(t, r.Roots[0].Entries[1].PlannedBytes, "the old model goes")
	assert.Zero(t, r.Roots[0].Entries[0].PlannedBytes, "the model in use stays")
	assert.NotEmpty(t, r.Items, "--json still lists the plan")
	// Triton's entries are its kernel hashes: the old one planned whole
	// (the directory and its two files), the one in use not at all.
	tr := r.Roots[2]
	assert.Equal(t, triton, tr.Root)
	assert.Equal(t, tritonBytes, tr.HeldBytes, "an entries root counts what it holds")
	assert.Equal(t, tritonFiles, tr.HeldFiles)
	require.Len(t, tr.Entries, 2)
	assert.Equal(t, "newhash", tr.Entries[0].Name)
	assert.Equal(t, int64(2), tr.Entries[0].Files)
	assert.Zero(t, tr.Entries[0].PlannedItems, "a kernel in use keeps its entry whole")
	assert.Equal(t, "oldhash", tr.Entries[1].Name)
	assert.Equal(t, int64(2), tr.Entries[1].Files)
	assert.Equal(t, int64(3), tr.Entries[1].PlannedItems)
	assert.Equal(t, int64(512<<10+300), tr.Entries[1].PlannedBytes)
	assert.Equal(t, tr.Bytes, tr.Entries[1].PlannedBytes)
	assert.True(t, tr.Entries[0].LastUse.After(tr.Entries[1].LastUse))

	// A real run writes each root's gauges: what it held when scanned, what
	// the run planned (and deleted).
	prom := filepath.Join(dir, "tend.prom")
	stdout, stderr, code = runLimited(t, env, "--config", cfg, "--once", "--only", "sweep", "--metrics-file", prom)
	require.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	metrics, err := os.ReadFile(prom)
	require.NoError(t, err)
	for _, root := range r.Roots {
		assert.Regexp(t, `(?m)^tend_sweep_root_bytes\{root="`+regexp.QuoteMeta(root.Root)+`"\} `+regexp.QuoteMeta(promFloat(root.HeldBytes))+`$`, string(metrics))
		assert.Regexp(t, `(?m)^tend_sweep_root_planned_bytes\{root="`+regexp.QuoteMeta(root.Root)+`"\} `+regexp.QuoteMeta(promFloat(root.Bytes))+`$`, string(metrics))
	}
}

// promFloat is n as the text exposition format writes it.
func promFloat(n int64) string { return strconv.FormatFloat(float64(n), 'g', -1, 64) }
