package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
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
	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/internal/testenv"
)

// These tests run the real tend-cron binary as a container's init: with a
// child, with jobs, under a terminal, and as PID 1 of a PID namespace.

var (
	childOnce sync.Once
	childPath string
	childErr  error
)

// e2eChild builds testdata/e2echild (static) next to tend-cron.
func e2eChild(t *testing.T) string {
	t.Helper()
	dir := filepath.Dir(tendCron(t))
	childOnce.Do(func() {
		childPath = filepath.Join(dir, "e2echild")
		cmd := exec.Command("go", "build", "-o", childPath, "./testdata/e2echild")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			childErr = fmt.Errorf("go build e2echild: %v: %s", err, out)
		}
	})
	require.NoError(t, childErr)
	return childPath
}

// readPids waits for a file of space-separated pids.
func readPids(t *testing.T, path string) []int {
	t.Helper()
	var pids []int
	waitFor(t, "pids in "+path, func() bool {
		data, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(data), "\n") {
			return false
		}
		pids = nil
		for _, f := range strings.Fields(string(data)) {
			n, err := strconv.Atoi(f)
			if err != nil {
				return false
			}
			pids = append(pids, n)
		}
		return len(pids) > 0
	})
	return pids
}

// SIGTERM with a child that exits 42 on it, a long sweep and a job whose
// whole process group ignores SIGTERM: tend-cron exits 42 within a
// second, and the job's processes are gone.
func TestBinaryStopsEverythingWithinASecond(t *testing.T) {
	sh := testenv.LookPath(t, "sh", "dash")
	child := e2eChild(t)
	dir := t.TempDir()
	cache, cfg, pidfile := filepath.Join(dir, "cache"), filepath.Join(dir, "tend.yaml"), filepath.Join(dir, "job.pids")
	makeOld(t, cache, 20000)
	writeConfig(t, cfg, fmt.Sprintf(`sweep:
  schedule: "@every 1h"
  rules: [{path: %s, older_than: 7d, age: mtime}]
jobs:
  - name: stubborn
    schedule: "@every 1h"
    command: [%q, stubborn, %q]
`, cache, child, pidfile))
	p := startProc(t, nil, "--config", cfg, "--run-at-start", "--log-level", "debug", "--",
		sh, "-c", `trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done`)
	p.waitStdout(t, "ready\n")
	pids := readPids(t, pidfile)
	require.Len(t, pids, 2)
	waitFor(t, "the sweep to start deleting", func() bool { return countFiles(t, cache) < 20000 })
	sent := time.Now()
	p.signal(t, syscall.SIGTERM)
	code := p.wait(t)
	took := time.Since(sent)
	assert.Equal(t, 42, code)
	assert.Less(t, took, time.Second, "tend-cron exits within a second of SIGTERM")
	for _, pid := range pids {
		waitGone(t, pid, 2*time.Second)
	}
	t.Logf("SIGTERM to exit: %v; the sweep had %d files left", took, countFiles(t, cache))
	assert.True(t, strings.Contains(p.stderr.String(), "job's process group outlived SIGTERM: SIGKILL"), "the job's group was killed")
}

// openPTY opens a pseudo-terminal pair (what openpty(3) does).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		testenv.Missing(t, "a pseudo-terminal (/dev/ptmx): %v", err)
	}
	t.Cleanup(func() { m.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return m, s
}

// ttyProc starts argv in a new session whose controlling terminal is a new
// pty, as a terminal emulator or docker run -it does, and returns the
// master side and what it has read.
func ttyProc(t *testing.T, argv ...string) (master *os.File, out *syncBuffer, done <-chan int) {
	t.Helper()
	m, s := openPTY(t)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	require.NoError(t, cmd.Start())
	// s stays open here until the test ends: with no slave open, Linux may
	// drop what the master has not read yet.
	out = &syncBuffer{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	codes := make(chan int, 1)
	go func() {
		cmd.Wait()
		codes <- exitCode(cmd.ProcessState.Sys().(syscall.WaitStatus))
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-codes:
		case <-time.After(10 * time.Second):
		}
	})
	return m, out, codes
}

func waitText(t *testing.T, out *syncBuffer, s string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%q on the terminal", s), func() bool { return strings.Contains(out.String(), s) })
}

func waitExit(t *testing.T, done <-chan int, out *syncBuffer) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(20 * time.Second):
		t.Fatalf("did not exit; terminal:\n%s", out.String())
		return -1
	}
}

// Under a terminal, Ctrl-C reaches the child once: its process group is
// the terminal's foreground one, and tend-cron, in another group, gets no
// SIGINT to forward a second time.
func TestBinaryCtrlCUnderATerminal(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tend.yaml")
	writeConfig(t, cfg, "sweep:\n  schedule: \"@every 1h\"\n  rules: [{path: "+dir+"/none, older_than: 7d, missing_ok: true}]\n")
	master, out, done := ttyProc(t, tendCron(t), "--config", cfg, "--", e2eChild(t), "ctrlc")
	waitText(t, out, "ready")
	_, err := master.Write([]byte{3}) // Ctrl-C
	require.NoError(t, err)
	code := waitExit(t, done, out)
	assert.Equal(t, 3, code, out.String())
	waitText(t, out, " SIGINT\r\n")
	assert.Contains(t, out.String(), "got 1 SIGINT", "the child saw Ctrl-C once")
	assert.Contains(t, out.String(), "foreground=true")
	assert.NotContains(t, out.String(), "signal=interrupt", "tend-cron itself got no SIGINT")
}

// --signal-group sends the forwarded signal to the child's whole group.
func TestBinarySignalGroup(t *testing.T) {
	sh := testenv.LookPath(t, "sh", "dash")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tend.yaml")
	writeConfig(t, cfg, "sweep:\n  schedule: \"@every 1h\"\n  rules: [{path: "+dir+"/none, older_than: 7d, missing_ok: true}]\n")
	for _, group := range []bool{false, true} {
		t.Run(fmt.Sprintf("group=%v", group), func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			args := []string{"--config", cfg}
			if group {
				args = append(args, "--signal-group")
			}
			args = append(args, "--", sh, "-c", `sleep 60 >/dev/null 2>&1 & echo $! > `+pidfile+`; wait`)
			p := startProc(t, nil, args...)
			pid := readPid(t, pidfile)
			t.Cleanup(func() { unix.Kill(pid, unix.SIGKILL) })
			p.signal(t, syscall.SIGTERM)
			assert.Equal(t, 128+int(syscall.SIGTERM), p.wait(t), p.stderr.String())
			if group {
				waitGone(t, pid, 5*time.Second)
			} else {
				time.Sleep(100 * time.Millisecond)
				assert.True(t, alive(pid), "without --signal-group only the child gets the signal")
			}
		})
	}
}

// As PID 1 (of a new PID namespace, as in a container) tend-cron reaps
// the orphans the child leaves, and no job loses its exit status to the
// reaping: every run of a job that exits 3 reports 3, every run of one
// that exits 0 succeeds, while orphans die all around them.
func TestBinaryPID1ReapsWithoutStealing(t *testing.T) {
	testenv.Short(t)
	unshare := testenv.LookPath(t, "unshare", "util-linux")
	sh := testenv.LookPath(t, "sh", "dash")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root, for a PID namespace (unshare --pid)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tend.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`jobs:
  - name: three
    schedule: "@every 1s"
    command: "(sleep 0.01 &); (true &); exit 3"
  - name: ok
    schedule: "@every 1s"
    command: [%q, "-c", "(sleep 0.02 &) ; true"]
`, sh))
	// The child makes orphans for about 4 s, then counts the zombies left and
	// exits 5.
	script := `i=0; while [ $i -lt 120 ]; do (sleep 0.01 &); (true &); i=$((i+1)); sleep 0.03; done; sleep 0.5; ` +
		`echo "zombies=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l)"; exit 5`
	cmd := exec.Command(unshare, "--pid", "--fork", "--mount-proc", tendCron(t), "--config", cfg, "--", sh, "-c", script)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("tend-cron as PID 1 did not exit; stderr:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "unshare failed") || strings.Contains(stderr.String(), "unshare:") {
		testenv.Missing(t, "a PID namespace: %s", stderr.String())
	}
	logs := stderr.String()
	assert.Equal(t, 5, cmd.ProcessState.ExitCode(), "PID 1 exits with the child's status\n%s", logs)
	assert.Contains(t, stdout.String(), "zombies=0", "PID 1 reaped the orphans\n%s", logs)
	assert.Contains(t, logs, `reaping="PID 1 (tend-cron's init)"`)
	failed := regexp.MustCompile(`msg="job three: exit status 3(; [^"]*)?" job=three`).FindAllString(logs, -1)
	okRuns := strings.Count(logs, `msg="ok done" job=ok`)
	t.Logf("job three failed with status 3 %d times, job ok succeeded %d times", len(failed), okRuns)
	assert.GreaterOrEqual(t, len(failed), 4)
	assert.GreaterOrEqual(t, okRuns, 4)
	assert.NotContains(t, logs, "no child processes", "no status was stolen")
	assert.NotContains(t, logs, `msg="ok failed"`, "no status was stolen")
	if !assert.Equal(t, strings.Count(logs, `msg="three failed"`), len(failed), "every failure of three is its exit status 3") {
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, "job=three") && !strings.Contains(l, "exit status 3") {
				t.Log(l)
			}
		}
	}
}

// --check prints each task's and job's next run times; a bad job is a bad
// config (exit 2) naming the file, the line and the field.
func TestBinaryCheck(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tend.yaml")
	writeConfig(t, cfg, `sweep:
  schedule: "0 3 * * *"
  rules: [{path: /tmp/none, older_than: 7d, missing_ok: true}]
jobs:
  - name: backup
    schedule: "@every 10m"
    command: tar czf /tmp/backup.tgz /etc
    timeout: 1h
    overlap: queue
`)
	p := startProc(t, nil, "--config", cfg, "--check")
	assert.Equal(t, 0, p.wait(t), p.stderr.String())
	out := p.stdout.String()
	assert.Contains(t, out, cfg+" is valid: 2 entries")
	assert.Contains(t, out, `task sweep: schedule "0 3 * * *"`)
	assert.Contains(t, out, `job backup: schedule "@every 10m" overlap=queue timeout=1h0m0s command=tar czf /tmp/backup.tgz /etc`)
	assert.Equal(t, 6, strings.Count(out, "  next "), out)

	writeConfig(t, cfg, "jobs:\n  - name: backup\n    schedule: \"@every 10m\"\n    command: [tar]\n    overlap: sometimes\n")
	p = startProc(t, nil, "--config", cfg, "--check")
	assert.Equal(t, 2, p.wait(t))
	assert.Contains(t, p.stderr.String(), cfg+`:5: field jobs[0].overlap: "sometimes" is not one of skip, queue, kill`)
}

// --once --only NAME runs one job once and returns its outcome.
func TestBinaryOnceOnlyJob(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tend.yaml")
	writeConfig(t, cfg, `jobs:
  - name: good
    schedule: "@hourly"
    command: echo "hello $WHO"
    env: {WHO: world}
  - name: bad
    schedule: "@hourly"
    command: [sh, -c, "echo oops >&2; exit 4"]
`)
	p := startProc(t, nil, "--config", cfg, "--once", "--only", "good")
	assert.Equal(t, 0, p.wait(t), p.stderr.String())
	assert.Contains(t, p.stderr.String(), `msg="hello world" job=good stream=stdout`)
	assert.Contains(t, p.stdout.String(), "good: done in")
	assert.NotContains(t, p.stderr.String(), "oops")

	p = startProc(t, nil, "--config", cfg, "--once", "--only", "bad", "--json")
	assert.Equal(t, 1, p.wait(t), p.stderr.String())
	assert.Contains(t, p.stderr.String(), `msg=oops job=bad stream=stderr`)
	assert.Contains(t, p.stdout.String(), `"exit_code": 4`)

	p = startProc(t, nil, "--config", cfg, "--once", "--only", "nope")
	assert.Equal(t, 2, p.wait(t))
	assert.Contains(t, p.stderr.String(), `--only "nope": no task or job of that name (the config has: good, bad)`)
}

// lineCounter counts the lines written to it and keeps the last one.
type lineCounter struct {
	mu    sync.Mutex
	n     int
	bytes int64
	last  []byte
	cur   []byte
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bytes += int64(len(p))
	for _, b := range p {
		if b == '\n' {
			c.n++
			c.last, c.cur = c.cur, c.last[:0]
			continue
		}
		if len(c.cur) < 1<<16 {
			c.cur = append(c.cur, b)
		}
	}
	return len(p), nil
}

// A job printing far more than tend-cron may hold (120 MB of NUL bytes
// without a newline, under a 100 MB data limit) is logged in bounded
// pieces, and its last line still arrives.
func TestBinaryJobOutputFloodIsBounded(t *testing.T) {
	testenv.Short(t)
	prlimit := testenv.LookPath(t, "prlimit", "util-linux")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tend.yaml")
	writeConfig(t, cfg, "jobs:\n  - name: zero\n    schedule: \"@hourly\"\n    command: head -c 120000000 /dev/zero; printf 'the end\\n'\n")
	bin := filepath.Join(dir, "tend-cron")
	goBuild(t, ".", bin) // static: no cgo thread stacks in the data limit
	cmd := exec.Command(prlimit, "--data=100000000", "--nofile=64", bin, "--config", cfg, "--once", "--only", "zero", "--log-format", "json")
	var logs lineCounter
	var stdout syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		logs.mu.Lock()
		last := string(logs.cur) + " | " + string(logs.last)
		logs.mu.Unlock()
		require.NoError(t, err, "stdout:\n%s\nlast log line: %.2000s", stdout.String(), last)
	case <-time.After(120 * time.Second):
		cmd.Process.Kill()
		t.Fatal("tend-cron did not finish")
	}
	assert.Contains(t, stdout.String(), "zero: done")
	pieces := 120000000/maxLineBytes + 1
	assert.GreaterOrEqual(t, logs.n, pieces, "one record per 8 KiB piece")
	found := false
	for _, l := range strings.Split(stdout.String(), "\n") {
		found = found || strings.Contains(l, "exit status 0")
	}
	assert.True(t, found)
	t.Logf("%d log records, %d MB of log for 120 MB of output", logs.n, logs.bytes>>20)
}

// --metrics-addr serves what the textfile holds, and a client that
// connects and never sends a request does not hold up the stop.
func TestBinaryMetricsOverHTTP(t *testing.T) {
	dir := t.TempDir()
	cfg, prom := filepath.Join(dir, "tend.yaml"), filepath.Join(dir, "tend.prom")
	writeConfig(t, cfg, `jobs:
  - name: fails
    schedule: "@every 1s"
    command: "exit 9"
`)
	p := startProc(t, nil, "--config", cfg, "--metrics-addr", "127.0.0.1:0", "--metrics-file", prom)
	p.waitOutput(t, "msg=\"fails failed\"")
	m := regexp.MustCompile(`msg="serving metrics" url=(\S+)`).FindStringSubmatch(p.stderr.String())
	require.NotNil(t, m, p.stderr.String())
	silent, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(m[1], "http://"), "/metrics"))
	require.NoError(t, err)
	defer silent.Close()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(m[1])
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	served := parseTextfile(t, body)
	assert.GreaterOrEqual(t, served[`tend_job_failures_total{job="fails"}`], 1.0, "%s", body)
	assert.Equal(t, 9.0, served[`tend_job_last_exit_code{job="fails"}`])
	sent := time.Now()
	p.signal(t, syscall.SIGTERM)
	assert.Equal(t, 0, p.wait(t))
	assert.Less(t, time.Since(sent), 2*time.Second, "the silent client did not hold up the stop")
	data, err := os.ReadFile(prom)
	require.NoError(t, err)
	file := parseTextfile(t, data)
	assert.GreaterOrEqual(t, file[`tend_job_runs_total{job="fails"}`], served[`tend_job_runs_total{job="fails"}`])
}
