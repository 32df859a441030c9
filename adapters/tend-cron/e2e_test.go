package main

import (
	"bufio"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/internal/testenv"
)

// testLabel marks the images and containers the tests make, so that any
// left behind by a killed test run can be found:
// docker rm -f $(docker ps -aq -f label=tend.test=tend-cron).
const testLabel = "tend.test=tend-cron"

// docker and mustDocker run the docker CLI (see internal/testenv).
var docker, mustDocker = testenv.RunDocker, testenv.MustDocker

// goBuild builds a static binary of pkg into dst.
func goBuild(t *testing.T, pkg, dst string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", dst, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
}

// configuredTasks lists the tasks the real makers build from a config file.
func configuredTasks(t *testing.T, path string) map[string]bool {
	t.Helper()
	cfg, err := config.Load(path, config.Options{})
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mk := range taskMakers {
		if tk, ok, err := mk(cfg, slog.New(slog.DiscardHandler)); err == nil && ok {
			names[tk.Name()] = true
		}
	}
	return names
}

// TestEndToEndDocker runs tend-cron as the ENTRYPOINT (PID 1) of a FROM
// scratch image wrapping a child that writes two logs fast, fills a cache
// with old files and leaves orphans, and checks from outside that the old
// files went, both logs rotated without losing or repeating a line, no
// zombie stayed, docker stop ends it cleanly within the grace period, and
// the container's exit code is the child's.
func TestEndToEndDocker(t *testing.T) {
	testenv.Short(t)
	dockerBin := testenv.Docker(t)
	tasks := configuredTasks(t, "testdata/e2e/tend.yaml")
	if !tasks["sweep"] {
		t.Skipf("the end-to-end test needs the sweep task; taskMakers builds only %v", tasks)
	}
	ctxDir := t.TempDir()
	goBuild(t, ".", filepath.Join(ctxDir, "tend-cron"))
	goBuild(t, "./testdata/e2echild", filepath.Join(ctxDir, "e2echild"))
	cfg, err := os.ReadFile("testdata/e2e/tend.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "tend.yaml"), cfg, 0o644))
	for _, d := range []string{"rootfs/state", "rootfs/cache", "rootfs/var/log/app"} {
		require.NoError(t, os.MkdirAll(filepath.Join(ctxDir, d), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(`FROM scratch
COPY rootfs/ /
COPY tend-cron e2echild /
COPY tend.yaml /etc/tend.yaml
ENTRYPOINT ["/tend-cron", "--config", "/etc/tend.yaml", "--run-at-start", "--metrics-file", "/state/tend.prom", "--"]
CMD ["/e2echild", "run"]
`), 0o644))

	id := randomID(t)
	image := "tend-test-cron-" + id
	mustDocker(t, dockerBin, "build", "-q", "--label", testLabel, "-t", image, ctxDir)
	t.Cleanup(func() { docker(t, dockerBin, "rmi", "-f", image) })

	t.Run("child exit code and missing command", func(t *testing.T) {
		for _, tc := range []struct {
			cmd  []string
			code string
		}{{[]string{"/e2echild", "exit", "5"}, "5"}, {[]string{"/no-such-command"}, "127"}} {
			name := "tend-test-cron-" + randomID(t)
			args := append([]string{"run", "--label", testLabel, "--name", name, image}, tc.cmd...)
			out, _ := docker(t, dockerBin, args...)
			code := mustDocker(t, dockerBin, "wait", name)
			logs, _ := docker(t, dockerBin, "logs", name)
			docker(t, dockerBin, "rm", "-f", name)
			assert.Equal(t, tc.code, code, "%s\n%s", out, logs)
		}
	})

	name := "tend-test-cron-" + id
	// The logs and the cache live on volumes (ext4 here), as they do in real
	// containers; this engine's image root is fuse-overlayfs, which has no
	// fallocate for lossless copytruncate.
	mustDocker(t, dockerBin, "run", "-d", "--label", testLabel, "--name", name, "-e", "EXIT_ON_TERM=7", "-v", "/var/log/app", "-v", "/cache", image)
	t.Cleanup(func() { docker(t, dockerBin, "rm", "-f", "-v", name) })

	ls := func(dir string) []string {
		out, err := docker(t, dockerBin, "exec", name, "/e2echild", "ls", dir)
		if err != nil {
			return nil
		}
		return strings.Fields(out)
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				logs, _ := docker(t, dockerBin, "logs", "--tail", "40", name)
				t.Fatalf("timed out waiting for %s; last logs:\n%s", what, logs)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	waitUntil("the child to fill the cache", func() bool { return len(ls("/cache")) > 0 })
	waitUntil("the old cache files to go", func() bool { return len(ls("/cache/old")) == 0 })
	// The fresh files stay, and so does the directory the old ones were in:
	// it changed today.
	assert.Equal(t, []string{"fresh-0.bin", "fresh-1.bin", "fresh-2.bin", "fresh-3.bin", "fresh-4.bin", "old"}, ls("/cache"))
	backups := func(prefix string) int {
		n := 0
		for _, f := range ls("/var/log/app") {
			if strings.HasPrefix(f, prefix+".") {
				n++
			}
		}
		return n
	}
	if tasks["rotate"] {
		waitUntil("three rotations of each log", func() bool { return backups("append.log") >= 3 && backups("reopen.log") >= 3 })
	}
	logs := mustDocker(t, dockerBin, "logs", name)
	require.Contains(t, logs, "left orphan", "the child left orphans for PID 1")
	assert.Equal(t, "0", mustDocker(t, dockerBin, "exec", name, "/e2echild", "zombies"), "PID 1 reaps orphans")

	// The jobs run: one's output is in the log with its name, the other
	// never ends, so its later slots are skipped and said so.
	waitUntil("the hello job's output", func() bool {
		out, _ := docker(t, dockerBin, "logs", name)
		return strings.Contains(out, `msg="hello from a job" job=hello stream=stdout`) &&
			strings.Contains(out, `msg="skipped: the previous run is still going" job=stubborn`)
	})
	stubborn := strings.Fields(mustDocker(t, dockerBin, "exec", name, "/e2echild", "cat", "/state/stubborn.pids"))
	require.Len(t, stubborn, 2, "the stubborn job and its grandchild")

	// A clean stop within the grace period, with a job whose whole process
	// group ignores SIGTERM: had docker needed its SIGKILL, the exit code
	// would be 137 and the child's last words missing.
	// Stop just after a rotation ended, not in the middle of one: a rotation
	// cut by the stop (tend-cron exits within a second of the child, and
	// Docker may kill it anyway) is finished or undone by the rotate
	// package's next run, which this test does not wait for.
	if tasks["rotate"] {
		before := strings.Count(mustDocker(t, dockerBin, "logs", name), `msg="rotate done"`)
		waitUntil("a rotation to end", func() bool {
			out, _ := docker(t, dockerBin, "logs", name)
			return strings.Count(out, `msg="rotate done"`) > before
		})
	}
	stopStart := time.Now()
	mustDocker(t, dockerBin, "stop", "-t", "20", name)
	stopTook := time.Since(stopStart)
	assert.Equal(t, "7", mustDocker(t, dockerBin, "wait", name), "tend-cron exits with the child's status")
	logs = mustDocker(t, dockerBin, "logs", name)
	assert.Contains(t, logs, `msg=stopped exit=7`)
	assert.Contains(t, logs, `msg="job's process group outlived SIGTERM: SIGKILL" job=stubborn`)
	assert.Less(t, stopTook, 5*time.Second, "docker stop (grace 20s) returned once the child exited, jobs killed within a second")
	t.Logf("docker stop took %v", stopTook)
	m := regexp.MustCompile(`wrote (\d+) lines`).FindStringSubmatch(logs)
	require.NotNil(t, m, "the child reports how many lines it wrote:\n%s", logs)
	total, _ := strconv.Atoi(m[1])

	out := t.TempDir()
	mustDocker(t, dockerBin, "cp", name+":/var/log/app", out)
	for _, base := range []string{"append.log", "reopen.log"} {
		t.Run(base, func(t *testing.T) {
			if !tasks["rotate"] {
				t.Skip("the rotate task is not in taskMakers yet")
			}
			seen := make([]int, total+1)
			files, err := filepath.Glob(filepath.Join(out, "app", base+"*"))
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(files), 4, "the live log and at least 3 backups")
			nuls := 0
			for _, f := range files {
				nuls += countLines(t, f, seen)
			}
			if nuls > 0 {
				t.Logf("%s: %d NUL bytes (punched holes) before lines", base, nuls)
			}
			var lost, twice []int
			for i := 1; i <= total; i++ {
				switch {
				case seen[i] == 0:
					lost = append(lost, i)
				case seen[i] > 1:
					twice = append(twice, i)
				}
			}
			assert.Empty(t, lost, "lines lost in rotation (of %d)", total)
			assert.Empty(t, twice, "lines duplicated by rotation (of %d)", total)
			if len(lost)+len(twice) > 0 {
				for _, l := range strings.Split(logs, "\n") {
					if strings.Contains(l, "rotate") || strings.Contains(l, "still in progress") || strings.Contains(l, "stop") {
						t.Log(l)
					}
				}
			}
		})
	}

	mustDocker(t, dockerBin, "cp", name+":/state/tend.prom", out)
	prom, err := os.ReadFile(filepath.Join(out, "tend.prom"))
	require.NoError(t, err)
	parseTextfile(t, prom)
	deleted := regexp.MustCompile(`tend_files_deleted_total\{task="sweep"\} (\d+)`).FindStringSubmatch(string(prom))
	require.NotNil(t, deleted, "%s", prom)
	n, _ := strconv.Atoi(deleted[1])
	assert.GreaterOrEqual(t, n, 50, "the 50 old cache files were deleted")
	if tasks["rotate"] {
		assert.Regexp(t, `tend_last_success_timestamp_seconds\{task="rotate"\} \d`, string(prom))
	}
	assert.Regexp(t, `tend_job_runs_total\{job="hello"\} [1-9]`, string(prom))
	assert.Regexp(t, `tend_job_last_exit_code\{job="hello"\} (0|143)\n`, string(prom), "0, or 143 when the stop caught a run")
	assert.Regexp(t, `tend_job_skipped_runs_total\{job="stubborn",reason="busy"\} [1-9]`, string(prom))
	assert.Regexp(t, `tend_job_last_exit_code\{job="stubborn"\} 137\n`, string(prom), "killed on stop")
}

// TestDockerRunInteractiveCtrlC runs the image as `docker run -it` does,
// from a real terminal, and presses Ctrl-C: the child, in the foreground
// process group of the container's terminal, gets one SIGINT, and the
// container exits with its status.
func TestDockerRunInteractiveCtrlC(t *testing.T) {
	testenv.Short(t)
	dockerBin := testenv.Docker(t)
	ctxDir := t.TempDir()
	goBuild(t, ".", filepath.Join(ctxDir, "tend-cron"))
	goBuild(t, "./testdata/e2echild", filepath.Join(ctxDir, "e2echild"))
	require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "tend.yaml"), []byte("jobs:\n  - name: hello\n    schedule: \"@every 1s\"\n    command: [/e2echild, hello]\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(`FROM scratch
COPY tend-cron e2echild /
COPY tend.yaml /etc/tend.yaml
ENTRYPOINT ["/tend-cron", "--config", "/etc/tend.yaml", "--"]
CMD ["/e2echild", "ctrlc"]
`), 0o644))
	id := randomID(t)
	image := "tend-test-cron-tty-" + id
	mustDocker(t, dockerBin, "build", "-q", "--label", testLabel, "-t", image, ctxDir)
	t.Cleanup(func() { docker(t, dockerBin, "rmi", "-f", image) })
	name := "tend-test-cron-tty-" + id
	t.Cleanup(func() { docker(t, dockerBin, "rm", "-f", name) })
	master, out, done := ttyProc(t, dockerBin, "run", "-it", "--label", testLabel, "--name", name, image)
	waitText(t, out, "ready")
	waitText(t, out, "hello from a job") // the scheduler runs beside the child
	_, err := master.Write([]byte{3})
	require.NoError(t, err)
	code := waitExit(t, done, out)
	assert.Equal(t, 3, code, out.String())
	waitText(t, out, " SIGINT\r\n")
	assert.Contains(t, out.String(), "got 1 SIGINT")
	assert.Contains(t, out.String(), "foreground=true")
	assert.NotContains(t, out.String(), "signal=interrupt", "tend-cron got no SIGINT of its own")
	assert.Equal(t, "3", mustDocker(t, dockerBin, "inspect", "-f", "{{.State.ExitCode}}", name))
}

// countLines adds each "line N" of file (gzip or plain) to seen. NUL bytes
// before a line are counted, not failed: copytruncate may punch a hole
// where it cannot collapse a range that is not block-aligned, and a hole
// reads as NULs.
func countLines(t *testing.T, file string, seen []int) (nuls int) {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(file, ".gz") {
		gz, err := gzip.NewReader(f)
		require.NoError(t, err, file)
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		text := strings.TrimLeft(sc.Text(), "\x00")
		nuls += len(sc.Text()) - len(text)
		var n int
		if _, err := fmt.Sscanf(text, "line %d", &n); err != nil || n <= 0 || n >= len(seen) {
			if len(text) > 40 {
				text = text[:40] + "..."
			}
			t.Errorf("%s: unexpected line %q", filepath.Base(file), text)
			continue
		}
		seen[n]++
	}
	require.NoError(t, sc.Err())
	return nuls
}

func randomID(t *testing.T) string {
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
