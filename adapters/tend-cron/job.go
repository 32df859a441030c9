package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/internal/procfs"
)

// Limits of a job's run.
const (
	// maxLineBytes bounds one logged line of a job's output: a longer line
	// is logged in pieces of this size, the later ones marked cont=true,
	// so a job printing a binary blob cannot make tend-cron hold it whole.
	maxLineBytes = 8 << 10
	// killGrace is how long a job's process group has between SIGTERM and
	// SIGKILL, on a timeout, a stop of tend-cron or a kill overlap; it
	// keeps "every job stops within a second of SIGTERM" true.
	killGrace = 400 * time.Millisecond
	// pipeGrace is how long the output of a finished job may stay open
	// (held by a process outside its group) before tend-cron stops reading.
	pipeGrace = 500 * time.Millisecond
)

// jobTask runs one of the user's jobs (config.Job). The command runs in a
// process group of its own with stdin from /dev/null, tend-cron's
// environment plus the job's env, and its dir. Each line of its stdout and
// stderr is logged with the job's name. When the command exits, whatever
// it left running in its process group is stopped too (SIGTERM, then
// SIGKILL after killGrace), as is the whole group on a timeout or when
// the run is stopped (tend-cron stops, or overlap: kill replaces it).
type jobTask struct {
	cfg config.Job
	log *slog.Logger
	// grace is the time between SIGTERM and SIGKILL (0 = killGrace).
	grace time.Duration
}

func newJobTask(cfg config.Job, log *slog.Logger) *jobTask {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &jobTask{cfg: cfg, log: log}
}

func (j *jobTask) Name() string     { return j.cfg.Name }
func (j *jobTask) Schedule() string { return j.cfg.Schedule }

// Overlap is the job's overlap policy (config.OverlapSkip by default).
func (j *jobTask) Overlap() string {
	if j.cfg.Overlap == "" {
		return config.OverlapSkip
	}
	return j.cfg.Overlap
}

// Jitter is the job's own random delay bound.
func (j *jobTask) Jitter() time.Duration { return j.cfg.Jitter.D() }

func (j *jobTask) killGrace() time.Duration {
	if j.grace > 0 {
		return j.grace
	}
	return killGrace
}

// jobReport is what one run of a job did, as --json prints it.
type jobReport struct {
	Command []string `json:"command"`
	Pid     int      `json:"pid,omitempty"`
	// ExitCode is the command's status as a shell reports it: its exit
	// code, 128+N when signal N killed it, 126/127 when it could not
	// start; -1 before it ran.
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`
	TimedOut bool   `json:"timed_out,omitempty"`
	// Stopped is true when the run was stopped from outside (tend-cron
	// stopping, or a kill overlap).
	Stopped bool `json:"stopped,omitempty"`
	// Leftovers is true when processes of the job's group outlived the
	// command and were killed.
	Leftovers   bool  `json:"leftovers_killed,omitempty"`
	OutputLines int64 `json:"output_lines"`
	OutputBytes int64 `json:"output_bytes"`
}

// Run runs the command once (dryRun only says what it would run).
func (j *jobTask) Run(ctx context.Context, dryRun bool) (taskResult, error) {
	argv := j.cfg.Command.Args()
	rep := jobReport{Command: argv, ExitCode: -1}
	if dryRun {
		return taskResult{Report: rep, Lines: []string{"would run " + j.cfg.Command.String()}}, nil
	}
	runCtx := ctx
	if t := j.cfg.Timeout.D(); t > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	err := j.run(runCtx, argv, &rep)
	lines := []string{j.outcome(rep)}
	switch {
	case err != nil:
	case rep.TimedOut:
		err = fmt.Errorf("job %s: timed out after %v: process group killed", j.cfg.Name, j.cfg.Timeout.D())
	case rep.Stopped:
		err = fmt.Errorf("job %s: stopped: %w", j.cfg.Name, context.Cause(ctx))
	case rep.ExitCode != 0:
		err = fmt.Errorf("job %s: %s", j.cfg.Name, j.outcome(rep))
	}
	return taskResult{Report: rep, Lines: lines}, err
}

// outcome says how the command ended, in a few words.
func (j *jobTask) outcome(r jobReport) string {
	s := fmt.Sprintf("exit status %d", r.ExitCode)
	if r.Signal != "" {
		s = "killed by " + r.Signal + " (" + s + ")"
	}
	if r.Leftovers {
		s += "; processes it left in its group were killed"
	}
	return s
}

// run starts argv, logs its output and waits for it and its group.
func (j *jobTask) run(ctx context.Context, argv []string, rep *jobReport) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = os.Environ()
	for _, k := range slices.Sorted(maps.Keys(j.cfg.Env)) {
		cmd.Env = append(cmd.Env, k+"="+j.cfg.Env[k])
	}
	cmd.Dir = string(j.cfg.Dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	outR, outW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("job %s: output pipe: %w", j.cfg.Name, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return fmt.Errorf("job %s: output pipe: %w", j.cfg.Name, err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		rep.ExitCode = exitCannotExec
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			rep.ExitCode = exitNotFound
		}
		return fmt.Errorf("job %s: start %s: %w", j.cfg.Name, argv[0], err)
	}
	pgid := cmd.Process.Pid
	rep.Pid = pgid
	var pumps sync.WaitGroup
	var lines, bytes [2]int64
	pumps.Go(func() { lines[0], bytes[0] = j.pump(outR, "stdout") })
	pumps.Go(func() { lines[1], bytes[1] = j.pump(errR, "stderr") })

	waited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && context.Cause(ctx) == context.DeadlineExceeded {
			rep.TimedOut = true
		} else {
			rep.Stopped = true
		}
		j.log.Warn("stopping job: SIGTERM to its process group", "job", j.cfg.Name, "pgid", pgid, "why", context.Cause(ctx).Error())
		j.killGroup(pgid, waited)
	}
	<-waited // killGroup ends with SIGKILL; only an unkillable process keeps us here
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	rep.ExitCode = exitCode(ws)
	if ws.Signaled() {
		rep.Signal = unix.SignalName(ws.Signal())
	}
	// The command is gone; processes it left in its group go too.
	if groupAlive(pgid) {
		rep.Leftovers = true
		j.log.Warn("job left processes in its group: stopping them", "job", j.cfg.Name, "pgid", pgid)
		j.killGroup(pgid, nil)
	}
	// Output still held open by a process outside the group (it left the
	// group with setsid) is not waited for past pipeGrace.
	pumped := make(chan struct{})
	go func() { pumps.Wait(); close(pumped) }()
	select {
	case <-pumped:
	case <-time.After(pipeGrace):
		j.log.Warn("job's output is still open after it ended (a process outside its group holds it): no longer read", "job", j.cfg.Name)
		outR.Close()
		errR.Close()
		<-pumped
	}
	outR.Close()
	errR.Close()
	rep.OutputLines, rep.OutputBytes = lines[0]+lines[1], bytes[0]+bytes[1]
	return nil
}

// killGroup sends SIGTERM to the group, then SIGKILL once the grace has
// passed without done closing (done nil: without the group emptying).
func (j *jobTask) killGroup(pgid int, done <-chan struct{}) {
	unix.Kill(-pgid, unix.SIGTERM)
	unix.Kill(-pgid, unix.SIGCONT) // a stopped process would never see the TERM
	deadline := time.NewTimer(j.killGrace())
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-done:
			if !groupAlive(pgid) {
				return
			}
			done = nil // the leader is gone; wait for the rest of the group
		case <-poll.C:
			if done == nil && !groupAlive(pgid) {
				return
			}
			continue
		case <-deadline.C:
			j.log.Warn("job's process group outlived SIGTERM: SIGKILL", "job", j.cfg.Name, "pgid", pgid)
			unix.Kill(-pgid, unix.SIGKILL)
			return
		}
	}
}

// errFound stops the process walk of groupAlive.
var errFound = errors.New("found")

// groupAlive reports whether process group pgid has a member that has not
// exited: zombies waiting for their reaper do not count. Without a
// readable /proc, any member counts.
func groupAlive(pgid int) bool {
	if unix.Kill(-pgid, 0) != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := procfs.NewFS("").WalkProcs(ctx, func(p procfs.Proc) error {
		data, err := os.ReadFile(p.Path("stat"))
		if err != nil {
			return nil // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and ')'.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			return nil
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			return nil
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			return errFound
		}
		return nil
	})
	return err != nil // errFound, or /proc unreadable: assume alive
}

// pump logs r line by line as the job's output and returns how many lines
// and bytes it read. Lines longer than maxLineBytes are logged in pieces;
// bytes that are not UTF-8 are escaped by the log handler, never dropped.
func (j *jobTask) pump(r io.Reader, stream string) (lines, n int64) {
	br := bufio.NewReaderSize(r, maxLineBytes)
	cont := false
	for {
		b, err := br.ReadSlice('\n')
		n += int64(len(b))
		if len(b) > 0 {
			full := b[len(b)-1] == '\n'
			if full {
				b = b[:len(b)-1]
				if len(b) > 0 && b[len(b)-1] == '\r' {
					b = b[:len(b)-1]
				}
			}
			attrs := []any{"job", j.cfg.Name, "stream", stream}
			if cont {
				attrs = append(attrs, "cont", true)
			}
			j.log.Info(string(b), attrs...)
			if full || err == nil {
				lines++
			}
			cont = !full
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if cont {
				lines++ // a last line without a newline
			}
			return lines, n
		}
	}
}
