package cleanup_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/cleanup"
)

// The differential property test: for random trees from a seed, the dry
// run's plan = the oracle's = what a real run removed (the tree before and
// after) = what it logged (each deletion once, with its real path) = its
// JSON items; with Workers 1, 2 and 16; as root and as nobody; and, with
// directories vanishing or swapped for symlinks during the walk, nothing
// outside the root or protected removed, no crash, no error. Every sweep
// runs in a re-executed child of this test binary under RLIMIT_AS,
// RLIMIT_NOFILE and a deadline, so a regression (a loop, a leak) fails the
// test instead of taking the machine down.

const (
	propChildEnv = "TEND_PROP_CHILD"
	propMemLimit = 1 << 30 // RLIMIT_AS of a child sweep
	propNoFile   = 1024    // RLIMIT_NOFILE of a child sweep
	propDeadline = 2 * time.Minute
)

// propChildCfg is what a child sweep does; it travels gob-encoded in the
// environment.
type propChildCfg struct {
	Rules   []cleanup.Rule
	Protect []string
	Workers int
	Dry     bool
	// Hook, when set, is the outside directory of a hookFS: directories
	// vanish and are swapped for symlinks to it during the walk.
	Hook string
	// Spare are names the hook never touches.
	Spare []string
}

func init() {
	// Before TestMain: a child sweep never runs the tests.
	if c := os.Getenv(propChildEnv); c != "" {
		os.Exit(runPropChild(c))
	}
}

// runPropChild sweeps as cfg says under the limits, prints the report as
// JSON on stdout and logs every deletion as JSON on stderr.
func runPropChild(c string) int {
	var cfg propChildCfg
	raw, err := base64.StdEncoding.DecodeString(c)
	if err == nil {
		err = gob.NewDecoder(bytes.NewReader(raw)).Decode(&cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad child config:", err)
		return 3
	}
	// The address space may grow by propMemLimit past what the runtime
	// has reserved at start (its arenas and thread stacks are address
	// space, not memory).
	for res, v := range map[int]uint64{unix.RLIMIT_AS: vmSize() + propMemLimit, unix.RLIMIT_NOFILE: propNoFile} {
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: v, Max: v}); err != nil {
			fmt.Fprintln(os.Stderr, "setrlimit:", err)
			return 3
		}
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := &cleanup.Sweeper{Rules: cfg.Rules, Protect: cfg.Protect, Workers: cfg.Workers, ReportItems: -1, Logger: log}
	var h *hookFS
	if cfg.Hook != "" {
		h = &hookFS{inner: cleanup.OS(), outside: cfg.Hook, spare: map[string]bool{}}
		for _, n := range cfg.Spare {
			h.spare[n] = true
		}
		defer func() {
			log.Info("hook", "vanished", h.vanished.Load(), "swapped", h.swapped.Load())
		}()
		s.FS = h
	}
	ctx, cancel := context.WithTimeout(context.Background(), propDeadline)
	defer cancel()
	rep, _ := s.Sweep(ctx, cfg.Dry)
	w := bufio.NewWriter(os.Stdout)
	if err := json.NewEncoder(w).Encode(rep); err != nil {
		fmt.Fprintln(os.Stderr, "encode report:", err)
		return 3
	}
	w.Flush()
	return 0
}

// vmSize is this process's address space now (VmSize), in bytes.
func vmSize() uint64 {
	data, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmSize:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// childResult is what a child sweep reported and logged.
type childResult struct {
	Items   []cleanup.Item             `json:"items"`
	Errors  []string                   `json:"errors"`
	Deleted int                        `json:"deleted"`
	Bytes   int64                      `json:"bytes"`
	Skipped map[cleanup.SkipReason]int `json:"skipped"`
	// Logged are the paths of the "deleted" log records, in order.
	Logged []string `json:"-"`
	// Vanished and Swapped count what a hook FS did.
	Vanished, Swapped int `json:"-"`
}

// propBinary returns a copy of this test binary that nobody may run.
var propBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tend-prop-bin")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "cleanup.test")
	return bin, os.WriteFile(bin, self, 0o755)
})

// runChild runs one sweep in a child process, as nobody when asNobody.
func runChild(t testing.TB, cfg propChildCfg, asNobody bool) childResult {
	t.Helper()
	// gob, not JSON: a protected path need not be UTF-8.
	var c bytes.Buffer
	require.NoError(t, gob.NewEncoder(&c).Encode(cfg))
	ctx, cancel := context.WithTimeout(context.Background(), propDeadline+30*time.Second)
	defer cancel()
	bin := os.Args[0]
	var attr *syscall.SysProcAttr
	if asNobody {
		var err error
		bin, err = propBinary()
		require.NoError(t, err)
		attr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	cmd := exec.CommandContext(ctx, bin, "-test.run=^$")
	cmd.SysProcAttr = attr
	cmd.Env = append(os.Environ(), propChildEnv+"="+base64.StdEncoding.EncodeToString(c.Bytes()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("child sweep (workers %d, dry %v) ran past its deadline: %s", cfg.Workers, cfg.Dry, outTail(stderr.String()))
	}
	require.NoError(t, err, "child sweep (workers %d, dry %v) failed: %s", cfg.Workers, cfg.Dry, outTail(stderr.String()))
	var res childResult
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), "report: %s", outTail(stdout.String()))
	for line := range bytes.Lines(stderr.Bytes()) {
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		if rec["msg"] == "hook" {
			v, _ := rec["vanished"].(float64)
			w, _ := rec["swapped"].(float64)
			res.Vanished, res.Swapped = int(v), int(w)
		}
		if rec["msg"] != "deleted" {
			continue
		}
		res.Logged = append(res.Logged, loggedPath(rec))
	}
	return res
}

// loggedPath is the path of a deletion record: its raw bytes when the
// record carries them (a name that is not UTF-8), else its path.
func loggedPath(rec map[string]any) string {
	if b64, ok := rec["path_b64"].(string); ok {
		if raw, err := base64.StdEncoding.DecodeString(b64); err == nil {
			return string(raw)
		}
	}
	p, _ := rec["path"].(string)
	return p
}

func outTail(s string) string {
	if len(s) > 4000 {
		return s[:2500] + "\n...\n" + s[len(s)-1500:]
	}
	return s
}

// propBase makes the test's base directory, searchable by nobody.
func propBase(t testing.TB) string {
	base := t.TempDir()
	for p := base; p != "/"; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
			require.NoError(t, os.Chmod(p, st.Mode().Perm()|0o011))
		}
	}
	return base
}

// makeOutside fills the directory next to the roots that symlinks point
// at: everything in it is old and must survive every sweep.
func makeOutside(t testing.TB, outside string, now time.Time) *snode {
	require.NoError(t, os.MkdirAll(filepath.Join(outside, "sub"), 0o755))
	for i := range 5 {
		p := filepath.Join(outside, fmt.Sprintf("precious%d", i))
		require.NoError(t, os.WriteFile(p, []byte("keep"), 0o644))
		require.NoError(t, os.Chtimes(p, now.Add(-400*24*time.Hour), now.Add(-400*24*time.Hour)))
	}
	return snapshot(t, outside)
}

// relPaths strips root from items' or logged paths.
func relPaths(root string, ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = strings.TrimPrefix(p, root+"/")
	}
	return out
}

func itemPaths(items []cleanup.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Path
	}
	return out
}

// sameList fails t with the first differences of two ordered lists (a
// full diff of thousands of paths says nothing).
func sameList(t testing.TB, what string, want, got []string) bool {
	t.Helper()
	if slices.Equal(want, got) {
		return true
	}
	var diffs []string
	for i := 0; i < max(len(want), len(got)) && len(diffs) < 8; i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			diffs = append(diffs, fmt.Sprintf("  [%d] want %q, got %q", i, w, g))
		}
	}
	t.Errorf("%s: want %d paths, got %d; first differences:\n%s", what, len(want), len(got), strings.Join(diffs, "\n"))
	return false
}

func sorted(ps []string) []string {
	out := slices.Clone(ps)
	slices.Sort(out)
	return out
}

// checkRun checks one real run against the plan it should carry out: it
// removed exactly plan (as a set; nothing else changed), listed it in
// plan's order in its JSON items, and logged each deletion exactly once,
// with its real path.
func checkRun(t testing.TB, root string, plan []string, before map[string]bool, res childResult) {
	t.Helper()
	after := snapshot(t, root).flatten()
	for p := range after {
		if !before[p] {
			t.Errorf("appeared during the sweep: %q", p)
		}
	}
	sameList(t, "removed from the tree", sorted(plan), gone(before, after))
	sameList(t, "JSON items of the real run", plan, relPaths(root, itemPaths(res.Items)))
	sameList(t, "log records of the real run (each deletion once, its real path)", sorted(plan), sorted(relPaths(root, res.Logged)))
	assert.Equal(t, len(plan), res.Deleted, "the report's count")
}

// holdFirstOld opens the first old regular file of the tree (in name
// order) and keeps it open until the test ends: the oracle keeps it.
func holdFirstOld(t testing.TB, root string, snap *snode, c *oracleCfg) {
	var found *snode
	walkSnap(snap, func(n *snode) {
		if found == nil && n.st.Mode&unix.S_IFMT == unix.S_IFREG && c.old(&n.st) && n.st.Nlink == 1 && len(n.rel) < 1000 {
			found = n
		}
	})
	if found == nil {
		return
	}
	f, err := os.Open(filepath.Join(root, found.rel))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	c.held[[2]uint64{found.st.Dev, found.st.Ino}] = true
}

// propRule is the plain rule of every generated root.
func propRule(root string) cleanup.Rule {
	return cleanup.Rule{Root: root, OlderThan: propThreshold, Age: cleanup.AgeBasisMtime, Exclude: []string{"*.keep"}}
}

// protectOf picks a directory of the description to protect: the first
// random one at the top.
func protectOf(desc *gnode) string {
	for _, k := range desc.kids {
		if k.kind == gDir && strings.HasPrefix(k.name, "d") {
			return k.name
		}
	}
	return ""
}

// plainCase builds the seed's plain tree under root (given to nobody when
// asNobody) and returns the oracle's settings, the rule, the protected
// path and the snapshot the oracle reads: odd seeds age by atime as root,
// and as root the first old file is held open.
func plainCase(t *testing.T, root string, g *gen, seed uint64, now time.Time, asNobody bool) (*oracleCfg, cleanup.Rule, []string, *snode) {
	desc := g.plainTree()
	if asNobody {
		g.unprivileged(desc)
	}
	makeTree(t, root, desc, now)
	c := &oracleCfg{cutoff: now.Add(-propThreshold).UnixNano(), exclude: "*.keep", protect: map[string]bool{}, held: map[[2]uint64]bool{}}
	var protect []string
	if p := protectOf(desc); p != "" {
		c.protect[p] = true
		protect = []string{filepath.Join(root, p)}
	}
	rule := propRule(root)
	if asNobody {
		c.uid, c.gid = 65534, 65534
	} else if seed%2 == 1 {
		// As root the sweep reads directories with O_NOATIME, so
		// ageing by atime is as exact as by mtime. (As nobody it may
		// not use O_NOATIME on others' directories: reading them
		// refreshes their atime, and a dry run would change the real
		// run's outcome.)
		rule.Age, c.atime = cleanup.AgeBasisAtime, true
	}
	snap := snapshot(t, root)
	if !asNobody {
		// nobody cannot see what root's processes hold open.
		holdFirstOld(t, root, snap, c)
	}
	return c, rule, protect, snap
}

// checkPlain builds the seed's plain tree and checks dry run = oracle =
// real run = log = JSON with the given worker counts, as root or nobody.
func checkPlain(t *testing.T, seed uint64, opts genOpts, workers []int, asNobody bool) {
	base := propBase(t)
	now := time.Now()
	outside := filepath.Join(base, "outside")
	outSnap := makeOutside(t, outside, now)
	for _, w := range workers {
		root := filepath.Join(base, fmt.Sprintf("w%d", w))
		c, rule, protect, snap := plainCase(t, root, newGen(seed, opts, outside), seed, now, asNobody)
		want := plainOracle(snap, c)
		cfg := propChildCfg{Rules: []cleanup.Rule{rule}, Protect: protect, Workers: w, Dry: true}
		dry := runChild(t, cfg, asNobody)
		ok := sameList(t, fmt.Sprintf("seed %d workers %d nobody %v: dry run vs oracle", seed, w, asNobody), want, relPaths(root, itemPaths(dry.Items)))
		if !asNobody {
			assert.Empty(t, dry.Errors, "seed %d workers %d: dry run errors", seed, w)
		}
		cfg.Dry = false
		real := runChild(t, cfg, asNobody)
		checkRun(t, root, want, snap.flatten(), real)
		assert.Equal(t, dry.Errors, real.Errors, "the dry run names the errors the real run meets")
		if !asNobody {
			assert.Empty(t, real.Errors, "seed %d workers %d: real run errors", seed, w)
		}
		t.Logf("seed %d workers %d nobody %v: %d entries, %d planned by the oracle, %d by the dry run, %d errors", seed, w, asNobody, len(snap.flatten()), len(want), len(dry.Items), len(dry.Errors))
		_ = ok
	}
	sameList(t, "outside the roots", sorted(keys(outSnap.flatten())), sorted(keys(snapshot(t, outside).flatten())))
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkHub builds the seed's hub tree and checks dry run = real run and
// both = the oracle (as a set; the order is the layout's own).
func checkHub(t *testing.T, seed uint64, opts genOpts, asNobody bool) {
	base := propBase(t)
	now := time.Now()
	root := filepath.Join(base, "hub")
	g := newGen(seed, opts, filepath.Join(base, "outside"))
	desc := g.hubTree()
	if asNobody {
		g.unprivileged(desc)
	}
	makeTree(t, root, desc, now)
	c := &oracleCfg{cutoff: now.Add(-propThreshold).UnixNano(), protect: map[string]bool{}, held: map[[2]uint64]bool{}}
	snap := snapshotData(t, root, true)
	if asNobody {
		c.uid, c.gid = 65534, 65534
	} else {
		holdFirstOld(t, root, snap, c)
	}
	want := sorted(keys(hubOracle(snap, c)))
	rule := cleanup.Rule{Root: root, Layout: cleanup.LayoutHuggingFace, OlderThan: propThreshold, Age: cleanup.AgeBasisMtime}
	cfg := propChildCfg{Rules: []cleanup.Rule{rule}, Workers: 16, Dry: true}
	dry := runChild(t, cfg, asNobody)
	plan := relPaths(root, itemPaths(dry.Items))
	sameList(t, fmt.Sprintf("seed %d hub nobody %v: dry run vs oracle", seed, asNobody), want, sorted(plan))
	t.Logf("seed %d hub nobody %v: %d entries, %d planned, %d errors (not permitted, unreadable)", seed, asNobody, len(snap.flatten()), len(plan), len(dry.Errors))
	cfg.Dry = false
	real := runChild(t, cfg, asNobody)
	checkRun(t, root, plan, snap.flatten(), real)
	assert.Equal(t, dry.Errors, real.Errors, "the dry run names the errors the real run meets")
	if !asNobody {
		assert.Empty(t, real.Errors)
	}
}

// checkRace sweeps the seed's plain tree while a goroutine keeps swapping
// top directories for symlinks to the outside directory and back, and
// removes others: nothing outside the root or protected may go, the child
// must not crash, and nothing but "gone" may be an error (a vanished
// directory is not one).
func checkRace(t *testing.T, seed uint64, opts genOpts, workers int, hook, hub bool) {
	base := propBase(t)
	now := time.Now()
	outside := filepath.Join(base, "outside")
	outSnap := makeOutside(t, outside, now)
	root := filepath.Join(base, "race")
	g := newGen(seed, opts, outside)
	desc, rule := g.plainTree, propRule(root)
	if hub {
		desc, rule = g.hubTree, cleanup.Rule{Root: root, Layout: cleanup.LayoutHuggingFace, OlderThan: propThreshold, Age: cleanup.AgeBasisMtime}
	}
	tree := desc()
	makeTree(t, root, tree, now)
	prot := protectOf(tree)
	var protected []string
	var swap, vanish []string
	for i, k := range tree.kids {
		if k.kind != gDir || k.name == prot {
			continue
		}
		if i%2 == 0 {
			swap = append(swap, k.name)
		} else {
			vanish = append(vanish, k.name)
		}
	}
	if prot != "" {
		for p := range snapshot(t, filepath.Join(root, prot)).flatten() {
			protected = append(protected, filepath.Join(root, prot, p))
		}
	}
	var stop atomic.Bool
	var swaps atomic.Int64
	var wg sync.WaitGroup
	if hook {
		// Deterministic: the hook FS acts inside the child's walk.
		swap, vanish = nil, nil
	}
	wg.Add(2)
	go func() { // swap directories for symlinks to outside, and back
		defer wg.Done()
		for !stop.Load() {
			for _, name := range swap {
				p, aside := filepath.Join(root, name), filepath.Join(root, name+".aside")
				if os.Rename(p, aside) == nil {
					os.Symlink(outside, p)
					time.Sleep(50 * time.Microsecond)
					os.Remove(p)
					os.Rename(aside, p)
					swaps.Add(1)
				}
			}
		}
	}()
	go func() { // directories vanish, one by one
		defer wg.Done()
		for _, name := range vanish {
			if stop.Load() {
				return
			}
			time.Sleep(2 * time.Millisecond)
			os.RemoveAll(filepath.Join(root, name)) // never a symlink: vanish dirs are not swapped
		}
	}()
	cfg := propChildCfg{Rules: []cleanup.Rule{rule}, Workers: workers}
	if prot != "" {
		cfg.Protect = []string{filepath.Join(root, prot)}
		cfg.Spare = []string{prot}
	}
	if hook {
		cfg.Hook = outside
	}
	res := runChild(t, cfg, false)
	stop.Store(true)
	wg.Wait()
	if hook {
		t.Logf("seed %d workers %d: %d deleted; the hook made %d directories vanish after they were opened and swapped %d for symlinks after they were listed", seed, workers, res.Deleted, res.Vanished, res.Swapped)
		assert.Positive(t, res.Vanished+res.Swapped, "the hook acted")
	} else {
		t.Logf("seed %d workers %d: %d deleted during %d swaps", seed, workers, res.Deleted, swaps.Load())
	}
	for _, e := range res.Errors {
		if !errors.Is(errFromText(e), syscall.ENOENT) {
			t.Errorf("an error other than gone: %s", e)
		} else {
			t.Errorf("a vanished entry reported as an error (gone is not a failure): %s", e)
		}
	}
	for _, p := range res.Logged {
		assert.True(t, strings.HasPrefix(p, root+"/"), "deleted outside the root: %q", p)
	}
	sameList(t, "logged = JSON items", sorted(itemPaths(res.Items)), sorted(res.Logged))
	sameList(t, "outside the root", sorted(keys(outSnap.flatten())), sorted(keys(snapshot(t, outside).flatten())))
	for _, p := range protected {
		_, err := os.Lstat(p)
		assert.NoError(t, err, "protected path removed: %q", p)
	}
}

// errFromText maps an error message back to the errno it ends with.
func errFromText(s string) error {
	if strings.HasSuffix(s, syscall.ENOENT.Error()) {
		return syscall.ENOENT
	}
	return errors.New(s)
}

// propSeeds are the seeds CI runs; -long runs more.
func propSeeds() []uint64 {
	if propertyLong() {
		out := make([]uint64, 8)
		for i := range out {
			out[i] = uint64(i + 1)
		}
		return out
	}
	if testing.Short() {
		return []uint64{3}
	}
	return []uint64{1, 2, 3}
}

// TestPropertySweep is the differential property test over the fixed
// seeds: as root with Workers 1, 2 and 16, the hub layout, as nobody, and
// racing vanishing and swapped directories. The cases run in parallel
// (each in its own directories, its sweeps in child processes).
func TestPropertySweep(t *testing.T) {
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t)
		})
	}
	for _, seed := range propSeeds() {
		opts := defaultGenOpts(seed)
		run(fmt.Sprintf("seed=%d/root", seed), func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("as an ordinary user: see the nobody case")
			}
			checkPlain(t, seed, opts, []int{1, 2, 16}, false)
		})
		run(fmt.Sprintf("seed=%d/hub", seed), func(t *testing.T) { checkHub(t, seed, opts, false) })
		run(fmt.Sprintf("seed=%d/entries", seed), func(t *testing.T) { checkEntries(t, seed, opts, false) })
		run(fmt.Sprintf("seed=%d/entries/nobody", seed), func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("sweeping as nobody needs root to switch users (syscall.Credential)")
			}
			checkEntries(t, seed, opts, true)
		})
		run(fmt.Sprintf("seed=%d/hub/nobody", seed), func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("sweeping as nobody needs root to switch users (syscall.Credential)")
			}
			checkHub(t, seed, opts, true)
		})
		run(fmt.Sprintf("seed=%d/nobody", seed), func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("sweeping as nobody needs root to switch users (syscall.Credential)")
			}
			checkPlain(t, seed, opts, []int{2, 16}, true)
		})
		for _, w := range []int{1, 16} {
			run(fmt.Sprintf("seed=%d/race/workers=%d", seed, w), func(t *testing.T) { checkRace(t, seed, opts, w, false, false) })
			run(fmt.Sprintf("seed=%d/hook/workers=%d", seed, w), func(t *testing.T) { checkRace(t, seed, opts, w, true, false) })
		}
		run(fmt.Sprintf("seed=%d/hub/race", seed), func(t *testing.T) { checkRace(t, seed, opts, 16, false, true) })
		run(fmt.Sprintf("seed=%d/hub/hook", seed), func(t *testing.T) { checkRace(t, seed, opts, 16, true, true) })
	}
}

// FuzzPropertySweep explores seeds of the generator: a small tree, a dry
// run and a real run against the oracle, with the seed's worker count.
func FuzzPropertySweep(f *testing.F) {
	for _, s := range []uint64{1, 2, 3, 7, 11} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		if os.Geteuid() != 0 {
			t.Skip("the generator makes sockets, FIFOs and owners: run as root")
		}
		opts := genOpts{flat: 30, deep: 20 + int(seed%60), wide: 40 + int(seed%100)}
		checkPlain(t, seed, opts, []int{[]int{1, 2, 16}[seed%3]}, false)
	})
}
