package rotate

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConcurrentRunsNeverRotateTheSameFile runs two rotator processes with
// separate state files (two tend-cron instances configured for the same
// log) against one log while a third process writes to it: neither errors,
// no line is lost or doubled, and the numbered backups have no gaps (no
// shift or compression of one run tripped over the other's).
func TestConcurrentRunsNeverRotateTheSameFile(t *testing.T) {
	if raceEnabled {
		// Three race-instrumented helper processes on two cores managed a
		// handful of rotations a minute; the pass without -race runs it.
		t.Skip("too slow under the race detector (the helpers are race-instrumented too)")
	}
	for _, m := range []Method{MethodCopyTruncate, MethodRename} {
		t.Run(string(m), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			pidfile := filepath.Join(dir, "app.pid")
			// 4 MB/s: enough for many 128 KiB rotations, little enough
			// for the race detector's slower helpers.
			pid, stopWriter := startWriter(t, path, true, "HELPER_RATE=4")
			require.NoError(t, os.WriteFile(pidfile, []byte(strconv.Itoa(pid)+"\n"), 0o644))
			type rival struct {
				cmd *exec.Cmd
				sc  *bufio.Scanner
			}
			var rivals []rival
			for i := range 2 {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), "TEND_ROTATE_HELPER=rival", "HELPER_PATH="+path,
					"HELPER_STATE="+filepath.Join(dir, fmt.Sprintf("state%d.json", i)),
					"HELPER_METHOD="+string(m), "HELPER_PIDFILE="+pidfile)
				out, err := cmd.StdoutPipe()
				require.NoError(t, err)
				cmd.Stderr = os.Stderr
				require.NoError(t, cmd.Start())
				t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
				sc := bufio.NewScanner(out)
				require.True(t, sc.Scan())
				rivals = append(rivals, rival{cmd, sc})
			}
			want := 30
			if testing.Short() {
				want = 12
			}
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if bks, _ := listBackups(path, false); len(bks) >= want {
					break
				}
			}
			total := 0
			for i, r := range rivals {
				require.NoError(t, r.cmd.Process.Signal(syscall.SIGTERM))
				require.True(t, r.sc.Scan())
				var n, errs int
				_, err := fmt.Sscanf(r.sc.Text(), "rotations %d errors %d", &n, &errs)
				require.NoError(t, err, r.sc.Text())
				r.sc.Scan()
				assert.Zero(t, errs, "rival %d: %s", i, r.sc.Text())
				require.NoError(t, r.cmd.Wait())
				total += n
			}
			last := stopWriter()
			require.GreaterOrEqual(t, total, want, "rotations by both rivals")
			bks, err := listBackups(path, false)
			require.NoError(t, err)
			require.Len(t, bks, total, "one backup per rotation")
			for i, b := range bks {
				assert.Equal(t, i+1, b.index, "backup %s: numbers without gaps", b.path)
				assert.Equal(t, ".gz", b.ext, "backup %s compressed", b.path)
			}
			assertEveryLineOnce(t, path, last)
		})
	}
}
