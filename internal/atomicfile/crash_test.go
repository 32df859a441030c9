package atomicfile

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const (
	crashChildEnv = "ATOMICFILE_CRASH_CHILD"
	crashSize     = 4 << 20 // each version of the file: long enough to be killed mid-write
)

// version is the content of the file's n-th version: crashSize bytes of one
// letter, so a torn file (two versions, or a short one) is easy to see.
func version(n int) []byte { return bytes.Repeat([]byte{byte('A' + n%26)}, crashSize) }

// TestMain runs the crash child when re-executed by TestWriteKill9.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	os.Exit(m.Run())
}

// crashChild rewrites path forever with alternating versions, under limits
// that stop a runaway: 64 descriptors, 64 MiB files, 30 s of CPU, and its
// own 30 s deadline.
func crashChild(path string) {
	for res, v := range map[int]uint64{unix.RLIMIT_NOFILE: 64, unix.RLIMIT_FSIZE: 64 << 20, unix.RLIMIT_CPU: 30} {
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: v, Max: v}); err != nil {
			fmt.Fprintln(os.Stderr, "setrlimit:", err)
			os.Exit(3)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for n := 1; time.Now().Before(deadline); n++ {
		if err := WriteFile(path, version(n), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

// TestWriteKill9 kills a process writing the file with SIGKILL at random
// moments, 25 times: after each kill the file is one whole version (the old
// one or a new one), never torn, and the temporary files left behind are
// recognised by IsTemp.
func TestWriteKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary 25 times")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	require.NoError(t, WriteFile(path, version(0), 0o644))
	exe, err := os.Executable()
	require.NoError(t, err)

	changed, tempsLeft := 0, 0
	prev := version(0)
	for i := range 25 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(20+rand.IntN(480)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err := cmd.Wait()
		cancel()
		require.Error(t, err, "the child was killed, not finished: %s", stderr.String())
		require.Empty(t, stderr.String(), "the child's writes failed")

		b, err := os.ReadFile(path)
		require.NoError(t, err, "kill %d: the file is always there", i)
		require.Len(t, b, crashSize, "kill %d: a torn (short or long) file", i)
		first := b[0]
		require.Equal(t, -1, bytes.IndexFunc(b, func(r rune) bool { return r != rune(first) }), "kill %d: a torn file mixing versions", i)
		if !bytes.Equal(b, prev) {
			changed++
			prev = b
		}
		left := leftovers(t, dir)
		if len(left) > 0 {
			tempsLeft++
		}
		for _, name := range left {
			require.NoError(t, os.Remove(filepath.Join(dir, name)))
		}
	}
	t.Logf("25 kills: the file changed %d times, a temporary file was left %d times", changed, tempsLeft)
	assert.Positive(t, tempsLeft, "some kills landed in the middle of a write")
	assert.Positive(t, changed, "some writes completed between kills")
}
