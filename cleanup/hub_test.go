package cleanup_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/cleanup/cleanuptest"
	"github.com/tendkit/tend/internal/testenv"
	"golang.org/x/sys/unix"
)

// buildHub makes a realistic hub cache: blobs, snapshots with relative
// symlinks (one nested), refs, partial downloads and download locks.
func buildHub(t *testing.T, hub string) {
	mk := osMaker(t)
	blob := func(repo, name string, age float64) {
		mk.file(filepath.Join(hub, repo, "blobs", name), 100, ago(age))
	}
	link := func(repo, rev, rel, blobName string) {
		p := filepath.Join(hub, repo, "snapshots", rev, rel)
		up := strings.Repeat("../", strings.Count(rel, "/")+2)
		mk.symlink(up+"blobs/"+blobName, p, ago(30))
	}
	ref := func(repo, name, rev string) {
		p := filepath.Join(hub, repo, "refs", name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(rev), 0o644))
	}
	bert := "models--org--bert"
	blob(bert, "b1", 30) // shared by both revisions
	blob(bert, "b2", 30)
	blob(bert, "b3", 1)
	blob(bert, "b4", 30)
	blob(bert, "b9.incomplete", 30)
	blob(bert, "b8.incomplete", 0.1)
	link(bert, "rev_old", "config.json", "b1")
	link(bert, "rev_old", "model.safetensors", "b2")
	link(bert, "rev_new", "config.json", "b1")
	link(bert, "rev_new", "model.safetensors", "b3")
	link(bert, "rev_new", "onnx/model.onnx", "b4")
	ref(bert, "main", "rev_new")
	ref(bert, "old-branch", "rev_old")
	gone := "models--org--gone"
	blob(gone, "g1", 40)
	link(gone, "r1", "w.bin", "g1")
	ref(gone, "main", "r1")
	held := "models--org--held"
	blob(held, "h1", 40)
	link(held, "r1", "w.bin", "h1")
	mk.file(filepath.Join(hub, ".locks", bert, "b2.lock"), 0, ago(30))
	mk.file(filepath.Join(hub, ".locks", bert, "b1.lock"), 0, ago(30))
	mk.file(filepath.Join(hub, "version.txt"), 1, ago(100))
}

func TestHuggingFaceLayout(t *testing.T) {
	hub := filepath.Join(t.TempDir(), "hub")
	buildHub(t, hub)
	holdOpen(t, filepath.Join(hub, "models--org--held/blobs/h1"))
	holdLock(t, filepath.Join(hub, ".locks/models--org--bert/b2.lock"))
	before := tree(t, hub)

	s := &cleanup.Sweeper{Rules: []cleanup.Rule{{Root: hub, Layout: cleanup.LayoutHuggingFace, OlderThan: 7 * 24 * time.Hour}}}
	plan, err := s.Sweep(context.Background(), true)
	require.NoError(t, err)
	rep, err := s.Sweep(context.Background(), false)
	require.NoError(t, err)
	rel := func(items []cleanup.Item) []string {
		var out []string
		for _, it := range items {
			out = append(out, strings.TrimPrefix(it.Path, hub+"/"))
		}
		return out
	}
	assert.Equal(t, rel(plan.Items()), rel(rep.Items()), "the dry run lists what the real run deletes, in order")

	want := []string{
		".locks/models--org--bert/b1.lock",
		"models--org--bert/blobs/b2",
		"models--org--bert/blobs/b9.incomplete",
		"models--org--bert/refs/old-branch",
		"models--org--bert/snapshots/rev_old",
		"models--org--bert/snapshots/rev_old/config.json",
		"models--org--bert/snapshots/rev_old/model.safetensors",
		"models--org--gone",
		"models--org--gone/blobs",
		"models--org--gone/blobs/g1",
		"models--org--gone/refs",
		"models--org--gone/refs/main",
		"models--org--gone/snapshots",
		"models--org--gone/snapshots/r1",
		"models--org--gone/snapshots/r1/w.bin",
	}
	assert.Equal(t, want, gone(before, tree(t, hub)))
	got := rel(rep.Items())
	sort.Strings(got)
	assert.Equal(t, want, got)
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonHeldRev], "a revision with a blob held open stays")
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonLocked], "a held .lock stays")
	// Every snapshot link left still resolves: no kept revision lost a blob.
	require.NoError(t, filepath.Walk(hub, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode()&os.ModeSymlink != 0 {
			_, serr := os.Stat(p)
			assert.NoError(t, serr, "dangling %s", p)
		}
		return err
	}))
}

// TestHubBudget: with keep_under, least recently used revisions go first
// until the blobs fit; a blob shared with a kept revision stays.
func TestHubBudget(t *testing.T) {
	f := cleanuptest.New()
	repo := "/hub/models--o--m"
	for _, b := range []struct {
		name string
		age  float64
	}{{"shared", 10}, {"a", 5}, {"b", 3}, {"c", 1}} {
		f.WriteFile(repo+"/blobs/"+b.name, 100, daysAgo(b.age))
	}
	for rev, blobs := range map[string][]string{"r_c": {"shared", "c"}, "r_b": {"shared", "b"}, "r_a": {"shared", "a"}} {
		for _, b := range blobs {
			f.Symlink("../../blobs/"+b, repo+"/snapshots/"+rev+"/"+b, daysAgo(9))
		}
	}
	f.WriteData(repo+"/refs/main", []byte("r_c"), daysAgo(1))
	f.WriteData(repo+"/refs/old", []byte("r_a\n"), daysAgo(1))
	s := fakeSweeper(t, f, cleanup.Rule{Root: "/hub", Layout: cleanup.LayoutHuggingFace, KeepUnder: 250})
	plan, err := s.Plan(context.Background())
	require.NoError(t, err)
	// 400 bytes of blobs over a 250 budget: r_a (last used 5 days ago) and
	// r_b (3 days) go, each with its own blob; r_c and the shared blob stay.
	assert.Equal(t, []string{
		repo + "/snapshots/r_a/a", repo + "/snapshots/r_a/shared", repo + "/snapshots/r_a",
		repo + "/blobs/a", repo + "/refs/old",
		repo + "/snapshots/r_b/b", repo + "/snapshots/r_b/shared", repo + "/snapshots/r_b",
		repo + "/blobs/b",
	}, paths(plan.Items()))
	_, err = s.Apply(context.Background(), plan)
	require.NoError(t, err)
	assert.True(t, f.Exists(repo+"/blobs/shared"))
	assert.True(t, f.Exists(repo+"/snapshots/r_c/c"))
	assert.True(t, f.Exists(repo+"/refs/main"))
}

// TestHubUnprivileged sweeps a hub as a user who may not remove one
// revision's link (its snapshot folder is read-only) nor the download
// locks: that repository and those locks stay, named in the errors, the
// rest goes, and the dry run lists exactly what the real run deletes.
func TestHubUnprivileged(t *testing.T) {
	base := t.TempDir()
	hub := filepath.Join(base, "hub")
	buildHub(t, hub)
	if os.Geteuid() == 0 {
		chownTree(t, hub, 65534)
	}
	for _, d := range []string{"models--org--gone/snapshots/r1", ".locks/models--org--bert"} {
		p := filepath.Join(hub, d)
		require.NoError(t, os.Chmod(p, 0o555))
		t.Cleanup(func() { os.Chmod(p, 0o755) })
	}
	before := tree(t, hub)
	env := []string{"TEND_CLEANUP_CHILD_LAYOUT=huggingface", "TEND_CLEANUP_CHILD_OLDER=168h"}
	plan := sweepAsNobody(t, base, hub, append(env, "TEND_CLEANUP_CHILD_DRY=1")...)
	rep := sweepAsNobody(t, base, hub, env...)
	assert.Equal(t, paths(plan.Items), paths(rep.Items), "the dry run lists what the real run deletes, in order")
	assert.Equal(t, plan.Errors, rep.Errors)

	want := []string{
		"models--org--bert/blobs/b2",
		"models--org--bert/blobs/b9.incomplete",
		"models--org--bert/refs/old-branch",
		"models--org--bert/snapshots/rev_old",
		"models--org--bert/snapshots/rev_old/config.json",
		"models--org--bert/snapshots/rev_old/model.safetensors",
		"models--org--held",
		"models--org--held/blobs",
		"models--org--held/blobs/h1",
		"models--org--held/snapshots",
		"models--org--held/snapshots/r1",
		"models--org--held/snapshots/r1/w.bin",
	}
	assert.Equal(t, want, gone(before, tree(t, hub)))
	var denied []string
	for _, e := range rep.Errors {
		assert.Contains(t, e, "operation not permitted")
		denied = append(denied, e[strings.LastIndex(e, hub+"/")+len(hub)+1:])
	}
	assert.Equal(t, []string{
		".locks/models--org--bert/b1.lock: operation not permitted",
		".locks/models--org--bert/b2.lock: operation not permitted",
		"models--org--gone/snapshots/r1/w.bin: operation not permitted",
	}, denied, "%v", rep.Errors)
}

// hubRepo builds one repository under hub with one revision per rev,
// each linking to its own blob of the given age (days), and refs/main
// naming the last revision.
func hubRepoOS(t *testing.T, hub, repo string, ageDays float64, revs ...string) {
	mk := osMaker(t)
	for _, rev := range revs {
		mk.file(filepath.Join(hub, repo, "blobs", "blob-"+rev), 1000, ago(ageDays))
		mk.symlink("../../blobs/blob-"+rev, filepath.Join(hub, repo, "snapshots", rev, "w.bin"), ago(ageDays))
	}
	mk.file(filepath.Join(hub, repo, "refs", "main"), 0, ago(ageDays))
	require.NoError(t, os.WriteFile(filepath.Join(hub, repo, "refs", "main"), []byte(revs[len(revs)-1]), 0o644))
	setTimes(t, filepath.Join(hub, repo, "refs", "main"), ago(ageDays))
}

// holdWrite starts a process that holds path open for appending, as a
// downloader writing blobs/HASH.incomplete does, until the test ends.
func holdWrite(t *testing.T, path string) {
	sh := testenv.LookPath(t, "sh", "dash")
	cmd := exec.Command(sh, "-c", `exec 3>>"$1"; echo ready; exec sleep 120 3>&3`, "sh", path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 6)
	_, err = io.ReadFull(out, buf)
	require.NoError(t, err, "the holder started")
}

// hubSweep runs a dry run and a real run of a hub rule over hub and checks
// that they list the same items, count and bytes; it returns the real run
// and what it removed (relative to hub).
func hubSweep(t *testing.T, rule cleanup.Rule, protect ...string) (*cleanup.Report, []string) {
	hub := rule.Root
	before := tree(t, hub)
	s := &cleanup.Sweeper{Rules: []cleanup.Rule{rule}, Protect: protect}
	plan, err := s.Sweep(context.Background(), true)
	require.NoError(t, err)
	rep, err := s.Sweep(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, paths(plan.Items()), paths(rep.Items()), "the dry run lists what the real run deletes, in order")
	assert.Equal(t, plan.Deleted, rep.Deleted, "dry run and real run count the same deletions")
	assert.Equal(t, plan.Bytes, rep.Bytes, "dry run and real run count the same bytes")
	seen := map[string]bool{}
	for _, p := range paths(plan.Items()) {
		assert.False(t, seen[p], "planned twice: %s", p)
		seen[p] = true
	}
	removed := gone(before, tree(t, hub))
	var listed []string
	for _, p := range paths(rep.Items()) {
		listed = append(listed, strings.TrimPrefix(p, hub+"/"))
	}
	sort.Strings(listed)
	assert.Equal(t, removed, listed, "the report lists exactly what went")
	return rep, removed
}

// TestHubBindMount: a bind mount of a directory on the same file system
// (same st_dev) inside an old revision is never followed: found through
// mountinfo, as in the plain walk. The files behind it stay, so does the
// folder holding the mount point; the rest of the revision goes.
func TestHubBindMount(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "mount --bind needs root (run the tests as root)")
	}
	base := t.TempDir()
	hub, outside := filepath.Join(base, "hub"), filepath.Join(base, "outside")
	mk := osMaker(t)
	mk.file(filepath.Join(outside, "precious"), 10, ago(100))
	mk.dir(filepath.Join(outside, "sub"), ago(100))
	hubRepoOS(t, hub, "models--o--m", 30, "r1")
	mnt := filepath.Join(hub, "models--o--m", "snapshots", "r1", "mnt")
	mk.dir(mnt, ago(30))
	mountCmd := testenv.LookPath(t, "mount", "mount")
	if out, err := exec.Command(mountCmd, "--bind", outside, mnt).CombinedOutput(); err != nil {
		testenv.Missing(t, "mount --bind not permitted here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	var a, b unix.Stat_t
	require.NoError(t, unix.Stat(mnt, &a))
	require.NoError(t, unix.Stat(hub, &b))
	require.Equal(t, b.Dev, a.Dev, "a same-file-system bind mount: st_dev cannot tell")

	rep, removed := hubSweep(t, cleanup.Rule{Root: hub, Layout: cleanup.LayoutHuggingFace, OlderThan: 7 * 24 * time.Hour})
	assert.FileExists(t, filepath.Join(outside, "precious"))
	assert.DirExists(t, filepath.Join(outside, "sub"))
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonMount])
	assert.Equal(t, []string{
		"models--o--m/blobs",
		"models--o--m/blobs/blob-r1",
		"models--o--m/refs",
		"models--o--m/refs/main",
		"models--o--m/snapshots/r1/w.bin",
	}, removed, "the revision goes but the folders holding the mount point")
}

// TestHubDownloadInProgress: when a repository's last revision goes,
// whatever inside it is held by a process (a real one holding a partial
// download open for writing), younger than older_than, or a FIFO stays,
// with the directories holding it; an old, unheld partial download goes
// exactly once, and the dry run equals the real run.
func TestHubDownloadInProgress(t *testing.T) {
	hub := filepath.Join(t.TempDir(), "hub")
	mk := osMaker(t)
	for _, r := range []string{"writing", "heldold", "young", "stale", "fifo", "tworevs"} {
		revs := []string{"r1"}
		if r == "tworevs" {
			revs = []string{"r1", "r2"}
		}
		hubRepoOS(t, hub, "models--o--"+r, 30, revs...)
	}
	mk.file(filepath.Join(hub, "models--o--writing/blobs/new.incomplete"), 10, ago(0.001))
	holdWrite(t, filepath.Join(hub, "models--o--writing/blobs/new.incomplete"))
	mk.file(filepath.Join(hub, "models--o--heldold/blobs/x.incomplete"), 10, ago(30))
	holdOpen(t, filepath.Join(hub, "models--o--heldold/blobs/x.incomplete"))
	mk.file(filepath.Join(hub, "models--o--young/blobs/y.incomplete"), 10, ago(0.5))
	mk.file(filepath.Join(hub, "models--o--stale/blobs/z.incomplete"), 10, ago(30))
	mk.fifo(filepath.Join(hub, "models--o--fifo/pipe"), ago(30))
	mk.file(filepath.Join(hub, "models--o--tworevs/blobs/w.incomplete"), 10, ago(30))

	rep, removed := hubSweep(t, cleanup.Rule{Root: hub, Layout: cleanup.LayoutHuggingFace, OlderThan: 7 * 24 * time.Hour})
	revision := func(repo string, revs ...string) []string {
		out := []string{repo + "/blobs/blob-" + revs[0]}
		for _, r := range revs {
			if r != revs[0] {
				out = append(out, repo+"/blobs/blob-"+r)
			}
		}
		out = append(out, repo+"/refs", repo+"/refs/main", repo+"/snapshots")
		for _, r := range revs {
			out = append(out, repo+"/snapshots/"+r, repo+"/snapshots/"+r+"/w.bin")
		}
		return out
	}
	var want []string
	want = append(want, append(revision("models--o--fifo", "r1"), "models--o--fifo/blobs")...)
	want = append(want, revision("models--o--heldold", "r1")...)
	want = append(want, "models--o--stale")
	want = append(want, append(revision("models--o--stale", "r1"), "models--o--stale/blobs", "models--o--stale/blobs/z.incomplete")...)
	want = append(want, "models--o--tworevs")
	want = append(want, append(revision("models--o--tworevs", "r1", "r2"), "models--o--tworevs/blobs", "models--o--tworevs/blobs/w.incomplete")...)
	want = append(want, revision("models--o--writing", "r1")...)
	want = append(want, revision("models--o--young", "r1")...)
	sort.Strings(want)
	assert.Equal(t, want, removed)
	for _, p := range []string{"models--o--writing/blobs/new.incomplete", "models--o--heldold/blobs/x.incomplete",
		"models--o--young/blobs/y.incomplete", "models--o--fifo/pipe"} {
		_, err := os.Lstat(filepath.Join(hub, p))
		assert.NoError(t, err, "%s stays", p)
	}
	assert.Equal(t, len(want), rep.Deleted)
}

// TestHubProtectAndExclude: protected paths and excluded entries inside a
// hub stay, with the folders holding them, as under a plain root (the hub
// layout used to ignore both).
func TestHubProtectAndExclude(t *testing.T) {
	hub := filepath.Join(t.TempDir(), "hub")
	hubRepoOS(t, hub, "models--o--prot", 30, "r1")
	hubRepoOS(t, hub, "models--o--excl", 30, "r1")
	hubRepoOS(t, hub, "models--o--whole", 30, "r1")
	mk := osMaker(t)
	mk.file(filepath.Join(hub, "models--o--excl/blobs/old.incomplete"), 10, ago(30))
	mk.file(filepath.Join(hub, ".locks/models--o--excl/x.lock"), 0, ago(30))
	rule := cleanup.Rule{Root: hub, Layout: cleanup.LayoutHuggingFace, OlderThan: 7 * 24 * time.Hour, Exclude: []string{"*.incomplete", "*.lock"}}
	rep, removed := hubSweep(t, rule, filepath.Join(hub, "models--o--prot/blobs/blob-r1"))
	assert.FileExists(t, filepath.Join(hub, "models--o--prot/blobs/blob-r1"), "protected")
	assert.FileExists(t, filepath.Join(hub, "models--o--excl/blobs/old.incomplete"), "excluded")
	assert.FileExists(t, filepath.Join(hub, ".locks/models--o--excl/x.lock"), "excluded")
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonProtected])
	assert.Equal(t, 2, rep.Skipped[cleanup.SkipReasonExcluded])
	var want []string
	for _, r := range []string{"excl", "prot", "whole"} {
		repo := "models--o--" + r
		if r != "excl" && r != "prot" {
			want = append(want, repo, repo+"/blobs")
		}
		if r != "prot" {
			want = append(want, repo+"/blobs/blob-r1")
		}
		want = append(want, repo+"/refs", repo+"/refs/main", repo+"/snapshots", repo+"/snapshots/r1", repo+"/snapshots/r1/w.bin")
	}
	sort.Strings(want)
	assert.Equal(t, want, removed)
}
