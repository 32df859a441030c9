package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/adapters/internal/cli"
)

const threeUsers = "../../quota/testdata/golden/three-users"

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRenderFormats(t *testing.T) {
	for format, ext := range map[string]string{"compose": ".compose.yaml", "docker-args": ".docker.sh", "k8s": ".k8s.yaml"} {
		t.Run(format, func(t *testing.T) {
			code, out, _ := runCmd(t, "--spec", threeUsers+".yaml", "--format", format)
			require.Equal(t, 0, code)
			want, err := os.ReadFile(threeUsers + ext)
			require.NoError(t, err)
			assert.Equal(t, string(want), out)
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--spec FILE is required"},
		{[]string{"--spec", threeUsers + ".yaml", "--format", "helm"}, `--format "helm"`},
		{[]string{"--bogus"}, "flag provided but not defined"},
		{[]string{"--spec", "testdata/missing.yaml"}, "testdata/missing.yaml: read spec"},
		{[]string{"--spec", threeUsers + ".yaml", "extra"}, "unexpected arguments"},
	} {
		code, out, errOut := runCmd(t, tc.args...)
		assert.Equal(t, 2, code, "%v", tc.args)
		assert.Empty(t, out)
		assert.Contains(t, errOut, tc.want, "%v", tc.args)
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, out, _ := runCmd(t, "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "--format compose|docker-args|k8s")
	assert.Contains(t, out, "--spec FILE\n")
	assert.Contains(t, out, "--timeout DURATION\n")
	assert.Empty(t, cli.HelpProblems(out), "placeholders in capitals, one default per flag:\n%s", out)
	code, out, _ = runCmd(t, "--version")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "tend-compose "), out)
}

// TestEveryProblemAtOnce checks that a spec with several problems lists
// all of them, each with its line, user and field, and exits 2.
func TestEveryProblemAtOnce(t *testing.T) {
	code, out, errOut := runCmd(t, "--spec", "testdata/bad.yaml", "--check")
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	for _, want := range []string{
		"testdata/bad.yaml:11: user alice: field users[0].cpus: 12 is out of range: docker allows 0.01 to 8.00",
		"testdata/bad.yaml:14: user bob: field users[1].gpus: GPU \"7\" is not on the host",
		"user bob: field users[1].gpus: GPU 0 is also alice's",
		"testdata/bad.yaml:15: user bob: field users[1].memory: 4MiB is below docker's minimum of 6MiB",
		"host port 8888/tcp is also published by alice",
	} {
		assert.Contains(t, errOut, want)
	}
	code, out, _ = runCmd(t, "--spec", "testdata/bad.yaml", "--json")
	assert.Equal(t, 2, code)
	var rep report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.False(t, rep.OK)
	assert.GreaterOrEqual(t, len(rep.Problems), 5)
}

func TestCheckAndJSON(t *testing.T) {
	code, out, errOut := runCmd(t, "--spec", threeUsers+".yaml", "--check")
	assert.Equal(t, 0, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "spec is valid")
	assert.Contains(t, errOut, "memory_swap: not set", "warnings go to stderr")

	code, out, _ = runCmd(t, "--spec", threeUsers+".yaml", "--json", "--format", "docker-args")
	require.Equal(t, 0, code)
	var rep report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.True(t, rep.OK)
	require.Len(t, rep.Users, 3)
	assert.Equal(t, []string{"0", "1"}, rep.Users[0].GPUs.IDs)
	assert.Equal(t, 8889, rep.Users[1].Port)
	assert.Contains(t, rep.Output, `--gpus '"device=2"'`)
	assert.NotEmpty(t, rep.Warnings)
}

// TestBuildsWithoutCgo builds the adapter with CGO_ENABLED=0, as images
// need a static binary.
func TestBuildsWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "tend-compose")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(bin, "--spec", threeUsers+".yaml", "--check").CombinedOutput()
	require.NoError(t, err, "%s", out)
}
