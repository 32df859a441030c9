package cleanup_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/cleanup"
)

// TestHubKeepRefs: with keep_refs [main] the revision refs/main names
// stays, with its blobs (one shared with an old revision that goes) and
// the repository folder, however old; other old revisions still go; a
// repository whose main names a revision that is gone is not deleted
// whole either (its ref stays). Without keep_refs the same cache loses
// the idle model whole, refs/main included: the case of issue 13.
func TestHubKeepRefs(t *testing.T) {
	build := func(t *testing.T) string {
		hub := filepath.Join(t.TempDir(), "hub")
		mk := osMaker(t)
		bert := "models--org--bert"
		mk.file(filepath.Join(hub, bert, "blobs", "shared"), 100, ago(30))
		mk.file(filepath.Join(hub, bert, "blobs", "oldonly"), 100, ago(30))
		mk.file(filepath.Join(hub, bert, "blobs", "mainonly"), 100, ago(30))
		for rev, blobs := range map[string][]string{"rev_old": {"shared", "oldonly"}, "rev_main": {"shared", "mainonly"}} {
			for _, b := range blobs {
				mk.symlink("../../blobs/"+b, filepath.Join(hub, bert, "snapshots", rev, b), ago(30))
			}
		}
		ref := func(repo, name, rev string) {
			p := filepath.Join(hub, repo, "refs", name)
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, []byte(rev), 0o644))
			setTimes(t, p, ago(30))
		}
		ref(bert, "main", "rev_main")
		ref(bert, "pr/1", "rev_old")
		// main names a revision whose snapshot is gone; r1 is old.
		hubRepoOS(t, hub, "models--org--dangling", 30, "r1")
		ref("models--org--dangling", "main", "missing")
		// An idle model with only main: the offline-serving case.
		hubRepoOS(t, hub, "models--org--idle", 30, "r1")
		return hub
	}
	rule := cleanup.Rule{Layout: cleanup.LayoutHuggingFace, OlderThan: 7 * 24 * time.Hour}

	t.Run("keep main", func(t *testing.T) {
		hub := build(t)
		r := rule
		r.Root, r.KeepRefs = hub, []string{"main"}
		_, removed := hubSweep(t, r)
		assert.Equal(t, []string{
			"models--org--bert/blobs/oldonly",
			"models--org--bert/refs/pr/1",
			"models--org--bert/snapshots/rev_old",
			"models--org--bert/snapshots/rev_old/oldonly",
			"models--org--bert/snapshots/rev_old/shared",
			"models--org--dangling/blobs",
			"models--org--dangling/blobs/blob-r1",
			"models--org--dangling/snapshots",
			"models--org--dangling/snapshots/r1",
			"models--org--dangling/snapshots/r1/w.bin",
		}, removed)
		for _, p := range []string{"models--org--bert/blobs/shared", "models--org--bert/blobs/mainonly",
			"models--org--bert/snapshots/rev_main/mainonly", "models--org--bert/refs/main",
			"models--org--dangling/refs/main", "models--org--idle/snapshots/r1/w.bin", "models--org--idle/refs/main"} {
			_, err := os.Stat(filepath.Join(hub, p)) // follows the snapshot links: they resolve
			assert.NoError(t, err, "%s stays", p)
		}
	})
	t.Run("keep a pull-request ref", func(t *testing.T) {
		hub := build(t)
		r := rule
		r.Root, r.KeepRefs = hub, []string{"pr/1"}
		_, removed := hubSweep(t, r)
		assert.Contains(t, removed, "models--org--bert/snapshots/rev_main")
		assert.NotContains(t, removed, "models--org--bert/snapshots/rev_old")
		assert.Contains(t, removed, "models--org--idle")
	})
	t.Run("no keep_refs: the idle model goes whole", func(t *testing.T) {
		hub := build(t)
		r := rule
		r.Root = hub
		_, removed := hubSweep(t, r)
		assert.Contains(t, removed, "models--org--idle")
		assert.Contains(t, removed, "models--org--idle/refs/main")
		assert.Contains(t, removed, "models--org--bert")
	})
}
