//go:build !linux

package hostinfo

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

// readHost has no /proc and /sys to read outside Linux.
func readHost(context.Context, HostOptions) (Host, error) {
	return Host{}, fmt.Errorf("read the host: /proc and /sys are not supported on %s (describe the host under `host:` in the spec): %w", runtime.GOOS, errors.ErrUnsupported)
}
