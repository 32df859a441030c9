package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

// These tests run the real tend-cron binary and talk to it with real
// signals, as a container runtime or a user's shell does.

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// tendCron builds tend-cron once per test binary into a directory any user
// may read, so that tests can also run it as nobody.
func tendCron(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "tend-cron-bin-")
		if binErr != nil {
			return
		}
		if binErr = os.Chmod(binDir, 0o755); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "tend-cron")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// proc is a running tend-cron whose output the test reads as it comes.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	code           int
}

func startProc(t *testing.T, attr *syscall.SysProcAttr, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, attr, nil, args...)
}

// startProcEnv starts tend-cron with the test's environment plus env.
func startProcEnv(t *testing.T, attr *syscall.SysProcAttr, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(tendCron(t), args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.SysProcAttr = attr
	p.cmd.Env = append(os.Environ(), env...)
	require.NoError(t, p.cmd.Start())
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.code = 128 + int(ws.Signal())
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
}

// wait returns the exit code, failing t when tend-cron does not exit.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(30 * time.Second):
		t.Fatalf("tend-cron did not exit; stderr:\n%s", p.stderr.String())
		return -1
	}
}

// waitOutput waits until stdout or stderr contains s.
func (p *proc) waitOutput(t *testing.T, s string) {
	t.Helper()
	p.waitFor(t, s, func() string { return p.stdout.String() + p.stderr.String() })
}

// waitStdout waits until stdout (the child's, in entrypoint mode) contains
// s; tend-cron's own log on stderr quotes the child's command line.
func (p *proc) waitStdout(t *testing.T, s string) {
	t.Helper()
	p.waitFor(t, s, p.stdout.String)
}

func (p *proc) waitFor(t *testing.T, s string, output func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(output(), s) {
		select {
		case <-p.done:
			t.Fatalf("tend-cron exited (%d) before printing %q; stdout:\n%s\nstderr:\n%s", p.code, s, p.stdout.String(), p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q; stdout:\n%s\nstderr:\n%s", s, p.stdout.String(), p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
}

// makeOld creates n files of old content under dir, in folders of 500.
func makeOld(t *testing.T, dir string, n int) {
	t.Helper()
	old := time.Now().Add(-30 * 24 * time.Hour)
	for i := range n {
		d := filepath.Join(dir, fmt.Sprintf("d%03d", i/500))
		if i%500 == 0 {
			require.NoError(t, os.MkdirAll(d, 0o755))
		}
		f := filepath.Join(d, fmt.Sprintf("f%05d", i))
		require.NoError(t, os.WriteFile(f, []byte("x"), 0o644))
		require.NoError(t, os.Chtimes(f, old, old))
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	}))
	return n
}

// The scheduler: it runs at start and on its schedule, logs each run,
// reloads on SIGHUP (keeping the running config when the new one is bad,
// naming the file and line), and exits 0 on SIGTERM or SIGINT.
func TestBinaryScheduler(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			cache, cfg := filepath.Join(dir, "cache"), filepath.Join(dir, "tend.yaml")
			makeOld(t, cache, 3)
			good := "sweep:\n  schedule: \"@every 1s\"\n  rules: [{path: " + cache + ", older_than: 7d}]\n"
			writeConfig(t, cfg, good)
			p := startProc(t, nil, "--config", cfg, "--run-at-start")
			p.waitOutput(t, `msg="sweep done"`)
			p.waitOutput(t, "deleted 3 entries")
			assert.Equal(t, 0, countFiles(t, cache))

			writeConfig(t, cfg, "sweep:\n  schedule: \"61 * * * *\"\n  rules: [{path: "+cache+", older_than: 7d}]\n")
			p.signal(t, syscall.SIGHUP)
			p.waitOutput(t, "config not reloaded, keeping the running one")
			assert.Contains(t, p.stderr.String(), cfg+`:2: field sweep.schedule: bad schedule \"61 * * * *\"`)
			// The old schedule still runs: new old files go within a second or two.
			makeOld(t, filepath.Join(cache, "more"), 2)
			p.waitOutput(t, "deleted 2 entries")

			writeConfig(t, cfg, strings.Replace(good, "@every 1s", "@every 1h", 1))
			p.signal(t, syscall.SIGHUP)
			p.waitOutput(t, `msg="config reloaded"`)
			p.waitOutput(t, `schedule="@every 1h"`)

			p.signal(t, sig)
			assert.Equal(t, 0, p.wait(t), p.stderr.String())
			assert.Contains(t, p.stderr.String(), "msg=stopped exit=0")
		})
	}
}

// Entrypoint mode: every forwarded signal reaches the child, tend-cron
// exits with the child's status, or 128+N when signal N killed it.
func TestBinaryEntrypoint(t *testing.T) {
	sh := testenv.LookPath(t, "sh", "dash")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tend.yaml")
	writeConfig(t, cfg, "sweep:\n  schedule: \"@every 1h\"\n  rules: [{path: "+dir+"/none, older_than: 7d, missing_ok: true}]\n")

	t.Run("forwards signals and returns the status", func(t *testing.T) {
		script := `for s in HUP INT USR1 USR2; do trap "echo got $s" $s; done; trap 'echo got TERM; exit 7' TERM; ` +
			`echo ready; while :; do sleep 0.05; done`
		p := startProc(t, nil, "--config", cfg, "--", sh, "-c", script)
		p.waitStdout(t, "ready\n")
		for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2} {
			p.signal(t, sig)
			p.waitStdout(t, "got "+strings.TrimPrefix(signalName(sig), "SIG")+"\n")
		}
		assert.True(t, isRunning(p), "SIGINT goes to the child, which decides: it kept running")
		p.signal(t, syscall.SIGTERM)
		assert.Equal(t, 7, p.wait(t), p.stderr.String())
		assert.Contains(t, p.stdout.String(), "got TERM")
		assert.Contains(t, p.stderr.String(), "msg=stopped exit=7")
	})
	t.Run("child killed by the signal", func(t *testing.T) {
		p := startProc(t, nil, "--config", cfg, "--", "sleep", "60")
		p.waitOutput(t, `msg=started`)
		p.signal(t, syscall.SIGTERM)
		assert.Equal(t, 128+int(syscall.SIGTERM), p.wait(t), p.stderr.String())
	})
	t.Run("missing command", func(t *testing.T) {
		p := startProc(t, nil, "--config", cfg, "--", "tend-no-such-command", "arg")
		assert.Equal(t, 127, p.wait(t))
		assert.Contains(t, p.stderr.String(), "tend-no-such-command: command not found")
	})
}

func signalName(sig syscall.Signal) string {
	return map[syscall.Signal]string{
		syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGUSR1: "SIGUSR1",
		syscall.SIGUSR2: "SIGUSR2", syscall.SIGTERM: "SIGTERM",
	}[sig]
}

func isRunning(p *proc) bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// SIGTERM during a sweep stops it at a safe point: tend-cron reports the
// entries deleted so far, which is exactly what left the disk, and exits 1.
func TestBinarySIGTERMDuringSweep(t *testing.T) {
	testenv.Short(t)
	dir := t.TempDir()
	cache, cfg := filepath.Join(dir, "cache"), filepath.Join(dir, "tend.yaml")
	const total = 20000
	makeOld(t, cache, total)
	writeConfig(t, cfg, "sweep:\n  rules: [{path: "+cache+", older_than: 7d, age: mtime}]\n")
	p := startProc(t, nil, "--config", cfg, "--once", "--log-level", "debug")
	p.waitOutput(t, `msg=running task=sweep`)
	// Signal once deleting has begun, so that there is partial work.
	deadline := time.Now().Add(20 * time.Second)
	for countFiles(t, cache) == total && isRunning(p) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	p.signal(t, syscall.SIGTERM)
	assert.Equal(t, 1, p.wait(t), "stopped before the end: the run did not finish\n%s", p.stderr.String())
	out := p.stdout.String()
	assert.Contains(t, out, "(stopped at a safe point; partial work below)")
	m := regexp.MustCompile(`(?m)^  deleted (\d+) entries`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	deleted, _ := strconv.Atoi(m[1])
	left := countFiles(t, cache)
	t.Logf("stopped after deleting %d of %d files", deleted, total)
	assert.Positive(t, deleted, "deleting had begun\n%s", out)
	assert.Less(t, deleted, total, "the sweep stopped early\n%s", out)
	assert.Equal(t, total-deleted, left, "the report matches the disk\n%s", out)
	assert.Contains(t, p.stderr.String(), "stopping at a safe point")
}

// Run as an unprivileged user, tend-cron sweeps what that user owns and
// lists each path it could not touch, with the reason; that alone does not
// fail the run.
func TestBinaryNonRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root, to start tend-cron as nobody (uid 65534): run the tests as root")
	}
	const nobody = 65534
	dir, err := os.MkdirTemp("", "tend-cron-nonroot-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	root := filepath.Join(dir, "cache")
	// mine: nobody's own old files; rootdir: root's, readable, not
	// writable by nobody; secret: root's, not even readable.
	makeOld(t, filepath.Join(root, "mine"), 4)
	makeOld(t, filepath.Join(root, "rootdir"), 2)
	makeOld(t, filepath.Join(root, "secret"), 2)
	require.NoError(t, filepath.WalkDir(filepath.Join(root, "mine"), func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	}))
	require.NoError(t, os.Chown(root, nobody, nobody))
	require.NoError(t, os.Chmod(filepath.Join(root, "secret"), 0o700))
	cfg := filepath.Join(dir, "tend.yaml")
	writeConfig(t, cfg, "sweep:\n  rules: [{path: "+root+", older_than: 7d, age: mtime}]\n")
	metrics := filepath.Join(dir, "metrics")
	require.NoError(t, os.Mkdir(metrics, 0o755))
	require.NoError(t, os.Chown(metrics, nobody, nobody))

	p := startProc(t, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}},
		"--config", cfg, "--once", "--metrics-file", filepath.Join(metrics, "tend.prom"))
	code := p.wait(t)
	out := p.stdout.String()
	assert.Equal(t, 0, code, "paths it may not touch do not fail the run\n%s\n%s", out, p.stderr.String())
	assert.Equal(t, 0, countFiles(t, filepath.Join(root, "mine")), "nobody's old files went\n%s", out)
	assert.Equal(t, 2, countFiles(t, filepath.Join(root, "rootdir")), "root's stay")
	assert.Equal(t, 2, countFiles(t, filepath.Join(root, "secret")), "root's stay")
	assert.Regexp(t, `(?m)^  not permitted: .*`+regexp.QuoteMeta(filepath.Join(root, "secret"))+`.*permission denied$`, out)
	assert.Regexp(t, `(?m)^  not permitted: .*`+regexp.QuoteMeta(filepath.Join(root, "rootdir", "d000"))+`.*(permission denied|operation not permitted)$`, out)
	assert.Regexp(t, `(?m)^sweep: done in .*, [1-9]\d* paths? not permitted$`, out)

	prom, err := os.ReadFile(filepath.Join(metrics, "tend.prom"))
	require.NoError(t, err)
	series := parseTextfile(t, prom)
	assert.Equal(t, 4.0, series[`tend_files_deleted_total{task="sweep"}`], "%s", prom)
	assert.Positive(t, series[`tend_task_not_permitted{task="sweep"}`], "%s", prom)
	assert.Contains(t, series, `tend_last_success_timestamp_seconds{task="sweep"}`)
}

// In a sticky directory (a shared /tmp) an ordinary user may remove only
// what it owns: the dry run plans exactly what the real run then deletes,
// and names the other users' old files as not permitted in both.
func TestBinaryStickyDirDryRunIsExact(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root, to start tend-cron as nobody (uid 65534): run the tests as root")
	}
	const nobody = 65534
	dir, err := os.MkdirTemp("/var/tmp", "tend-cron-sticky-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777|os.ModeSticky))
	old := time.Now().Add(-30 * 24 * time.Hour)
	for _, f := range []struct {
		name string
		uid  int
	}{{"mine", nobody}, {"roots", 0}} {
		p := filepath.Join(dir, f.name)
		require.NoError(t, os.WriteFile(p, []byte("old"), 0o644))
		require.NoError(t, os.Lchown(p, f.uid, f.uid))
		require.NoError(t, os.Chtimes(p, old, old))
	}
	cfg := filepath.Join(dir, "tend.yaml") // root's, readable, young
	writeConfig(t, cfg, "sweep:\n  rules: [{path: "+dir+", older_than: 7d, age: mtime}]\n")
	asNobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	notPermitted := `(?m)^  not permitted: .*` + regexp.QuoteMeta(filepath.Join(dir, "roots")) + `: operation not permitted$`

	dry := startProc(t, asNobody, "--config", cfg, "--once", "--dry-run")
	assert.Equal(t, 0, dry.wait(t), "%s\n%s", dry.stdout.String(), dry.stderr.String())
	assert.Contains(t, dry.stdout.String(), "would delete 1 entries")
	assert.Contains(t, dry.stdout.String(), "file "+filepath.Join(dir, "mine")+" ")
	assert.NotContains(t, dry.stdout.String(), "file "+filepath.Join(dir, "roots")+" ")
	assert.Regexp(t, notPermitted, dry.stdout.String())

	real := startProc(t, asNobody, "--config", cfg, "--once")
	assert.Equal(t, 0, real.wait(t), "%s\n%s", real.stdout.String(), real.stderr.String())
	assert.NoFileExists(t, filepath.Join(dir, "mine"))
	assert.FileExists(t, filepath.Join(dir, "roots"))
	assert.Regexp(t, notPermitted, real.stdout.String())
}

// The README's first command, `tend-cron --once --dry-run` on the embedded
// default config, as an ordinary user: it plans the old cache files under
// $HOME, changes nothing, lists what it may not read in a shared /tmp, and
// exits 0.
func TestBinaryDefaultDryRunAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root, to start tend-cron as nobody (uid 65534): run the tests as root")
	}
	const nobody = 65534
	// $HOME outside /tmp: the default sweeps /tmp, and tend refuses a root
	// that holds the home directory.
	home, err := os.MkdirTemp("/var/tmp", "tend-cron-home-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(home) })
	cache := filepath.Join(home, ".cache", "torch", "hub")
	makeOld(t, cache, 3)
	fresh := filepath.Join(cache, "fresh.pt")
	require.NoError(t, os.WriteFile(fresh, []byte("x"), 0o644))
	require.NoError(t, filepath.WalkDir(home, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	}))

	p := startProcEnv(t, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}},
		[]string{"HOME=" + home}, "--once", "--dry-run")
	code := p.wait(t)
	out := p.stdout.String()
	assert.Equal(t, 0, code, "%s\n%s", out, p.stderr.String())
	assert.Contains(t, out, "tend-cron dry run of <embedded default>: nothing is changed\n")
	assert.Regexp(t, `(?m)^    `+regexp.QuoteMeta(filepath.Join(home, ".cache", "torch"))+`: would delete 3, `, out)
	assert.Contains(t, out, "    "+filepath.Join(home, ".cache", "pip")+": missing, skipped\n")
	assert.Regexp(t, `(?m)^    /tmp: would delete \d+`, out)
	assert.Equal(t, 4, countFiles(t, cache), "a dry run deletes nothing")
	assert.FileExists(t, fresh)
}
