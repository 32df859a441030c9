package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain runs the command itself when a test starts this test binary
// with TEND_COMPOSE_RUN_MAIN=1 (for tests that need its real stdin).
func TestMain(m *testing.M) {
	if os.Getenv("TEND_COMPOSE_RUN_MAIN") == "1" {
		os.Args = append([]string{"tend-compose"}, strings.Fields(os.Getenv("TEND_COMPOSE_ARGS"))...)
		main()
	}
	os.Exit(m.Run())
}

// runMain runs the command in a child with stdin.
func runMain(t *testing.T, stdin *os.File, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TEND_COMPOSE_RUN_MAIN=1", "TEND_COMPOSE_ARGS="+strings.Join(args, " "))
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// TestSpecFromStdin: --spec - reads a pipe or a file on stdin, with the
// size limit and the deadline of a spec file.
func TestSpecFromStdin(t *testing.T) {
	f, err := os.Open(threeUsers + ".yaml")
	require.NoError(t, err)
	defer f.Close()
	code, out, errOut := runMain(t, f, "--spec", "-", "--format", "docker-args")
	require.Equal(t, 0, code, errOut)
	want, err := os.ReadFile(threeUsers + ".docker.sh")
	require.NoError(t, err)
	assert.Equal(t, string(want), out)

	// A pipe with problems: lines are the pipe's.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	go func(w *os.File) {
		_, _ = w.WriteString("host: {memory: 8g, cpus: 2}\ncontainer:\n  name: box\n  image: busybox\n  memroy: 1g\n")
		_ = w.Close()
	}(w)
	code, _, errOut = runMain(t, r, "--spec", "-", "--check")
	_ = r.Close()
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `/dev/stdin:5: user box: field container.memroy: unknown key "memroy"`)

	// A pipe whose writer never writes nor closes: the deadline.
	r, w, err = os.Pipe()
	require.NoError(t, err)
	defer w.Close()
	start := time.Now()
	code, _, errOut = runMain(t, r, "--spec", "-", "--check", "--timeout", "300ms")
	_ = r.Close()
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "/dev/stdin: read spec: no complete spec before the deadline")
	assert.Less(t, time.Since(start), 10*time.Second)

	// /dev/zero on stdin: the size limit.
	z, err := os.Open("/dev/zero")
	require.NoError(t, err)
	defer z.Close()
	code, _, errOut = runMain(t, z, "--spec", "-", "--check")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "more than 33554432 bytes (MaxSpecSize)")
}
