package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/tendkit/tend/health"
	"github.com/tendkit/tend/quota/hostinfo"
	"github.com/tendkit/tend/units"
)

// defaultMinShm is the /dev/shm size under which the limits check speaks
// up: PyTorch's DataLoader workers pass batches through /dev/shm, and
// Docker's default of 64 MiB makes them crash ("bus error").
const defaultMinShm = 1 << 30

// limitsCheck reports the limits the container runs under, read with
// hostinfo.ReadLimits, and flags a container without a memory limit (it can
// take the host down with it) or with a /dev/shm smaller than MinShm. What
// it flags warns, or fails with Fail. It is process-local (liveness).
type limitsCheck struct {
	Root               string // "/" normally
	RequireMemoryLimit bool
	MinShm             int64
	Fail               bool
	read               func(root string) (*hostinfo.Limits, error)
}

func (c *limitsCheck) Name() string { return "limits" }

func (c *limitsCheck) Local() bool { return true }

func (c *limitsCheck) Check(ctx context.Context) health.Result {
	read := c.read
	if read == nil {
		read = hostinfo.ReadLimits
	}
	l, err := read(c.Root)
	if l == nil {
		return health.CannotRun(fmt.Errorf("read the container's limits: %w", err), "mount /proc and the cgroup file system, or mark the limits check optional")
	}
	var problems, facts []string
	if l.Memory > 0 {
		facts = append(facts, "memory "+units.Size(l.Memory).Human())
	} else if c.RequireMemoryLimit {
		problems = append(problems, "no memory limit: one runaway process can take the host's memory (docker run --memory, or resources.limits.memory)")
	}
	switch {
	case l.ShmSize == 0:
		facts = append(facts, "no /dev/shm mount")
	case c.MinShm > 0 && int64(l.ShmSize) < c.MinShm:
		problems = append(problems, fmt.Sprintf("/dev/shm is %s, under %s: DataLoader workers fail with bus errors (docker run --shm-size, or an emptyDir with medium: Memory)", units.Size(l.ShmSize).Human(), units.Size(c.MinShm).Human()))
	default:
		facts = append(facts, "/dev/shm "+units.Size(l.ShmSize).Human())
	}
	if l.CPUs > 0 {
		facts = append(facts, fmt.Sprintf("cpus %v", l.CPUs))
	}
	if l.PidsMax > 0 {
		facts = append(facts, fmt.Sprintf("pids %d", l.PidsMax))
	}
	if err != nil {
		facts = append(facts, "partly unreadable: "+err.Error())
	}
	d := map[string]any{"limits": l}
	switch {
	case len(problems) > 0 && c.Fail:
		return health.Result{Status: health.StatusFail, Message: strings.Join(problems, "; "), Details: d}
	case len(problems) > 0:
		return health.Result{Status: health.StatusWarn, Message: strings.Join(problems, "; "), Details: d}
	}
	return health.Result{Status: health.StatusPass, Message: strings.Join(facts, ", "), Details: d}
}
