package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

// serveAsync runs the command in the background and returns a channel with
// its exit code.
func serveAsync(ctx context.Context, c *command, args ...string) <-chan int {
	done := make(chan int, 1)
	go func() { done <- c.run(ctx, args) }()
	return done
}

func waitCode(t *testing.T, done <-chan int) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(20 * time.Second):
		t.Fatal("tend-cron did not exit")
		return -1
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// blockingSweep runs until stopped and then reports partial work.
func blockingSweep(started chan<- struct{}) *fakeTask {
	return &fakeTask{name: "sweep", schedule: "@every 1s", run: func(ctx context.Context, _ bool) (taskResult, error) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return taskResult{Lines: []string{"deleted 12 files (40 KiB) before the signal"}}, ctx.Err()
	}}
}

func TestEntrypointExitCodes(t *testing.T) {
	sh := testenv.LookPath(t, "sh", "dash")
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))
	tests := []struct {
		name string
		argv []string
		code int
		want string
	}{
		{"exit status", []string{sh, "-c", "exit 3"}, 3, `msg="command exited"`},
		{"success", []string{sh, "-c", "echo child ran"}, 0, "child ran"},
		{"killed by a signal", []string{sh, "-c", "kill -KILL $$"}, 128 + 9, `exit=137`},
		{"not in PATH", []string{"tend-no-such-command"}, 127, "tend-no-such-command: command not found"},
		{"no such file", []string{"/nonexistent/tend-cmd"}, 127, "/nonexistent/tend-cmd: command not found"},
		{"not executable", []string{notExec}, 126, "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, stdout, stderr := testCommand(t, &fakeTask{name: "sweep"})
			code := c.run(context.Background(), append([]string{"--config", "testdata/fake.yaml", "--"}, tt.argv...))
			assert.Equal(t, tt.code, code)
			assert.Contains(t, stdout.String()+stderr.String(), tt.want)
		})
	}
}

// SIGTERM is forwarded to the child, the task in progress stops at a safe
// point and reports its partial work, and tend-cron exits with the child's
// status once the child has exited.
func TestEntrypointForwardsSignalsAndStopsCleanly(t *testing.T) {
	sh := testenv.LookPath(t, "sh", "dash")
	started := make(chan struct{}, 1)
	c, stdout, stderr := testCommand(t, blockingSweep(started))
	sigs := make(chan os.Signal, 4)
	c.signals = sigs
	script := `trap 'echo got USR1' USR1; trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done`
	done := serveAsync(context.Background(), c, "--config", "testdata/fake.yaml", "--run-at-start", "--", sh, "-c", script)
	<-started
	waitFor(t, "the child to start", func() bool { return containsLine(stdout.String(), "ready") })
	sigs <- syscall.SIGUSR1
	waitFor(t, "USR1 to reach the child", func() bool { return containsLine(stdout.String(), "got USR1") })
	sigs <- syscall.SIGTERM
	assert.Equal(t, 7, waitCode(t, done))
	assert.True(t, containsLine(stdout.String(), "got TERM"))
	log := stderr.String()
	assert.Contains(t, log, `msg="sweep stopped at a safe point"`)
	assert.Contains(t, log, `msg="deleted 12 files (40 KiB) before the signal"`)
	assert.Contains(t, log, `msg=stopped exit=7`)
}

// Without a child, SIGTERM stops the scheduler and tend-cron exits 0.
func TestSchedulerModeStopsOnSignal(t *testing.T) {
	started := make(chan struct{}, 1)
	c, _, stderr := testCommand(t, blockingSweep(started))
	sigs := make(chan os.Signal, 1)
	c.signals = sigs
	done := serveAsync(context.Background(), c, "--config", "testdata/fake.yaml")
	<-started // the first run, a second after start
	sigs <- syscall.SIGINT
	assert.Equal(t, 0, waitCode(t, done))
	assert.Contains(t, stderr.String(), `msg="sweep stopped at a safe point"`)
}

// SIGHUP reloads the config; a bad new config is reported with its file
// and line, and the running one is kept.
func TestSchedulerReloadsOnSIGHUP(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "tend.yaml")
	write := func(schedule string) {
		require.NoError(t, os.WriteFile(cfg, []byte("sweep:\n  schedule: \""+schedule+"\"\n  rules: [{path: /tmp/tend-never, older_than: 1d, missing_ok: true}]\n"), 0o644))
	}
	write("@every 1h")
	c, _, stderr := testCommand(t, &fakeTask{name: "sweep"})
	sigs := make(chan os.Signal, 1)
	c.signals = sigs
	ctx, cancel := context.WithCancel(context.Background())
	done := serveAsync(ctx, c, "--config", cfg)
	waitFor(t, "the first schedule", func() bool { return containsText(stderr.String(), `schedule="@every 1h"`) })

	write("61 * * * *")
	sigs <- syscall.SIGHUP
	waitFor(t, "the bad config to be reported", func() bool { return containsText(stderr.String(), "config not reloaded") })
	assert.Contains(t, stderr.String(), cfg+`:2: field sweep.schedule: bad schedule \"61 * * * *\"`)

	write("@every 2h")
	sigs <- syscall.SIGHUP
	waitFor(t, "the reload", func() bool { return containsText(stderr.String(), `msg="config reloaded"`) })
	assert.Contains(t, stderr.String(), `schedule="@every 2h"`)
	cancel()
	assert.Equal(t, 0, waitCode(t, done))
}

func containsLine(out, line string) bool {
	return slices.Contains(strings.Split(out, "\n"), line)
}

func containsText(out, s string) bool { return strings.Contains(out, s) }
