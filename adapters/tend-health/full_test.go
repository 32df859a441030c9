package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

// TestDefaultProbeOnAFullRoot runs the static binary's default probe (no
// --config) with a full tmpfs as its / (a private mount namespace and a
// chroot): it must say unhealthy, naming the full file system.
func TestDefaultProbeOnAFullRoot(t *testing.T) {
	testenv.Short(t)
	unshare := testenv.LookPath(t, "unshare", "util-linux")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "mount namespaces and chroot need root")
	}
	bin := filepath.Join(t.TempDir(), "tend-health")
	wd, err := os.Getwd()
	require.NoError(t, err)
	goBuildStatic(t, wd, ".", bin)
	root := t.TempDir()
	script := `set -e
mount -t tmpfs -o size=48m,nr_inodes=4096 tend-test "$ROOT"
cp "$BIN" "$ROOT/tend-health"
mkdir "$ROOT/proc" && mount -t proc proc "$ROOT/proc"
dd if=/dev/zero of="$ROOT/fill" bs=1M 2>/dev/null || true
rc=0; chroot "$ROOT" /tend-health --timeout 5s || rc=$?
echo "exit=$rc"`
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "ROOT="+root, "BIN="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "unshare failed") {
		testenv.Missing(t, "unshare --mount: %s", out)
	}
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "fail disk /: ")
	assert.Contains(t, string(out), "the file system is full")
	assert.Contains(t, string(out), "exit=1", "%s", out)
}
