package cleanup_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/cleanup/cleanuptest"
	"github.com/tendkit/tend/internal/fielderr"
	"github.com/tendkit/tend/internal/testenv"
)

const week = 7 * 24 * time.Hour

// TestEntriesPolicy: each child of the root is one unit. A directory goes
// whole (contents first, itself last) when nothing inside was used within
// older_than; one young file, a FIFO, a mount point, an excluded or
// protected path inside keeps it whole. Child files and symlinks are
// single-file entries.
func TestEntriesPolicy(t *testing.T) {
	type ent struct {
		path string
		age  float64
		kind string // "" file, "dir", "link", "fifo", "mount"
	}
	tests := []struct {
		name    string
		ents    []ent
		rule    cleanup.Rule
		protect []string
		want    []string // planned, relative to the root, in order
		skipped map[cleanup.SkipReason]int
	}{
		{
			name: "old entry goes whole, contents first",
			ents: []ent{{"k1/a.so", 30, ""}, {"k1/sub/b.json", 30, ""}, {"k1/sub/c", 20, "link"}, {"k1", 30, "dir"}, {"k1/sub", 30, "dir"}},
			want: []string{"k1/a.so", "k1/sub/b.json", "k1/sub/c", "k1/sub", "k1"},
		},
		{
			name: "a young file deep inside keeps the whole entry",
			ents: []ent{{"k1/a.so", 30, ""}, {"k1/x/y/z/fresh", 0.5, ""}, {"k2/old", 30, ""}},
			want: []string{"k2/old", "k2"},
		},
		{
			name: "a young subdirectory (entry added there) keeps it",
			ents: []ent{{"k1/a.so", 30, ""}, {"k1/sub", 1, "dir"}},
		},
		{
			name:    "special files and mount points are never deleted: their entry stays",
			ents:    []ent{{"k1/a", 30, ""}, {"k1/pipe", 30, "fifo"}, {"k2/a", 30, ""}, {"k2/mnt", 30, "mount"}, {"k3/a", 30, ""}},
			want:    []string{"k3/a", "k3"},
			skipped: map[cleanup.SkipReason]int{cleanup.SkipReasonSpecial: 1, cleanup.SkipReasonMount: 1},
		},
		{
			name:    "excluded and protected paths inside keep their entry",
			ents:    []ent{{"k1/a", 30, ""}, {"k1/x.lock", 30, ""}, {"k2/keep/a", 30, ""}, {"k3/a", 30, ""}, {"k4.lock", 30, ""}},
			rule:    cleanup.Rule{Exclude: []string{"*.lock"}},
			protect: []string{"/c/k2/keep"},
			want:    []string{"k3/a", "k3"},
			skipped: map[cleanup.SkipReason]int{cleanup.SkipReasonExcluded: 2, cleanup.SkipReasonProtected: 1},
		},
		{
			name: "child files and symlinks are single-file entries",
			ents: []ent{{"old.bin", 30, ""}, {"new.bin", 1, ""}, {"oldlink", 30, "link"}, {"newlink", 1, "link"}, {"pipe", 30, "fifo"}},
			want: []string{"old.bin", "oldlink"},
		},
		{
			name: "include selects entries by name",
			ents: []ent{{"triton_a/k", 30, ""}, {"other/k", 30, ""}},
			rule: cleanup.Rule{Include: []string{"triton_*"}},
			want: []string{"triton_a/k", "triton_a"},
		},
		{
			name: "keep_under drops the least recently used entries whole",
			ents: []ent{{"a/f", 3, ""}, {"a/g", 3, ""}, {"b/f", 5, ""}, {"c/f", 1, ""}, {"d", 4, ""}},
			rule: cleanup.Rule{OlderThan: -1, KeepUnder: 250}, // 500 bytes: b (5 days), d (4), a (3) go
			want: []string{"b/f", "b", "d", "a/f", "a/g", "a"},
		},
		{
			name: "an empty old entry goes",
			ents: []ent{{"empty", 30, "dir"}},
			want: []string{"empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cleanuptest.New()
			f.Mkdir("/c", daysAgo(100))
			var dirs []ent
			for _, e := range tt.ents {
				p := "/c/" + e.path
				switch e.kind {
				case "":
					f.WriteFile(p, 100, daysAgo(e.age))
				case "dir":
					dirs = append(dirs, e)
				case "link":
					f.Symlink("/etc", p, daysAgo(e.age))
				case "fifo":
					f.Mkfifo(p, daysAgo(e.age))
				case "mount":
					f.Mount(p, daysAgo(e.age))
				}
			}
			for _, e := range dirs {
				f.Mkdir("/c/"+e.path, daysAgo(e.age))
			}
			rule := tt.rule
			rule.Root, rule.Layout = "/c", cleanup.LayoutEntries
			switch rule.OlderThan {
			case 0:
				rule.OlderThan = week
			case -1:
				rule.OlderThan = 0
			}
			s := fakeSweeper(t, f, rule)
			s.Protect = tt.protect
			plan, err := s.Plan(context.Background())
			require.NoError(t, err)
			var got []string
			for _, p := range paths(plan.Items()) {
				got = append(got, strings.TrimPrefix(p, "/c/"))
			}
			assert.Equal(t, tt.want, got)
			for k, v := range tt.skipped {
				assert.Equal(t, v, plan.Skipped[k], k)
			}
			for _, it := range plan.Items() {
				if rule.KeepUnder > 0 {
					assert.Equal(t, cleanup.ReasonBudget, it.Reason, it.Path)
				} else if strings.Contains(strings.TrimPrefix(it.Path, "/c/"), "/") || it.Type == cleanup.TypeDir {
					assert.Equal(t, cleanup.ReasonEntry, it.Reason, it.Path)
				}
			}
			rep, err := s.Apply(context.Background(), plan)
			require.NoError(t, err)
			assert.Equal(t, plan.Deleted, rep.Deleted)
			for _, p := range tt.want {
				assert.False(t, f.Exists("/c/"+p), "%s deleted", p)
			}
		})
	}
}

// TestEntriesCapKeepsEntriesWhole: max_deletions never cuts an entry in
// half: an entry that does not fit under the cap stays whole.
func TestEntriesCapKeepsEntriesWhole(t *testing.T) {
	f := cleanuptest.New()
	for _, p := range []string{"/c/a/1", "/c/a/2", "/c/b/1", "/c/b/2", "/c/b/3", "/c/c/1"} {
		f.WriteFile(p, 10, daysAgo(30))
	}
	s := fakeSweeper(t, f, cleanup.Rule{Root: "/c", Layout: cleanup.LayoutEntries, OlderThan: week})
	s.MaxDeletions = 5
	rep, err := s.Sweep(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, []string{"/c/a/1", "/c/a/2", "/c/a", "/c/c/1", "/c/c"}, paths(rep.Items()))
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonCap])
	assert.True(t, f.Exists("/c/b/1") && f.Exists("/c/b/2") && f.Exists("/c/b/3"), "b stays whole")
}

// buildEntries makes a Triton-like cache under root: one directory per
// kernel hash with its files, each of the given age (days), directories
// timed after their contents.
func buildEntries(t *testing.T, root string, ages map[string]float64) {
	mk := osMaker(t)
	var dirs []string
	for p, age := range ages {
		mk.file(filepath.Join(root, p), 64, ago(age))
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			dirs = append(dirs, d)
		}
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		setTimes(t, filepath.Join(root, d), ago(30))
	}
}

// entriesSweep runs a dry run and a real run and checks that they list
// the same items, count and bytes, and that the real run removed exactly
// what it lists; it returns the real run and what went (relative).
func entriesSweep(t *testing.T, rule cleanup.Rule) (*cleanup.Report, []string) {
	before := tree(t, rule.Root)
	s := &cleanup.Sweeper{Rules: []cleanup.Rule{rule}}
	plan, err := s.Sweep(context.Background(), true)
	require.NoError(t, err)
	rep, err := s.Sweep(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, paths(plan.Items()), paths(rep.Items()), "the dry run lists what the real run deletes, in order")
	assert.Equal(t, plan.Deleted, rep.Deleted)
	assert.Equal(t, plan.Bytes, rep.Bytes)
	removed := gone(before, tree(t, rule.Root))
	var listed []string
	for _, p := range paths(rep.Items()) {
		listed = append(listed, strings.TrimPrefix(p, rule.Root+"/"))
	}
	sort.Strings(listed)
	assert.Equal(t, removed, listed, "the report lists exactly what went")
	return rep, removed
}

// TestEntriesRealRun on a real file system: an old entry with a file a
// process holds open stays whole, so does one with a file locked and one
// with a young file deep inside; a symlink inside an old entry goes as a
// link (its target outside stays); the dry run lists exactly what the
// real run deletes.
func TestEntriesRealRun(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "triton"), filepath.Join(base, "outside")
	osMaker(t).file(filepath.Join(outside, "precious"), 10, ago(100))
	buildEntries(t, root, map[string]float64{
		"aaa/kernel.cubin": 30, "aaa/kernel.json": 30, "aaa/__grp__kernel.json": 30,
		"held/kernel.cubin": 30, "held/kernel.json": 30,
		"locked/kernel.cubin": 30, "locked/kernel.json": 30,
		"young/x/y/z/kernel.so": 0.2, "young/kernel.json": 30,
		"zzz/sub/kernel.so": 30,
	})
	ln := filepath.Join(root, "zzz", "out")
	require.NoError(t, os.Symlink(outside, ln))
	setTimes(t, ln, ago(30))
	setTimes(t, filepath.Join(root, "zzz"), ago(30))
	holdOpen(t, filepath.Join(root, "held/kernel.cubin"))
	holdLock(t, filepath.Join(root, "locked/kernel.json"))

	rep, removed := entriesSweep(t, cleanup.Rule{Root: root, Layout: cleanup.LayoutEntries, OlderThan: week})
	assert.Equal(t, []string{"aaa", "aaa/__grp__kernel.json", "aaa/kernel.cubin", "aaa/kernel.json",
		"zzz", "zzz/out", "zzz/sub", "zzz/sub/kernel.so"}, removed)
	assert.Equal(t, 2, rep.Skipped[cleanup.SkipReasonHeldEntry], "the held and the locked entry stay whole")
	assert.FileExists(t, filepath.Join(outside, "precious"), "a symlink is never followed")
	for _, p := range []string{"held/kernel.json", "locked/kernel.cubin", "young/kernel.json"} {
		assert.FileExists(t, filepath.Join(root, p))
	}
}

// TestEntriesBindMount: a bind mount of the same file system (same
// st_dev) inside an old entry is found through mountinfo: the entry stays
// whole and nothing behind the mount is touched.
func TestEntriesBindMount(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "mount --bind needs root (run the tests as root)")
	}
	base := t.TempDir()
	root, outside := filepath.Join(base, "cache"), filepath.Join(base, "outside")
	mk := osMaker(t)
	mk.file(filepath.Join(outside, "precious"), 10, ago(100))
	buildEntries(t, root, map[string]float64{"k1/a": 30, "k1/m/x": 30, "k2/a": 30})
	mnt := filepath.Join(root, "k1", "m")
	mountCmd := testenv.LookPath(t, "mount", "mount")
	if out, err := exec.Command(mountCmd, "--bind", outside, mnt).CombinedOutput(); err != nil {
		testenv.Missing(t, "mount --bind not permitted here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	setTimes(t, filepath.Join(root, "k1"), ago(30))
	var a, b unix.Stat_t
	require.NoError(t, unix.Stat(mnt, &a))
	require.NoError(t, unix.Stat(root, &b))
	require.Equal(t, b.Dev, a.Dev, "a same-file-system bind mount: st_dev cannot tell")

	rep, removed := entriesSweep(t, cleanup.Rule{Root: root, Layout: cleanup.LayoutEntries, OlderThan: week})
	assert.Equal(t, []string{"k2", "k2/a"}, removed)
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonMount])
	assert.FileExists(t, filepath.Join(outside, "precious"))
	assert.FileExists(t, filepath.Join(root, "k1/a"))
}

func TestRuleValidateLayoutFields(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name   string
		rule   cleanup.Rule
		fields []string
	}{
		{"entries", cleanup.Rule{Root: "/c", OlderThan: day, Layout: cleanup.LayoutEntries}, nil},
		{"keep_refs", cleanup.Rule{Root: "/c", OlderThan: day, Layout: cleanup.LayoutHuggingFace, KeepRefs: []string{"main", "pr/1", "v1.0"}}, nil},
		{"keep_refs without huggingface", cleanup.Rule{Root: "/c", OlderThan: day, KeepRefs: []string{"main"}}, []string{"keep_refs"}},
		{"bad ref names", cleanup.Rule{Root: "/c", OlderThan: day, Layout: cleanup.LayoutHuggingFace,
			KeepRefs: []string{"", "a..b", "/main", "x.lock", "a b", "ma*n", ".hidden", "a//b", "@", "x@{1}", "end."}},
			[]string{"keep_refs[0]", "keep_refs[1]", "keep_refs[2]", "keep_refs[3]", "keep_refs[4]", "keep_refs[5]",
				"keep_refs[6]", "keep_refs[7]", "keep_refs[8]", "keep_refs[9]", "keep_refs[10]"}},
		{"within with entries", cleanup.Rule{Root: "/c", OlderThan: day, Layout: cleanup.LayoutEntries, Within: []string{"x"}}, []string{"within"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rule.Validate()
			if tt.fields == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.fields, fielderr.Fields(err))
			assert.ErrorIs(t, err, cleanup.ErrBadRule)
		})
	}
}
