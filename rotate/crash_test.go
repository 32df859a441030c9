package rotate

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCrashMidRotation kills a rotating helper process with SIGKILL at
// different moments (shifting, renaming, compressing), then runs again in
// this process: no line is lost, no temporary file stays, the state parses.
func TestCrashMidRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	state := filepath.Join(dir, "state.json")
	line := 0
	kills := 12
	if testing.Short() {
		kills = 6
	}
	for i := range kills {
		appendFile(t, path, numbered(&line, 1<<20))
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "TEND_ROTATE_HELPER=rotator", "HELPER_PATH="+path, "HELPER_STATE="+state)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		sc := bufio.NewScanner(out)
		require.True(t, sc.Scan())
		time.Sleep(time.Duration(i%6) * 4 * time.Millisecond)
		require.NoError(t, cmd.Process.Kill())
		cmd.Wait()
		if i == kills/2 {
			// A damaged state file must not stop the next run either.
			require.NoError(t, os.WriteFile(state, []byte(`{"version":1,"files":{`), 0o644))
		}
	}
	appendFile(t, path, numbered(&line, 1000))
	r := &Rotator{State: state, Rules: []Rule{{Path: path, Size: 1, Keep: 1000, Compress: CompressionGzip}}}
	rep, err := r.Rotate(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Rotations())

	assertEveryLineOnce(t, path, line)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		assert.NotContains(t, e.Name(), ".tend-tmp", "temporary files cleaned up")
	}
	b, err := os.ReadFile(state)
	require.NoError(t, err)
	var st stateFile
	require.NoError(t, json.Unmarshal(b, &st), "state repaired: %s", b)
	assert.Contains(t, st.Files, path)
	assert.False(t, strings.Contains(string(b), "tend-tmp"))
}
