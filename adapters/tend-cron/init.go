package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// workerEnv marks the tend-cron process that a PID-1 tend-cron starts to
// do the work (value "worker"); the worker removes it from its own
// environment, so neither its child nor its jobs inherit it.
const workerEnv = "TEND_CRON_ROLE"

// initMain is the whole life of a tend-cron that runs as PID 1: it starts
// a second tend-cron with the same arguments (the worker, which runs the
// tasks, the jobs and the child), forwards the signals it gets to it,
// reaps every process that ends in the container, and exits with the
// worker's status, which is the child's.
//
// Why two processes: PID 1 must reap the orphans that the kernel gives it,
// which needs wait4(-1); but a wait4(-1) in a process that also runs
// exec.Cmd.Wait (a job, a task's hook, the child) steals the status that
// Wait is waiting for ("wait: no child processes", or a job reported with
// the wrong exit code). Here PID 1 has one child of its own, the worker,
// and waits for nothing else, so its wait4(-1) can steal nothing; the
// worker is not a subreaper, so orphans skip it and go to PID 1, and in
// the worker every process has exactly one waiter. tini solves it by
// having one child only; supercronic's reaper (go-reaper) forks itself for
// the same reason.
//
// ok is false when the worker cannot start (no /proc/self/exe): main then
// runs the work in this process without reaping, and says so.
func initMain(args []string, stderr io.Writer) (code int, ok bool) {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, handledSignals...)
	// The binary's own path, so that the worker's name (comm, ps) is
	// tend-cron's; /proc/self/exe still works when that path is gone.
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	cmd := exec.Command(self, args...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), workerEnv+"=worker")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The worker stays in PID 1's process group, the terminal's foreground
	// one under docker run -it, so that it may hand the terminal on to the
	// child.
	err = cmd.Start()
	if err != nil && self != "/proc/self/exe" {
		cmd = exec.Command("/proc/self/exe", args...)
		cmd.Args[0], cmd.Env = os.Args[0], append(os.Environ(), workerEnv+"=worker")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		err = cmd.Start()
	}
	if err != nil {
		signal.Stop(sigs)
		fmt.Fprintf(stderr, "%s: cannot start the worker process (%v): running without reaping zombies\n", name, err)
		return 0, false
	}
	worker := cmd.Process.Pid
	exited := make(chan int, 1)
	go reapAll(worker, exited)
	for {
		select {
		case code := <-exited:
			return code, true
		case sig := <-sigs:
			if s, ok := sig.(syscall.Signal); ok {
				unix.Kill(worker, s)
			}
		}
	}
}

// reapAll waits for every child of this process, which is PID 1 and so
// the parent of every orphan in the container, and sends the worker's
// status on exited when the worker ends. No other code in this process
// waits for a child, so nothing can lose a status to it.
func reapAll(worker int, exited chan<- int) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil: // ECHILD: the worker is gone and nothing is left
			exited <- 1
			return
		case pid == worker:
			exited <- exitCode(syscall.WaitStatus(ws))
			return
		}
	}
}
