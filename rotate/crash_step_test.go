package rotate

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCrashAtEveryStep kills a rotating child process (SIGKILL) at each
// crash point of a rotation in turn (after the journal, before every
// step, between a compression's rename and its cleanup, between collapse
// and punch, before the state is saved), while another process writes
// numbered lines; after each kill a run in this process finishes or undoes
// what was left. In the end every line is there exactly once, none torn,
// the writer writes to the live log (a kill between rename and signal was
// finished), and a copytruncated live log starts with a whole line.
func TestCrashAtEveryStep(t *testing.T) {
	cases := []struct {
		method Method
		codec  Compression
	}{
		{MethodRename, CompressionNone},
		{MethodRename, CompressionGzip},
		{MethodCopyTruncate, CompressionNone},
		{MethodCopyTruncate, CompressionGzip},
	}
	for _, tc := range cases {
		t.Run(string(tc.method)+"/"+string(tc.codec), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			pidfile := filepath.Join(dir, "app.pid")
			state := filepath.Join(dir, "state.json")
			pid, stop := startWriter(t, path, true, "HELPER_RATE=2")
			require.NoError(t, os.WriteFile(pidfile, []byte(strconv.Itoa(pid)+"\n"), 0o644))
			r := &Rotator{State: state, Rules: []Rule{crashRule(path, pidfile, tc.method, tc.codec)}, compressWait: time.Second}
			targets := map[Method][]string{
				MethodRename: {"before shift#1", "before shift#2", "before rename#1", "before create#1", "before signal#1",
					"before compress#1", "before rename of#1", "compressed, before removing the original#1", "before saving the state#1"},
				MethodCopyTruncate: {"before shift#1", "before copy#1", "before rename of#1", "before drop#1", "after collapse#1",
					"before compress#1", "before saving the state#1"},
			}[tc.method]
			var points []string
			for round := range 2 {
				for _, target := range targets {
					time.Sleep(30 * time.Millisecond) // the writer adds lines
					out := runCrasher(t, path, state, pidfile, tc.method, tc.codec, "HELPER_CRASH_AT="+target)
					if out == "done" {
						if round == 1 {
							t.Logf("not reached: %s", target)
						}
					} else {
						require.True(t, strings.HasPrefix(out, "killed "), "child said %q", out)
						points = append(points, strings.TrimPrefix(out, "killed "))
					}
					time.Sleep(10 * time.Millisecond)
					rep, err := r.Rotate(context.Background())
					require.NoError(t, err, "the run after a kill at %q: %v", out, rep.Lines())
					if os.Getenv("TEND_DEBUG") != "" {
						t.Log(out, strings.Join(rep.Lines(), "\n"))
					}
				}
			}
			t.Logf("killed at %d points: %s", len(points), strings.Join(points, "; "))
			require.GreaterOrEqual(t, len(points), 4, "crash points reached")
			time.Sleep(50 * time.Millisecond)
			_, err := r.Rotate(context.Background())
			require.NoError(t, err)
			if tc.method == MethodRename {
				assertWritesTo(t, pid, path)
			}
			last := stop()
			assertEveryLineOnce(t, path, last)
			assertNoJournal(t, state)
			if tc.method == MethodCopyTruncate {
				b, err := os.ReadFile(path)
				require.NoError(t, err)
				// NULs are left only when no line ended on a block boundary,
				// and then less than one block of them.
				nuls := len(b) - len(bytes.TrimLeft(b, "\x00"))
				assert.Less(t, nuls, 4096, "NUL prefix of the live log")
			}
		})
	}
}

// TestCrashRandomLoop kills a child that rotates in a loop at random
// moments, many times, while another process writes; after each kill a
// run here recovers. Every line is found exactly once at the end.
func TestCrashRandomLoop(t *testing.T) {
	kills := 40
	if testing.Short() {
		kills = 15
	}
	if raceEnabled {
		kills = 5 // each helper run is ten times slower; TestCrashAtEveryStep covers every step
	}
	for _, m := range []Method{MethodRename, MethodCopyTruncate} {
		t.Run(string(m), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			pidfile := filepath.Join(dir, "app.pid")
			state := filepath.Join(dir, "state.json")
			pid, stop := startWriter(t, path, true, "HELPER_RATE=5")
			require.NoError(t, os.WriteFile(pidfile, []byte(strconv.Itoa(pid)+"\n"), 0o644))
			r := &Rotator{State: state, Rules: []Rule{crashRule(path, pidfile, m, CompressionGzip)}, compressWait: time.Second}
			rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
			for range kills {
				cmd := crasherCmd(path, state, pidfile, m, CompressionGzip, "HELPER_LOOP=1")
				out, err := cmd.StdoutPipe()
				require.NoError(t, err)
				require.NoError(t, cmd.Start())
				buf := make([]byte, 6)
				_, err = out.Read(buf)
				require.NoError(t, err)
				time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
				require.NoError(t, cmd.Process.Kill())
				cmd.Wait()
				_, err = r.Rotate(context.Background())
				require.NoError(t, err)
			}
			time.Sleep(50 * time.Millisecond)
			_, err := r.Rotate(context.Background())
			require.NoError(t, err)
			if m == MethodRename {
				assertWritesTo(t, pid, path)
			}
			last := stop()
			assertEveryLineOnce(t, path, last)
		})
	}
}

func crasherCmd(path, state, pidfile string, m Method, c Compression, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TEND_ROTATE_HELPER=crasher", "HELPER_PATH="+path, "HELPER_STATE="+state,
		"HELPER_PIDFILE="+pidfile, "HELPER_METHOD="+string(m), "HELPER_COMPRESS="+string(c))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// runCrasher runs the crashing child to its end (under a deadline) and
// returns the last line it printed.
func runCrasher(t *testing.T, path, state, pidfile string, m Method, c Compression, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := crasherCmd(path, state, pidfile, m, c, env...)
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	cmd.Env = crasherCmd(path, state, pidfile, m, c, env...).Env
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !(ws.Signaled() && ws.Signal() == syscall.SIGKILL) {
		require.NoError(t, err, "child: %s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[len(lines)-1]
}

// assertWritesTo checks that process pid has path (that very inode) open.
func assertWritesTo(t *testing.T, pid int, path string) {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err, "the live log exists")
	deadline := time.Now().Add(2 * time.Second)
	for {
		if len(procFS("/proc").fdsOpenOn(pid, st)) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writer (pid %d) does not write to %s: a rotation was left unsignalled", pid, path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func assertNoJournal(t *testing.T, state string) {
	t.Helper()
	_, err := os.Stat(journalPath(state))
	assert.True(t, os.IsNotExist(err), "journal removed once the state records the rotations: %v", err)
}

var _ = fmt.Sprint
