package cleanup_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/cleanup"
)

// TestForkedPartPaths is the smallest tree that took a forked part of the
// parallel walk into an endless path loop (ROOT/d1/{e1,e2}, two old empty
// directories, default Workers): every deletion is logged once with its
// real path, with one rule and with two.
func TestForkedPartPaths(t *testing.T) {
	for _, rules := range []int{1, 2} {
		base := t.TempDir()
		mk := osMaker(t)
		var spec limitedSpec
		var want []string
		for r := range rules {
			root := filepath.Join(base, "root"+string(rune('a'+r)))
			mk.dir(filepath.Join(root, "d1", "e1"), ago(30))
			mk.dir(filepath.Join(root, "d1", "e2"), ago(30))
			setTimes(t, filepath.Join(root, "d1"), ago(30))
			spec.Rules = append(spec.Rules, cleanup.Rule{Root: root, OlderThan: time.Hour})
			want = append(want, filepath.Join(root, "d1", "e1"), filepath.Join(root, "d1", "e2"), filepath.Join(root, "d1"))
		}
		spec.MemMiB = 256
		res := runLimited(t, spec, time.Minute)
		assert.ElementsMatch(t, want, res.deletedPaths(), "%d rules: each deletion logged once with its real path", rules)
		assert.Equal(t, want, paths(res.Report.Items))
		assert.Empty(t, res.Report.Errors)
		for _, p := range want {
			assert.NoFileExists(t, p)
			assert.NoDirExists(t, p)
		}
	}
}

// TestForkedPartErrorPaths: the errors met inside a forked part (an
// unreadable directory two levels down, a file this user may not remove)
// name the real path, in a dry run and in a real run, as an unprivileged
// user.
func TestForkedPartErrorPaths(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	mk := osMaker(t)
	mk.file(filepath.Join(root, "a", "b", "secret", "x"), 1, ago(30))
	mk.file(filepath.Join(root, "a", "b", "ok"), 1, ago(30))
	mk.file(filepath.Join(root, "a", "locked", "y"), 1, ago(30))
	mk.file(filepath.Join(root, "z", "old"), 1, ago(30))
	if os.Geteuid() == 0 {
		chownTree(t, root, 65534)
		require.NoError(t, os.Chown(filepath.Join(root, "a", "b", "secret"), 0, 0))
		require.NoError(t, os.Chown(filepath.Join(root, "a", "locked"), 0, 0))
	}
	require.NoError(t, os.Chmod(filepath.Join(root, "a", "b", "secret"), 0o700))
	require.NoError(t, os.Chmod(filepath.Join(root, "a", "locked"), 0o555))
	t.Cleanup(func() {
		os.Chmod(filepath.Join(root, "a", "b", "secret"), 0o755)
		os.Chmod(filepath.Join(root, "a", "locked"), 0o755)
	})
	for p := base; p != "/"; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
			require.NoError(t, os.Chmod(p, st.Mode().Perm()|0o011))
		}
	}
	for _, dry := range []bool{true, false} {
		res := runLimited(t, limitedSpec{Rules: []cleanup.Rule{{Root: root, OlderThan: time.Hour}}, DryRun: dry,
			Nobody: true, MemMiB: 256}, time.Minute)
		errs := strings.Join(res.Report.Errors, "\n")
		assert.Contains(t, errs, " "+filepath.Join(root, "a", "b", "secret")+": permission denied", "dry=%v", dry)
		assert.Contains(t, errs, "remove "+filepath.Join(root, "a", "locked", "y")+":", "dry=%v", dry)
		assert.Equal(t, []string{filepath.Join(root, "a", "b", "ok"), filepath.Join(root, "z", "old")}, paths(res.Report.Items), "dry=%v %s", dry, res.Stdout)
		if !dry {
			assert.ElementsMatch(t, paths(res.Report.Items), res.deletedPaths())
		}
	}
}
