package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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

// TestDockerArbitraryUser runs the embedded default the way OpenShift or
// `docker run --user 4242` starts a container: a uid with no passwd entry,
// so Docker sets HOME=/ (or the image leaves it empty). The rules under the
// home directory are left out with one warning, the rest run, exit 0; a
// cache moved by its variable (HF_HOME) is still swept there.
func TestDockerArbitraryUser(t *testing.T) {
	testenv.Short(t)
	docker := testenv.Docker(t)
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "tend-test-home-" + hex.EncodeToString(rnd[:])

	ctxDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(ctxDir, "tend-cron"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	require.NoError(t, os.MkdirAll(filepath.Join(ctxDir, "tmp"), 0o755))
	require.NoError(t, os.Chmod(filepath.Join(ctxDir, "tmp"), 0o1777))
	blob := filepath.Join(ctxDir, "data", "hf", "hub", "models--org--m", "blobs", "abc")
	require.NoError(t, os.MkdirAll(filepath.Dir(blob), 0o755))
	require.NoError(t, os.WriteFile(blob, []byte("weights"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(
		"FROM scratch\nCOPY tend-cron /tend-cron\nCOPY tmp /tmp\nCOPY data /data\nENTRYPOINT [\"/tend-cron\"]\n"), 0o644))
	b := exec.CommandContext(ctx, docker, "build", "-q", "--label", "tend.test=cron-home", "-t", name, ctxDir)
	b.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	out, err = b.CombinedOutput()
	require.NoError(t, err, "docker build: %s", out)
	t.Cleanup(func() { exec.Command(docker, "rmi", "-f", name).Run() })

	runWith := func(args []string, cmdArgs ...string) (stdout, stderr string, code int) {
		t.Helper()
		argv := append([]string{"run", "--rm", "--label", "tend.test=cron-home", "--user", "4242:4242"}, args...)
		argv = append(append(argv, name), cmdArgs...)
		cmd := exec.CommandContext(ctx, docker, argv...)
		var so, se strings.Builder
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return so.String(), se.String(), code
	}
	run := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		return runWith(args, "--once", "--only", "sweep", "--dry-run")
	}

	// Docker sets HOME=/ for a uid without a passwd entry (also for -e HOME=).
	stdout, stderr, code := run()
	assert.Equal(t, 0, code, "exit code\n%s\n%s", stdout, stderr)
	assert.Equal(t, 1, strings.Count(stderr, "rules left out"), "one warning\n%s", stderr)
	assert.Contains(t, stdout, `left out 13 rules: HOME is "/": the home directory is unknown: sweep.rules[0] (cache: torch), `)
	// No passwd entry and no USER: torch itself cannot name its inductor
	// cache (getpass.getuser() fails), so that rule is left out too.
	assert.Contains(t, stdout, `(cache: torchinductor: cache torchinductor: cache cannot be located: the user name is unknown`)
	assert.Contains(t, stdout, "  /tmp: would delete 0")
	assert.NotContains(t, stdout+stderr, "dangerous root")

	// A HOME that does not exist is a known home with no caches yet.
	stdout, stderr, code = run("-e", "HOME=/home/none")
	assert.Equal(t, 0, code, "exit code\n%s\n%s", stdout, stderr)
	assert.Contains(t, stdout, "  /home/none/.cache/torch: missing, skipped")
	assert.Contains(t, stdout, "left out 1 rules: cache torchinductor", "only the cache named after the unknown user")
	assert.NotContains(t, stdout+stderr, "HOME is")

	stdout, stderr, code = run("-e", "HOME=/home/none", "-e", "USER=u")
	assert.Equal(t, 0, code, "exit code\n%s\n%s", stdout, stderr)
	assert.Contains(t, stdout, "  /tmp/torchinductor_u: missing, skipped")
	assert.NotContains(t, stdout+stderr, "left out")

	stdout, stderr, code = run("-e", "HF_HOME=/data/hf")
	assert.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	assert.Contains(t, stdout, "  /data/hf/hub: would delete 0", "the hub moved by HF_HOME is swept there (nothing old yet)")
	assert.Contains(t, stdout, "  /data/hf/datasets: missing, skipped")
	assert.Contains(t, stdout, "left out 10 rules")

	// --usage in the same container: the hub moved by HF_HOME and its
	// model are listed; --json names each rule left out and why.
	stdout, stderr, code = runWith([]string{"-e", "HF_HOME=/data/hf"}, "--usage")
	assert.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	assert.Regexp(t, `(?m)^\s+/data/hf/hub: \S+ in 1 files, last use \d{4}-\d\d-\d\d; the plan frees 0B`, stdout)
	assert.Regexp(t, `(?m)^\s+\S+ +1 files  used \d{4}-\d\d-\d\d  frees +0B  models--org--m$`, stdout)
	assert.Contains(t, stdout, "left out 10 rules")
	stdout, stderr, code = runWith(nil, "--usage", "--json")
	assert.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	var doc struct {
		Tasks []struct {
			Report struct {
				LeftOut []struct{ Field, Rule, Reason string } `json:"left_out"`
			} `json:"report"`
		} `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc), stdout)
	require.Len(t, doc.Tasks, 1)
	lo := doc.Tasks[0].Report.LeftOut
	require.Len(t, lo, 13, "%+v", lo)
	assert.Equal(t, "sweep.rules[0]", lo[0].Field)
	assert.Equal(t, "cache: torch", lo[0].Rule)
	for _, l := range lo {
		if l.Rule == "cache: torchinductor" {
			// torch names inductor's folder after the user: uid 4242 has none.
			assert.Contains(t, l.Reason, "the user name is unknown", l.Field)
			continue
		}
		assert.Equal(t, `HOME is "/": the home directory is unknown`, l.Reason, l.Field)
	}
}
