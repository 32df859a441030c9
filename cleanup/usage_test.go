package cleanup_test

import (
	"context"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/cleanup"
)

// diskUsage is what `du` would say of root, per entry: the regular files'
// allocated bytes (each inode once), count and newest atime, read here
// independently of the Sweeper.
func diskUsage(t *testing.T, root string) map[string]cleanup.EntryUsage {
	out := map[string]cleanup.EntryUsage{}
	seen := map[uint64]bool{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if !d.Type().IsRegular() {
			return nil
		}
		var st syscall.Stat_t
		require.NoError(t, syscall.Lstat(p, &st))
		if seen[st.Ino] {
			return nil
		}
		seen[st.Ino] = true
		rel, _ := filepath.Rel(root, p)
		name, _, nested := strings.Cut(rel, "/")
		if !nested {
			name = "."
		}
		e := out[name]
		e.Name = name
		e.Bytes += st.Blocks * 512
		e.Size += st.Size
		e.Files++
		if at := time.Unix(st.Atim.Unix()); at.After(e.LastUse) {
			e.LastUse = at
		}
		out[name] = e
		return nil
	}))
	return out
}

// checkUsage compares a root's usage with want (diskUsage before the plan)
// and with its plan: sorted largest first, each entry's planned bytes the
// plan's items in it.
func checkUsage(t *testing.T, root string, want map[string]cleanup.EntryUsage, rr cleanup.RootReport, items []cleanup.Item) {
	t.Helper()
	want = maps.Clone(want)
	planned := map[string][2]int64{}
	for _, it := range items {
		rel, _ := filepath.Rel(root, it.Path)
		name, _, nested := strings.Cut(rel, "/")
		if !nested && it.Type != cleanup.TypeDir {
			name = "."
		}
		planned[name] = [2]int64{planned[name][0] + it.Bytes, planned[name][1] + 1}
	}
	var total cleanup.EntryUsage
	for i, e := range rr.Entries {
		if i > 0 {
			assert.GreaterOrEqual(t, rr.Entries[i-1].Bytes, e.Bytes, "largest first")
		}
		w := want[e.Name]
		assert.Equal(t, w.Bytes, e.Bytes, "%s: bytes", e.Name)
		assert.Equal(t, w.Size, e.Size, "%s: size", e.Name)
		assert.Equal(t, w.Files, e.Files, "%s: files", e.Name)
		assert.True(t, w.LastUse.Equal(e.LastUse), "%s: last use %v, want %v", e.Name, e.LastUse, w.LastUse)
		assert.Equal(t, planned[e.Name][0], e.PlannedBytes, "%s: planned bytes", e.Name)
		assert.Equal(t, planned[e.Name][1], e.PlannedItems, "%s: planned items", e.Name)
		delete(want, e.Name)
		delete(planned, e.Name)
		total.Bytes += e.Bytes
		total.Files += e.Files
	}
	assert.Empty(t, want, "entries missing from the usage")
	assert.Empty(t, planned, "planned items outside every entry")
	assert.Equal(t, total.Bytes, rr.HeldBytes, "the root holds the sum of its entries")
	assert.Equal(t, total.Files, rr.HeldFiles)
}

func TestUsageHuggingFace(t *testing.T) {
	hub := filepath.Join(t.TempDir(), "hub")
	buildHub(t, hub)
	// A big repository: it must come first.
	require.NoError(t, os.MkdirAll(filepath.Join(hub, "datasets--org--big", "blobs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(hub, "datasets--org--big", "blobs", "d1"), make([]byte, 256<<10), 0o644))
	want := diskUsage(t, hub)
	s := &cleanup.Sweeper{Usage: true, Rules: []cleanup.Rule{{Root: hub, Layout: cleanup.LayoutHuggingFace, OlderThan: 7 * 24 * time.Hour}}}
	rep, err := s.Plan(context.Background())
	require.NoError(t, err)
	rr := rep.Roots[0]
	require.NotEmpty(t, rr.Entries)
	assert.Equal(t, "datasets--org--big", rr.Entries[0].Name)
	names := map[string]bool{}
	for _, e := range rr.Entries {
		names[e.Name] = true
	}
	for _, n := range []string{"models--org--bert", "models--org--gone", ".locks", "."} {
		assert.True(t, names[n], "entry %s", n)
	}
	checkUsage(t, hub, want, rr, rep.Items())
	assert.Positive(t, rr.Entries[0].Bytes)
	assert.Equal(t, want, diskUsage(t, hub), "the plan read the refs without touching their atime")
}

func TestUsagePlainHardLinksOnce(t *testing.T) {
	for _, workers := range []int{1, 4} {
		root := t.TempDir()
		mk := osMaker(t)
		for _, e := range []string{"k1", "k2", "k3"} {
			for j, age := range []float64{1, 30} {
				mk.file(filepath.Join(root, e, "sub", string(rune('a'+j))), int64(5000*len(e)*(j+1)), ago(age))
			}
		}
		mk.file(filepath.Join(root, "top.bin"), 9000, ago(30))
		require.NoError(t, os.Link(filepath.Join(root, "k1", "sub", "a"), filepath.Join(root, "k2", "linked")))
		require.NoError(t, os.Link(filepath.Join(root, "k1", "sub", "b"), filepath.Join(root, "k1", "also-b")))
		want := diskUsage(t, root)
		s := &cleanup.Sweeper{Usage: true, Workers: workers, Rules: []cleanup.Rule{{Root: root, OlderThan: 7 * 24 * time.Hour}}}
		rep, err := s.Plan(context.Background())
		require.NoError(t, err)
		rr := rep.Roots[0]
		// A linked inode counts in the first of its entries by name, as du
		// (walking in name order) counts it, however many workers walk.
		checkUsage(t, root, want, rr, rep.Items())
		var files int64
		for _, e := range rr.Entries {
			files += e.Files
		}
		assert.Equal(t, int64(7), rr.HeldFiles, "workers %d: 3x2 files and top.bin, the links once", workers)
		assert.Equal(t, int64(7), files, "workers %d: each inode in one entry", workers)
		var du int64
		for _, e := range want {
			du += e.Bytes
		}
		assert.Equal(t, du, rr.HeldBytes, "workers %d: the root's bytes, each inode once", workers)
		assert.Equal(t, du, sumBytes(rr.Entries), "workers %d: the entries add up to the root", workers)
		assert.Equal(t, ".", entry(rr.Entries, ".").Name, "top.bin makes the entry .")
		assert.Equal(t, int64(9000), entry(rr.Entries, ".").PlannedBytes)
	}
}

// TestUsageWithinCountsInsideOnly: a Within rule's usage is the contents
// of its directories, listed only elsewhere.
func TestUsageWithinCountsInsideOnly(t *testing.T) {
	home := t.TempDir()
	mk := osMaker(t)
	mk.file(filepath.Join(home, "proj", "big.bin"), 1<<20, ago(30))
	mk.file(filepath.Join(home, "other", "data.bin"), 1<<20, ago(30)) // no checkpoints: no entry
	mk.file(filepath.Join(home, "proj", ".ipynb_checkpoints", "nb-checkpoint.ipynb"), 3000, ago(30))
	s := &cleanup.Sweeper{Usage: true, Home: home, Rules: []cleanup.Rule{{Root: home, Within: []string{".ipynb_checkpoints"}, OlderThan: 7 * 24 * time.Hour}}}
	rep, err := s.Plan(context.Background())
	require.NoError(t, err)
	rr := rep.Roots[0]
	require.Len(t, rr.Entries, 1)
	assert.Equal(t, "proj", rr.Entries[0].Name)
	assert.Equal(t, int64(1), rr.Entries[0].Files)
	assert.Equal(t, int64(3000), rr.Entries[0].Size)
	assert.Equal(t, int64(3000), rr.Entries[0].PlannedBytes)
}

func sumBytes(es []cleanup.EntryUsage) int64 {
	var n int64
	for _, e := range es {
		n += e.Bytes
	}
	return n
}

func entry(es []cleanup.EntryUsage, name string) cleanup.EntryUsage {
	for _, e := range es {
		if e.Name == name {
			return e
		}
	}
	return cleanup.EntryUsage{}
}

// buildSizedEntries makes a compile cache under root: each file of files
// (relative path: size) last used days ago, as ages says, and every
// directory timed 30 days ago, after its contents.
func buildSizedEntries(t *testing.T, root string, files map[string]int64, ages map[string]float64) {
	mk := osMaker(t)
	var dirs []string
	for p, size := range files {
		mk.file(filepath.Join(root, p), size, ago(ages[p]))
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			dirs = append(dirs, d)
		}
	}
	slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
	for _, d := range dirs {
		setTimes(t, filepath.Join(root, d), ago(30))
	}
}

// TestUsageEntries: a root of LayoutEntries fills its held totals and, with
// Usage, one entry per child directory (its files lying in the root make
// ".") with du's totals, each inode once, young and held entries read
// whole; the planned figures are those of the entries that go whole. The
// dry run lists what the real run deletes, and both count the same held
// totals, sequentially, in parallel and with a budget.
func TestUsageEntries(t *testing.T) {
	files := map[string]int64{
		"old1/kernel.cubin": 40000, "old1/sub/kernel.json": 300,
		"old2/kernel.so":    90000,
		"young/x/kernel.so": 20000, "young/kernel.json": 500,
		"held/kernel.cubin": 7000, "held/kernel.json": 200,
		"top.bin": 9000,
	}
	ages := map[string]float64{
		"old1/kernel.cubin": 30, "old1/sub/kernel.json": 20, "old2/kernel.so": 40,
		"young/x/kernel.so": 0.2, "young/kernel.json": 30,
		"held/kernel.cubin": 30, "held/kernel.json": 30, "top.bin": 30,
	}
	for _, tc := range []struct {
		name    string
		workers int
		rule    cleanup.Rule
		gone    []string // entries planned whole
	}{
		{"sequential", 1, cleanup.Rule{Layout: cleanup.LayoutEntries, OlderThan: week}, []string{".", "old1", "old2"}},
		{"parallel", 4, cleanup.Rule{Layout: cleanup.LayoutEntries, OlderThan: week}, []string{".", "old1", "old2"}},
		// The budget then takes the least recently used entry left: young
		// (its json is 30 days old, but its kernel was used hours ago)
		// is the newest, the held one stays whatever the budget.
		{"budget", 4, cleanup.Rule{Layout: cleanup.LayoutEntries, OlderThan: week, KeepUnder: 1}, []string{".", "old1", "old2", "young"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "triton")
			buildSizedEntries(t, root, files, ages)
			// A kernel linked into two entries counts once, in the first
			// by name; a young entry holding it keeps its use.
			require.NoError(t, os.Link(filepath.Join(root, "young", "x", "kernel.so"), filepath.Join(root, "held", "linked.so")))
			setTimes(t, filepath.Join(root, "held"), ago(30))
			holdOpen(t, filepath.Join(root, "held", "kernel.cubin"))
			want := diskUsage(t, root)
			// du counts the linked kernel in held alone; young holds a
			// name of it too and takes its use.
			var st syscall.Stat_t
			require.NoError(t, syscall.Lstat(filepath.Join(root, "young", "x", "kernel.so"), &st))
			y := want["young"]
			y.LastUse = time.Unix(st.Atim.Unix())
			want["young"] = y
			rule := tc.rule
			rule.Root = root
			s := &cleanup.Sweeper{Usage: true, Workers: tc.workers, Rules: []cleanup.Rule{rule}}
			plan, err := s.Sweep(context.Background(), true)
			require.NoError(t, err)
			rr := plan.Roots[0]
			checkUsage(t, root, want, rr, plan.Items())
			require.Len(t, rr.Entries, 5, "old1, old2, young, held and .")
			assert.Equal(t, int64(8), rr.HeldFiles, "8 files, the linked one once")
			assert.Equal(t, int64(40000+300+90000+20000+500+7000+200+9000), rr.HeldSize)
			assert.Equal(t, "old2", rr.Entries[0].Name, "largest first")
			assert.Equal(t, int64(3), entry(rr.Entries, "held").Files, "the held entry is read whole, its link included")
			assert.Equal(t, int64(27200), entry(rr.Entries, "held").Size)
			assert.WithinDuration(t, ago(0.2), entry(rr.Entries, "young").LastUse, time.Minute, "young takes the use of its linked kernel")
			assert.Equal(t, int64(1), entry(rr.Entries, "young").Files, "the linked kernel counts in held, before young by name")
			assert.Zero(t, entry(rr.Entries, "held").PlannedItems, "a held entry stays whole")
			var planned []string
			for _, e := range rr.Entries {
				if e.PlannedItems > 0 {
					planned = append(planned, e.Name)
				}
			}
			slices.Sort(planned)
			assert.Equal(t, tc.gone, planned)
			assert.Equal(t, int64(4), entry(rr.Entries, "old1").PlannedItems, "old1, its sub, two files")
			assert.Equal(t, int64(40300), entry(rr.Entries, "old1").PlannedBytes)
			assert.True(t, ago(30).Sub(entry(rr.Entries, "old2").LastUse).Abs() < ago(30).Sub(ago(40))+time.Minute)

			real := &cleanup.Sweeper{Workers: tc.workers, Rules: []cleanup.Rule{rule}}
			rep, err := real.Sweep(context.Background(), false)
			require.NoError(t, err)
			assert.Equal(t, paths(plan.Items()), paths(rep.Items()), "the dry run lists what the real run deletes")
			assert.Equal(t, plan.Bytes, rep.Bytes)
			got := rep.Roots[0]
			assert.Equal(t, [3]int64{rr.HeldBytes, rr.HeldSize, rr.HeldFiles}, [3]int64{got.HeldBytes, got.HeldSize, got.HeldFiles},
				"the real run counts what the root held before it")
			assert.True(t, rr.LastUse.Equal(got.LastUse))
			assert.Empty(t, got.Entries, "usage is a plan's")
			for _, e := range tc.gone {
				if e != "." {
					assert.NoDirExists(t, filepath.Join(root, e))
				}
			}
			assert.FileExists(t, filepath.Join(root, "held", "kernel.json"))
		})
	}
}
