//go:build !linux

package hostinfo

import (
	"errors"
	"fmt"
	"runtime"
)

// readLimits has no cgroups or /proc to read outside Linux.
func readLimits(string) (*Limits, error) {
	return nil, fmt.Errorf("read limits: cgroups and /proc are not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
