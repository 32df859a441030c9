package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

// TestBinariesPrintVersion clones the repository's HEAD, as a user would,
// builds the three adapters there with go build and runs --version: each
// names itself and the commit it was built from; after a local edit the
// rebuilt binary says "-dirty". (A clone, because go build stamps no VCS
// information in a git worktree, whose .git is a file.)
func TestBinariesPrintVersion(t *testing.T) {
	testenv.Short(t)
	git := testenv.LookPath(t, "git", "git")
	repo, err := filepath.Abs(filepath.Join("..", "..", ".."))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, git, "-C", repo, "rev-parse", "HEAD").Output()
	if err != nil {
		testenv.Missing(t, "not a git checkout: %v", err)
	}
	head := strings.TrimSpace(string(out))[:12]
	clone := filepath.Join(t.TempDir(), "tend")
	b, err := exec.CommandContext(ctx, git, "clone", "-q", repo, clone).CombinedOutput()
	require.NoError(t, err, "git clone: %s", b)

	version := func(name string) string {
		bin := filepath.Join(t.TempDir(), name)
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./adapters/"+name)
		build.Dir = clone
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=true", "GOWORK=off")
		b, err := build.CombinedOutput()
		require.NoError(t, err, "go build %s: %s", name, b)
		v, err := exec.CommandContext(ctx, bin, "--version").Output()
		require.NoError(t, err, "%s --version", name)
		return strings.TrimSpace(string(v))
	}
	for _, name := range []string{"tend-cron", "tend-health", "tend-compose"} {
		line := version(name)
		assert.True(t, strings.HasPrefix(line, name+" "), line)
		assert.Contains(t, line, "(rev "+head+", go1.", "%s: the commit it was built from, clean", name)
	}
	require.NoError(t, os.WriteFile(filepath.Join(clone, "README.md"), []byte("edited\n"), 0o644))
	assert.Contains(t, version("tend-compose"), "(rev "+head+"-dirty, go1.", "a build from an edited tree says so")
}
