package cleanup_test

import (
	"context"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
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
