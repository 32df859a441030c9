package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// handledSignals are the signals main asks to receive: the stop signals,
// SIGHUP (reload), the user signals (forwarded to the child) and SIGCHLD
// (reaping as PID 1).
var handledSignals = []os.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCHLD,
}

// forwardedSignals are passed on to the child in entrypoint mode.
var forwardedSignals = map[os.Signal]bool{
	syscall.SIGTERM: true, syscall.SIGINT: true, syscall.SIGHUP: true,
	syscall.SIGUSR1: true, syscall.SIGUSR2: true,
}

// Shell exit codes for a command that cannot run.
const (
	exitCannotExec = 126 // found but not executable
	exitNotFound   = 127 // no such command
)

// child is the command tend-cron wraps in entrypoint mode.
type child struct {
	cmd *exec.Cmd
	pid int
	// reaped is true when the reaping loop (PID 1) collects the child's
	// status; otherwise a goroutine waits for it and closes done.
	reaped bool
	done   chan struct{}
	code   int
}

// startChild starts argv with tend-cron's standard streams. When reap is
// true nothing waits for it: the caller's reaping loop must collect its
// status (see reap), so that the loop cannot steal it. It returns the shell's
// exit code for a command that cannot start (127 not found, 126 not
// executable).
func startChild(argv []string, stdin io.Reader, stdout, stderr io.Writer, reap bool) (*child, int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Start(); err != nil {
		code := exitCannotExec
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			code = exitNotFound
			err = fmt.Errorf("%s: command not found", argv[0])
		}
		return nil, code, err
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid, reaped: reap, done: make(chan struct{})}
	if !reap {
		go func() {
			cmd.Wait()
			c.code = exitCode(cmd.ProcessState.Sys().(syscall.WaitStatus))
			close(c.done)
		}()
	}
	return c, 0, nil
}

// signal forwards sig to the child; a child already gone is not an error.
func (c *child) signal(sig os.Signal) error {
	err := c.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// exitCode is the status a shell would report: the exit code, or 128+N
// when signal N killed the process.
func exitCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
}

// reap collects every exited child without blocking, as PID 1 must so
// that orphans reparented to it do not stay zombies. When one of them is
// c, its status is recorded and c.done closed. It returns how many it
// reaped.
func reap(c *child) int {
	n := 0
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return n
		}
		n++
		if c != nil && c.reaped && pid == c.pid {
			c.code = exitCode(syscall.WaitStatus(ws))
			close(c.done)
		}
	}
}
