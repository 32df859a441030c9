package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/adapters/internal/config"
)

// logLine is one JSON log record of a job run.
type logLine struct {
	Msg    string `json:"msg"`
	Job    string `json:"job"`
	Stream string `json:"stream"`
	Cont   bool   `json:"cont"`
}

// runJob runs cfg once with a JSON logger and returns the result, the
// error and the output records, failing when the run outlasts limit.
func runJob(t *testing.T, ctx context.Context, cfg config.Job, limit time.Duration) (taskResult, []logLine, error) {
	t.Helper()
	var logs syncBuffer
	j := newJobTask(cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	type out struct {
		res taskResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := j.Run(ctx, false)
		done <- out{res, err}
	}()
	var o out
	select {
	case o = <-done:
	case <-time.After(limit):
		t.Fatalf("job %s still running after %v; log:\n%s", cfg.Name, limit, logs.String())
	}
	var lines []logLine
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if l == "" {
			continue
		}
		var ll logLine
		require.NoError(t, json.Unmarshal([]byte(l), &ll), l)
		if ll.Stream != "" {
			lines = append(lines, ll)
		}
	}
	return o.res, lines, o.err
}

func shellJob(name, script string) config.Job {
	return config.Job{Name: name, Schedule: "@hourly", Command: config.Command{Shell: script}}
}

func TestJobOutputLineByLine(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", maxLineBytes*2+10)
	cfg := config.Job{
		Name: "report", Schedule: "@hourly",
		Command: config.Command{Argv: []string{"/bin/sh", "-c", `echo "one $GREETING"; printf 'two\r\n' >&2; pwd; printf '\000bin\377ary\n'; printf '%s\n' "$LONG"; printf 'no newline'`}},
		Env:     map[string]string{"GREETING": "hello", "LONG": long},
		Dir:     config.Path(dir),
	}
	res, lines, err := runJob(t, context.Background(), cfg, 20*time.Second)
	require.NoError(t, err)
	rep := res.Report.(jobReport)
	assert.Equal(t, 0, rep.ExitCode)
	assert.Equal(t, []string{"exit status 0"}, res.Lines)
	var stdout []string
	for _, l := range lines {
		assert.Equal(t, "report", l.Job)
		if l.Stream == "stderr" {
			assert.Equal(t, "two", l.Msg, "CR LF ends a line")
			continue
		}
		stdout = append(stdout, l.Msg)
	}
	require.Len(t, stdout, 7, "%q", stdout)
	assert.Equal(t, "one hello", stdout[0])
	resolved, _ := filepath.EvalSymlinks(dir)
	assert.Equal(t, resolved, stdout[1])
	assert.Equal(t, "\x00bin\ufffdary", stdout[2], "binary bytes are kept (JSON logs show invalid UTF-8 as U+FFFD)")
	// A long line comes in pieces of at most maxLineBytes, the later ones
	// marked as continuations.
	assert.Equal(t, long, stdout[3]+stdout[4]+stdout[5])
	assert.Len(t, stdout[3], maxLineBytes)
	var conts int
	for _, l := range lines {
		if l.Cont {
			conts++
		}
	}
	assert.Equal(t, 2, conts)
	assert.Equal(t, "no newline", stdout[6])
	assert.Equal(t, int64(6), rep.OutputLines, "five on stdout (the long line counts once), one on stderr")
}

func TestJobExitStatusAndStartFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  config.Command
		code int
		want string
	}{
		{"exit 3", config.Command{Shell: "exit 3"}, 3, "job x: exit status 3"},
		{"killed", config.Command{Shell: "kill -USR1 $$"}, 128 + int(unix.SIGUSR1), "killed by SIGUSR1 (exit status 138)"},
		{"not found", config.Command{Argv: []string{"/no/such/program"}}, 127, "start /no/such/program"},
		{"not executable", config.Command{Argv: []string{"/etc/hostname"}}, 126, "start /etc/hostname"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _, err := runJob(t, context.Background(), config.Job{Name: "x", Schedule: "@hourly", Command: tc.cmd}, 20*time.Second)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, tc.code, res.Report.(jobReport).ExitCode)
		})
	}
}

// alive reports whether pid is a process that has not exited (a zombie
// has).
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// waitGone fails t unless pid has exited before the deadline.
func waitGone(t *testing.T, pid int, deadline time.Duration) {
	t.Helper()
	end := time.Now().Add(deadline)
	for alive(pid) {
		if time.Now().After(end) {
			t.Fatalf("process %d still alive after %v", pid, deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, "the job to write "+path, func() bool {
		data, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil
	})
	return pid
}

// A timeout kills the job's whole process group, a grandchild that
// ignores SIGTERM included: SIGTERM first, SIGKILL after the grace.
func TestJobTimeoutKillsTheGroup(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "grandchild")
	cfg := shellJob("stubborn", `trap '' TERM; sleep 60 & echo $! > `+pidfile+`; wait; wait`)
	cfg.Timeout = config.Duration(300 * time.Millisecond)
	start := time.Now()
	res, _, err := runJob(t, context.Background(), cfg, 10*time.Second)
	took := time.Since(start)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "timed out after 300ms: process group killed")
	rep := res.Report.(jobReport)
	assert.True(t, rep.TimedOut)
	assert.Equal(t, 128+int(unix.SIGKILL), rep.ExitCode, "the shell ignored SIGTERM and got SIGKILL")
	waitGone(t, readPid(t, pidfile), 5*time.Second)
	t.Logf("timeout 300ms, stopped after %v (grace %v)", took, killGrace)
}

// Stopping a run (tend-cron's SIGTERM) kills the group within a second,
// even when every process of it ignores SIGTERM.
func TestJobStopKillsTheGroupWithinASecond(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "grandchild")
	cfg := shellJob("stubborn", `trap '' TERM; sleep 60 & echo $! > `+pidfile+`; wait; wait`)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { // cancel once the grandchild runs (at the latest after 10s)
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if data, err := os.ReadFile(pidfile); err == nil && strings.HasSuffix(string(data), "\n") {
				break
			}
		}
		cancel()
	}()
	res, _, err := runJob(t, ctx, cfg, 10*time.Second)
	stopped := time.Now()
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), err)
	assert.True(t, res.Report.(jobReport).Stopped)
	waitGone(t, readPid(t, pidfile), time.Second)
	assert.Less(t, time.Since(stopped), time.Second)
}

// What a job leaves running in its group when it exits is stopped too.
func TestJobLeftoversAreKilled(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "grandchild")
	cfg := shellJob("leaky", `sleep 60 >/dev/null 2>&1 & echo $! > `+pidfile+`; echo done`)
	res, lines, err := runJob(t, context.Background(), cfg, 10*time.Second)
	require.NoError(t, err, "the job itself succeeded")
	rep := res.Report.(jobReport)
	assert.True(t, rep.Leftovers)
	assert.Equal(t, "done", lines[0].Msg)
	waitGone(t, readPid(t, pidfile), 5*time.Second)
}

// Output held open by a process that left the job's group (setsid) is
// not waited for.
func TestJobOutputHeldOutsideTheGroup(t *testing.T) {
	setsid, err := exec.LookPath("setsid")
	if err != nil {
		t.Skip("setsid (util-linux) not installed")
	}
	pidfile := filepath.Join(t.TempDir(), "escaped")
	cfg := shellJob("escape", setsid+` sh -c 'echo $$ > `+pidfile+`; exec sleep 60' & sleep 0.2; echo bye`)
	_, _, err = runJob(t, context.Background(), cfg, 10*time.Second)
	require.NoError(t, err)
	pid := readPid(t, pidfile)
	unix.Kill(pid, unix.SIGKILL)
}

func TestJobDryRun(t *testing.T) {
	j := newJobTask(config.Job{Name: "x", Command: config.Command{Argv: []string{"rm", "-rf", "/"}}}, nil)
	res, err := j.Run(context.Background(), true)
	require.NoError(t, err)
	assert.Equal(t, []string{`would run ["rm" "-rf" "/"]`}, res.Lines)
}
