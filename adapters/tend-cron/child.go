package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// handledSignals are the signals tend-cron asks to receive: the stop
// signals, SIGHUP (reload) and the user signals (forwarded to the child).
var handledSignals = []os.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP,
	syscall.SIGUSR1, syscall.SIGUSR2,
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

// child is the command tend-cron wraps in entrypoint mode. It runs in a
// process group of its own, so that signals meant for tend-cron's group
// (a TTY's Ctrl-C) do not reach it twice, and when tend-cron's stdin is a
// terminal that group is made the terminal's foreground group, so that
// Ctrl-C, Ctrl-\ and window changes go straight to it, once.
type child struct {
	cmd *exec.Cmd
	pid int
	// group makes signal send to the child's whole process group (as
	// tini -g) instead of the child alone.
	group bool
	// foreground is true when the child owns the terminal.
	foreground bool
	done       chan struct{}
	code       int
}

// startChild starts argv with tend-cron's standard streams, waits for it
// in the background and closes done when it ended. It returns the shell's
// exit code for a command that cannot start (127 not found, 126 not
// executable).
func startChild(argv []string, stdin *os.File, stdout, stderr io.Writer, group bool) (*child, int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	fg := stdin != nil && isForegroundTTY(stdin)
	if fg {
		// The child's group takes the terminal between fork and exec
		// (tcsetpgrp on its stdin, fd 0 in the child).
		cmd.SysProcAttr.Foreground = true
		cmd.SysProcAttr.Ctty = 0
	}
	if err := cmd.Start(); err != nil {
		code := exitCannotExec
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			code = exitNotFound
			err = fmt.Errorf("%s: command not found", argv[0])
		}
		return nil, code, err
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid, group: group, foreground: fg, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		c.code = exitCode(cmd.ProcessState.Sys().(syscall.WaitStatus))
		if fg {
			takeTerminal(stdin)
		}
		close(c.done)
	}()
	return c, 0, nil
}

// isForegroundTTY reports whether f is a terminal whose foreground process
// group is tend-cron's own: only then may tend-cron hand it to the child.
func isForegroundTTY(f *os.File) bool {
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// takeTerminal makes tend-cron's group the terminal's foreground again
// once the child has ended, so that a shell that started tend-cron gets
// its terminal back in the state it left it. SIGTTOU, which a background
// group gets for tcsetpgrp, is ignored meanwhile.
func takeTerminal(f *os.File) {
	runtime.LockOSThread() // the mask is per thread
	defer runtime.UnlockOSThread()
	var old, ign unix.Sigset_t
	ign.Val[0] = 1 << (uint(unix.SIGTTOU) - 1)
	unix.PthreadSigmask(unix.SIG_BLOCK, &ign, &old)
	unix.IoctlSetPointerInt(int(f.Fd()), unix.TIOCSPGRP, unix.Getpgrp())
	unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
}

// signal forwards sig to the child, or to its process group; a child
// already gone is not an error.
func (c *child) signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("cannot forward %v", sig)
	}
	target := c.pid
	if c.group {
		target = -c.pid
	}
	err := unix.Kill(target, s)
	if errors.Is(err, unix.ESRCH) {
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
