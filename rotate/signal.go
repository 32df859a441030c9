package rotate

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNoWriter means the process named by a pidfile cannot be signalled: the
// pidfile is missing or garbage, the process is gone, or it no longer has
// the rotated log open.
var ErrNoWriter = errors.New("no writer to signal")

func signalName(s *Signal) string {
	sig := s.sig()
	if n, ok := sig.(syscall.Signal); ok {
		if name := unix.SignalName(n); name != "" {
			return name
		}
	}
	return sig.String()
}

func (s *Signal) sig() os.Signal {
	if s.Signal == nil {
		return syscall.SIGHUP
	}
	return s.Signal
}

// readPidfile parses a pidfile: one positive decimal number, surrounding
// white space allowed.
func readPidfile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("%w: pidfile: %w", ErrNoWriter, err)
	}
	txt := strings.TrimSpace(string(b))
	pid, err := strconv.Atoi(txt)
	if err != nil || pid <= 0 {
		if len(txt) > 20 {
			txt = txt[:20] + "..."
		}
		return 0, fmt.Errorf("%w: pidfile %s holds %q, not a process id", ErrNoWriter, path, txt)
	}
	return pid, nil
}

// ParseSignal turns a signal name ("HUP", "SIGUSR1") into a signal.
func ParseSignal(name string) (syscall.Signal, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	if s := unix.SignalNum(n); s != 0 {
		return s, nil
	}
	return 0, fmt.Errorf("unknown signal %q", name)
}

// signalWriter sends the rule's signal to the process of the pidfile, after
// checking that it is alive and still has the rotated file (rotated, the
// inode now under its backup name) open.
func signalWriter(p procFS, s *Signal, rotated os.FileInfo) (string, error) {
	pid, err := readPidfile(s.Pidfile)
	if err != nil {
		return "", err
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return "", fmt.Errorf("%w: pid %d from %s: %w", ErrNoWriter, pid, s.Pidfile, err)
	}
	if rotated != nil && len(p.fdsOpenOn(pid, rotated)) == 0 {
		return "", fmt.Errorf("%w: pid %d from %s does not have the log open; not signalled", ErrNoWriter, pid, s.Pidfile)
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return "", err
	}
	if err := proc.Signal(s.sig()); err != nil {
		return "", fmt.Errorf("signal pid %d: %w", pid, err)
	}
	return fmt.Sprintf("%s sent to pid %d", signalName(s), pid), nil
}
