package cleanup_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/cleanup/cleanuptest"
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
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipHeldRev], "a revision with a blob held open stays")
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipLocked], "a held .lock stays")
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
