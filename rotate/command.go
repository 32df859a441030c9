package rotate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/tendkit/tend/units"
)

// runCommand runs c for the rotated log (TEND_LOG, TEND_BACKUP in its
// environment) in its own process group, killing the group when its
// timeout passes or ctx is done. It returns a short account.
func runCommand(ctx context.Context, c *Command, log, backup string) (string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultPostRotateTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Env = append(os.Environ(), "TEND_LOG="+log, "TEND_BACKUP="+backup)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := units.Round(time.Since(start))
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "", fmt.Errorf("%s: killed after its timeout %s%s", c.Argv[0], timeout, out.tail())
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w%s", c.Argv[0], err, out.tail())
	}
	return fmt.Sprintf("%s exited 0 in %s", c.Argv[0], took), nil
}

// limitedBuffer keeps the first 4 KiB of a command's output.
type limitedBuffer struct{ b bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) tail() string {
	s := strings.TrimSpace(l.b.String())
	if s == "" {
		return ""
	}
	return ": " + strings.ReplaceAll(s, "\n", " | ")
}
